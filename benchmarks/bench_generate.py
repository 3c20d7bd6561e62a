"""Generation speed: the paper's predict-per-note loop vs the compiled step model.

One model (the paper's GRU preset at vocabulary 225, briefly trained on synthetic windows
so its BatchNorm statistics are real; or a trained run with ``--run``) generates with

- the naive loop (:func:`pianogen.generate.naive_generate`): ``model.predict`` on the whole
  50-token window per note, batch 1, as in the paper's code;
- the compiled step model (:func:`pianogen.generate.generate_ids`) in ``stream`` mode (one
  carried state per sample) and in ``window`` mode (exactly the naive loop's distribution),
  at batch 1 and batch 64 (tokens/s summed over the batch).

Each figure is the median of ``--repeats`` timings after a warm-up call (tracing time is
reported separately). Ratios are against the naive loop measured in the same process.
Also checked: window-mode probabilities equal ``model.predict`` on the same windows.

    .venv/bin/python benchmarks/bench_generate.py [--quick] [--run RUN_DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from pianogen.config import GenerateConfig  # noqa: E402
from pianogen.generate import generate_ids, naive_generate  # noqa: E402
from pianogen.io import atomic_write_json  # noqa: E402

TARGETS = {"stream_batch_1": 150.0, "stream_batch_64": 3000.0}


def trained_model(vocab_size: int, seq_len: int, steps: int, seed: int = 0):
    """The paper's GRU, fitted for a few batches on a synthetic Markov token stream."""
    import keras
    import tensorflow as tf

    from pianogen.models import build_model

    keras.utils.set_random_seed(seed)
    model = build_model("paper-gru", vocab_size, seq_len)
    model.compile(optimizer=keras.optimizers.Adamax(0.001), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    stream = np.cumsum(rng.choice([1, 2, 5, 7], size=steps * 64 + seq_len + 1)) % vocab_size
    starts = rng.integers(0, len(stream) - seq_len - 1, size=steps * 64)
    x = np.stack([stream[s : s + seq_len] for s in starts]).astype(np.int32)
    y = stream[starts + seq_len].astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    options = tf.data.Options()
    options.autotune.enabled = False
    model.fit(data.with_options(options), epochs=1, verbose=0)
    return model, stream


def median_rate(fn, tokens: int, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return tokens / statistics.median(times), times


def profile_stream_step(model, batch: int, steps: int, repeats: int) -> dict[str, float]:
    """Where a stream-mode token step spends its time: milliseconds per step of loops that
    run only the recurrent step + head (``Stepper.advance``), only the sampling
    (``Stepper.choose``, top-k/top-p off), and both (no output buffer), each compiled whole
    by XLA like the real loop."""
    import tensorflow as tf

    from pianogen.stepper import stepper_for

    st = stepper_for(model)
    vocab = int(model.output_shape[-1])
    one, off, seed = tf.constant(1.0), tf.constant(0), tf.constant(1, tf.int64)

    @tf.function(jit_compile=True)
    def advance_only(ids):
        state, logits = st.zero_state(batch), tf.zeros([batch, vocab])
        for _ in tf.range(steps):
            state, logits = st.advance(state, ids)
        return logits

    @tf.function(jit_compile=True)
    def sampling_only(logits):
        total = tf.zeros([batch], tf.int32)
        for t in tf.range(steps):
            total += st.choose(logits, t, one, off, one, seed)
        return total

    @tf.function(jit_compile=True)
    def both(ids):
        state, logits = st.advance(st.zero_state(batch), ids)
        for t in tf.range(steps):
            ids = st.choose(logits, t, one, off, one, seed)
            state, logits = st.advance(state, ids)
        return ids

    ids, logits = tf.zeros([batch], tf.int32), tf.zeros([batch, vocab])
    out = {}
    for name, fn, arg in (
        ("step_and_head", advance_only, ids),
        ("sampling", sampling_only, logits),
        ("step_head_and_sampling", both, ids),
    ):
        fn(arg)  # trace and compile
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(arg)
            times.append(time.perf_counter() - start)
        out[f"{name}_ms"] = round(statistics.median(times) / steps * 1e3, 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE / "out" / "generate.json"))
    parser.add_argument("--run", default=None, help="a trained run folder to load instead")
    parser.add_argument("--quick", action="store_true", help="a smoke run (~20 s)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    quick = args.quick
    load_start = [round(x, 2) for x in os.getloadavg()]  # other work skews the naive loop most
    naive_steps = 10 if quick else 50
    repeats = 1 if quick else args.repeats
    if args.run:
        from pianogen.runs import load_run

        run = load_run(Path(args.run))
        model, source = run.model, f"run {args.run}"
        seq_len, vocab = int(model.input_shape[1]), int(model.output_shape[-1])
        stream = np.random.default_rng(0).integers(0, vocab, size=4096)
    else:
        seq_len, vocab = 50, 225
        model, stream = trained_model(vocab, seq_len, steps=5 if quick else 40)
        source = "paper-gru, vocabulary 225, fitted on synthetic windows"
    config = GenerateConfig(seed=0)
    primer = stream[:seq_len].astype(np.int32)

    def primers(batch: int) -> np.ndarray:
        return np.stack([stream[i : i + seq_len] for i in range(batch)]).astype(np.int32)

    print(f"model: {source}; {model.count_params():,} parameters", flush=True)
    naive_generate(model, primer, 2, config)  # warm-up: predict's first call builds things
    naive_rate, naive_times = median_rate(
        lambda: naive_generate(model, primer, naive_steps, config), naive_steps, repeats
    )
    print(f"naive loop, batch 1: {naive_rate:,.1f} tokens/s", flush=True)

    results = {}
    plan = [("stream", 1, 400), ("stream", 64, 400), ("window", 1, 200), ("window", 64, 40)]
    if quick:
        plan = [(m, b, max(10, n // 8)) for m, b, n in plan]
    for mode, batch, tokens in plan:
        rows = primers(batch)
        start = time.perf_counter()
        generate_ids(model, rows, 2, config, mode=mode)
        warm = time.perf_counter() - start
        rate, times = median_rate(
            lambda rows=rows, tokens=tokens, mode=mode: generate_ids(
                model, rows, tokens, config, mode=mode
            ),
            tokens * batch,
            repeats,
        )
        key = f"{mode}_batch_{batch}"
        results[key] = {
            "mode": mode,
            "batch": batch,
            "tokens_per_sample": tokens,
            "tokens_per_second": round(rate, 1),
            "speedup_vs_naive": round(rate / naive_rate, 1),
            "first_call_seconds": round(warm, 2),
            "seconds": [round(t, 4) for t in times],
        }
        target = TARGETS.get(key)
        note = f" (target >= {target:,.0f}x)" if target else ""
        print(
            f"{mode:>6} batch {batch:>2}: {rate:>10,.1f} tokens/s = "
            f"{rate / naive_rate:,.0f}x naive{note}",
            flush=True,
        )

    profile = profile_stream_step(model, 64, 50 if quick else 400, max(repeats, 3))
    print(
        "stream batch 64, per token step: step+head {step_and_head_ms:.3f} ms, sampling "
        "{sampling_ms:.3f} ms, both {step_head_and_sampling_ms:.3f} ms".format(**profile),
        flush=True,
    )

    # Equivalence, measured on the benchmark's model: window mode vs predict on each window.
    steps = 20
    ids, probs = generate_ids(model, primers(2), steps, config, return_probs=True)
    history = np.concatenate([primers(2), ids], axis=1)
    windows = np.stack([history[:, t : t + seq_len] for t in range(steps)], axis=1)
    expected = model.predict(windows.reshape(-1, seq_len), verbose=0).reshape(2, steps, -1)
    max_diff = float(np.abs(expected - probs).max())
    print(f"window mode vs model.predict over {steps} steps: max |dp| = {max_diff:.2e}")

    out = {
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "model": source,
        "parameters": int(model.count_params()),
        "seq_len": seq_len,
        "vocab_size": vocab,
        "quick": quick,
        "naive": {
            "batch": 1,
            "tokens": naive_steps,
            "tokens_per_second": round(naive_rate, 2),
            "seconds": [round(t, 3) for t in naive_times],
        },
        "incremental": results,
        "profile_stream_batch_64": profile,
        "targets": {
            k: {"speedup": v, "met": results[k]["speedup_vs_naive"] >= v}
            for k, v in TARGETS.items()
        },
        "window_vs_predict_max_abs_diff": max_diff,
    }
    atomic_write_json(Path(args.out), out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
