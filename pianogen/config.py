"""One typed, validated config per stage, and the names of run folders.

Each config is a frozen dataclass that checks itself on construction (``ValueError`` with a
message that says what is wrong) and round-trips through JSON, so the exact settings are
saved beside every artifact (``config.json`` in a run folder). The named presets and
profiles built from them live in :mod:`pianogen.presets`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pianogen.tokens import get_vocabulary, vocabulary_names

__all__ = [
    "PAPER_RESULTS",
    "PAPER_THRESHOLDS",
    "PAPER_UNIQUE_TOKENS",
    "PAPER_VOCAB_AT_THRESHOLD",
    "POOLED",
    "GenerateConfig",
    "ModelConfig",
    "RunConfig",
    "SplitConfig",
    "SplitKind",
    "TokenConfig",
    "TrainConfig",
    "Vocabulary",
    "parse_run_name",
    "run_name",
    "run_seed",
]

# A registered vocabulary's name (pianogen.tokens.vocabulary_names(): "paper", "timed",
# "merged").
Vocabulary = str
Engine = Literal["music21", "fast"]
SplitKind = Literal["piece", "window"]
CellKind = Literal["lstm", "gru"]
InputKind = Literal["scalar", "embedding"]

# The ``artist`` of a conditioned run's training config: it trains on every artist of
# ``RunConfig.artists`` at once (its per-artist views name one of them).
POOLED = "*"
SEED_SUFFIX = "-seed"  # run folders of seed replicates: pianogen-gru-seed1
_SEED_AT_END = re.compile(rf"{SEED_SUFFIX}(\d+)$")
PAPER_THRESHOLDS = (30, 50, 70, 90)
# The paper's figures, quoted so the book can show them beside ours (never used as results).
PAPER_UNIQUE_TOKENS = 723
PAPER_VOCAB_AT_THRESHOLD = {30: 249, 50: 225, 70: 209, 90: 202}
PAPER_RESULTS = {
    "lstm": {"accuracy": 0.83, "loss": 0.71},
    "gru": {"accuracy": 0.91, "loss": 0.46},
}

T = TypeVar("T")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _choice(name: str, value: Any, allowed: tuple) -> None:
    _check(value in allowed, f"{name} must be one of {list(allowed)}, got {value!r}")


class _JsonConfig:
    """JSON round trip shared by every config dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(known))
        _check(not unknown, f"{cls.__name__}: unknown field(s) {unknown}")
        kwargs = {}
        for key, value in data.items():
            if isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class TokenConfig(_JsonConfig):
    """How MIDI becomes tokens and windows."""

    vocabulary: Vocabulary = "paper"
    engine: Engine = "fast"
    min_count: int = 10  # tokens seen fewer times in the training data are dropped (paper)
    seq_len: int = 50
    max_notes_per_file: int = 200_000  # a guard against files with absurd note counts
    # Transposition augmentation: every *training* piece is used in this many keys (1: as
    # written; 12: shifted by -5..+6 semitones). Validation and test pieces stay as written;
    # the vocabulary and the baselines are counted on the augmented training pieces.
    augment_keys: int = 1

    def __post_init__(self) -> None:
        _check(
            isinstance(self.augment_keys, int) and 1 <= self.augment_keys <= 12,
            f"augment_keys must be an integer in 1..12 (12: every key), got {self.augment_keys!r}",
        )
        get_vocabulary(self.vocabulary)  # ValueError naming the registered ones
        _choice("engine", self.engine, ("music21", "fast"))
        _check(int(self.min_count) >= 1, f"min_count must be >= 1, got {self.min_count}")
        _check(int(self.seq_len) >= 1, f"seq_len must be >= 1, got {self.seq_len}")
        _check(self.max_notes_per_file >= 1, "max_notes_per_file must be >= 1")


@dataclass(frozen=True)
class SplitConfig(_JsonConfig):
    """Train / validation / test split: by piece (honest, default) or by window (paper)."""

    kind: SplitKind = "piece"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        _choice("split kind", self.kind, ("piece", "window"))
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            _check(0.0 < value < 1.0, f"{name} must be in (0, 1), got {value}")
        _check(
            self.val_fraction + self.test_fraction < 1.0,
            "val_fraction + test_fraction must leave some training data",
        )


