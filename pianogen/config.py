"""One typed, validated config per stage, and every named preset in one place.

Each config is a frozen dataclass that checks itself on construction (``ValueError`` with a
message that says what is wrong) and round-trips through JSON, so the exact settings are
saved beside every artifact (``config.json`` in a run folder).
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
    "MODEL_PRESETS",
    "PAPER_PRESETS",
    "PAPER_RESULTS",
    "PAPER_THRESHOLDS",
    "PAPER_UNIQUE_TOKENS",
    "PAPER_VOCAB_AT_THRESHOLD",
    "PROFILES",
    "GenerateConfig",
    "ModelConfig",
    "Profile",
    "RunConfig",
    "SplitConfig",
    "SplitKind",
    "TokenConfig",
    "TrainConfig",
    "Vocabulary",
    "make_run_config",
    "model_preset",
    "notebook_generate_config",
    "notebook_run_config",
    "optimizer_for",
    "parse_run_name",
    "profile",
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

SEED_SUFFIX = "-seed"  # run folders of seed replicates: pianogen-gru-seed1
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

    def __post_init__(self) -> None:
        _check(bool(self.name), "model name must not be empty")
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

    def __post_init__(self) -> None:
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
        )

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
    found = re.search(rf"{SEED_SUFFIX}(\d+)$", name)
    return int(found.group(1)) if found else 0


def parse_run_name(name: str) -> tuple[str, Vocabulary]:
    """The inverse of :func:`run_name` (its seed aside, :func:`run_seed`): ``(preset,
    vocabulary)`` (the longest registered suffix that ends ``name`` wins; no suffix: the
    vocabulary whose suffix is empty)."""
    name = re.sub(rf"{SEED_SUFFIX}\d+$", "", name)
    by_suffix = sorted(
        ((get_vocabulary(v).run_suffix, v) for v in vocabulary_names()),
        key=lambda sv: -len(sv[0]),
    )
    for suffix, vocabulary in by_suffix:
        if name.endswith(suffix) and len(name) > len(suffix):
            return (name[: len(name) - len(suffix)] if suffix else name), vocabulary
    raise ValueError(f"{name!r} is not a run name")


# --------------------------------------------------------------------------- presets
PAPER_PRESETS = ("paper-lstm-table", "paper-lstm-text", "paper-gru")
PAPER_OPTIMIZER = ("adamax", 0.001)
# Ours: Adam at 0.002. Measured on mozart (12 keys, 20,000 windows an epoch, no BatchNorm):
# Adamax 0.001 reached 2.4 % / 3.3 % validation accuracy after epochs 1 / 2, Adam 0.002
# 8.9 % / 11.4 %.
OUR_OPTIMIZER = ("adam", 0.002)


def optimizer_for(preset: str) -> tuple[str, float]:
    """``(optimizer, learning rate)`` a preset trains with by default: the paper's Adamax
    0.001 for the paper's presets, :data:`OUR_OPTIMIZER` for ours."""
    return PAPER_OPTIMIZER if preset in PAPER_PRESETS else OUR_OPTIMIZER


