"""The benchmarks' op-level profile summary, on traces built by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from opprofile import OTHER, category_of, summarise

xplane_pb2 = pytest.importorskip("tensorflow.tsl.profiler.protobuf.xplane_pb2")

MS = 1_000_000_000  # picoseconds per millisecond


def _space(lines: dict[str, list[tuple[str, float, float]]], plane: str = "/host:CPU"):
    """An XSpace with one plane; each line's events are (name, start ms, duration ms)."""
    space = xplane_pb2.XSpace()
    p = space.planes.add(name=plane)
    ids: dict[str, int] = {}
    for line_name, events in lines.items():
        line = p.lines.add(name=line_name, timestamp_ns=1_000)  # offsets are from here
        for name, start, duration in events:
            if name not in ids:
                ids[name] = len(ids) + 1
                p.event_metadata[ids[name]].id = ids[name]
                p.event_metadata[ids[name]].name = name
            line.events.add(
                metadata_id=ids[name], offset_ps=int(start * MS), duration_ps=int(duration * MS)
            )
    return space


def test_categories_of_op_types():
    assert category_of("_MklMatMul") == "matmul"
    assert category_of("StridedSliceGrad") == "slicing and gradient sums"
    assert category_of("TensorListStack") == "tensor lists and loop control"
    assert category_of("Sigmoid") == OTHER


def test_summary_of_two_compute_threads():
    # thread A: matmul 0-4 ms, Sigmoid 4-5 ms; thread B: matmul 2-6 ms, AddN 6-10 ms.
    # Matmuls overlap on 2-4 ms: they run during 0-6 ms = 6 ms of the 10 ms wall time.
    space = _space(
        {
            "tf_Compute/1": [
                ("ExecutorState::Process", 0, 5),  # a container, not an op
                ("model/rnn_0/while/MatMul:_MklMatMul", 0, 4),
                ("model/rnn_0/while/Sigmoid:Sigmoid", 4, 1),
            ],
            "tf_Compute/2": [
                ("model/rnn_1/while/MatMul:MatMul", 2, 4),
                ("gradients/AddN:AddN", 6, 4),
                ("StatefulPartitionedCall:StatefulPartitionedCall", 0, 10),  # contains others
            ],
            "python": [("model/fit:MatMul", 0, 100)],  # not a compute thread: ignored
        }
    )
    out = summarise(space)
    assert out["compute_threads"] == 2
    assert out["wall_s"] == pytest.approx(0.010)
    assert out["op_seconds"] == pytest.approx(0.013)  # 4 + 1 + 4 + 4 ms
    assert out["matmul_busy_s"] == pytest.approx(0.006)
    assert out["op_seconds_by_category"] == pytest.approx(
        {
            "matmul": 0.008,
            "slicing and gradient sums": 0.004,
            "tensor lists and loop control": 0.0,
            OTHER: 0.001,
        }
    )
    assert out["op_share_by_category"]["matmul"] == pytest.approx(8 / 13)
    assert out["top_ops"][0][0] in {"_MklMatMul", "MatMul", "AddN"}
    assert [op for op, _ in out["top_ops"]][-1] == "Sigmoid"


def test_disjoint_matmuls_add_up_and_nested_ones_count_once():
    space = _space(
        {
            "tf_Compute/1": [("a:MatMul", 0, 1), ("b:MatMul", 3, 2), ("c:MatMul", 3.5, 0.5)],
        }
    )
    out = summarise(space)
    assert out["matmul_busy_s"] == pytest.approx(0.003)  # [0, 1] and [3, 5]
    assert out["wall_s"] == pytest.approx(0.005)


def test_a_trace_without_ops_is_refused():
    with pytest.raises(ValueError, match="no TensorFlow op"):
        summarise(_space({"tf_Compute/1": [("ExecutorState::Process", 0, 1)]}))
    with pytest.raises(ValueError, match="no TensorFlow op"):
        summarise(_space({"tf_Compute/1": [("a:MatMul", 0, 1)]}, plane="/device:GPU:0"))


def test_a_real_trace_of_a_tensorflow_function():
    import tensorflow as tf
    from opprofile import trace

    a = tf.ones((256, 256))

    @tf.function
    def work(a):
        for _ in tf.range(5):
            a = tf.sigmoid(tf.matmul(a, a) / 256.0)
        return a

    work(a)  # trace outside the profile
    out = summarise(trace(lambda: work(a).numpy()))
    assert out["op_seconds_by_category"]["matmul"] > 0
    assert 0 < out["matmul_busy_s"] <= out["wall_s"]
    assert "Sigmoid" in [op for op, _ in out["top_ops"]]