@dataclass(frozen=True)
class ModelConfig(_JsonConfig):
    """A recurrent next-token model. Presets below name the paper's and ours."""

    name: str
    cell: CellKind = "gru"
    input: InputKind = "scalar"  # scalar: the paper's normalised index; embedding: token ids
    units: tuple[int, ...] = (256, 256, 128)
    batchnorm: bool = True
    dropout: float = 0.3
    dense_units: int = 256
    dense_activation: str = "relu"
    dense_dropout: float = 0.0  # dropout after the dense layer (the paper's LSTM table)
    embedding_dim: int = 64
    # Dropout after the last recurrent layer too. The paper's LSTM table has none there
    # (LSTM -> Dense -> Dropout); its prose LSTM and its GRU do (BatchNorm + Dropout).
    final_dropout: bool = True
    # Unroll the recurrent layers' 50 steps into the graph instead of a while loop: the
    # same arithmetic, training 1.12-1.23x faster on CPU at batch 64 (the big paper LSTM
    # not faster), for 3.6-12.9 s more graph building per model (benchmarks/bench_train.py).
    # Worth it for long runs; off in every preset so short runs and tests do not pay it.
    unroll: bool = False
    # Train on the next token after *every* position of a window, not only after the last
    # (models.build_model(every_step=True)); the saved model still predicts the last, so
    # evaluation, the baselines and generation are unchanged. Off for the paper's presets
    # (the paper trains on the last token only).
    sequence_loss: bool = False
    # An artist input beside the tokens: a learned artist vector (embedding_dim wide) added
    # to every token's embedding (models.build_model(artists=n)). Trained on the pieces of
    # several artists at once (RunConfig.artists); embedding inputs only.
    conditioned: bool = False

    def __post_init__(self) -> None:
        _check(bool(self.name), "model name must not be empty")
        _check(
            isinstance(self.conditioned, bool),
            f"conditioned must be true or false, got {self.conditioned!r}",
        )
        _check(
            not self.conditioned or self.input == "embedding",
            "a conditioned model adds its artist vector to the token embedding: it needs "
            "input 'embedding'",
        )
        _check(
            isinstance(self.sequence_loss, bool),
            f"sequence_loss must be true or false, got {self.sequence_loss!r}",
        )
        _check(isinstance(self.unroll, bool), f"unroll must be true or false, got {self.unroll!r}")
        _choice("cell", self.cell, ("lstm", "gru"))
        _choice("input", self.input, ("scalar", "embedding"))
        units = tuple(int(u) for u in self.units)
        object.__setattr__(self, "units", units)
        _check(len(units) >= 1, "a model needs at least one recurrent layer")
        _check(all(u >= 1 for u in units), f"units must be positive, got {units}")
        for name in ("dropout", "dense_dropout"):
            value = getattr(self, name)
            _check(0.0 <= value < 1.0, f"{name} must be in [0, 1), got {value}")
        _check(self.dense_units >= 0, "dense_units must be >= 0 (0 means no dense layer)")
        _check(self.embedding_dim >= 1, "embedding_dim must be >= 1")
        _choice("dense_activation", self.dense_activation, ("relu", "tanh", "linear", "gelu"))


