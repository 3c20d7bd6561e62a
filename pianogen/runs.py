"""Run folders: where a run lives, what it holds, opening one and reading its records.

The one owner of the on-disk layout. ``RUNS_ROOT`` (``runs/`` by default: ``pianogen train
--out``, ``pianogen batch --runs``) holds::

    RUNS_ROOT/<artist>/<run name>/                  piece split (held-out pieces)
    RUNS_ROOT/_window-split/<artist>/<run name>/    the paper's window split
    RUNS_ROOT/_classifier/<vocabulary>-<length>/    the composer classifier (pianogen.style)
    RUNS_ROOT/_conditioned/<run name>/              one model for every artist, whose view
                                                    of each artist is RUNS_ROOT/<artist>/<run
                                                    name> (pianogen.conditioned)
    RUNS_ROOT/_plateau/                             the plateau study (pianogen.plateau): a
                                                    runs root of its own, same layout

``<run name>`` is the model preset plus its vocabulary's run suffix (``-timed`` for timed tokens)
(:func:`pianogen.config.run_name`). Throughout the package ``runs_root`` names that root
and ``run_dir`` one run's folder. A run folder holds::

    config.json        the RunConfig (a rerun with a different config is refused)
    vocab.json         the training vocabulary (a rerun whose data gives another is refused)
    model.keras        the weights with the best validation loss so far
    history.csv        one row per completed epoch (:data:`HISTORY_COLUMNS`)
    metrics.json       test scores of the best model, the baselines, the paper's figures
    data.json          the data folder (absolute path) and data hash it was trained on:
                       an opened run prepares its data from there unless told otherwise
    style.json         its samples' attributions by the composer classifier (style fidelity)
    checkpoint/        the last completed epoch and state.json (see :mod:`pianogen.train`)
    samples/           what :func:`pianogen.generate.generate_run` writes
    evaluation.json    what :func:`pianogen.evaluate.evaluate_run` writes

:func:`open_run` gives a :class:`Run` (config, vocabulary, best model) whose data is
prepared once, on first use, from the recorded data folder; generation and evaluation take
such a run. The batch names each training page after its run (:func:`train_page_name`).
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pianogen.config import (
    RunConfig,
    SplitKind,
    Vocabulary,
    parse_run_name,
    run_name,
    run_seed,
)
from pianogen.errors import DataFolderMissing, NoTrainedModel, RunError
from pianogen.io import read_json

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from pianogen.vocab import Vocab
    from pianogen.windows import Prepared

log = logging.getLogger(__name__)

__all__ = [
    "CLASSIFIER_DIR",
    "CONDITIONED_DIR",
    "DATA_RECORD",
    "DEFAULT_DATA_DIR",
    "HISTORY_COLUMNS",
    "METRICS",
    "PLATEAU_DIR",
    "TRAIN_NOTEBOOK",
    "WINDOW_SPLIT_DIR",
    "Run",
    "RunError",
    "classifier_dir_for",
    "history_frame",
    "load_keras_model",
    "load_run",
    "metrics_table",
    "open_run",
    "parse_train_page_name",
    "recorded_data_dir",
    "run_dir_for",
    "run_folders",
    "train_page_name",
]

WINDOW_SPLIT_DIR = "_window-split"  # RUNS_ROOT/_window-split/<artist>/<run name>
CONDITIONED_DIR = "_conditioned"  # RUNS_ROOT/_conditioned/<run name>: a conditioned run
CLASSIFIER_DIR = "_classifier"  # RUNS_ROOT/_classifier/<vocabulary>-<excerpt length>
PLATEAU_DIR = "_plateau"  # RUNS_ROOT/_plateau: the plateau study's own runs root
DATA_RECORD = "data.json"  # the data folder (absolute) and data hash the run was trained on
DEFAULT_DATA_DIR = Path("data/midi")  # where an unrecorded run's data is looked for
TRAIN_NOTEBOOK = "02_train"  # the training notebook; its executed pages are named per run
METRICS = ("loss", "accuracy", "top_5_accuracy")
HISTORY_COLUMNS = (
    "epoch",
    "windows",
    *METRICS,
    *(f"val_{name}" for name in METRICS),
)
FRESH_HINT = "use a fresh --out folder, or --force to start this run over"


# ----------------------------------------------------------------------------- layout
def run_dir_for(runs_root: Path, run_config: RunConfig) -> Path:
    """``runs_root/<artist>/<run name>``; window-split runs under ``runs_root/_window-split``,
    so the same preset can be trained on both splits side by side; a conditioned run's
    training under ``runs_root/_conditioned`` (its views: ``runs_root/<artist>/<run name>``)."""
    base = Path(runs_root)
    if run_config.pooled:
        return base / CONDITIONED_DIR / run_config.run_name
    if run_config.split.kind == "window":
        base = base / WINDOW_SPLIT_DIR
    return base / run_config.artist / run_config.run_name


def classifier_dir_for(runs_root: Path, vocabulary: str, excerpt_tokens: int) -> Path:
    """``runs_root/_classifier/<vocabulary>-<excerpt_tokens>``: the composer classifier
    (:mod:`pianogen.style`) for one vocabulary and excerpt length, shared by every artist."""
    return Path(runs_root) / CLASSIFIER_DIR / f"{vocabulary}-{int(excerpt_tokens)}"


def run_folders(runs_root: Path, *, replicates: bool = False) -> list[tuple[str, str, str, Path]]:
    """Every finished run (one with ``metrics.json``) as ``(artist, run name, split, folder)``,
    sorted; folders starting with ``_`` or ``.`` are not artists. Seed replicates (run
    names ending ``-seed<n>``, :func:`pianogen.config.run_seed`) only with ``replicates``:
    every table of one run per preset reads the seed-0 runs."""
    runs_root = Path(runs_root)
    found = []
    for split, base in (("piece", runs_root), ("window", runs_root / WINDOW_SPLIT_DIR)):
        if not base.is_dir():
            continue
        for metrics in sorted(base.glob("*/*/metrics.json")):
            folder = metrics.parent
            artist = folder.parent.name
            if artist.startswith(("_", ".")) or (run_seed(folder.name) and not replicates):
                continue
            found.append((artist, folder.name, split, folder))
    return found


def train_page_name(
    preset: str, vocabulary: Vocabulary = "paper", split: SplitKind = "piece", seed: int = 0
) -> str:
    """The executed training notebook's name for one run: ``02_train_pianogen-gru``,
    ``02_train_pianogen-gru-timed``, ``02_train_paper-gru_window``,
    ``02_train_pianogen-gru-seed1``."""
    return f"{TRAIN_NOTEBOOK}_{run_name(preset, vocabulary, seed)}" + (
        "_window" if split == "window" else ""
    )


def parse_train_page_name(stem: str) -> tuple[str, Vocabulary, SplitKind, int] | None:
    """The inverse of :func:`train_page_name`: ``(preset, vocabulary, split, seed)``, or
    ``None`` when ``stem`` is not a training page."""
    prefix = f"{TRAIN_NOTEBOOK}_"
    if not stem.startswith(prefix):
        return None
    name = stem.removeprefix(prefix).removesuffix("_window")
    split: SplitKind = "window" if stem.endswith("_window") else "piece"
    preset, vocabulary = parse_run_name(name)
    return preset, vocabulary, split, run_seed(name)


def recorded_data_dir(run_dir: Path) -> Path | None:
    """The data folder a run was trained on (its ``data.json``), or ``None`` if unrecorded."""
    try:
        value = read_json(Path(run_dir) / DATA_RECORD).get("data_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(value) if isinstance(value, str) and value else None


def resolve_data_dir(run_dir: Path, data_dir: Path | None = None) -> Path:
    """``data_dir``; when it is not given, the folder the run was trained on (its
    ``data.json``), else :data:`DEFAULT_DATA_DIR`. Raises :class:`DataFolderMissing`."""
    recorded = recorded_data_dir(run_dir) if data_dir is None else None
    path = Path(data_dir) if data_dir is not None else recorded or DEFAULT_DATA_DIR
    if not path.is_dir():
        if recorded is not None:
            raise DataFolderMissing(
                f"the run was trained on the data folder {recorded}, which no longer exists; "
                f"primers come from the artist's held-out pieces, so pass the folder that "
                f"holds its artist now (--data-dir)"
            )
        raise DataFolderMissing(
            f"data folder {path} does not exist; primers come from the artist's held-out "
            f"pieces, so pass the data folder the run was trained on (--data-dir)"
        )
    return path


# ----------------------------------------------------------------------------- opening
def load_keras_model(path: Path, *, compile: bool = True) -> keras.Model:
    """``keras.models.load_model(path, safe_mode=True)`` with a clear error for bad files."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise RunError(f"model file {path} is missing; train the run first")
    try:
        return keras.models.load_model(path, safe_mode=True, compile=compile)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise RunError(
            f"model file {path} is corrupt or not a Keras model ({type(exc).__name__}: "
            f"{str(exc)[:200]}); delete the run folder and train again ({FRESH_HINT})"
        ) from None


