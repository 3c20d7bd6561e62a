"""Run every benchmark script and merge their JSON into benchmarks/results.json.

Each ``bench_*.py`` measures its ratios side by side in one run (the machines are noisy, so
no absolute time is a target) and writes its own JSON; this runner collects them, with the
machine's description, for the book's performance chapter. ``--quick`` passes ``--quick`` to
every script (a smoke run in well under a minute each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pianogen.io import atomic_write_json  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", help="benchmark names, e.g. generate parse")
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args()

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "benchmarks": {},
    }
    failed = []
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        out = HERE / "out" / f"{name}.json"
        cmd = [sys.executable, str(script), "--out", str(out)]
        if args.quick:
            cmd.append("--quick")
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        status = subprocess.run(cmd, check=False).returncode
        elapsed = time.perf_counter() - start
        if status != 0 or not out.exists():
            failed.append(name)
            results["benchmarks"][name] = {"error": f"exit status {status}", "seconds": elapsed}
            continue
        data = json.loads(out.read_text())
        data["seconds"] = round(elapsed, 1)
        results["benchmarks"][name] = data
    atomic_write_json(Path(args.out), results)
    print(f"wrote {args.out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
