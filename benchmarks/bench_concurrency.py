"""Trainings at once: TensorFlow's thread pools shared between them, or each its own.

``make book`` trains three artists at a time on a 2-core machine (``JOBS=3``). Each
TensorFlow process sizes its thread pools to every core by default, so three processes run
three times the threads the machine has; the batch gives each worker's kernels
``cores // workers`` threads instead (:func:`pianogen.execution.share_cores`).

Measured side by side: ``--jobs`` processes train the same preset on the same synthetic
windows at the same time (a file barrier starts their timed steps together), once with
TensorFlow's default pools and once with shared ones, alternating for ``--rounds`` rounds.
The figure is the ratio of the aggregate rates (sequences/s summed over the processes,
median over rounds), shared against default; the final losses of both show whether the
numbers a training produces change with the threads.

``--quick`` (the short run ``make book`` makes) skips it: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from pianogen.execution import THREAD_VARIABLES, available_cores, share_cores  # noqa: E402
from pianogen.io import atomic_write_json  # noqa: E402

PRESET = "pianogen-gru"
BATCH = 64


def child(barrier: Path, jobs: int, steps: int) -> dict:
    """One training process: warm up, wait for the others, time ``steps`` steps."""
    from bench_train import _training_setup

    model, ds = _training_setup(PRESET, BATCH, steps)
    (barrier / f"{os.getpid()}.ready").touch()
    while len(list(barrier.glob("*.ready"))) < jobs:
        time.sleep(0.05)
    start = time.perf_counter()
    history = model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "loss": float(history.history["loss"][-1])}


def one_round(jobs: int, steps: int, threads: dict[str, str] | None) -> dict:
    """``jobs`` child trainings at once, with ``threads`` (None: TensorFlow's defaults)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env |= threads or {}
    with tempfile.TemporaryDirectory() as barrier:
        cmd = [sys.executable, __file__, "--child", barrier, "--jobs", str(jobs)]
        cmd += ["--steps", str(steps)]
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(jobs)
        ]
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a child training failed: {[p.returncode for p in procs]}")
    rates = [BATCH * steps / o["seconds"] for o in outs]
    return {
        "sequences_per_s": sum(rates),
        "per_process": rates,
        "losses": [o["loss"] for o in outs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "out" / "concurrency.json"))
    parser.add_argument("--quick", action="store_true", help="skip (it takes minutes)")
    parser.add_argument("--jobs", type=int, default=3, help="trainings at once (make book: 3)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), args.jobs, args.steps)))
        return 0
    if args.quick:
        atomic_write_json(Path(args.out), {"skipped": "takes minutes: make bench measures it"})
        return 0
    shared = share_cores(args.jobs)
    modes = {"default": None, "shared": shared}
    rounds: dict[str, list[dict]] = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, threads in modes.items():  # alternating: load hits both alike
            rounds[name].append(one_round(args.jobs, args.steps, threads))
            print(f"{name}: {rounds[name][-1]['sequences_per_s']:.0f} seq/s", flush=True)
    rate = {
        name: float(np.median([r["sequences_per_s"] for r in rs])) for name, rs in rounds.items()
    }
    losses = {name: rs[-1]["losses"][0] for name, rs in rounds.items()}
    result = {
        "preset": PRESET,
        "batch": BATCH,
        "jobs": args.jobs,
        "cores": available_cores(),  # what share_cores divides
        "steps": args.steps,
        "threads_shared": int(shared[THREAD_VARIABLES[0]]),
        "sequences_per_s": rate,
        "shared_vs_default": rate["shared"] / rate["default"],
        "final_loss": losses,
        "final_loss_difference": abs(losses["shared"] - losses["default"]),
        "rounds": rounds,
    }
    atomic_write_json(Path(args.out), result)
    print(f"shared vs default: {result['shared_vs_default']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