@dataclass(frozen=True)
class TrainConfig(_JsonConfig):
    """Optimisation settings. The defaults are the paper's."""

    epochs: int = 50
    batch_size: int = 64
    optimizer: Literal["adamax", "adam", "rmsprop"] = "adamax"
    learning_rate: float = 0.001
    patience: int = 5  # early stopping on validation loss; 0 disables it
    seed: int = 0
    max_train_windows: int = 0  # 0: all; else a random subset per epoch (quick profiles)
    # Stop when the *training* accuracy has not risen by at least plateau_delta for this
    # many epochs (0: off). With patience 0 a run trains until its training accuracy
    # plateaus — how the paper's training-set figures are tested to convergence.
    plateau: int = 0
    plateau_delta: float = 0.005

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.plateau >= 0, f"plateau must be >= 0 (0 turns it off), got {self.plateau}")
        _check(self.plateau_delta >= 0, f"plateau_delta must be >= 0, got {self.plateau_delta}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _choice("optimizer", self.optimizer, ("adamax", "adam", "rmsprop"))
        _check(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        _check(self.patience >= 0, "patience must be >= 0")
        _check(self.max_train_windows >= 0, "max_train_windows must be >= 0")


@dataclass(frozen=True)
class GenerateConfig(_JsonConfig):
    """Sampling settings. Temperature 1 with no top-k/top-p is the paper's random sampling."""

    count: int = 4
    tokens: int = 200
    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    seed: int = 0
    primer: Literal["test", "validation", "train"] = "test"

    def __post_init__(self) -> None:
        _check(self.count >= 1, f"count must be >= 1, got {self.count}")
        _check(self.tokens >= 1, f"tokens must be >= 1, got {self.tokens}")
        _check(
            0.0 < self.temperature <= 100.0,
            f"temperature must be in (0, 100], got {self.temperature}",
        )
        _check(self.top_k >= 0, f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        _check(0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1], got {self.top_p}")
        _choice("primer", self.primer, ("test", "validation", "train"))


@dataclass(frozen=True)
class RunConfig(_JsonConfig):
    """Everything that defines one training run; saved as ``config.json`` in the run folder."""

    artist: str
    model: ModelConfig
    tokens: TokenConfig = field(default_factory=TokenConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # A conditioned model's artists (sorted; the artist input's ids are their positions).
    # Its training config has ``artist`` :data:`POOLED`; the view of one artist (the folder
    # RUNS_ROOT/<artist>/<run name>, :mod:`pianogen.conditioned`) names that artist.
    artists: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        artists = tuple(str(a) for a in self.artists)
        object.__setattr__(self, "artists", artists)
        if self.model.conditioned:
            _check(
                len(artists) >= 2 and list(artists) == sorted(set(artists)),
                f"a conditioned model needs at least 2 distinct artists, sorted; got "
                f"{list(artists)}",
            )
            _check(
                self.artist == POOLED or self.artist in artists,
                f"artist {self.artist!r} is not one of the conditioned model's {list(artists)}",
            )
            _check(self.split.kind == "piece", "a conditioned model trains on the piece split")
        else:
            _check(not artists, f"artists {list(artists)} need a conditioned model preset")
            _check(self.artist != POOLED, f"artist {POOLED!r} needs a conditioned model preset")
        _check(
            self.tokens.augment_keys == 1 or self.split.kind == "piece",
            "augment_keys > 1 needs the piece split: on the window split the transposed "
            "copies of a piece would hold its held-out windows",
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls(
            artist=data["artist"],
            model=ModelConfig.from_dict(data["model"]),
            tokens=TokenConfig.from_dict(data.get("tokens", {})),
            split=SplitConfig.from_dict(data.get("split", {})),
            train=TrainConfig.from_dict(data.get("train", {})),
            artists=tuple(data.get("artists", ())),
        )

    @property
    def pooled(self) -> bool:
        """True for a conditioned model's training config (every artist at once)."""
        return self.artist == POOLED

    def for_artist(self, artist: str) -> RunConfig:
        """The same run as one artist's data sees it: ``artist`` (a conditioned run's view,
        or the per-artist settings its data is prepared with)."""
        return self.replace(artist=artist)

    @property
    def run_name(self) -> str:
        """The run folder's name: the model preset, plus suffixes for the vocabulary and a
        training seed other than 0 (:func:`run_name`)."""
        return run_name(self.model.name, self.tokens.vocabulary, self.train.seed)

    def save(self, path: Path) -> None:
        from pianogen.io import atomic_write_json

        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        from pianogen.io import read_json

        return cls.from_dict(read_json(path))


def run_name(preset: str, vocabulary: Vocabulary = "paper", seed: int = 0) -> str:
    """The run folder name of ``preset`` on ``vocabulary``: the preset plus the vocabulary's
    :attr:`~pianogen.tokens.Vocabulary.run_suffix` (``pianogen-gru`` for the paper's tokens,
    ``pianogen-gru-timed`` for the timed ones), plus ``-seed<n>`` for a training seed other
    than 0 (``pianogen-gru-seed1``: a seed replicate, see :attr:`Profile.seeds`).

    Runs of one preset on every vocabulary live side by side in ``RUN_DIR/<artist>/``.
    """
    name = preset + get_vocabulary(vocabulary).run_suffix
    return f"{name}{SEED_SUFFIX}{int(seed)}" if seed else name


def run_seed(name: str) -> int:
    """The training seed a run name carries (:func:`run_name`); 0 when it carries none."""
    found = _SEED_AT_END.search(name)
    return int(found.group(1)) if found else 0


def parse_run_name(name: str) -> tuple[str, Vocabulary]:
    """The inverse of :func:`run_name` (its seed aside, :func:`run_seed`): ``(preset,
    vocabulary)`` (the longest registered suffix that ends ``name`` wins; no suffix: the
    vocabulary whose suffix is empty)."""
    name = _SEED_AT_END.sub("", name)
    by_suffix = sorted(
        ((get_vocabulary(v).run_suffix, v) for v in vocabulary_names()),
        key=lambda sv: -len(sv[0]),
    )
    for suffix, vocabulary in by_suffix:
        if name.endswith(suffix) and len(name) > len(suffix):
            return (name[: len(name) - len(suffix)] if suffix else name), vocabulary
    raise ValueError(f"{name!r} is not a run name")