MODEL_PRESETS: dict[str, ModelConfig] = {
    # The paper's LSTM table: 2,709,057 parameters at vocabulary 65.
    "paper-lstm-table": ModelConfig(
        name="paper-lstm-table",
        cell="lstm",
        input="scalar",
        units=(256, 512, 256),
        batchnorm=False,
        dropout=0.3,
        dense_units=256,
        dense_dropout=0.3,
        final_dropout=False,
    ),
    # The LSTM the paper's prose describes: 1,038,913 parameters at vocabulary 65.
    "paper-lstm-text": ModelConfig(
        name="paper-lstm-text", cell="lstm", input="scalar", units=(256, 256, 128)
    ),
    # The paper's GRU table: 835,297 parameters at vocabulary 225.
    "paper-gru": ModelConfig(name="paper-gru", cell="gru", input="scalar", units=(256, 256, 128)),
    # Ours: token ids through an embedding; sized to train in minutes on 2 CPU cores. No
    # BatchNorm: with it, mozart's validation loss jumped by up to 0.3 from one epoch to the
    # next (batch statistics of 64 windows of one composer); without it and with Adam it
    # fell steadily (see OUR_OPTIMIZER). Trained on every position of a window
    # (sequence_loss): measured on mozart (12 keys, 10,000 windows an epoch), validation
    # loss 4.07 after one epoch against 4.62 trained on the last token only, and held-out
    # accuracy past the 3-gram's (12.0 %) after 20,000 windows instead of 120,000. It also
    # overfits sooner, hence Dropout 0.5 after every layer (0.3 between layers: best
    # validation loss 4.01 after 20,000 windows, rising after; 0.5: 3.93 after 25,000).
    "pianogen-lstm": ModelConfig(
        name="pianogen-lstm",
        cell="lstm",
        input="embedding",
        units=(192, 192),
        batchnorm=False,
        dropout=0.5,
        dense_units=0,
        embedding_dim=64,
        sequence_loss=True,
    ),
    "pianogen-gru": ModelConfig(
        name="pianogen-gru",
        cell="gru",
        input="embedding",
        units=(192, 192),
        batchnorm=False,
        dropout=0.5,
        dense_units=0,
        embedding_dim=64,
        sequence_loss=True,
    ),
    # Small enough for CI.
    "quick-lstm": ModelConfig(
        name="quick-lstm",
        cell="lstm",
        input="embedding",
        units=(32,),
        dropout=0.1,
        dense_units=0,
        embedding_dim=16,
    ),
    "quick-gru": ModelConfig(
        name="quick-gru",
        cell="gru",
        input="embedding",
        units=(32,),
        dropout=0.1,
        dense_units=0,
        embedding_dim=16,
    ),
}


@dataclass(frozen=True)
class Profile(_JsonConfig):
    """A batch profile: which presets each artist trains, and how long."""

    name: str
    presets: tuple[str, ...]
    train: TrainConfig
    generate: GenerateConfig
    # The vocabulary of ``presets`` and ``window_split`` (a registered name: "paper", the
    # paper's part-wise extraction, or "merged", one chord per onset).
    vocabulary: Vocabulary = "paper"
    # Presets trained a second time on the paper's window split, to show what it flatters.
    window_split: tuple[str, ...] = ()
    # Presets trained a second time on the timed vocabulary (durations kept; piece split).
    timed: tuple[str, ...] = ()
    # Training settings of the timed runs (None: ``train``). Timed tokens are ~3x as many
    # per piece, so an epoch capped at ``max_train_windows`` sees less of the music.
    timed_train: TrainConfig | None = None
    # Keys each training piece is used in on the piece split (TokenConfig.augment_keys).
    augment_keys: int = 1
    # Training settings of the paper's presets (None: ``train``/``timed_train``); their
    # optimizer is the paper's in any case (see train_for).
    paper_train: TrainConfig | None = None
    # Seed replicates (the seed intervals of the results chapter): the runs of the
    # ``seeded`` presets on ``vocabulary`` (piece split, and window split where the preset
    # is in ``window_split``) trained again once per seed in ``seeds`` — only the training
    # seed changes (initial weights, dropout, window order), never the split — for the
    # ``seed_artists`` artists with the least data (0: every artist).
    seeds: tuple[int, ...] = ()
    seeded: tuple[str, ...] = ()
    seed_artists: int = 1

    def runs(self, replicates: bool = False) -> list[tuple[str, SplitKind, Vocabulary, int]]:
        """``(preset, split, vocabulary, training seed)`` of every run an artist trains, in
        training order; with ``replicates``, the seed replicates last."""
        seed = self.train.seed
        runs: list[tuple[str, SplitKind, Vocabulary, int]] = [
            *((p, "piece", self.vocabulary, seed) for p in self.presets),
            *((p, "window", self.vocabulary, seed) for p in self.window_split),
            *((p, "piece", "timed", seed) for p in self.timed),
        ]
        if replicates:
            main = [r for r in runs if r[0] in self.seeded and r[2] == self.vocabulary]
            runs += [(p, split, v, s) for s in self.seeds for p, split, v, _ in main]
        return runs

    def train_for(self, vocabulary: Vocabulary, preset: str | None = None) -> TrainConfig:
        """The training settings of this profile's runs of ``preset`` on ``vocabulary``.

        The paper's presets (:data:`PAPER_PRESETS`) always train with the paper's optimizer,
        Adamax at learning rate 0.001, whatever the profile sets for ours.
        """
        base = self.timed_train if vocabulary == "timed" and self.timed_train else self.train
        if preset in PAPER_PRESETS:
            optimizer, learning_rate = optimizer_for(preset)
            return (self.paper_train or base).replace(
                optimizer=optimizer, learning_rate=learning_rate
            )
        return base

    def tokens_for(self, split: SplitKind, vocabulary: Vocabulary) -> TokenConfig:
        """The token settings of this profile's runs on ``split`` and ``vocabulary``
        (augmentation applies to the piece split only)."""
        keys = self.augment_keys if split == "piece" else 1
        return TokenConfig(vocabulary=vocabulary, augment_keys=keys)

    @property
    def evaluated_runs(self) -> tuple[str, ...]:
        """The run folder names the evaluation notebook compares (piece split)."""
        main = (run_name(p, self.vocabulary) for p in self.presets)
        return (*main, *(run_name(p, "timed") for p in self.timed))

    def __post_init__(self) -> None:
        every = (*self.presets, *self.window_split, *self.timed)
        unknown = [p for p in every if p not in MODEL_PRESETS]
        _check(not unknown, f"profile {self.name!r}: unknown preset(s) {unknown}")
        _check(self.vocabulary != "timed", "a profile's timed runs are listed in 'timed'")
        TokenConfig(vocabulary=self.vocabulary, augment_keys=self.augment_keys)  # validates
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        stray = [p for p in self.seeded if p not in (*self.presets, *self.window_split)]
        _check(not stray, f"profile {self.name!r}: seeded preset(s) {stray} are not trained")
        _check(
            len(set(self.seeds)) == len(self.seeds) and self.train.seed not in self.seeds,
            f"profile {self.name!r}: seeds {self.seeds} must differ from each other and from "
            f"the training seed {self.train.seed}",
        )
        _check(min(self.seeds, default=1) >= 1, f"seeds must be >= 1, got {self.seeds}")
        _check(self.seed_artists >= 0, "seed_artists must be >= 0 (0: every artist)")


