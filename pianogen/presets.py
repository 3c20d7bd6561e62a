"""Every named preset in one place: the model presets (the paper's three networks and ours),
the batch profiles, and :func:`make_run_config`, the one way a run's configuration is built
from a preset and flat settings (the CLI, the batch and the notebooks use it).

The configs themselves are the dataclasses of :mod:`pianogen.config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pianogen.config import (
    GenerateConfig,
    ModelConfig,
    RunConfig,
    SplitConfig,
    SplitKind,
    TokenConfig,
    TrainConfig,
    Vocabulary,
    _check,
    _JsonConfig,
    run_name,
)

__all__ = [
    "MODEL_PRESETS",
    "OUR_OPTIMIZER",
    "PAPER_OPTIMIZER",
    "PAPER_PRESETS",
    "PLATEAU",
    "PROFILES",
    "PlateauStudy",
    "Profile",
    "make_run_config",
    "model_preset",
    "notebook_generate_config",
    "notebook_run_config",
    "optimizer_for",
    "profile",
]


# --------------------------------------------------------------------------- models
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


# Ours: the LSTM, the GRU and the conditioned GRU differ only in what their names say.
_PIANOGEN_GRU = ModelConfig(
    name="pianogen-gru",
    cell="gru",
    input="embedding",
    units=(192, 192),
    batchnorm=False,
    dropout=0.5,
    dense_units=0,
    embedding_dim=64,
    sequence_loss=True,
)
_QUICK_GRU = ModelConfig(
    name="quick-gru",
    cell="gru",
    input="embedding",
    units=(32,),
    dropout=0.1,
    dense_units=0,
    embedding_dim=16,
)

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
    "pianogen-lstm": _PIANOGEN_GRU.replace(name="pianogen-lstm", cell="lstm"),
    "pianogen-gru": _PIANOGEN_GRU,
    # pianogen-gru with an artist input, trained once on every artist's training pieces
    # (pianogen.conditioned): does pooling the artists help the small ones?
    "conditioned-gru": _PIANOGEN_GRU.replace(name="conditioned-gru", conditioned=True),
    # Small enough for CI.
    "quick-lstm": _QUICK_GRU.replace(name="quick-lstm", cell="lstm"),
    "quick-gru": _QUICK_GRU,
    "quick-conditioned": _QUICK_GRU.replace(name="quick-conditioned", conditioned=True),
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
    # Presets trained a second time on the timed vocabulary (durations kept; piece split);
    # a conditioned one among them is trained once for every artist (conditioned_runs).
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
    # ``seed_artists`` artists with the least data (0: every artist). A seeded conditioned
    # preset is trained again once per seed for all artists at once (conditioned_runs).
    seeds: tuple[int, ...] = ()
    seeded: tuple[str, ...] = ()
    seed_artists: int = 1
    # Conditioned presets (ModelConfig.conditioned): each trained once on every artist's
    # training pieces of the profile's vocabulary and piece split, then evaluated on each
    # artist's page like the artist's own runs (its view RUNS_ROOT/<artist>/<run name>).
    # On the timed vocabulary too when it is listed in ``timed``.
    conditioned: tuple[str, ...] = ()
    # Training settings of the conditioned runs (None: ``train``). One epoch covers every
    # artist, so the cap on windows per epoch is the knob that keeps it comparable.
    conditioned_train: TrainConfig | None = None

    def runs(self, replicates: bool = False) -> list[tuple[str, SplitKind, Vocabulary, int]]:
        """``(preset, split, vocabulary, training seed)`` of every run an artist trains, in
        training order; with ``replicates``, the seed replicates last."""
        seed = self.train.seed
        runs: list[tuple[str, SplitKind, Vocabulary, int]] = [
            *((p, "piece", self.vocabulary, seed) for p in self.presets),
            *((p, "window", self.vocabulary, seed) for p in self.window_split),
            *((p, "piece", "timed", seed) for p in self.timed if p not in self.conditioned),
        ]
        if replicates:
            main = [r for r in runs if r[0] in self.seeded and r[2] == self.vocabulary]
            runs += [(p, split, v, s) for s in self.seeds for p, split, v, _ in main]
        return runs

    def conditioned_runs(self, replicates: bool = False) -> list[tuple[str, Vocabulary, int]]:
        """``(preset, vocabulary, training seed)`` of every run trained once for all
        artists: the conditioned presets on ``vocabulary``, and those of them in ``timed``
        on "timed"; with ``replicates``, the seeded ones on ``vocabulary`` once per seed of
        :attr:`seeds`, last."""
        main: list[tuple[str, Vocabulary]] = [
            *((p, self.vocabulary) for p in self.conditioned),
            *((p, "timed") for p in self.timed if p in self.conditioned),
        ]
        runs = [(p, v, self.train_for(v, p).seed) for p, v in main]
        if replicates:
            seeded = [p for p in self.conditioned if p in self.seeded]
            runs += [(p, self.vocabulary, s) for s in self.seeds for p in seeded]
        return runs

    def train_for(self, vocabulary: Vocabulary, preset: str | None = None) -> TrainConfig:
        """The training settings of this profile's runs of ``preset`` on ``vocabulary``
        (:attr:`conditioned_train` for its conditioned presets, when set).

        The paper's presets (:data:`PAPER_PRESETS`) always train with the paper's optimizer,
        Adamax at learning rate 0.001, whatever the profile sets for ours.
        """
        base = self.timed_train if vocabulary == "timed" and self.timed_train else self.train
        if preset in self.conditioned and self.conditioned_train is not None:
            return self.conditioned_train
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
        conditioned = (run_name(p, self.vocabulary) for p in self.conditioned)
        return (*main, *conditioned, *(run_name(p, "timed") for p in self.timed))

    def __post_init__(self) -> None:
        every = (*self.presets, *self.window_split, *self.timed, *self.conditioned)
        unknown = [p for p in every if p not in MODEL_PRESETS]
        _check(not unknown, f"profile {self.name!r}: unknown preset(s) {unknown}")
        # Conditioned presets in 'conditioned' (and 'timed'), never as an artist's own runs.
        own = (
            *self.presets,
            *self.window_split,
            *(p for p in self.timed if p not in self.conditioned),
        )
        wrong = [p for p in own if MODEL_PRESETS[p].conditioned]
        wrong += [p for p in self.conditioned if not MODEL_PRESETS[p].conditioned]
        _check(
            not wrong,
            f"profile {self.name!r}: conditioned presets belong in 'conditioned', and only "
            f"there: {wrong}",
        )
        _check(self.vocabulary != "timed", "a profile's timed runs are listed in 'timed'")
        TokenConfig(vocabulary=self.vocabulary, augment_keys=self.augment_keys)  # validates
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        trained = (*self.presets, *self.window_split, *self.conditioned)
        stray = [p for p in self.seeded if p not in trained]
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
    # Sized for a 2-core CPU (the whole default book in 39.8 min in a fresh clone, install
    # included, on 2026-12-05, before the conditioned GRU's seeds; 64-72 min with them on
    # 2026-12-07's slower AVX2 host: see the README). Our presets: every training piece
    # in all 12 keys, up to 12 epochs of 5,000 windows (Adam 0.002, sequence loss; early
    # stopping after 3 epochs without improvement), the same for the LSTM and the GRU and on both
    # vocabularies. With 8 epochs the best epoch was the last in 10 of 15 runs. Before
    # (last-token loss, 6 x 10,000 windows) the GRU beat the 3-gram on 1 of 5 artists.
    # The paper's GRU keeps a small budget (4 x 1,500 windows, its Adamax 0.001): it is
    # there to show the paper's model on both splits, not to win. With 6 epochs (book of
    # 2026-12-04, 46 min 14 s) it predicted the majority token after every epoch: its
    # validation accuracy (every artist, both splits) was the same in all 6, and haydn's
    # test accuracy the same for seeds 0, 1 and 2 on both splits. The 2 epochs less pay
    # for part of the seed replicates.
    "quick": Profile(
        name="quick",
        presets=("pianogen-lstm", "pianogen-gru", "paper-gru"),
        train=_QUICK_TRAIN,
        generate=GenerateConfig(count=3, tokens=160),
        window_split=("paper-gru",),
        # The timed tokens through the conditioned GRU only: one run for all artists costs
        # less than the five per-artist timed GRUs it replaces (book of 2026-12-04: 3-6 min
        # each), which pays for the conditioned GRU on the paper's tokens.
        timed=("conditioned-gru",),
        augment_keys=12,
        paper_train=TrainConfig(epochs=4, batch_size=64, patience=2, max_train_windows=1500),
        # Seeds 1 and 2 beside 0 for the book's comparisons (LSTM vs GRU, window vs piece
        # split, conditioned vs per-artist) on the artist with the least data; the
        # conditioned GRU's replicates are trained for all artists at once.
        seeds=(1, 2),
        seeded=("pianogen-lstm", "pianogen-gru", "paper-gru", "conditioned-gru"),
        seed_artists=1,
        # One GRU for every artist (pianogen-gru with an artist input): one epoch of it
        # covers all five artists, so it sees twice the windows of an artist's own run per
        # epoch, 2,000 of each artist's instead of 5,000. Measured alone on the default
        # data: 12 epochs in 4.5 min; on held-out pieces 15.9-22.4 % against the 3-gram's
        # 12.8-18.7 %, loss 3.32-3.59 against the unigram's 4.19-4.52 on all five artists.
        # With 8,000 windows an epoch (2026-12-07, alone on the AVX2 host: 5.7 min) the
        # accuracies moved by -0.1 to +0.6 points and the losses rose by 0.01-0.04: a lever
        # for the book's budget that has not been pulled (README).
        conditioned=("conditioned-gru",),
        conditioned_train=_QUICK_TRAIN.replace(max_train_windows=10_000),
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


@dataclass(frozen=True)
class PlateauStudy(_JsonConfig):
    """The paper's presets trained until their training accuracy plateaus, on both splits
    (:mod:`pianogen.plateau`): what the paper's 83 % / 91 % can have measured.

    Each run is the preset with the paper's optimizer and batch size (:func:`optimizer_for`),
    early stopping on validation loss off (``patience`` 0), stopping when the training
    accuracy has not risen by ``plateau_delta`` for ``plateau`` epochs (epochs at the
    majority token's level do not count: see :func:`pianogen.train._track_plateau`), at
    most ``epochs``. ``artists``: how many artists, those with the least MIDI data first.
    """

    presets: tuple[str, ...] = ("paper-gru", "paper-lstm-text")
    splits: tuple[SplitKind, ...] = ("window", "piece")
    vocabulary: Vocabulary = "paper"
    artists: int = 1
    epochs: int = 400
    plateau: int = 10
    plateau_delta: float = 0.005
    # The 50 steps unrolled into the graph: 1.12-1.23x faster steps for seconds more graph
    # building (benchmarks/README.md), which a run of hundreds of epochs repays.
    unroll: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "presets", tuple(self.presets))
        object.__setattr__(self, "splits", tuple(self.splits))
        _check(bool(self.presets), "a plateau study needs at least one preset")
        unknown = [p for p in self.presets if p not in MODEL_PRESETS]
        _check(not unknown, f"plateau study: unknown preset(s) {unknown}")
        pooled = [p for p in self.presets if MODEL_PRESETS[p].conditioned]
        _check(not pooled, f"plateau study: conditioned presets are not per-artist: {pooled}")
        _check(bool(self.splits), "a plateau study needs at least one split")
        wrong = [s for s in self.splits if s not in ("piece", "window")]
        _check(not wrong, f"plateau study: splits are 'piece' and 'window', got {wrong}")
        _check(self.artists >= 1, f"artists must be >= 1, got {self.artists}")
        _check(self.plateau >= 1, f"plateau must be >= 1 epoch, got {self.plateau}")
        TrainConfig(epochs=self.epochs, plateau=self.plateau, plateau_delta=self.plateau_delta)

    def run_configs(self, artist: str) -> list[RunConfig]:
        """Every run of the study for ``artist``, preset by preset, split by split."""
        return [
            make_run_config(
                artist,
                preset,
                split=split,
                vocabulary=self.vocabulary,
                epochs=self.epochs,
                patience=0,
                plateau=self.plateau,
                plateau_delta=self.plateau_delta,
                unroll=self.unroll,
            )
            for preset in self.presets
            for split in self.splits
        ]


# The study the book reports: the paper's GRU and the LSTM of its prose (the paper profile's
# window-split pair) on the artist with the least data. On 2 CPU cores one epoch of the GRU on
# haydn's window split (6,000 windows) takes ~16 s; see README for a whole run.
PLATEAU = PlateauStudy()


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
    artists: tuple[str, ...] | list[str] = (),
    **settings: Any,
) -> RunConfig:
    """The one way a run's configuration is built from a preset and flat settings.

    The CLI's ``train``, the batch (one per run of a profile) and notebook 02_train use it.
    The starting point is ``profile``'s settings for this preset, split and vocabulary
    (:meth:`Profile.train_for`, :meth:`Profile.tokens_for`), or without a profile the
    defaults with the preset's optimizer (:func:`optimizer_for`). ``settings`` then change
    single fields by name (``epochs=3``, ``augment_keys=12``, ``unroll=True``; ``seed`` sets
    the split's and training's); ``None`` leaves a field as it is. An unknown name is a
    ``ValueError`` listing the known ones. A conditioned preset takes the ``artists`` it
    trains on (sorted here) and ``artist`` :data:`~pianogen.config.POOLED`.
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
    return RunConfig(artist=artist, artists=tuple(sorted(set(artists))), **sections)


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
