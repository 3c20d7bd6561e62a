"""Is the generated music like the artist's, and is it the artist's? Metrics and audits.

Three kinds of evidence, all computed on the token/note level (numpy only):

- **Per-piece metrics** (:func:`piece_metrics`, MusPy/MGEval-style) on decoded notes.
- **Distribution comparison** (:func:`compare_sets`, MGEval's method): per feature, the
  intra-set distances of the real held-out pieces and of the generated pieces against the
  inter-set distances between them, as Gaussian kernel density estimates on a shared grid,
  summarised by overlap area and KL divergence.
- **Reference sets** (:func:`reference_tokens`): token sequences that know nothing of
  music — every token of the vocabulary equally likely (``uniform``), or drawn with the
  training frequencies (``unigram``) — measured like the generated ones, so a reader sees
  whether a model's samples sit nearer the artist's held-out music than these
  (:func:`reference_check`).
- **Memorization audit** (:class:`TrainingIndex`, :func:`memorization`): for each piece, the
  longest token span found verbatim in the training data (also under transposition), the
  share of its n-grams found there and the nearest training excerpt — with the same
  figures for held-out real pieces as the composer's own self-repetition baseline.

:func:`evaluate_run` does it all for a run folder (plus a temperature sweep) and writes
``evaluation.json``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pianogen.config import GenerateConfig
from pianogen.features import cut_excerpts, ngram_repetition  # re-exported: per-piece metric
from pianogen.io import atomic_write_json
from pianogen.memorization import NGRAM_SIZES, TrainingIndex, memorization, transpose_token
from pianogen.notes import TICKS_PER_QUARTER, Note

if TYPE_CHECKING:
    import pandas as pd

    from pianogen.runs import Run

__all__ = [
    "EVALUATION_FORMAT",
    "FEATURES",
    "NGRAM_SIZES",
    "REFERENCES",
    "SWEEP_TEMPERATURES",
    "TrainingIndex",
    "compare_sets",
    "evaluate_run",
    "gaussian_kde",
    "heldout_excerpts",
    "kl_divergence",
    "memorization",
    "memorization_table",
    "metric_frame",
    "metric_summary",
    "ngram_repetition",
    "overlap_area",
    "piece_metrics",
    "reference_check",
    "reference_row",
    "reference_tokens",
    "temperature_sweep",
    "transpose_token",
]

EVALUATION_FORMAT = "pianogen-evaluation/1"
REFERENCES = ("uniform", "unigram")
# The features reference_check compares by their means (MGEval overlap uses every feature).
CHECKED_FEATURES = ("pitch_class_entropy", "scale_consistency")
SWEEP_TEMPERATURES = (0.5, 0.8, 1.0, 1.2, 1.5)
FEATURES = (
    "pitch_range",
    "n_pitches",
    "n_pitch_classes",
    "pitch_class_entropy",
    "scale_consistency",
    "polyphony",
    "note_density",
    "mean_ioi",
    "repetition_4",
    "empty_beat_rate",
)
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor


# ------------------------------------------------------------------------ per-piece metrics
def _scale_consistency(pcs: np.ndarray) -> float:
    best = 0.0
    for scale in (_MAJOR, _MINOR):
        for root in range(12):
            members = np.isin(pcs, [(root + d) % 12 for d in scale])
            best = max(best, float(members.mean()))
    return best


def piece_metrics(
    notes: Sequence[Note], tokens: Sequence[str] | None = None, *, vocabulary: str = "merged"
) -> dict[str, float | int | None]:
    """Objective metrics of one piece (times in quarter notes; 12 ticks per quarter).

    - ``n_notes``; ``pitch_range`` (highest - lowest MIDI pitch); ``n_pitches`` and
      ``n_pitch_classes`` (distinct values used);
    - ``pitch_class_entropy``: Shannon entropy in bits of the notes' pitch-class histogram
      (0 for one pitch class, log2(12) = 3.585 for all twelve equally often);
    - ``scale_consistency``: the largest share of notes inside one major or natural-minor
      scale (24 scales);
    - ``polyphony``: mean number of notes sounding per tick, over the ticks where at least
      one sounds (1.0 for a melody, 3.0 for block triads);
    - ``note_density``: notes (each note of a chord counts) per quarter note, over the span
      from the first onset to the last note end;
    - ``mean_ioi``: mean inter-onset interval in quarters between successive distinct onsets;
    - ``repetition_4``: :func:`ngram_repetition` of the tokens (encoded from ``notes`` with
      ``vocabulary`` when ``tokens`` is not given: by default one token per onset);
    - ``empty_beat_rate``: share of beats (quarter notes from tick 0 to the last end) in
      which no note sounds at any moment.

    An empty piece gives ``n_notes = 0`` and ``None`` for the rest.
    """
    from pianogen import tokens as tok

    if tokens is None:
        tokens = tok.encode(notes, vocabulary) if notes else []
    out: dict[str, float | int | None] = dict.fromkeys(FEATURES)
    out["n_notes"] = len(notes)
    out["n_tokens"] = len(tokens)
    out["repetition_4"] = ngram_repetition(list(tokens), 4)
    if not notes:
        return out
    pitches = np.array([n.pitch for n in notes])
    onsets = np.array([n.onset for n in notes])
    ends = np.array([n.end for n in notes])
    pcs = pitches % 12
    hist = np.bincount(pcs, minlength=12) / len(pcs)
    nz = hist[hist > 0]
    out["pitch_range"] = int(pitches.max() - pitches.min())
    out["n_pitches"] = len(set(pitches.tolist()))
    out["n_pitch_classes"] = len(set(pcs.tolist()))
    out["pitch_class_entropy"] = float(-(nz * np.log2(nz)).sum()) + 0.0
    out["scale_consistency"] = _scale_consistency(pcs)
    sounding = np.zeros(int(ends.max()) + 1, dtype=np.int64)
    np.add.at(sounding, onsets, 1)
    np.add.at(sounding, ends, -1)
    sounding = np.cumsum(sounding)[:-1]
    out["polyphony"] = float(sounding[sounding > 0].mean())
    span = (ends.max() - onsets.min()) / TICKS_PER_QUARTER
    out["note_density"] = float(len(notes) / span)
    distinct = np.unique(onsets)
    out["mean_ioi"] = (
        float(np.diff(distinct).mean() / TICKS_PER_QUARTER) if len(distinct) > 1 else None
    )
    beats = -(-int(ends.max()) // TICKS_PER_QUARTER)
    busy = np.zeros(beats, dtype=bool)
    for onset, end in zip(onsets.tolist(), ends.tolist(), strict=True):
        busy[onset // TICKS_PER_QUARTER : -(-end // TICKS_PER_QUARTER)] = True
    out["empty_beat_rate"] = float(1.0 - busy.mean())
    return out


# ------------------------------------------------------------------ distribution comparison
def _finite(values: Iterable[Any]) -> np.ndarray:
    arr = np.array([v for v in values if v is not None], dtype=np.float64)
    return arr[np.isfinite(arr)]


def _pairwise(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Absolute differences: all i<j pairs within ``a``, or all pairs across ``a`` and ``b``."""
    if b is None:
        i, j = np.triu_indices(len(a), k=1)
        return np.abs(a[i] - a[j])
    return np.abs(a[:, None] - b[None, :]).ravel()