_QUICK_TRAIN = TrainConfig(
    epochs=12,
    batch_size=64,
    optimizer="adam",
    learning_rate=0.002,
    patience=3,
    max_train_windows=5000,
)
PROFILES: dict[str, Profile] = {
    # Sized for a 2-core CPU (the whole default book within 45 min in a fresh clone, install
    # included; 32 min with 8 epochs). Our presets: every training piece in all 12 keys, up
    # to 12 epochs of 5,000 windows (Adam 0.002, sequence loss; early stopping after 3
    # epochs without improvement), the same for the LSTM and the GRU and on both
    # vocabularies. With 8 epochs the best epoch was the last in 10 of 15 runs. Before
    # (last-token loss, 6 x 10,000 windows) the GRU beat the 3-gram on 1 of 5 artists.
    # The paper's GRU keeps a small budget (6 x 1,500 windows, its Adamax 0.001): it is
    # there to show the paper's model on both splits, not to win.
    "quick": Profile(
        name="quick",
        presets=("pianogen-lstm", "pianogen-gru", "paper-gru"),
        train=_QUICK_TRAIN,
        generate=GenerateConfig(count=3, tokens=160),
        window_split=("paper-gru",),
        timed=("pianogen-gru",),
        augment_keys=12,
        paper_train=TrainConfig(epochs=6, batch_size=64, patience=2, max_train_windows=1500),
        # Seeds 1 and 2 beside 0 for the book's comparisons (LSTM vs GRU, window vs piece
        # split) on the artist with the least data.
        seeds=(1, 2),
        seeded=("pianogen-lstm", "pianogen-gru", "paper-gru"),
        seed_artists=1,
    ),
    # The paper's three models at full size and training length (meant for a GPU machine).
    "paper": Profile(
        name="paper",
        presets=("paper-lstm-table", "paper-lstm-text", "paper-gru"),
        train=TrainConfig(epochs=200, batch_size=64, patience=20),
        generate=GenerateConfig(count=5, tokens=300),
        window_split=("paper-lstm-text", "paper-gru"),
        timed=("paper-gru",),
    ),
    # Tiny models for tests and smoke runs.
    "ci": Profile(
        name="ci",
        presets=("quick-lstm", "quick-gru"),
        train=TrainConfig(epochs=1, batch_size=32, patience=0, max_train_windows=256),
        generate=GenerateConfig(count=1, tokens=40),
        window_split=("quick-gru",),
    ),
}