@dataclass
class Run:
    """A trained run, ready for generation and evaluation (see :func:`open_run`).

    ``prepared`` is the run's data (:func:`pianogen.windows.prepare` with the run's config),
    computed once on first use from ``data_dir`` (default: the folder the run was trained
    on), so generation and evaluation of one run never parse its MIDI twice.
    """

    config: RunConfig
    vocab: Vocab
    model: keras.Model
    path: Path
    data_dir: Path | None = None
    cache_dir: Path = Path(".cache")
    progress: bool = False
    _prepared: Prepared | None = field(default=None, repr=False)

    @property
    def prepared(self) -> Prepared:
        if self._prepared is None:
            from pianogen.windows import prepare

            data = resolve_data_dir(self.path, self.data_dir)
            self._prepared = prepare(
                self.config, data, Path(self.cache_dir), progress=self.progress
            )
        return self._prepared

    @property
    def vocabulary(self) -> Vocabulary:
        return self.config.tokens.vocabulary

    @property
    def seq_len(self) -> int:
        return int(self.model.input_shape[1])

    def ids(self, split: str) -> list[np.ndarray]:
        """The ``split``'s pieces as ids of the run's vocabulary (the one the model was
        trained on), re-encoded when the data's vocabulary differs from it."""
        prepared = self.prepared
        seqs = prepared.splits[split]
        if list(prepared.vocab.tokens) == list(self.vocab.tokens):
            return [np.asarray(s, dtype=np.int32) for s in seqs]
        log.warning("the data's vocabulary differs from the run's; re-encoding with the run's")
        return [self.vocab.encode(prepared.vocab.decode(s)) for s in seqs]


