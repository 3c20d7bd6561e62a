"""Sampling and fast generation from a trained next-token model.

The paper generated music with the reference loop (:func:`naive_generate`): for every new
note it ran ``model.predict`` on the whole 50-token window, sampled the next token from the
predicted probabilities, and slid the window by one. That costs a full forward pass over
50 time steps plus Keras' per-call overhead per note.

:class:`pianogen.stepper.Stepper` re-implements the trained network one time step at a time
from its weights — GRU/LSTM cell math, BatchNorm in inference form (folded into the next
layer's weights), Dense and softmax — and compiles the sampling loop, RNG included, into
XLA programs (fixed chunks of token steps) that generate a batch of samples at once.
Two modes (``mode=``):

``"window"`` (default) — exactly the naive loop's distribution.
    The windowed model predicts each token from *exactly the last seq_len tokens*, its
    recurrent state starting from zero at the window's first token. A single carried state
    would see the whole history instead, which is a different model of the music (and one
    the network never saw in training: it was only ever run on seq_len steps). So this mode
    carries ``seq_len`` staggered *lanes* per sample: lane ``j`` restarts from zero every
    ``seq_len`` tokens, one lane reaching a full window at every step. Each new token is fed
    to all lanes in one batched step (a (B*seq_len, units) matmul instead of seq_len tiny
    ones), and the lane that has just read a complete window gives the next probabilities —
    the same numbers ``model.predict`` gives on that window (to ~1e-8 here), at every step.
    It does the naive loop's arithmetic (seq_len cell steps per token) without Keras'
    per-call overhead (its speed against the naive loop: ``benchmarks/README.md``).
``"stream"`` — one state per sample, carried through the whole history.
    One cell step per token, so much faster than the window mode (measured by
    ``benchmarks/bench_generate.py``, reported in ``benchmarks/README.md``). Its first
    prediction after the seq_len primer
    equals the windowed model's; later ones condition on more than seq_len tokens, so its
    distribution differs from the naive loop by design (the tests show a chi-square test
    telling them apart). Offered for speed and for comparison; not what the paper's model
    was trained for.

Sampling is random sampling from the predicted probabilities (the paper's method) with
temperature applied to the log-probabilities, then top-k, then top-p (nucleus) on the
tempered distribution — :func:`sample` in numpy, the same rules inside the compiled loop.
The compiled loop draws with a stateless RNG keyed by ``(seed, step)``: the same seed and
primers give identical tokens.

:func:`generate_run` turns a run folder into MIDI files and JSON token streams, primed on
held-out music (the test split) unless asked otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianogen.config import GenerateConfig
from pianogen.errors import GenerateError  # re-exported: generation's error
from pianogen.io import atomic_write_json, read_json

if TYPE_CHECKING:
    import keras

    from pianogen.notes import Note
    from pianogen.runs import Run

log = logging.getLogger(__name__)

__all__ = [
    "MODES",
    "SAMPLE_FORMAT",
    "GenerateError",
    "NothingPlayable",
    "Sample",
    "check_sampling",
    "choose_primers",
    "filter_logits",
    "generate_ids",
    "generate_run",
    "generate_samples",
    "load_sample",
    "naive_generate",
    "primer_end_ticks",
    "sample",
    "sample_notes",
]

MODES = ("window", "stream")
SAMPLE_FORMAT = "pianogen-sample/1"
SAMPLE_QPM = 120.0  # the tempo generated MIDI is written at (token streams carry no tempo)


class NothingPlayable(GenerateError):
    """A generated continuation decodes to no note at all (only rests)."""


# ------------------------------------------------------------------------------ sampling
def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    """Raise :class:`GenerateError` for a temperature / top-k / top-p that cannot be used."""
    if not isinstance(temperature, int | float) or not np.isfinite(temperature):
        raise GenerateError(f"temperature must be a finite number, got {temperature!r}")
    if not 0.0 < float(temperature) <= 100.0:
        raise GenerateError(
            f"temperature must be in (0, 100] (1 = the model's own distribution), got {temperature}"
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 0:
        raise GenerateError(f"top_k must be an integer >= 0 (0 turns it off), got {top_k!r}")
    if not isinstance(top_p, int | float) or not 0.0 < float(top_p) <= 1.0:
        raise GenerateError(f"top_p must be in (0, 1] (1 turns it off), got {top_p!r}")


def filter_logits(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """Tempered, truncated log-probabilities: removed tokens get ``-inf``.

    ``logits / temperature``; then top-k keeps the tokens whose value is at least the k-th
    largest (ties at the boundary kept); then top-p keeps the smallest most-probable set
    whose tempered probability reaches ``top_p`` (the token that crosses it included, so at
    least one token always survives).
    """
    check_sampling(temperature, top_k, top_p)
    out = np.asarray(logits, dtype=np.float64) / float(temperature)
    vocab = out.shape[-1]
    if 0 < top_k < vocab:
        kth = -np.sort(-out, axis=-1)[..., top_k - 1 : top_k]
        out = np.where(out < kth, -np.inf, out)
    if top_p < 1.0:
        ordered = -np.sort(-out, axis=-1)
        shifted = np.exp(ordered - ordered[..., :1])
        probs = shifted / shifted.sum(axis=-1, keepdims=True)
        before = np.cumsum(probs, axis=-1) - probs  # mass of the strictly better tokens
        keep = before < top_p
        threshold = np.min(np.where(keep, ordered, np.inf), axis=-1, keepdims=True)
        out = np.where(out < threshold, -np.inf, out)
    return out


def sample(
    probs: np.ndarray,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draw one token id per row of ``probs`` (shape ``(B, V)``, or ``(V,)`` for one row).

    Random sampling from the predicted distribution, as in the paper, reshaped by
    ``temperature`` (on log-probabilities: < 1 sharper, > 1 flatter), ``top_k`` (0: off)
    and ``top_p`` (1: off); see :func:`filter_logits`. ``rng`` defaults to
    ``np.random.default_rng(0)`` so an unseeded call is still reproducible.
    """
    check_sampling(temperature, top_k, top_p)
    p = np.asarray(probs, dtype=np.float64)
    single = p.ndim == 1
    if single:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] == 0:
        raise GenerateError(f"probs must have shape (batch, vocab), got {np.shape(probs)}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p.sum(axis=1) <= 0):
        raise GenerateError("probs must be finite, >= 0, with a positive sum in every row")
    rng = np.random.default_rng(0) if rng is None else rng
    with np.errstate(divide="ignore"):
        logits = filter_logits(np.log(p), temperature, top_k, top_p)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(weights, axis=1)
    u = (1.0 - rng.random(len(p))) * cdf[:, -1]  # in (0, total]: never picks a zero weight
    ids = np.minimum((cdf < u[:, None]).sum(axis=1), p.shape[1] - 1).astype(np.int64)
    return ids[0:1] if single else ids


def _check_primers(primers: Any, seq_len: int, vocab_size: int) -> np.ndarray:
    array = np.asarray(primers)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise GenerateError(f"primers must have shape (batch, length), got {np.shape(primers)}")
    if array.shape[1] < seq_len:
        raise GenerateError(
            f"the primer has {array.shape[1]} tokens but the model reads windows of {seq_len}; "
            f"give at least {seq_len} primer tokens"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise GenerateError(f"primers must be integer token ids, got dtype {array.dtype}")
    if array.min() < 0 or array.max() >= vocab_size:
        raise GenerateError(f"primer token ids must be in 0..{vocab_size - 1}")
    return array[:, -seq_len:].astype(np.int32)


def generate_ids(
    model: keras.Model,
    primers: np.ndarray,
    n_tokens: int,
    gen_config: GenerateConfig,
    *,
    mode: str = "window",
    return_probs: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Continue every primer (rows of ``primers``, >= seq_len ids; the last seq_len are used)
    by ``n_tokens`` sampled ids, all rows in one batch. Returns the continuations, shape
    ``(B, n_tokens)``; with ``return_probs`` also the untempered model probabilities each
    token was drawn from, ``(B, n_tokens, V)``. ``gen_config`` gives temperature, top-k,
    top-p and seed (``count``/``tokens`` are not used here).
    """
    from pianogen.stepper import stepper_for

    if mode not in MODES:
        raise GenerateError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if int(n_tokens) < 1:
        raise GenerateError(f"n_tokens must be >= 1, got {n_tokens}")
    check_sampling(gen_config.temperature, gen_config.top_k, gen_config.top_p)
    stepper = stepper_for(model)
    checked = _check_primers(primers, stepper.seq_len, stepper.vocab_size)
    tokens, probs = stepper.generate(
        checked,
        int(n_tokens),
        temperature=gen_config.temperature,
        top_k=gen_config.top_k,
        top_p=gen_config.top_p,
        seed=gen_config.seed,
        mode=mode,
        return_probs=return_probs,
    )
    return (tokens, probs) if return_probs else tokens


def naive_generate(
    model: keras.Model,
    primer: np.ndarray,
    n_tokens: int,
    gen_config: GenerateConfig,
    *,
    batched: bool = False,
) -> np.ndarray:
    """The reference loop: ``model.predict`` on the whole window per note, window slides.

    ``primer`` is one row ``(L,)`` (returns ``(n_tokens,)``) or rows ``(B, L)`` (returns
    ``(B, n_tokens)``), each generated at batch 1 as in the paper's code; ``batched=True``
    runs all rows through each ``predict`` call (same computation, fewer calls; for tests).
    Sampling uses :func:`sample` with ``np.random.default_rng(gen_config.seed)``. For tests
    and the benchmark only.
    """
    check_sampling(gen_config.temperature, gen_config.top_k, gen_config.top_p)
    seq_len = int(model.input_shape[1])
    single = np.ndim(primer) == 1
    windows = _check_primers(primer, seq_len, int(model.output_shape[-1]))
    rng = np.random.default_rng(gen_config.seed)
    settings = (gen_config.temperature, gen_config.top_k, gen_config.top_p)
    out = np.zeros((len(windows), int(n_tokens)), dtype=np.int64)
    groups = [np.arange(len(windows))] if batched else [[i] for i in range(len(windows))]
    for rows in groups:
        window = windows[rows].copy()
        for t in range(int(n_tokens)):
            probs = model.predict(window, verbose=0)
            token = sample(probs, *settings, rng=rng)
            out[rows, t] = token
            window = np.concatenate([window[:, 1:], token[:, None].astype(np.int32)], axis=1)
    return out[0] if single else out


# --------------------------------------------------------------------------- primers
def choose_primers(
    seqs: Sequence[np.ndarray], count: int, seq_len: int, seed: int
) -> list[tuple[int, int]]:
    """``count`` (sequence index, start offset) pairs of seq_len-token primers.

    Seeded: pieces long enough are visited in a shuffled order (different pieces first,
    then again), each at a random offset.
    """
    eligible = [i for i, s in enumerate(seqs) if len(s) >= seq_len]
    if not eligible:
        raise GenerateError(
            f"no piece in the primer split has {seq_len} tokens (the model's window); "
            f"choose another primer split or add music"
        )
    rng = np.random.default_rng(seed)
    order = [eligible[i] for i in rng.permutation(len(eligible))]
    picks = []
    for k in range(count):
        piece = order[k % len(order)]
        start = int(rng.integers(0, len(seqs[piece]) - seq_len + 1))
        picks.append((piece, start))
    return picks


@dataclass
class Sample:
    """One generated sample: primer and continuation, as ids and tokens, and provenance."""

    index: int
    primer_ids: list[int]
    continuation_ids: list[int]
    primer_tokens: list[str]
    continuation_tokens: list[str]
    primer_split: str
    primer_piece: str
    primer_start: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> list[str]:
        return self.primer_tokens + self.continuation_tokens


def generate_samples(run: Run, gen_config: GenerateConfig, *, mode: str = "window") -> list[Sample]:
    """``gen_config.count`` samples of ``gen_config.tokens`` tokens from primers drawn from
    the ``gen_config.primer`` split (held-out test pieces by default) of an opened run
    (:func:`pianogen.runs.open_run`)."""
    split = gen_config.primer
    seq_len = run.seq_len
    seqs = run.ids(split)
    picks = choose_primers(seqs, gen_config.count, seq_len, gen_config.seed)
    primers = np.stack([seqs[i][s : s + seq_len] for i, s in picks])
    continuation = generate_ids(run.model, primers, gen_config.tokens, gen_config, mode=mode)
    samples = []
    for k, ((piece, start), primer, cont) in enumerate(
        zip(picks, primers, continuation, strict=True)
    ):
        samples.append(
            Sample(
                index=k,
                primer_ids=[int(i) for i in primer],
                continuation_ids=[int(i) for i in cont],
                primer_tokens=run.vocab.decode(primer),
                continuation_tokens=run.vocab.decode(cont),
                primer_split=split,
                primer_piece=str(run.prepared.names[split][piece]),
                primer_start=start,
                meta={"mode": mode},
            )
        )
    return samples


def _sample_stem(index: int) -> str:
    return f"sample_{index:02d}"


def generate_run(
    run: Run,
    gen_config: GenerateConfig | None = None,
    out_dir: Path | None = None,
    *,
    mode: str = "window",
) -> list[Path]:
    """Generate ``gen_config.count`` samples from an opened run
    (:func:`pianogen.runs.open_run`) and write them.

    For sample ``k`` (under ``out_dir``, default ``<run folder>/samples``): ``sample_kk.mid``
    (primer + continuation), ``sample_kk_continuation.mid`` (the continuation alone) and
    ``sample_kk.json`` (tokens, primer, seed, config, provenance; see :func:`load_sample`).
    Returns those paths in that order. MIDI uses the run's vocabulary's decoding at
    :data:`SAMPLE_QPM` with a piano program. Same seed and data -> byte-identical files.
    Raises :class:`NothingPlayable` (before writing anything) if a continuation holds
    only rests. The run's data is prepared once and its compiled generation loop reused,
    so generating and evaluating one opened run costs one parse.
    """
    from pianogen import tokens as tok

    gen_config = GenerateConfig() if gen_config is None else gen_config
    check_sampling(gen_config.temperature, gen_config.top_k, gen_config.top_p)
    samples = generate_samples(run, gen_config, mode=mode)
    vocabulary = run.config.tokens.vocabulary
    decoded = []
    for s in samples:
        continuation = tok.decode(s.continuation_tokens, vocabulary)
        if not continuation:
            raise NothingPlayable(
                f"sample {s.index}: the {len(s.continuation_tokens)} generated tokens are all "
                f"rests, nothing to play; try another seed, a lower temperature, or top-p"
            )
        decoded.append((tok.decode(s.tokens, vocabulary), continuation))

    out_dir = run.path / "samples" if out_dir is None else Path(out_dir)
    paths: list[Path] = []
    for s, (full, continuation) in zip(samples, decoded, strict=True):
        stem = _sample_stem(s.index)
        full_path = tok.write_midi(full, out_dir / f"{stem}.mid", qpm=SAMPLE_QPM)
        cont_path = tok.write_midi(
            continuation, out_dir / f"{stem}_continuation.mid", qpm=SAMPLE_QPM
        )
        record = {
            "format": SAMPLE_FORMAT,
            "index": s.index,
            "artist": run.config.artist,
            "model": run.config.model.name,
            "vocabulary": vocabulary,
            "mode": mode,
            "seed": gen_config.seed,
            "config": gen_config.to_dict(),
            "qpm": SAMPLE_QPM,
            "primer": {
                "split": s.primer_split,
                "piece": s.primer_piece,
                "start": s.primer_start,
                "tokens": s.primer_tokens,
                "ids": s.primer_ids,
            },
            "continuation": {"tokens": s.continuation_tokens, "ids": s.continuation_ids},
            "tokens": s.tokens,
            "files": {"full": full_path.name, "continuation": cont_path.name},
        }
        json_path = atomic_write_json(out_dir / f"{stem}.json", record)
        paths.extend([full_path, cont_path, json_path])
    return paths


def load_sample(path: Path) -> dict[str, Any]:
    """A ``sample_kk.json`` written by :func:`generate_run`, checked, with absolute file paths
    under ``"paths"`` (``full``, ``continuation``)."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != SAMPLE_FORMAT:
        raise GenerateError(f"{path} is not a pianogen sample file ({SAMPLE_FORMAT})")
    data["paths"] = {key: path.parent / name for key, name in data["files"].items()}
    return data


def primer_end_ticks(primer_tokens: Sequence[str], vocabulary: str) -> int:
    """Where the continuation starts, in ticks, when primer + continuation are decoded
    together: the time the primer's tokens move forward
    (:meth:`~pianogen.tokens.Vocabulary.end_ticks`)."""
    from pianogen import tokens as tok

    return tok.get_vocabulary(vocabulary).end_ticks(primer_tokens)


def sample_notes(record: dict[str, Any]) -> tuple[list[Note], list[Note], list[Note], int]:
    """``(all notes, primer notes, continuation notes, primer end tick)`` of a sample record
    (:func:`load_sample`); the continuation alone is decoded from tick 0."""
    from pianogen import tokens as tok

    vocabulary = record["vocabulary"]
    primer = record["primer"]["tokens"]
    return (
        tok.decode(record["tokens"], vocabulary),
        tok.decode(primer, vocabulary),
        tok.decode(record["continuation"]["tokens"], vocabulary),
        primer_end_ticks(primer, vocabulary),
    )
