"""One model for every artist: pooled data, per-artist views, and choosing an artist.

A conditioned run (a preset with ``ModelConfig.conditioned``, a :class:`RunConfig` with
``artists`` and ``artist`` :data:`~pianogen.config.POOLED`) trains one network on the
training pieces of all its artists at once, each window carrying its artist's id:

- **The same data as the artists' own runs.** Each artist's pieces are prepared exactly as
  that artist's own run of the same settings prepares them (:func:`pianogen.windows.prepare`:
  the same piece split, transposed copies and vocabulary), then re-encoded in the *pooled
  vocabulary*, the union of the artists' vocabularies (:func:`prepare_pooled`). Nothing is
  added but the other artists' music and the artist input.
- **One plain model per artist.** The artist's vector is added to every token embedding,
  so fixing the artist gives a plain model whose embedding table is shifted by that vector
  (:func:`specialise`). Its softmax is restricted to the artist's own vocabulary and
  renormalised (the rows of the head for those tokens): the classes the artist's own model
  chooses from. The *view* of each artist (``RUNS_ROOT/<artist>/<run name>``, written by
  :func:`write_views` when training finishes) is then an ordinary run folder: the same test
  windows and baselines as the artist's own runs (its ``metrics.json``), and generation,
  evaluation and the composer classifier work on it unchanged. The pooled run itself lives
  in ``RUNS_ROOT/_conditioned/<run name>`` (:func:`pianogen.runs.run_dir_for`).

``pianogen generate RUN --artist NAME`` samples from a conditioned run for one artist
(:func:`view_for`); while a conditioned run trains it holds :func:`training_lock`, which
an artist's evaluation waits for (:func:`wait_for_views`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianogen.baselines import baseline_metrics
from pianogen.config import PAPER_RESULTS, ModelConfig, RunConfig, parse_run_name
from pianogen.errors import PianogenError
from pianogen.io import atomic_path, atomic_write_json, file_lock, read_json
from pianogen.models import build_model
from pianogen.presets import MODEL_PRESETS
from pianogen.runs import CONDITIONED_DIR, DATA_RECORD, RunError
from pianogen.vocab import Vocab
from pianogen.windows import SPLITS, Prepared, Windows, prepare

if TYPE_CHECKING:
    import keras
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "LOCK_FILE",
    "UnknownArtist",
    "pool_vocab",
    "prepare_pooled",
    "specialise",
    "token_index",
    "training_lock",
    "view_for",
    "view_table",
    "views_missing",
    "wait_for_views",
    "write_views",
]

LOCK_FILE = ".training.lock"  # held in the pooled run folder while it trains and exports


class UnknownArtist(PianogenError, ValueError):
    """A conditioned run was asked for an artist it was not trained on."""


# ------------------------------------------------------------------------------- data
def pool_vocab(vocabs: Sequence[Vocab]) -> Vocab:
    """The union of the artists' vocabularies, counts summed, ordered like any vocabulary
    (most frequent first, ties by token)."""
    counts: dict[str, int] = {}
    for vocab in vocabs:
        for token, count in vocab.counts.items():
            counts[token] = counts.get(token, 0) + count
    kept = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    first = vocabs[0]
    return Vocab(
        [t for t, _ in kept], dict(kept), vocabulary=first.vocabulary, min_count=first.min_count
    )


def token_index(vocab: Vocab, pooled: Vocab) -> np.ndarray:
    """Pooled id of every id of ``vocab`` (``int64``, one per token of ``vocab``)."""
    return np.array([pooled.index(t) for t in vocab.tokens], dtype=np.int64)


def prepare_pooled(
    run_config: RunConfig,
    data_dir: Path,
    cache_dir: Path = Path(".cache"),
    progress: bool = True,
    by_artist: dict[str, Prepared] | None = None,
) -> Prepared:
    """Every artist's data prepared as its own run would prepare it, pooled (see the module
    docstring). The result's ``labels`` give each piece's artist id (the position in
    ``run_config.artists``), ``by_artist`` each artist's own :class:`Prepared` (``by_artist``
    given: already prepared data, as tests build it)."""
    if not run_config.pooled:
        raise ValueError(f"{run_config.run_name}: not a conditioned run's training config")
    parts = dict(by_artist or {})
    for artist in run_config.artists:
        if artist in parts:
            continue
        try:
            parts[artist] = prepare(
                run_config.for_artist(artist), Path(data_dir), Path(cache_dir), progress=progress
            )
        except PianogenError as exc:
            others = ",".join(a for a in run_config.artists if a != artist)
            raise type(exc)(
                f"the conditioned run cannot use {artist!r} ({exc}); train it on the other "
                f"artists (--artist {others})"
            ) from None
    parts = {a: parts[a] for a in run_config.artists}
    vocab = pool_vocab([p.vocab for p in parts.values()])
    splits: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    names: dict[str, list[str]] = {name: [] for name in SPLITS}
    labels: dict[str, list[int]] = {name: [] for name in SPLITS}
    augmented, augmented_labels, pieces, skipped = [], [], [], []
    for label, (artist, part) in enumerate(parts.items()):
        index = token_index(part.vocab, vocab).astype(np.int32)
        for name in SPLITS:
            splits[name] += [index[s] for s in part.splits[name]]
            names[name] += [f"{artist}/{n}" for n in part.names[name]]
            labels[name] += [label] * len(part.splits[name])
        augmented += [index[s] for s in part.augmented]
        augmented_labels += [label] * len(part.augmented)
        pieces += [index[s] for s in part.pieces]
        skipped += list(part.skipped)
    digest = hashlib.sha256("|".join(p.data_hash for p in parts.values()).encode()).hexdigest()
    return Prepared(
        vocab=vocab,
        splits=splits,
        names=names,
        skipped=skipped,
        data_hash=digest,
        kind="piece",
        seq_len=run_config.tokens.seq_len,
        pieces=pieces,
        augmented=augmented,
        labels=labels,
        augmented_labels=augmented_labels,
        by_artist=parts,
    )


# ------------------------------------------------------------------------------ views
def specialise(
    model: keras.Model, config: ModelConfig, artist_id: int, tokens: np.ndarray
) -> keras.Model:
    """The plain next-token model of one artist of a conditioned ``model``: the artist's
    vector folded into the embedding table, and the head restricted to the pooled ids
    ``tokens`` (the artist's vocabulary, in its order), so its softmax is the conditioned
    model's distribution over those tokens, renormalised. Same layer names as any plain
    model (:mod:`pianogen.models`). ``config`` is the model's (a conditioned preset's)."""
    if not config.conditioned:
        raise ValueError(f"preset {config.name!r} has no artist input to specialise")
    tokens = np.asarray(tokens, dtype=np.int64)
    seq_len = int(model.inputs[0].shape[1])
    plain = build_model(config.replace(conditioned=False), len(tokens), seq_len)
    table = model.get_layer("embedding").get_weights()[0]
    vector = model.get_layer("artist_embedding").get_weights()[0][int(artist_id)]
    for layer in plain.layers:
        if not layer.weights:
            continue
        if layer.name == "embedding":
            layer.set_weights([table[tokens] + vector[None, :]])
        elif layer.name == "head":
            kernel, bias = model.get_layer("head").get_weights()
            layer.set_weights([kernel[:, tokens], bias[tokens]])
        else:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return plain


def write_views(
    run_dir: Path,
    run_config: RunConfig,
    prepared: Prepared,
    model: keras.Model,
    pooled_metrics: dict[str, Any],
    *,
    compile_for: Callable[[keras.Model, RunConfig], keras.Model],
    evaluate: Callable[[keras.Model, Windows], dict[str, float]],
) -> list[Path]:
    """Write every artist's view of a finished conditioned run (module docstring):
    ``RUNS_ROOT/<artist>/<run name>`` with config.json (the view's config), vocab.json (the
    artist's), model.keras (:func:`specialise`), history.csv (the pooled run's learning
    curve), data.json and metrics.json (scores on the artist's own test windows beside the
    artist's baselines, the same as its own runs'). The trainer's ``compile_for(model,
    config)`` compiles a view and ``evaluate(model, windows)`` scores one. Returns the view
    folders."""
    run_dir = Path(run_dir)
    runs_root = run_dir.parent.parent
    tc = run_config.train
    views = []
    for artist_id, (artist, part) in enumerate(prepared.by_artist.items()):
        view_config = run_config.for_artist(artist)
        folder = runs_root / artist / run_config.run_name
        folder.mkdir(parents=True, exist_ok=True)
        index = token_index(part.vocab, prepared.vocab)
        plain = specialise(model, run_config.model, artist_id, index)
        with atomic_path(folder / "model.keras") as tmp:
            plain.save(tmp)  # uncompiled, as nothing trains it further
        plain = compile_for(plain, view_config)
        view_config.save(folder / "config.json")
        part.vocab.save(folder / "vocab.json")
        shutil.copyfile(run_dir / "history.csv", folder / "history.csv")
        if (run_dir / DATA_RECORD).is_file():
            data_dir = read_json(run_dir / DATA_RECORD).get("data_dir")
            atomic_write_json(
                folder / DATA_RECORD, {"data_dir": data_dir, "data_hash": part.data_hash}
            )
        train_w = part.windows("train")
        val_w = part.validation_windows(tc)
        test_w = part.windows("test")
        metrics = {
            key: pooled_metrics[key]
            for key in (
                "preset",
                "cell",
                "split",
                "vocabulary",
                "augment_keys",
                "sequence_loss",
                "epoch_seconds",
                "epochs",
                "best_epoch",
                "stopped_early",
                "stop_reason",
                "final_train",
                "train_seconds",
                "sequences_per_s",
                "sequences_per_s_median",
                "parameters",
            )
        }
        metrics |= {
            "artist": artist,
            "augmented_copies": len(part.augmented),
            "model": evaluate(plain, test_w),
            "validation": (validation := evaluate(plain, val_w)),
            # the artist's own validation loss, as its own runs record theirs (a model is
            # chosen on it, pianogen.results.best_networks)
            "best_val_loss": validation["loss"],
            "baselines": baseline_metrics(train_w, test_w, len(part.vocab)),
            "validation_baselines": baseline_metrics(train_w, val_w, len(part.vocab)),
            "paper": PAPER_RESULTS[run_config.model.cell],
            "vocab_size": len(part.vocab),
            "windows": part.counts(),
            "validation_windows_used": len(val_w),
            "pieces": {name: len(seqs) for name, seqs in part.splits.items()},
            "skipped": len(part.skipped),
            "data_hash": part.data_hash,
            "conditioned": {
                "run": f"{run_dir.parent.name}/{run_dir.name}",
                "artists": list(run_config.artists),
                "artist_id": artist_id,
                "pooled_vocab_size": len(prepared.vocab),
                "pooled_best_val_loss": pooled_metrics["best_val_loss"],
                "pooled_windows": pooled_metrics["windows"],
                "pooled_data_hash": prepared.data_hash,
            },
        }
        atomic_write_json(folder / "metrics.json", metrics)
        views.append(folder)
    return views


def views_missing(run_dir: Path, run_config: RunConfig) -> list[str]:
    """The artists of a conditioned run whose view has no metrics.json."""
    runs_root = Path(run_dir).parent.parent
    name = run_config.run_name
    return [a for a in run_config.artists if not (runs_root / a / name / "metrics.json").is_file()]


# ----------------------------------------------------------------------------- finding
def view_for(run_dir: Path, artist: str | None) -> Path:
    """The run folder to sample ``artist`` from: for a conditioned run (its pooled folder or
    any of its views) the view ``RUNS_ROOT/<artist>/<run name>``; for any other run the
    folder itself (``artist`` must then be its own or ``None``). Raises
    :class:`UnknownArtist` (one line, naming the known artists) for an artist the run was
    not trained on, and :class:`RunError` for a conditioned run without ``artist`` or whose
    view is missing."""
    run_dir = Path(run_dir)
    try:
        config = RunConfig.load(run_dir / "config.json")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{run_dir} is not a trained run folder ({exc})") from None
    known = list(config.artists) or [config.artist]
    if artist is None:
        if config.pooled:
            raise RunError(
                f"{run_dir} is one model for {len(known)} artists: choose one with --artist "
                f"({', '.join(known)})"
            )
        return run_dir
    if artist not in known:
        raise UnknownArtist(
            f"unknown artist {artist!r} for {run_dir.name}; it knows: {', '.join(known)}"
        )
    if not config.artists:
        return run_dir
    view = run_dir.parent.parent / artist / config.run_name
    if not (view / "model.keras").is_file():
        raise RunError(
            f"{view} is missing: the conditioned run has not finished writing its views; "
            f"train it again (it resumes and writes them)"
        )
    return view


@contextlib.contextmanager
def training_lock(run_dir: Path) -> Iterator[None]:
    """Held while a conditioned run trains and writes its views (:func:`wait_for_views`)."""
    with file_lock(Path(run_dir) / LOCK_FILE, wait=True):
        yield


def wait_for_views(runs_root: Path, run_names: Sequence[str]) -> list[str]:
    """Wait until no conditioned run among ``run_names`` (run folder names of an artist's
    page) is training; returns the ones that were waited for. A batch trains a conditioned
    run beside the artists' own runs, and an artist's evaluation may come first."""
    waited = []
    for name in run_names:
        preset, _ = parse_run_name(name)
        if preset not in MODEL_PRESETS or not MODEL_PRESETS[preset].conditioned:
            continue
        lock = Path(runs_root) / CONDITIONED_DIR / name / LOCK_FILE
        if not lock.is_file():
            continue
        with file_lock(lock, wait=False) as free:
            if free:
                continue
        log.info("waiting for the conditioned run %s to finish", name)
        with file_lock(lock, wait=True):
            waited.append(name)
    return waited


def view_table(runs_root: Path, run_config: RunConfig) -> pd.DataFrame:
    """Per artist of a conditioned run whose view is written: the view's test accuracy and
    loss on the artist's own test windows beside the artist's 3-gram accuracy and unigram
    loss there (its metrics.json)."""
    import pandas as pd

    rows = []
    for artist in run_config.artists:
        path = Path(runs_root) / artist / run_config.run_name / "metrics.json"
        if not path.is_file():
            continue
        metrics = read_json(path)
        model, baselines = metrics["model"], metrics["baselines"]
        rows.append(
            {
                "artist": artist,
                "training windows": metrics["windows"]["train"],
                "test windows": model["tokens"],
                "accuracy": model["accuracy"],
                "3-gram accuracy": baselines["ngram"]["accuracy"],
                "loss": model["loss"],
                "unigram loss": baselines["unigram"]["loss"],
            }
        )
    return pd.DataFrame(rows).set_index("artist") if rows else pd.DataFrame()
