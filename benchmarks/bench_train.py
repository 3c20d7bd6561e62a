"""Training benchmarks, every figure a ratio measured side by side in one run.

1. **Input pipeline memory.** Peak RSS growth of pianogen's on-the-fly windows
   (:class:`pianogen.windows.Windows`: flat int32 ids + window starts, gathered per batch)
   against the reference approach that materialises every window as an ``(N, 50, 1)``
   float array, at 1,000,000 windows. Each pipeline runs in its own subprocess (same
   synthetic ids) and iterates every batch once, shuffled; RSS is sampled every 2 ms. The
   references feed batches the way ``model.fit(x, y, shuffle=True)`` does (arrays
   converted to tensors, batches gathered by permuted index): ``float32`` (vectorised
   numpy, generous) and ``paper-code`` (Python lists of windows -> ``np.reshape`` ->
   float64, as the paper's code does). Iteration throughput is measured inside TensorFlow
   (``Dataset.reduce``, no Python per batch), ours and the float32 reference alternating
   in one process so that load from other processes hits both alike.
2. **Training throughput** of every model preset (sequences/s, median of repeats after a
   warm-up), its achieved GFLOP/s (recurrent + dense matmuls, 3x forward for training)
   and that as a fraction of TensorFlow's float32 matmul rate measured in the same run.
3. **Op-level profile** of every preset's training steps (TensorFlow's profiler, summarised
   by ``opprofile.py``): op time per category (matmul, slicing and gradient sums, tensor
   lists, elementwise), and the share of the matmul rate split into *matmul running* (share
   of the wall time) x *matmul speed* (their rate while running, as a share of the square
   matmul's) — the profile behind a missed throughput target.
4. **Cheap wins**, as ratios: batch 256 vs 64, ``jit_compile`` on vs off, unrolled
   recurrent layers vs the while loop (with the extra graph-building seconds), and Keras'
   ``mixed_bfloat16`` policy vs float32 (the CPU's counterpart of mixed precision on a GPU:
   bfloat16 matmuls; the bfloat16 square matmul's rate is measured beside the float32 one).

``--quick`` is a smoke run (100,000 windows, two presets, one repeat).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from pianogen.io import atomic_write_json  # noqa: E402

SEQ_LEN = 50
VOCAB = 225  # the paper's vocabulary at threshold 50
PIECE_LEN = 5_050  # 5,000 windows per synthetic piece


def _rss_bytes() -> int:
    pages = Path("/proc/self/statm").read_text().split()[1]
    return int(pages) * os.sysconf("SC_PAGE_SIZE")


class _PeakRss:
    """Samples the process RSS every 2 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.002)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _synthetic_ids(n_windows: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n_pieces = max(1, -(-n_windows // (PIECE_LEN - SEQ_LEN)))
    return [rng.integers(0, VOCAB, PIECE_LEN).astype(np.int32) for _ in range(n_pieces)]


def _pipeline(pipeline: str, seqs: list[np.ndarray], n_windows: int, batch: int):
    """``(dataset, n_windows)`` for one pipeline, built from the same synthetic ids."""
    import tensorflow as tf

    from pianogen.windows import Windows

    if pipeline == "ours":
        windows = Windows.from_seqs(seqs, SEQ_LEN).sample(n_windows, 0)
        return windows.dataset(batch, shuffle=True, seed=0), len(windows)
    if pipeline == "paper-code":  # the paper's notebook: lists of windows, then float64
        inputs, outputs = [], []
        for s in seqs:
            ids = s.tolist()
            for i in range(len(ids) - SEQ_LEN):
                inputs.append(ids[i : i + SEQ_LEN])
                outputs.append(ids[i + SEQ_LEN])
        inputs, outputs = inputs[:n_windows], outputs[:n_windows]
        x = np.reshape(inputs, (len(inputs), SEQ_LEN, 1)) / float(VOCAB)
        y = np.array(outputs)
        del inputs, outputs
    else:  # "float32": vectorised numpy materialisation
        views = [np.lib.stride_tricks.sliding_window_view(s, SEQ_LEN + 1) for s in seqs]
        flat = np.concatenate(views)[:n_windows]
        x = (flat[:, :SEQ_LEN, None].astype(np.float32)) / np.float32(VOCAB)
        y = flat[:, SEQ_LEN].astype(np.int32)
        del flat, views
    # What model.fit(x, y, shuffle=True) does with arrays (Keras's array adapter): convert
    # to tensors (the caller keeps x), permute the indices, reshape them to (batches, batch)
    # rows plus a remainder, gather each batch.
    n = len(x)
    x_t, y_t = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    order = np.random.default_rng(0).permutation(n)
    full = n // batch
    ds = tf.data.Dataset.from_tensor_slices(order[: full * batch].reshape(full, batch))
    if n > full * batch:
        ds = ds.concatenate(tf.data.Dataset.from_tensors(order[full * batch :]))
    ds = ds.map(lambda i: (tf.gather(x_t, i), tf.gather(y_t, i))).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options), n


def _iterate_rate(ds) -> float:
    """Sequences/s of one pass, iterated inside TensorFlow (no Python per batch)."""
    import tensorflow as tf

    start = time.perf_counter()
    seen = ds.reduce(np.int64(0), lambda acc, b: acc + tf.shape(b[1], tf.int64)[0])
    return int(seen) / (time.perf_counter() - start)


def _child_memory(pipeline: str, n_windows: int, batch: int) -> dict:
    """Run in a subprocess: build one pipeline, iterate it once; peak RSS growth over the
    post-import baseline (sampled every 2 ms)."""
    import tensorflow as tf

    seqs = _synthetic_ids(n_windows)
    tf.constant(1) + 1  # initialise the runtime before the baseline
    baseline = _rss_bytes()
    with _PeakRss() as peak:
        start = time.perf_counter()
        ds, n = _pipeline(pipeline, seqs, n_windows, batch)
        built = time.perf_counter() - start
        rate = _iterate_rate(ds)
    return {
        "pipeline": pipeline,
        "windows": n,
        "peak_rss_growth_mb": (peak.peak - baseline) / 2**20,
        "build_seconds": built,
        "sequences_per_s_alone": rate,
    }


def interleaved_rates(n_windows: int, batch: int, rounds: int) -> dict[str, list[float]]:
    """Iteration rates of ours and the float32 reference, alternating A B A B ... in one
    process, so load from other processes hits both alike."""
    seqs = _synthetic_ids(n_windows)
    pipes = {name: _pipeline(name, seqs, n_windows, batch)[0] for name in ("ours", "float32")}
    rates: dict[str, list[float]] = {name: [] for name in pipes}
    for _ in range(rounds):
        for name, ds in pipes.items():
            rates[name].append(_iterate_rate(ds))
    return rates


def measure_memory(n_windows: int, batch: int, pipelines: list[str], rounds: int) -> dict:
    results: dict = {}
    for pipeline in pipelines:
        cmd = [sys.executable, __file__, "--child", json.dumps([pipeline, n_windows, batch])]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[pipeline] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[pipeline]
        print(
            f"  {pipeline:10s} {r['windows']:>9,} windows: peak RSS "
            f"+{r['peak_rss_growth_mb']:8.1f} MB (build {r['build_seconds']:.1f} s)",
            flush=True,
        )
    ours = results["ours"]
    for ref in pipelines[1:]:
        results[f"memory_ratio_{ref}_vs_ours"] = results[ref]["peak_rss_growth_mb"] / max(
            ours["peak_rss_growth_mb"], 1e-3
        )
    rates = interleaved_rates(n_windows, batch, rounds)
    medians = {name: float(np.median(r)) for name, r in rates.items()}
    results["iteration"] = {"rates": rates, "median_sequences_per_s": medians}
    results["throughput_ratio_ours_vs_float32"] = medians["ours"] / medians["float32"]
    print(
        f"  iterating (median of {rounds}, interleaved): ours {medians['ours']:,.0f} seq/s, "
        f"float32 reference {medians['float32']:,.0f} seq/s",
        flush=True,
    )
    return results


def matmul_gflops(size: int, repeats: int, dtype: str = "float32") -> float:
    """TensorFlow matmul rate (GFLOP/s) in ``dtype``: median over repeats of a chained loop."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((size, size), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((size, size), seed=(3, 4)), dtype)
    inner = 8

    @tf.function
    def chain(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        total = tf.zeros((), tf.float32)
        for _ in range(inner):
            total += tf.cast(tf.reduce_sum(tf.matmul(a, b)[:1, :1]), tf.float32)
            a = a + tf.cast(1e-6, dtype)
        return total

    chain(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        chain(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 * inner / float(np.median(times)) / 1e9


def _training_setup(
    preset: str,
    batch: int,
    steps: int,
    jit: bool | str = False,
    policy: str = "float32",
    unroll: bool = False,
):
    """A compiled model of ``preset`` (Keras dtype ``policy``, recurrent layers unrolled or
    not) and an endless dataset of synthetic windows, warmed up."""
    import keras

    from pianogen.config import RunConfig
    from pianogen.models import build_model
    from pianogen.presets import model_preset
    from pianogen.train import compile_model
    from pianogen.windows import Windows

    keras.utils.set_random_seed(0)
    config = RunConfig(artist="bench", model=model_preset(preset).replace(unroll=unroll))
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = compile_model(build_model(config.model, VOCAB, SEQ_LEN), config)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.jit_compile = jit
    # A whole number of batches: a partial batch would retrace (and, with XLA, recompile)
    # inside the timed steps.
    windows = Windows.from_seqs(_synthetic_ids(batch * steps * 2), SEQ_LEN)
    windows = windows.sample(batch * steps * 2, 0)
    ds = windows.dataset(batch, shuffle=True, seed=0).repeat()
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    return model, ds


def train_rate(
    preset: str,
    batch: int,
    steps: int,
    repeats: int,
    jit: bool | str = False,
    policy: str = "float32",
    unroll: bool = False,
) -> dict:
    """Median sequences/s of ``steps`` training steps on synthetic windows (after warm-up,
    whose seconds — building, tracing and two steps — are ``setup_s``)."""
    from pianogen.models import flops_per_sequence

    start = time.perf_counter()
    model, ds = _training_setup(preset, batch, steps, jit, policy, unroll)
    setup = time.perf_counter() - start
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        rates.append(batch * steps / (time.perf_counter() - start))
    rate = float(np.median(rates))
    flops = flops_per_sequence(preset, VOCAB, SEQ_LEN)["train"]
    return {
        "preset": preset,
        "batch": batch,
        "jit_compile": bool(jit),
        "policy": policy,
        "unroll": unroll,
        "setup_s": setup,
        "sequences_per_s": rate,
        "gflop_per_s": rate * flops / 1e9,
        "train_mflop_per_sequence": flops / 1e6,
        "parameters": int(model.count_params()),
        "rates": rates,
    }


def train_profile(preset: str, batch: int, steps: int, peak_gflops: float) -> dict:
    """Op-level profile of ``steps`` training steps (:mod:`opprofile`): op time per category,
    and the achieved share of the matmul rate split into its two factors — the share of the
    wall time during which a matmul runs, and the matmuls' own rate as a share of the
    square matmul's while they run."""
    from opprofile import summarise, trace

    from pianogen.models import flops_per_sequence

    model, ds = _training_setup(preset, batch, steps)
    space = trace(lambda: model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0))
    out = summarise(space)
    flops = flops_per_sequence(preset, VOCAB, SEQ_LEN)["train"] * batch * steps
    out.update(
        preset=preset,
        batch=batch,
        steps=steps,
        achieved_share_of_matmul_rate=flops / out["wall_s"] / 1e9 / peak_gflops,
        matmul_time_share=out["matmul_busy_s"] / out["wall_s"],
        matmul_rate_share=flops / out["matmul_busy_s"] / 1e9 / peak_gflops,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "out" / "train.json"))
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--windows", type=int, default=None)
    parser.add_argument(
        "--sections", default="memory,presets,profile,wins", help="comma-separated subset to run"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pipeline, n_windows, batch = json.loads(args.child)
        print(json.dumps(_child_memory(pipeline, n_windows, batch)))
        return 0

    from pianogen.presets import MODEL_PRESETS

    quick = args.quick
    n_windows = args.windows or (100_000 if quick else 1_000_000)
    repeats = 1 if quick else 3
    steps = 3 if quick else 8
    presets = ["quick-gru", "pianogen-gru"] if quick else list(MODEL_PRESETS)
    result: dict = {
        "quick": quick,
        "vocab": VOCAB,
        "seq_len": SEQ_LEN,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }

    sections = set(args.sections.split(","))
    if "memory" in sections:
        print(f"== 1. input pipeline memory at {n_windows:,} windows (batch 64)", flush=True)
        pipelines = ["ours", "float32"] + ([] if quick else ["paper-code"])
        memory = measure_memory(n_windows, 64, pipelines, rounds=3 if quick else 7)
        result["memory"] = memory
        for ref in pipelines[1:]:
            print(f"  {ref}: {memory[f'memory_ratio_{ref}_vs_ours']:.1f}x the memory of ours")
        ratio = memory["throughput_ratio_ours_vs_float32"]
        print(f"  ours iterates {ratio:.2f}x as fast as float32", flush=True)

    if sections & {"presets", "profile"}:
        size, times = (512, 3) if quick else (1024, 5)
        peak = matmul_gflops(size, repeats=times)
        result["matmul_gflop_per_s"] = peak
        print(f"  TensorFlow float32 matmul: {peak:.0f} GFLOP/s", flush=True)
        bf16 = matmul_gflops(size, repeats=times, dtype="bfloat16")
        result["matmul_bfloat16_gflop_per_s"] = bf16
        print(f"  TensorFlow bfloat16 matmul: {bf16:.0f} GFLOP/s ({bf16 / peak:.1f}x)", flush=True)
    if "presets" in sections:
        print("== 2. training throughput per preset (batch 64)", flush=True)
        result["presets"] = {}
        for preset in presets:
            r = train_rate(preset, 64, steps, repeats)
            r["fraction_of_matmul_rate"] = r["gflop_per_s"] / peak
            result["presets"][preset] = r
            print(
                f"  {preset:17s} {r['sequences_per_s']:8.0f} seq/s  "
                f"{r['gflop_per_s']:6.1f} GFLOP/s ({r['fraction_of_matmul_rate']:.0%} of matmul)",
                flush=True,
            )

    if "profile" in sections:
        print("== 2b. op-level profile per preset (batch 64, TensorFlow profiler)", flush=True)
        result["profile"] = {}
        for preset in presets:
            r = train_profile(preset, 64, steps, peak)
            result["profile"][preset] = r
            shares = ", ".join(f"{k} {v:.0%}" for k, v in r["op_share_by_category"].items())
            print(
                f"  {preset:17s} {r['achieved_share_of_matmul_rate']:.0%} of matmul rate = "
                f"matmul running {r['matmul_time_share']:.0%} of the time x at "
                f"{r['matmul_rate_share']:.0%} of the square rate; op time: {shares}",
                flush=True,
            )

    if "wins" in sections:
        print("== 3. cheap wins (ratios of sequences/s, each measured side by side)", flush=True)
        wins: dict = {}
        for preset in ["pianogen-gru"] if quick else ["pianogen-gru", "pianogen-lstm", "paper-gru"]:
            first = train_rate(preset, 64, steps, repeats)
            base = first["sequences_per_s"]
            big = train_rate(preset, 256, max(2, steps // 2), repeats)["sequences_per_s"]
            jit = train_rate(preset, 64, steps, repeats, jit=True)["sequences_per_s"]
            bf16 = train_rate(preset, 64, steps, repeats, policy="mixed_bfloat16")
            unrolled = train_rate(preset, 64, steps, repeats, unroll=True)
            wins[preset] = {
                "unroll_vs_loop": unrolled["sequences_per_s"] / base,
                "unroll_setup_s": unrolled["setup_s"],
                "loop_setup_s": first["setup_s"],
                "batch_256_vs_64": big / base,
                "jit_on_vs_off": jit / base,
                "mixed_bfloat16_vs_float32": bf16["sequences_per_s"] / base,
                "mixed_bfloat16_sequences_per_s": bf16["sequences_per_s"],
                "batch_64_sequences_per_s": base,
                "batch_256_sequences_per_s": big,
                "jit_sequences_per_s": jit,
            }
            print(
                f"  {preset:17s} batch 256 vs 64: {big / base:.2f}x   jit_compile on vs off: "
                f"{jit / base:.2f}x   mixed_bfloat16 vs float32: "
                f"{bf16['sequences_per_s'] / base:.2f}x   unroll vs loop: "
                f"{unrolled['sequences_per_s'] / base:.2f}x (setup {first['setup_s']:.1f} s -> "
                f"{unrolled['setup_s']:.1f} s)",
                flush=True,
            )
        result["cheap_wins"] = wins
    atomic_write_json(Path(args.out), result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
