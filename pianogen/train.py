"""Fit one model preset on one artist: checkpoints, resume, early stopping, test metrics.

Training writes the run folder :mod:`pianogen.runs` describes (config.json, vocab.json,
model.keras, history.csv, metrics.json, data.json) plus ``checkpoint/``: epoch-NNNN.keras
(the last completed epoch, optimizer included) and state.json (the commit point of every
epoch).

Every file is written atomically. ``state.json`` is written last in an epoch, so a process
killed at any moment resumes from the last epoch it names. Training is deterministic given
the seed and the data: windows are shuffled per epoch with ``(seed, epoch)`` and dropout
generators are reseeded per epoch, so a resumed run continues exactly as an uninterrupted
one would have.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianogen import conditioned
from pianogen.baselines import baseline_metrics, majority_metrics
from pianogen.config import PAPER_RESULTS, RunConfig
from pianogen.io import atomic_path, atomic_write_json, atomic_write_text, read_json
from pianogen.models import build_model, copy_weights
from pianogen.runs import (
    DATA_RECORD,
    FRESH_HINT,
    HISTORY_COLUMNS,
    METRICS,
    RunError,
    load_keras_model,
    run_dir_for,
)
from pianogen.windows import Prepared, Windows, prepare

if TYPE_CHECKING:
    import keras
    import tensorflow as tf


log = logging.getLogger(__name__)

__all__ = [
    "compile_model",
    "evaluate_windows",
    "train",
    "train_prepared",
]

_STATE = "checkpoint/state.json"


def train(
    run_config: RunConfig,
    data_dir: Path,
    out_dir: Path,
    *,
    cache_dir: Path = Path(".cache"),
    strategy: tf.distribute.Strategy | None = None,
    progress: bool = True,
    resume: bool = True,
) -> Path:
    """Prepare the artist's data, train ``run_config`` and return the run folder.

    ``resume=True`` continues an interrupted run in the same folder (and returns at once
    when it already finished); ``resume=False`` deletes the folder's training state and
    starts over (the CLI's ``--force``). ``strategy`` (a ``tf.distribute.Strategy``) builds
    and compiles the model inside its scope.

    ``TrainConfig.max_train_windows > 0`` trains each epoch on a seeded random subset of
    that many training windows (a new subset per epoch) and validates on one fixed seeded
    subset of at most that many validation windows; the test split is always scored whole.

    A conditioned run's training config (``run_config.pooled``) trains on every artist of
    ``run_config.artists`` at once and then writes each artist's view
    (:mod:`pianogen.conditioned`), holding :func:`~pianogen.conditioned.training_lock`.
    """
    run_dir = run_dir_for(out_dir, run_config)
    lock = conditioned.training_lock(run_dir) if run_config.pooled else contextlib.nullcontext()
    with lock:
        if run_config.pooled:
            prepared = conditioned.prepare_pooled(
                run_config, Path(data_dir), Path(cache_dir), progress=progress
            )
        else:
            prepared = prepare(run_config, Path(data_dir), Path(cache_dir), progress=progress)
        return train_prepared(
            run_config,
            prepared,
            run_dir,
            strategy=strategy,
            progress=progress,
            resume=resume,
            data_dir=Path(data_dir),
        )


# ----------------------------------------------------------------------------- models
def compile_model(model: keras.Model, run_config: RunConfig) -> keras.Model:
    """Optimizer from TrainConfig (Adamax 0.001 by default), sparse CE, accuracy and top-5."""
    import keras

    tc = run_config.train
    optimizers = {
        "adamax": keras.optimizers.Adamax,
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
    }
    model.compile(
        optimizer=optimizers[tc.optimizer](learning_rate=tc.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top_5_accuracy"),
        ],
    )
    return model


def _reseed_dropout(model: keras.Model, seed: int, epoch: int) -> None:
    """Set every random-generator state of the model from ``(seed, epoch, index)``.

    Keras does not save these states in ``.keras`` files; reseeding per epoch makes dropout
    masks a function of the epoch, so a resumed run matches an uninterrupted one.
    """
    states = [v for v in model.variables if "seed_generator_state" in v.path]
    entropy = np.random.SeedSequence([int(seed), int(epoch), 0x5EED])
    values = entropy.generate_state(max(1, len(states)), dtype=np.uint32) % (2**30) + 1
    for v, value in zip(states, values, strict=False):
        v.assign(np.array([int(value), 0], dtype=v.dtype))


def evaluate_windows(model: keras.Model, windows: Windows, batch_size: int) -> dict[str, float]:
    """Loss, accuracy, top-5 accuracy, perplexity and token count of ``model`` on windows."""
    if len(windows) == 0:
        raise ValueError("cannot evaluate on zero windows")
    result = model.evaluate(windows.dataset(batch_size), verbose=0, return_dict=True)
    scores = {name: float(result[name]) for name in METRICS}
    scores["perplexity"] = float(np.exp(scores["loss"]))
    scores["tokens"] = len(windows)
    return scores


# ------------------------------------------------------------------------- run folder
def _clean_temporaries(run_dir: Path) -> None:
    """Delete temp files a killed atomic write may have left (``.<name>.*.tmp*``)."""
    for folder in (run_dir, run_dir / "checkpoint"):
        if folder.is_dir():
            for stale in folder.glob(".*.tmp*"):
                stale.unlink(missing_ok=True)


def _drop_stale_checkpoints(run_dir: Path, keep: str) -> None:
    """Delete checkpoints other than the committed one (a kill can leave the previous one)."""
    for path in (run_dir / "checkpoint").glob("epoch-*.keras"):
        if path.name != keep:
            path.unlink(missing_ok=True)


def _reset(run_dir: Path) -> None:
    """Remove the training state and results of a run folder (``resume=False``)."""
    for name in ("model.keras", "history.csv", "metrics.json", "config.json", "vocab.json"):
        (run_dir / name).unlink(missing_ok=True)
    checkpoint = run_dir / "checkpoint"
    if checkpoint.is_dir():
        for item in checkpoint.iterdir():
            if item.is_file():
                item.unlink()


def _check_folder(run_dir: Path, run_config: RunConfig, prepared: Prepared) -> dict | None:
    """Refuse a folder from another config or vocabulary; return the saved state, if any."""
    from pianogen.vocab import Vocab

    config_path, vocab_path = run_dir / "config.json", run_dir / "vocab.json"
    if config_path.exists():
        try:
            saved = RunConfig.load(config_path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunError(f"{config_path} is unreadable ({exc}); {FRESH_HINT}") from None
        if saved.to_dict() != run_config.to_dict():
            changed = _diff(saved.to_dict(), run_config.to_dict())
            raise RunError(
                f"{run_dir} holds a run with another configuration (differs in {changed}); "
                f"{FRESH_HINT}"
            )
    if vocab_path.exists():
        try:
            saved_vocab = Vocab.load(vocab_path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunError(f"{vocab_path} is unreadable ({exc}); {FRESH_HINT}") from None
        if list(saved_vocab.tokens) != list(prepared.vocab.tokens):
            raise RunError(
                f"{run_dir} was trained with another vocabulary ({len(saved_vocab)} tokens, "
                f"now {len(prepared.vocab)}: the data changed); {FRESH_HINT}"
            )
    state_path = run_dir / _STATE
    if not state_path.exists():
        return None
    try:
        state = read_json(state_path)
    except (OSError, ValueError) as exc:
        raise RunError(f"{state_path} is unreadable ({exc}); {FRESH_HINT}") from None
    if state.get("data_hash") != prepared.data_hash:
        raise RunError(f"{run_dir} was trained on other data (data hash differs); {FRESH_HINT}")
    return state


def _diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out


def _history_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in rows:
        writer.writerow(
            [repr(row[c]) if isinstance(row[c], float) else row[c] for c in HISTORY_COLUMNS]
        )
    return buffer.getvalue()


def _save_model(model: keras.Model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


# ----------------------------------------------------------------------------- training
def _shown(path: Path) -> str:
    """``path`` as messages show it: relative to the checkout when inside it (a notebook's
    output then names ``runs/bach/...``, not the folder the book was built in), else
    absolute."""
    from pianogen.explore import notebook_path

    return notebook_path(path, base=".")


def _say(message: str, progress: bool) -> None:
    """Print ``message`` when showing progress, else log it (never both: a terminal whose
    log handler prints INFO showed every epoch line twice)."""
    if progress:
        print(message, flush=True)
    else:
        log.info(message)


def train_prepared(
    run_config: RunConfig,
    prepared: Prepared,
    run_dir: Path,
    *,
    strategy: tf.distribute.Strategy | None = None,
    progress: bool = True,
    resume: bool = True,
    data_dir: Path | None = None,
) -> Path:
    """Train on already prepared data into ``run_dir`` (see :func:`train`).

    ``data_dir``, the folder ``prepared`` was read from, is recorded in ``data.json`` once
    the folder is known to hold this run (``None``: not recorded).
    """
    import keras

    tc = run_config.train
    every_step = run_config.model.sequence_loss
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        _reset(run_dir)
    _clean_temporaries(run_dir)
    state = _check_folder(run_dir, run_config, prepared)
    if data_dir is not None:  # the folder holds this run (same config, vocabulary and data)
        record = {"data_dir": str(Path(data_dir).resolve()), "data_hash": prepared.data_hash}
        atomic_write_json(run_dir / DATA_RECORD, record)
    if state and state.get("checkpoint"):
        _drop_stale_checkpoints(run_dir, state["checkpoint"])
    if state and state.get("finished") and (run_dir / "metrics.json").exists():
        _say(
            f"{_shown(run_dir)}: already trained ({state['epoch']} epochs); nothing to do", progress
        )
        if run_config.pooled and conditioned.views_missing(run_dir, run_config):
            metrics = read_json(run_dir / "metrics.json")
            _write_views(run_config, prepared, run_dir, metrics, progress=progress)
        return run_dir
    run_config.save(run_dir / "config.json")
    prepared.vocab.save(run_dir / "vocab.json")

    vocab_size = len(prepared.vocab)
    train_w = prepared.windows("train")
    val_w = prepared.validation_windows(tc)

    def scope() -> contextlib.AbstractContextManager:
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    if state is None:
        state = {
            "epoch": 0,
            "best_val_loss": None,
            "best_epoch": 0,
            "since_best": 0,
            "history": [],
            "timing": [],
            "checkpoint": None,
            "finished": False,
            "data_hash": prepared.data_hash,
        }
        keras.utils.set_random_seed(tc.seed)
        with scope():
            model = compile_model(
                _build(run_config, vocab_size, prepared.seq_len, every_step=every_step),
                run_config,
            )
    else:
        checkpoint = run_dir / "checkpoint" / str(state["checkpoint"])
        with scope():
            model = load_keras_model(checkpoint)
        _say(
            f"{_shown(run_dir)}: resuming after epoch {state['epoch']} of {tc.epochs} "
            f"(best val loss {state['best_val_loss']:.4f} at epoch {state['best_epoch']})",
            progress,
        )

    # The model that is validated, saved and tested: the trained one itself, or for a
    # sequence_loss run its next-token twin, given the trained weights now (a resumed run
    # may have nothing left to train) and after every epoch.
    scorer = model
    if every_step:
        with scope():
            scorer = compile_model(_build(run_config, vocab_size, prepared.seq_len), run_config)
        copy_weights(model, scorer)
    val_ds = val_w.dataset(tc.batch_size)
    # A constant predictor's training accuracy: a plateau counts only above it.
    targets = train_w.targets()
    plateau_floor = (
        majority_metrics(targets, targets, vocab_size)["accuracy"] if tc.plateau else 0.0
    )
    while state["epoch"] < tc.epochs and not _stop_reason(state, tc):
        epoch = state["epoch"]
        epoch_w = train_w.sample(tc.max_train_windows, [tc.seed, epoch, 1])
        ds = epoch_w.dataset(
            tc.batch_size, shuffle=True, seed=tc.seed, epoch=epoch, every_step=every_step
        )
        _reseed_dropout(model, tc.seed, epoch)
        started = time.perf_counter()
        fit = model.fit(ds, epochs=1, verbose=0, shuffle=False)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        if scorer is not model:
            copy_weights(model, scorer)
        val = scorer.evaluate(val_ds, verbose=0, return_dict=True)
        val_seconds = time.perf_counter() - started
        row: dict[str, Any] = {"epoch": epoch + 1, "windows": len(epoch_w)}
        row.update({name: float(fit.history[name][-1]) for name in METRICS})
        row.update({f"val_{name}": float(val[name]) for name in METRICS})
        improved = state["best_val_loss"] is None or row["val_loss"] < state["best_val_loss"]
        if improved:
            _save_model(scorer, run_dir / "model.keras")
            state.update(best_val_loss=row["val_loss"], best_epoch=epoch + 1, since_best=0)
        else:
            state["since_best"] += 1
        _track_plateau(state, row["accuracy"], tc.plateau_delta, floor=plateau_floor)
        name = f"epoch-{epoch + 1:04d}.keras"
        _save_model(model, run_dir / "checkpoint" / name)
        previous = state["checkpoint"]
        state["history"].append(row)
        state["timing"].append(
            {"epoch": epoch + 1, "train_seconds": train_seconds, "val_seconds": val_seconds}
        )
        state.update(epoch=epoch + 1, checkpoint=name)
        atomic_write_text(run_dir / "history.csv", _history_csv(state["history"]))
        atomic_write_json(run_dir / _STATE, state)  # the commit point of this epoch
        if previous and previous != name:
            (run_dir / "checkpoint" / previous).unlink(missing_ok=True)
        _say(_epoch_line(row, tc.epochs, train_seconds, improved), progress)

    reason = _stop_reason(state, tc)
    if reason and state["epoch"] < tc.epochs:
        _say(f"early stopping: {reason}", progress)
    best_in_memory = state["best_epoch"] == state["epoch"] and state["history"]
    _finish(run_config, prepared, run_dir, state, progress, scorer if best_in_memory else None)
    return run_dir


def _build(
    run_config: RunConfig, vocab_size: int, seq_len: int, *, every_step: bool = False
) -> keras.Model:
    artists = len(run_config.artists) if run_config.pooled else 0
    return build_model(
        run_config.model, vocab_size, seq_len, every_step=every_step, artists=artists
    )


# Training accuracy within this of the majority token's share is "not started learning".
FLOOR_MARGIN = 0.01


def _track_plateau(state: dict, accuracy: float, delta: float, floor: float = 0.0) -> None:
    """Count epochs since the training accuracy last rose by at least ``delta``.

    Epochs whose accuracy is below ``floor`` + :data:`FLOOR_MARGIN` (``floor``: the majority
    token's share of the training targets, what predicting one token reaches) do not count:
    the paper's models sit there for their first epochs with Adamax 0.001 (haydn's window
    split: 0.203-0.207 in epochs 2-11 against a share of 0.204), and a network that has not
    started learning has not converged.
    """
    best = state.get("best_train_accuracy")
    if best is None or accuracy >= best + delta:
        state.update(best_train_accuracy=accuracy, since_train_best=0)
    elif accuracy < floor + FLOOR_MARGIN:
        state["since_train_best"] = 0
    else:
        state["since_train_best"] = state.get("since_train_best", 0) + 1


def _stop_reason(state: dict, tc: Any) -> str | None:
    """Why training stops before its epoch cap (``None``: it goes on)."""
    if tc.patience > 0 and state["since_best"] >= tc.patience:
        return f"no val loss improvement for {tc.patience} epochs"
    if tc.plateau > 0 and state.get("since_train_best", 0) >= tc.plateau:
        return (
            f"training accuracy plateaued (no rise of {tc.plateau_delta} in {tc.plateau} "
            f"epochs; best {state['best_train_accuracy']:.3f})"
        )
    return None


def _epoch_line(row: dict, epochs: int, seconds: float, improved: bool) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f} acc {row['accuracy']:.3f} "
        f"top5 {row['top_5_accuracy']:.3f} | val loss {row['val_loss']:.4f} "
        f"acc {row['val_accuracy']:.3f} top5 {row['val_top_5_accuracy']:.3f} | "
        f"{seconds:.1f} s, {row['windows'] / max(seconds, 1e-9):.0f} seq/s"
        + ("  * best" if improved else "")
    )


def _finish(
    run_config: RunConfig,
    prepared: Prepared,
    run_dir: Path,
    state: dict,
    progress: bool,
    model: keras.Model | None = None,
) -> None:
    """Score the best model on the test windows beside the baselines; write metrics.json.

    ``model`` is the in-memory model when its weights are the best ones (saves a reload).
    """
    tc = run_config.train
    if model is None:  # compiled afresh: its saved optimizer was never stepped (load_run)
        model = compile_model(load_keras_model(run_dir / "model.keras", compile=False), run_config)
    train_w, test_w = prepared.windows("train"), prepared.windows("test")
    val_used = prepared.validation_windows(tc)
    vocab_size = len(prepared.vocab)
    scores = evaluate_windows(model, test_w, tc.batch_size)
    train_seconds = sum(t["train_seconds"] for t in state["timing"])
    trained = sum(row["windows"] for row in state["history"])
    metrics = {
        "artist": run_config.artist,
        "preset": run_config.model.name,
        "cell": run_config.model.cell,
        "split": prepared.kind,
        "vocabulary": run_config.tokens.vocabulary,
        "augment_keys": run_config.tokens.augment_keys,
        "augmented_copies": len(prepared.augmented),
        # Training figures (history, final_train) are per position for sequence_loss runs.
        "sequence_loss": run_config.model.sequence_loss,
        "model": scores,
        "baselines": baseline_metrics(train_w, test_w, vocab_size),
        # The same baselines on the validation windows the epochs were scored on: the levels
        # the learning curves (history.csv's val_* columns) are compared with.
        "validation_baselines": baseline_metrics(train_w, val_used, vocab_size),
        "epoch_seconds": [round(t["train_seconds"], 3) for t in state["timing"]],
        "paper": PAPER_RESULTS[run_config.model.cell],
        "epochs": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_val_loss": state["best_val_loss"],
        "stopped_early": state["epoch"] < tc.epochs,
        "stop_reason": _stop_reason(state, tc),
        "final_train": {name: state["history"][-1][name] for name in METRICS if state["history"]},
        "train_seconds": train_seconds,
        "sequences_per_s": trained / train_seconds if train_seconds > 0 else None,
        "sequences_per_s_median": _median_rate(state),
        "parameters": int(model.count_params()),
        "vocab_size": vocab_size,
        "windows": prepared.counts(),
        "validation_windows_used": len(val_used),
        "pieces": {name: len(seqs) for name, seqs in prepared.splits.items()},
        "skipped": len(prepared.skipped),
        "data_hash": prepared.data_hash,
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    if run_config.pooled:  # before "finished": a kill while writing them redoes them
        _write_views(run_config, prepared, run_dir, metrics, model, progress)
    state["finished"] = True
    atomic_write_json(run_dir / _STATE, state)
    _say(
        f"test: loss {scores['loss']:.4f}, accuracy {scores['accuracy']:.3f}, top-5 "
        f"{scores['top_5_accuracy']:.3f} on {scores['tokens']} windows "
        f"(n-gram {metrics['baselines']['ngram']['accuracy']:.3f}); {_shown(run_dir)}",
        progress,
    )


def _write_views(
    run_config: RunConfig,
    prepared: Prepared,
    run_dir: Path,
    metrics: dict[str, Any],
    model: keras.Model | None = None,
    progress: bool = True,
) -> None:
    """Every artist's view of a conditioned run (:func:`pianogen.conditioned.write_views`),
    scored like any run."""
    if model is None:  # the views are compiled by compile_for
        model = load_keras_model(run_dir / "model.keras", compile=False)
    batch = run_config.train.batch_size
    views = conditioned.write_views(
        run_dir,
        run_config,
        prepared,
        model,
        metrics,
        compile_for=compile_model,
        evaluate=lambda plain, windows: evaluate_windows(plain, windows, batch),
    )
    _say(f"views of {len(views)} artists: {', '.join(_shown(v) for v in views)}", progress)


def _median_rate(state: dict) -> float | None:
    """Median per-epoch training rate (windows/s): robust to the first epoch's tracing."""
    rates = [
        row["windows"] / t["train_seconds"]
        for row, t in zip(state["history"], state["timing"], strict=True)
        if t["train_seconds"] > 0
    ]
    return float(np.median(rates)) if rates else None