def _bandwidth(samples: np.ndarray, fallback: float) -> float:
    """Scott's rule (std * n^-1/5, as scipy's gaussian_kde); ``fallback`` for a point mass."""
    if len(samples) > 1:
        h = float(np.std(samples, ddof=1)) * len(samples) ** (-1 / 5)
        if h > 0:
            return h
    return fallback


def gaussian_kde(samples: Sequence[float], grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """A Gaussian kernel density of ``samples`` on ``grid``, normalised to integrate to 1."""
    x = np.asarray(samples, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if len(x) == 0 or bandwidth <= 0:
        raise ValueError("a density needs at least one sample and a positive bandwidth")
    dens = np.exp(-0.5 * ((g[:, None] - x[None, :]) / bandwidth) ** 2).sum(axis=1)
    area = np.trapezoid(dens, g)
    return dens / area if area > 0 else dens


def overlap_area(p: np.ndarray, q: np.ndarray, grid: np.ndarray) -> float:
    """Area under ``min(p, q)``: 1 for identical densities, 0 for disjoint ones."""
    return float(np.trapezoid(np.minimum(p, q), grid))


def kl_divergence(p: np.ndarray, q: np.ndarray, grid: np.ndarray, floor: float = 1e-12) -> float:
    """``KL(p || q)`` in nats by the trapezoid rule; ``q`` floored so it stays finite."""
    q = np.maximum(q, floor)
    terms = np.where(p > 0, p * np.log(np.maximum(p, floor) / q), 0.0)
    return float(max(np.trapezoid(terms, grid), 0.0))


def _densities(samples: list[np.ndarray], points: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """KDEs of several samples on one shared grid (3 bandwidths beyond the pooled range)."""
    pooled = np.concatenate(samples)
    spread = float(pooled.max() - pooled.min())
    fallback = 0.05 * spread if spread > 0 else 0.05
    widths = [_bandwidth(x, fallback) for x in samples]
    pad = 3 * max(widths)
    grid = np.linspace(pooled.min() - pad, pooled.max() + pad, points)
    return grid, [gaussian_kde(x, grid, h) for x, h in zip(samples, widths, strict=True)]


def compare_sets(
    generated: Sequence[dict[str, Any]],
    real: Sequence[dict[str, Any]],
    features: Sequence[str] = FEATURES,
    grid_points: int = 512,
) -> dict[str, dict[str, float | int | None]]:
    """MGEval-style comparison of two sets of :func:`piece_metrics` dicts, per feature.

    Distances are pairwise absolute differences: *intra* within a set (i < j), *inter*
    across the sets. Each distance sample becomes a Gaussian KDE (Scott's bandwidth; for a
    set of equal values 5% of the pooled range, or 0.05 when every value is equal) on one
    grid shared by the three; reported: ``oa_real`` / ``kl_real`` = overlap area and
    KL(intra_real || inter) — how well the generated set sits inside the real set's own
    spread (OA near 1 and KL near 0 are best) — the same for the generated set's intra
    distances (``oa_generated`` / ``kl_generated``) and ``oa_values`` (overlap of the two
    sets' value densities). ``None`` where a set has fewer than two finite values.
    """
    out: dict[str, dict[str, float | int | None]] = {}
    for name in features:
        a = _finite(m.get(name) for m in generated)
        b = _finite(m.get(name) for m in real)
        row: dict[str, float | int | None] = {
            "n_generated": len(a),
            "n_real": len(b),
            "generated_mean": float(a.mean()) if len(a) else None,
            "generated_std": float(a.std()) if len(a) else None,
            "real_mean": float(b.mean()) if len(b) else None,
            "real_std": float(b.std()) if len(b) else None,
        }
        for key in ("intra_generated", "intra_real", "inter", "oa_real", "kl_real"):
            row[key] = None
        for key in ("oa_generated", "kl_generated", "oa_values"):
            row[key] = None
        if len(a) >= 2 and len(b) >= 2:
            intra_a, intra_b, inter = _pairwise(a), _pairwise(b), _pairwise(a, b)
            grid, (pa, pb, pi) = _densities([intra_a, intra_b, inter], grid_points)
            vgrid, (va, vb) = _densities([a, b], grid_points)
            row.update(
                intra_generated=float(intra_a.mean()),
                intra_real=float(intra_b.mean()),
                inter=float(inter.mean()),
                oa_real=overlap_area(pb, pi, grid),
                kl_real=kl_divergence(pb, pi, grid),
                oa_generated=overlap_area(pa, pi, grid),
                kl_generated=kl_divergence(pa, pi, grid),
                oa_values=overlap_area(va, vb, vgrid),
            )
        out[name] = row
    return out


# ------------------------------------------------------------------------ reference sets
def reference_tokens(
    tokens: Sequence[str],
    counts: Sequence[int],
    kind: str,
    count: int,
    length: int,
    seed: int = 0,
) -> list[list[str]]:
    """``count`` sequences of ``length`` tokens drawn independently from ``tokens``:
    each equally likely (``kind="uniform"``) or in proportion to ``counts`` (``"unigram"``,
    the training frequencies). Seeded by ``(seed, kind)``."""
    if kind not in REFERENCES:
        raise ValueError(f"reference kind must be one of {list(REFERENCES)}, got {kind!r}")
    if not len(tokens) or len(counts) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens with {len(counts)} counts")
    rng = np.random.default_rng([int(seed), REFERENCES.index(kind), 0x4EF])
    weights = np.asarray(counts, dtype=np.float64)
    p = None if kind == "uniform" else weights / weights.sum()
    ids = rng.choice(len(tokens), size=(int(count), int(length)), p=p)
    return [[tokens[i] for i in row] for row in ids]


def _mean_overlap(distances: dict[str, dict[str, Any]]) -> float | None:
    values = [d["oa_real"] for d in distances.values() if d.get("oa_real") is not None]
    return float(np.mean(values)) if values else None


def reference_check(
    evaluation: dict[str, Any], features: Sequence[str] = CHECKED_FEATURES
) -> dict[str, Any]:
    """Are a model's samples nearer the held-out music than the reference sets?

    Per feature of ``features``: the distance of each set's mean from the held-out mean
    (smaller is nearer); and MGEval's overlap (``oa_real`` averaged over every feature:
    larger is nearer). ``closer[ref]`` is true when the model is nearer than reference
    ``ref`` on every one of these; ``None`` when the evaluation has no references.
    """
    refs = evaluation.get("references") or {}
    if not refs:
        return {"closer": None, "rows": []}

    def means(metrics: list[dict[str, Any]], name: str) -> float | None:
        values = _finite(m.get(name) for m in metrics)
        return float(values.mean()) if len(values) else None

    real = evaluation["metrics"]["heldout"]
    sets = {"model": (evaluation["metrics"]["generated"], evaluation["distances"])}
    sets |= {kind: (ref["metrics"], ref["distances"]) for kind, ref in refs.items()}
    rows = []
    for name in features:
        target = means(real, name)
        row: dict[str, Any] = {"measure": f"{name}: distance of the mean", "held-out": target}
        for label, (metrics, _) in sets.items():
            value = means(metrics, name)
            row[label] = None if value is None or target is None else abs(value - target)
        rows.append(row)
    overlap: dict[str, Any] = {"measure": "MGEval overlap (mean over features)"}
    overlap |= {label: _mean_overlap(dist) for label, (_, dist) in sets.items()}
    rows.append(overlap)
    closer: dict[str, bool | None] = {}
    for kind in refs:
        verdicts = []
        for row in rows:
            model, ref = row["model"], row[kind]
            if model is None or ref is None:
                continue
            verdicts.append(model > ref if row is overlap else model < ref)
        closer[kind] = bool(verdicts) and all(verdicts)
    return {"closer": closer, "rows": rows}


def reference_row(evaluation: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`reference_check` as one flat table row: ``"<measure> [<set>]"`` -> value for
    the model and each reference set, and ``"nearer than <ref>"`` -> ``"yes"``/``"no"``;
    ``None`` when the evaluation has no reference sets."""
    check = reference_check(evaluation)
    if check["closer"] is None:
        return None
    row: dict[str, Any] = {}
    for r in check["rows"]:
        for label in ("model", *check["closer"]):
            row[f"{r['measure']} [{label}]"] = r.get(label)
    row |= {f"nearer than {k}": "yes" if v else "no" for k, v in check["closer"].items()}
    return row


# ---------------------------------------------------------------------- run-level evaluation
def heldout_excerpts(
    seqs: Sequence[Sequence[str]],
    names: Sequence[str],
    length: int,
    max_excerpts: int,
    seed: int = 0,
) -> list[tuple[str, int, list[str]]]:
    """Non-overlapping ``length``-token excerpts ``(piece, start, tokens)`` of held-out pieces.

    Comparable with generated continuations of the same length (a whole piece would look
    more varied and more copied just by being longer). Pieces shorter than ``length`` give
    themselves whole. At most ``max_excerpts``, a seeded choice, in piece order.
    """
    found = [
        (str(name), start, tokens)
        for name, seq in zip(names, seqs, strict=True)
        for start, tokens in cut_excerpts(seq, length, length, shortest=1)
    ]
    if len(found) > max_excerpts:
        keep = np.sort(np.random.default_rng(seed).choice(len(found), max_excerpts, False))
        found = [found[i] for i in keep]
    return found


def _sweep_row(tokens: list[str], index: TrainingIndex, vocabulary: str) -> dict[str, Any]:
    from pianogen import tokens as tok

    audit = index.audit(tokens, (8,))
    grams = [tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3)]
    return {
        "repetition_4": ngram_repetition(tokens, 4),
        "distinct_tokens": len(set(tokens)),
        "distinct_4grams": len(set(grams)) / len(grams) if grams else None,
        "silent_tokens": sum(1 for t in tokens if not tok.token_pitches(t, vocabulary))
        / len(tokens),
        "longest_copy": audit["longest_exact"],
        "longest_copy_transposed": audit["longest_transposed"],
        "ngram8_copied": audit["ngram_share"]["8"],
    }


def temperature_sweep(
    run: Run,
    primers: np.ndarray,
    index: TrainingIndex,
    gen_config: GenerateConfig,
    temperatures: Sequence[float] = SWEEP_TEMPERATURES,
    *,
    mode: str = "window",
) -> pd.DataFrame:
    """Generate from the same primers at each temperature; one row per (temperature,
    sample): repetition, diversity (distinct tokens, distinct 4-gram share), the share of
    tokens that sound nothing (paper rests, timed time shifts) and copying (longest exact
    and transposed copy, copied 8-grams)."""
    import pandas as pd

    from pianogen.generate import generate_ids

    rows = []
    for temperature in temperatures:
        config = gen_config.replace(temperature=float(temperature))
        ids = generate_ids(run.model, primers, gen_config.tokens, config, mode=mode)
        for k, row in enumerate(ids):
            tokens = run.vocab.decode(row)
            rows.append(
                {
                    "temperature": float(temperature),
                    "sample": k,
                    **_sweep_row(tokens, index, run.config.tokens.vocabulary),
                }
            )
    return pd.DataFrame(rows)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_run(
    run: Run,
    gen_config: GenerateConfig | None = None,
    sweep_temperatures: Sequence[float] = SWEEP_TEMPERATURES,
    *,
    mode: str = "window",
    max_heldout: int = 64,
    sweep_count: int = 4,
) -> dict[str, Any]:
    """Evaluate an opened run (:func:`pianogen.runs.open_run`); write and return
    ``<run folder>/evaluation.json``.

    Generates ``gen_config.count`` continuations exactly as :func:`pianogen.generate.
    generate_run` does (same primers and seed), computes :func:`piece_metrics` for them and
    for held-out excerpts of the same length (:func:`heldout_excerpts` of the test split),
    compares the two sets (:func:`compare_sets`), audits both against the training pieces
    (:func:`memorization`) and runs a :func:`temperature_sweep` from the first
    ``sweep_count`` primers (no temperatures: no sweep).
    """
    from pianogen import tokens as tok
    from pianogen.generate import check_sampling, generate_samples

    gen_config = GenerateConfig() if gen_config is None else gen_config
    check_sampling(gen_config.temperature, gen_config.top_k, gen_config.top_p)
    prepared = run.prepared
    vocabulary = run.config.tokens.vocabulary
    samples = generate_samples(run, gen_config, mode=mode)

    def decode(ids_seqs: Iterable[np.ndarray]) -> list[list[str]]:
        return [run.vocab.decode(s) for s in ids_seqs]

    train_tokens = decode(run.ids("train"))
    index = TrainingIndex(train_tokens, prepared.names["train"], vocabulary)
    test_tokens = decode(run.ids("test"))
    excerpts = heldout_excerpts(
        test_tokens, prepared.names["test"], gen_config.tokens, max_heldout, gen_config.seed
    )
    generated = [s.continuation_tokens for s in samples]
    gen_metrics = [piece_metrics(tok.decode(t, vocabulary), t) for t in generated]
    real_metrics = [piece_metrics(tok.decode(t, vocabulary), t) for _, _, t in excerpts]
    references = {}
    vocab_tokens, vocab_counts = run.vocab.tokens, run.vocab.counts  # copies: take them once
    for kind in REFERENCES:
        ref_tokens = reference_tokens(
            vocab_tokens,
            [vocab_counts[t] for t in vocab_tokens],
            kind,
            len(generated),
            gen_config.tokens,
            gen_config.seed,
        )
        ref_metrics = [piece_metrics(tok.decode(t, vocabulary), t) for t in ref_tokens]
        references[kind] = {
            "metrics": ref_metrics,
            "distances": compare_sets(ref_metrics, real_metrics),
        }
    primers = np.array([s.primer_ids for s in samples[:sweep_count]], dtype=np.int32)
    sweep = (
        temperature_sweep(run, primers, index, gen_config, sweep_temperatures, mode=mode)
        if len(sweep_temperatures) and len(primers)
        else None
    )
    result = {
        "format": EVALUATION_FORMAT,
        "artist": run.config.artist,
        "model": run.config.model.name,
        "vocabulary": vocabulary,
        "mode": mode,
        "config": gen_config.to_dict(),
        "training": {"pieces": len(train_tokens), "tokens": index.tokens_total},
        "samples": [
            {
                "index": s.index,
                "primer": {
                    "split": s.primer_split,
                    "piece": s.primer_piece,
                    "start": s.primer_start,
                    "tokens": s.primer_tokens,
                },
                "tokens": s.continuation_tokens,
            }
            for s in samples
        ],
        "heldout_excerpts": [
            {"piece": name, "start": start, "length": len(t)} for name, start, t in excerpts
        ],
        "metrics": {"generated": gen_metrics, "heldout": real_metrics},
        "distances": compare_sets(gen_metrics, real_metrics),
        "references": references,
        "memorization": memorization(generated, index, [t for _, _, t in excerpts]),
        "sweep_temperatures": [float(t) for t in sweep_temperatures],
        "sweep_samples": len(primers),
        "sweep": [] if sweep is None else sweep.to_dict(orient="records"),
    }
    result = _clean(result)
    atomic_write_json(run.path / "evaluation.json", result)
    return result


def metric_frame(evaluation: dict[str, Any]) -> pd.DataFrame:
    """One row per piece (generated and held-out) of an evaluation's metrics, for tables."""
    import pandas as pd

    rows = []
    for kind in ("generated", "heldout"):
        for k, metrics in enumerate(evaluation["metrics"][kind]):
            rows.append({"set": kind, "piece": k, **metrics})
    for kind, ref in (evaluation.get("references") or {}).items():
        for k, metrics in enumerate(ref["metrics"]):
            rows.append({"set": kind, "piece": k, **metrics})
    return pd.DataFrame(rows)


def metric_summary(frame: pd.DataFrame, label: str) -> dict[str, Any]:
    """One table row summarising a set of pieces from :func:`metric_frame`: ``set`` (the
    label), ``pieces`` (the row count) and, per feature in :data:`FEATURES`, the text
    ``"mean ± std"`` (population std, 2 decimals) over the pieces where it is defined, or
    ``"–"`` when it is defined for none (or the column is missing)."""
    import pandas as pd

    row: dict[str, Any] = {"set": label, "pieces": len(frame)}
    for feature in FEATURES:
        column = frame[feature] if feature in frame else pd.Series(dtype=float)
        values = pd.to_numeric(column, errors="coerce").dropna()
        row[feature] = f"{values.mean():.2f} ± {values.std(ddof=0):.2f}" if len(values) else "–"
    return row


MEMORIZATION_COLUMNS = {  # summary key of memorization() -> column of memorization_table
    "longest_copy_median": "longest verbatim (median)",
    "longest_copy_max": "longest verbatim (max)",
    "longest_copy_transposed_max": "longest transposed (max)",
    "ngram8_copied": "8-grams copied (mean)",
    "ngram8_copied_transposed": "8-grams copied, any key (mean)",
}


def memorization_table(evaluations: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The copy audit of several runs side by side (one :func:`evaluate_run` result per
    label), read from each :func:`memorization` ``summary``: a row per run's generated
    continuations and one for the held-out excerpts (the first run's: runs with the same
    tokens and split share them), with the count of pieces audited."""
    import pandas as pd

    rows = []
    for label, evaluation in evaluations.items():
        memo = evaluation["memorization"]
        for name, prefix, audits in (
            (label, "", memo["generated"]),
            ("held-out excerpts", "heldout_", memo["heldout"]),
        ):
            if not audits:
                continue
            row = {"run": name, "pieces": len(audits)}
            row |= {
                col: memo["summary"].get(prefix + key) for key, col in MEMORIZATION_COLUMNS.items()
            }
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["pieces", *MEMORIZATION_COLUMNS.values()])
    return pd.DataFrame(rows).drop_duplicates(subset="run").set_index("run")