def load_run(run_dir: Path) -> Run:
    """A finished (or in-progress) run's config, vocabulary and best model; its data is not
    prepared (see :func:`open_run`)."""
    from pianogen.vocab import Vocab

    run_dir = Path(run_dir)
    for name in ("config.json", "vocab.json", "model.keras"):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir} is not a trained run folder ({name} is missing)")
    try:
        config = RunConfig.load(run_dir / "config.json")
        vocab = Vocab.load(run_dir / "vocab.json")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{run_dir}: config.json or vocab.json is unreadable ({exc})") from None
    # Not compiled: generation needs the weights only, and the best model's optimizer was
    # never stepped (Keras warned "Skipping variable loading for optimizer" on every page).
    model = load_keras_model(run_dir / "model.keras", compile=False)
    outputs = int(model.output_shape[-1])
    if outputs != len(vocab):
        raise RunError(
            f"{run_dir}: model.keras predicts {outputs} tokens but vocab.json has {len(vocab)}; "
            f"{FRESH_HINT}"
        )
    return Run(config=config, vocab=vocab, model=model, path=run_dir)


def open_run(
    run_dir: Path,
    *,
    data_dir: Path | None = None,
    cache_dir: Path = Path(".cache"),
    progress: bool = False,
    prepared: Prepared | None = None,
) -> Run:
    """A run folder opened for generation and evaluation.

    Raises :class:`NoTrainedModel` when the folder has no ``model.keras``. Its data is read
    from ``data_dir`` (default: the folder recorded in ``data.json``) when first needed;
    ``prepared`` hands over data the caller already has (tests built in code, a benchmark).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "model.keras").is_file():
        raise NoTrainedModel(
            f"{run_dir} has no trained model (model.keras); train it first "
            f"(pianogen train ... --out RUNS_ROOT) and pass RUNS_ROOT/<artist>/<run name>"
        )
    run = load_run(run_dir)
    run.data_dir = None if data_dir is None else Path(data_dir)
    run.cache_dir, run.progress, run._prepared = Path(cache_dir), progress, prepared
    return run


# ----------------------------------------------------------------------------- records
def history_frame(run_dir: Path) -> pd.DataFrame:
    """``history.csv`` in long form: epoch, metric, split ("train"/"validation"), value."""
    import pandas as pd

    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        raise RunError(f"{path} is missing; train the run first")
    wide = pd.read_csv(path)
    rows = []
    for name in METRICS:
        for split, column in (("train", name), ("validation", f"val_{name}")):
            part = wide[["epoch", column]].rename(columns={column: "value"})
            rows.append(part.assign(metric=name, split=split))
    return pd.concat(rows, ignore_index=True)[["epoch", "metric", "split", "value"]]


def metrics_table(run_dir: Path) -> pd.DataFrame:
    """Test scores of the model, the three baselines and the paper's quoted figures."""
    import pandas as pd

    path = Path(run_dir) / "metrics.json"
    try:
        metrics = read_json(path)
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} is missing or unreadable ({exc}); train the run first") from None
    columns = ["loss", "accuracy", "top_5_accuracy", "perplexity", "tokens"]
    rows = [{"predictor": f"{metrics['preset']} (ours)", **metrics["model"]}]
    labels = {
        "majority": "majority token",
        "unigram": "unigram sampling (expected)",
        "ngram": f"{metrics['baselines']['ngram'].get('order', 3)}-gram",
    }
    for key, label in labels.items():
        rows.append({"predictor": label, **metrics["baselines"][key]})
    paper = metrics["paper"]
    rows.append({"predictor": f"paper's {metrics['cell'].upper()} (quoted)", **paper})
    table = pd.DataFrame(rows).set_index("predictor")
    return table.reindex(columns=columns)
