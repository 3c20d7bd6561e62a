"""The benchmark runner's headline ratios (benchmarks/run_all.py), on results built by hand."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from run_all import extract_ratios


def test_the_concurrency_ratio_and_its_note():
    data = {
        "jobs": 3,
        "cores": 2,
        "threads_shared": 1,
        "shared_vs_default": 1.38,
        "final_loss_difference": 0.0,
    }
    (row,) = extract_ratios("concurrency", data)
    assert row["name"] == "train 3 at once: shared threads vs TensorFlow's default"
    assert row["ratio"] == 1.38 and row["target"] == 1.0
    assert row["note"] == "1 thread(s) each on 2 cores; final loss differs by 0"
    assert extract_ratios("concurrency", {"skipped": "takes minutes"}) == []
