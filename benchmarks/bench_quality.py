"""Time to quality: training until each preset's validation passes the baselines.

Side by side in one run, every preset of the ``quick`` profile trains with the profile's own
settings (:func:`pianogen.presets.make_run_config`) on the default data's artist with the
least music, and the conditioned GRU on every artist at once; for each, the windows and
minutes of training until its validation loss first fell below the unigram's and its
validation accuracy first rose above the 3-gram's on the same validation windows
(:func:`pianogen.results.time_to_quality`), and where it ended. The runs are written to a
temporary folder (``--keep`` to keep them).

``--quick`` is a smoke run: the per-artist presets only, 2 epochs of 1,000 windows.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pianogen.batch import largest_first  # noqa: E402
from pianogen.config import POOLED  # noqa: E402
from pianogen.data import list_artists  # noqa: E402
from pianogen.io import atomic_write_json, read_json  # noqa: E402
from pianogen.presets import make_run_config, profile  # noqa: E402
from pianogen.results import convergence_table, time_to_quality  # noqa: E402
from pianogen.train import train  # noqa: E402


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE / "out" / "quality.json"))
    parser.add_argument("--data-dir", default=str(HERE.parent / "data" / "midi"))
    parser.add_argument("--cache-dir", default=str(HERE.parent / ".cache"))
    parser.add_argument("--quick", action="store_true", help="a smoke run (~1 min)")
    parser.add_argument("--keep", default=None, help="write the runs here and keep them")
    args = parser.parse_args()

    data_dir = Path(args.data_dir)
    artists = list_artists(data_dir) if data_dir.is_dir() else []
    if len(artists) < 2:
        atomic_write_json(Path(args.out), {"skipped": f"fewer than 2 artists in {data_dir}"})
        return 0
    prof = profile("quick")
    smallest = largest_first(data_dir, artists)[-1]
    configs = [make_run_config(smallest, p, profile=prof) for p in prof.presets]
    if not args.quick:
        configs += [
            make_run_config(POOLED, p, vocabulary=v, profile=prof, artists=artists)
            for p, v, _ in prof.conditioned_runs()
            if v == prof.vocabulary
        ]
    else:
        configs = [
            c.replace(train=c.train.replace(epochs=2, max_train_windows=1000)) for c in configs
        ]
    runs_root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pianogen-quality-"))
    rows = {}
    try:
        for config in configs:
            started = time.perf_counter()
            folder = train(
                config, data_dir, runs_root, cache_dir=Path(args.cache_dir), progress=False
            )
            metrics = read_json(folder / "metrics.json")
            who = "all artists" if config.pooled else config.artist
            rows[(who, config.run_name)] = {
                "artist": who,
                "wall_seconds": round(time.perf_counter() - started, 1),
                "train_seconds": round(metrics["train_seconds"], 1),
                "epochs": metrics["epochs"],
                "best_epoch": metrics["best_epoch"],
                "windows_per_epoch": config.train.max_train_windows,
                "final_validation_loss": round(metrics["best_val_loss"], 4),
            }
            print(f"{config.run_name} on {who}: {rows[(who, config.run_name)]}", flush=True)
        reached = time_to_quality(convergence_table(runs_root))
    finally:
        if not args.keep:
            shutil.rmtree(runs_root, ignore_errors=True)
    results = {"artist": smallest, "quick": bool(args.quick), "presets": {}}
    for (who, run), row in rows.items():
        found = reached.loc[(who, run)] if (who, run) in reached.index else {}
        row |= {key.replace(" ", "_"): _number(found.get(key)) for key in reached.columns}
        results["presets"][run] = row
    atomic_write_json(Path(args.out), results)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
