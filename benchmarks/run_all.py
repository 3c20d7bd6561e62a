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
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pianogen.io import atomic_write_json  # noqa: E402


def _ratio(name: str, value, target=None, note: str = "") -> dict:
    return {"name": name, "ratio": value, "target": target, "note": note}


def extract_ratios(bench: str, data: dict) -> list[dict]:
    """The headline ratios of one benchmark's JSON, each with its target (for the book).

    A benchmark that had nothing to measure (``{"skipped": reason}``) has no ratios.
    """
    if "skipped" in data:
        return []
    if bench == "concurrency":
        return [
            _ratio(
                f"train {data['jobs']} at once: shared threads vs TensorFlow's default",
                data["shared_vs_default"],
                1.0,
                note=f"{data['threads_shared']} thread(s) each on {data['cores']} cores; "
                f"final loss differs by {data['final_loss_difference']:.2g}",
            )
        ]
    if bench == "generate":
        rows = [
            _ratio(
                f"generate {key.replace('_', ' ')} vs naive",
                item["speedup_vs_naive"],
                data.get("targets", {}).get(key, {}).get("speedup"),
                note=f"{item['tokens_per_second']:,.0f} tokens/s",
            )
            for key, item in data["incremental"].items()
        ]
        return rows
    if bench == "parse":
        targets = data.get("targets", {})
        return [
            _ratio(
                "parse: warm cache vs cold music21",
                data["cache_vs_music21"]["ratio"],
                targets.get("cache_vs_music21"),
            ),
            _ratio(
                "parse: cold parallel vs serial",
                data["parallel_vs_serial"]["ratio"],
                targets.get("parallel_vs_serial"),
                note=f"pure-CPU control {data['parallel_vs_serial'].get('cpu_control_ratio')}x",
            ),
            _ratio(
                "parse: fast engine vs music21",
                data["fast_vs_music21"]["ratio_total"],
                targets.get("fast_vs_music21"),
            ),
            _ratio(
                "parse: merged-token agreement (min over composers)",
                data["min_token_agreement"],
                targets.get("tokens"),
                note=f"{data['files']} files",
            ),
            _ratio(
                "parse: paper-token agreement (min over composers)",
                data.get("min_paper_token_agreement"),
                targets.get("paper_tokens"),
                note=f"{data['files']} files",
            ),
        ]
    if bench == "train":
        memory = data["memory"]
        rows = [
            _ratio(
                "train input: memory of float32 arrays vs ours",
                memory["memory_ratio_float32_vs_ours"],
                10.0,
                note=f"{memory['ours']['windows']:,} windows",
            ),
            _ratio(
                "train input: throughput ours vs float32",
                memory["throughput_ratio_ours_vs_float32"],
                1.0,
            ),
        ]
        for preset, item in data.get("presets", {}).items():
            rows.append(
                _ratio(
                    f"train {preset}: share of matmul rate",
                    item["fraction_of_matmul_rate"],
                    0.5,
                    note=f"{item['sequences_per_s']:.0f} seq/s",
                )
            )
        for preset, item in data.get("cheap_wins", {}).items():
            rows.append(_ratio(f"train {preset}: batch 256 vs 64", item["batch_256_vs_64"]))
            rows.append(_ratio(f"train {preset}: jit_compile on vs off", item["jit_on_vs_off"]))
            if "unroll_vs_loop" in item:
                rows.append(_ratio(f"train {preset}: unroll vs loop", item["unroll_vs_loop"]))
            if "mixed_bfloat16_vs_float32" in item:
                rows.append(
                    _ratio(
                        f"train {preset}: mixed_bfloat16 vs float32",
                        item["mixed_bfloat16_vs_float32"],
                    )
                )
        return rows
    return []


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
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": bool(args.quick),  # the short run `make book` makes when no results exist
        "command": " ".join(["benchmarks/run_all.py", *sys.argv[1:]]),
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
        data["ratios"] = extract_ratios(name, data)
        results["benchmarks"][name] = data
    atomic_write_json(Path(args.out), results)
    print(f"wrote {args.out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
