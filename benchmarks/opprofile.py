"""Op-level profile of TensorFlow work: where the time of a training step goes.

:func:`trace` runs a function under TensorFlow's profiler and returns the trace (an
``XSpace`` protobuf, read with the proto classes TensorFlow ships, no extra package);
:func:`summarise` turns it into the figures ``bench_train.py`` reports:

- ``wall_s``: from the first op's start to the last op's end on TensorFlow's compute
  threads (the ``tf_Compute`` lines of the host plane);
- ``op_seconds_by_category``: op time summed over those threads, per category of op type
  (:data:`CATEGORIES`; everything else is ``"elementwise and other"``), and ``top_ops``;
- ``matmul_busy_s``: the time during which at least one matmul op ran (the union of their
  intervals, so two matmuls running at once on two threads count once).

With the matmul FLOPs of the work, ``flops / wall_s`` (the achieved rate) splits exactly
into ``matmul_busy_s / wall_s`` (how much of the time any matmul runs) times
``flops / matmul_busy_s`` (how fast the matmuls run while they do).
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CATEGORIES", "OTHER", "category_of", "summarise", "trace"]

CATEGORIES: dict[str, frozenset[str]] = {
    "matmul": frozenset(
        {
            "MatMul",
            "BatchMatMulV2",
            "_FusedMatMul",
            "_MklMatMul",
            "_MklFusedMatMul",
            "_MklNativeFusedMatMul",
            "_MklBatchMatMulV2",
        }
    ),
    # Slicing a gate out of a fused projection, and the backward pass of it: each slice's
    # gradient is a zero tensor of the full size with the slice written in, summed by AddN.
    "slicing and gradient sums": frozenset(
        {"AddN", "StridedSlice", "StridedSliceGrad", "Slice", "Split", "ConcatV2", "ZerosLike"}
    ),
    # The recurrent loop's bookkeeping: per-step inputs/outputs kept in tensor lists.
    "tensor lists and loop control": frozenset(
        {
            "TensorListFromTensor",
            "TensorListStack",
            "TensorListSetItem",
            "TensorListGetItem",
            "TensorListReserve",
            "TensorListLength",
            "TensorListElementShape",
            "TensorListPushBack",
            "TensorListPopBack",
            "Enter",
            "Exit",
            "Merge",
            "Switch",
            "NextIteration",
            "LoopCond",
        }
    ),
}
OTHER = "elementwise and other"
# Ops that only contain other ops (their time would be counted twice).
_CONTAINERS = frozenset({"StatefulPartitionedCall", "PartitionedCall", "While", "If"})
_OP_EVENT = re.compile(r"^(?P<name>.*[^:]):(?P<type>[A-Za-z_][A-Za-z0-9_]*)$")


def category_of(op_type: str) -> str:
    """The category of an op type (``"_MklMatMul"`` -> ``"matmul"``)."""
    for name, types in CATEGORIES.items():
        if op_type in types:
            return name
    return OTHER


def trace(fn: Callable[[], Any]) -> Any:
    """Run ``fn()`` under TensorFlow's profiler; return the trace as an ``XSpace``."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory(prefix="pianogen-profile-") as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            fn()
        finally:
            tf.profiler.experimental.stop()
        paths = sorted(Path(logdir).rglob("*.xplane.pb"))
        if not paths:
            raise RuntimeError(f"the TensorFlow profiler wrote no trace in {logdir}")
        space = xplane_pb2.XSpace()
        space.ParseFromString(paths[-1].read_bytes())
    return space


def _union_length(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for lo, hi in sorted(intervals):
        if end is None or lo > end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def summarise(space: Any, top: int = 10) -> dict:
    """Op time per category, wall time and matmul-busy time of a trace (see module doc)."""
    by_type: Counter[str] = Counter()
    every: list[tuple[int, int]] = []
    matmul: list[tuple[int, int]] = []
    threads = 0
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            threads += 1
            origin = line.timestamp_ns * 1000
            for event in line.events:
                match = _OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
                if match is None or match["type"] in _CONTAINERS:
                    continue
                start = origin + event.offset_ps
                span = (start, start + event.duration_ps)
                by_type[match["type"]] += event.duration_ps
                every.append(span)
                if category_of(match["type"]) == "matmul":
                    matmul.append(span)
    if not every:
        raise ValueError("the trace holds no TensorFlow op on a compute thread")
    op_total = sum(by_type.values())
    categories: Counter[str] = Counter()
    for op_type, ps in by_type.items():
        categories[category_of(op_type)] += ps
    wall = max(hi for _, hi in every) - min(lo for lo, _ in every)
    return {
        "compute_threads": threads,
        "wall_s": wall / 1e12,
        "op_seconds": op_total / 1e12,
        "matmul_busy_s": _union_length(matmul) / 1e12,
        "op_seconds_by_category": {
            name: categories.get(name, 0) / 1e12 for name in (*CATEGORIES, OTHER)
        },
        "op_share_by_category": {
            name: categories.get(name, 0) / op_total for name in (*CATEGORIES, OTHER)
        },
        "top_ops": [[op, ps / op_total] for op, ps in by_type.most_common(top)],
    }