def model_preset(name: str) -> ModelConfig:
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown model preset {name!r}; choose one of {sorted(MODEL_PRESETS)}"
        ) from None


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


# --------------------------------------------------------------------------- building runs
# Flat setting names make_run_config accepts, and the section each belongs to. ``seed``
# seeds both the split and training (as the CLI's --seed always has).
_FLAT_SECTIONS: dict[str, tuple[str, ...]] = {
    "model": tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "name"),
    "tokens": tuple(f.name for f in dataclasses.fields(TokenConfig) if f.name != "vocabulary"),
    "split": tuple(f.name for f in dataclasses.fields(SplitConfig) if f.name != "kind"),
    "train": tuple(f.name for f in dataclasses.fields(TrainConfig)),
}


def make_run_config(
    artist: str,
    preset: str,
    *,
    split: SplitKind = "piece",
    vocabulary: Vocabulary = "paper",
    profile: str | Profile | None = None,
    **settings: Any,
) -> RunConfig:
    """The one way a run's configuration is built from a preset and flat settings.

    The CLI's ``train``, the batch (one per run of a profile) and notebook 02_train use it.
    The starting point is ``profile``'s settings for this preset, split and vocabulary
    (:meth:`Profile.train_for`, :meth:`Profile.tokens_for`), or without a profile the
    defaults with the preset's optimizer (:func:`optimizer_for`). ``settings`` then change
    single fields by name (``epochs=3``, ``augment_keys=12``, ``unroll=True``; ``seed`` sets
    the split's and training's); ``None`` leaves a field as it is. An unknown name is a
    ``ValueError`` listing the known ones.
    """
    base = (
        None
        if profile is None
        else (profile if isinstance(profile, Profile) else PROFILES.get(profile))
    )
    if profile is not None and base is None:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    if base is None:
        optimizer, learning_rate = optimizer_for(preset)
        train = TrainConfig(optimizer=optimizer, learning_rate=learning_rate)
        tokens = TokenConfig(vocabulary=vocabulary)
    else:
        train, tokens = base.train_for(vocabulary, preset), base.tokens_for(split, vocabulary)
    sections: dict[str, Any] = {
        "model": model_preset(preset),
        "tokens": tokens,
        "split": SplitConfig(kind=split, seed=train.seed),
        "train": train,
    }
    known = {name for names in _FLAT_SECTIONS.values() for name in names}
    unknown = sorted(set(settings) - known)
    _check(not unknown, f"unknown setting(s) {unknown}; known: {sorted(known)}")
    for section, names in _FLAT_SECTIONS.items():
        changes = {k: settings[k] for k in names if settings.get(k) is not None}
        if changes:
            sections[section] = sections[section].replace(**changes)
    return RunConfig(artist=artist, **sections)


def notebook_run_config(run_config: dict[str, Any] | None, **values: Any) -> RunConfig:
    """What notebook 02_train trains: ``run_config`` (a :meth:`RunConfig.to_dict`, as the
    batch passes it) when given, else :func:`make_run_config` of the notebook's readable
    values (``artist``, ``preset``, ``split``, ``vocabulary``, ``profile`` and settings)."""
    if run_config:
        return RunConfig.from_dict(run_config)
    return make_run_config(values.pop("artist"), values.pop("preset"), **values)


def notebook_generate_config(
    generate_config: dict[str, Any] | None, **values: Any
) -> GenerateConfig:
    """What notebook 03_evaluate samples with: ``generate_config`` (a
    :meth:`GenerateConfig.to_dict`, as the batch passes its profile's) when given, else a
    :class:`GenerateConfig` of the notebook's readable values."""
    if generate_config:
        return GenerateConfig.from_dict(generate_config)
    return GenerateConfig(**values)
