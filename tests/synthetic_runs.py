"""Synthetic token data for the windows/models/train tests (no MIDI, no data.py needed).

A helper module (not a pytest conftest). ``synthetic_pieces`` makes paper-vocabulary token
sequences from a seeded Markov chain over
a handful of note tokens, so a tiny model has something learnable and an n-gram model beats
the unigram one.
"""

from __future__ import annotations

import numpy as np

from pianogen.config import RunConfig, SplitConfig, TokenConfig, TrainConfig
from pianogen.presets import model_preset
from pianogen.windows import Prepared, prepare_tokens

NOTES = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5", "0.4.7", "2.7"]


def token_walk(
    tokens: list[str],
    steps: list[int],
    n_pieces: int,
    length: int,
    seed: int,
    p: list[float] | None = None,
) -> list[list[str]]:
    """``n_pieces`` seeded walks over ``tokens``, each step forward by one of ``steps``
    (drawn with probabilities ``p``; uniform when ``None``), wrapping around."""
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(n_pieces):
        i = int(rng.integers(len(tokens)))
        seq = []
        for _ in range(length):
            seq.append(tokens[i])
            i = (i + int(rng.choice(steps, p=p))) % len(tokens)
        pieces.append(seq)
    return pieces


def synthetic_pieces(n_pieces: int = 6, length: int = 120, seed: int = 0) -> list[list[str]]:
    """``n_pieces`` token sequences: mostly step up by one note, sometimes by two or three."""
    return token_walk(NOTES, [1, 2, 3], n_pieces, length, seed, p=[0.8, 0.15, 0.05])


def synthetic_config(
    preset: str = "quick-gru",
    *,
    epochs: int = 2,
    seq_len: int = 8,
    split: str = "piece",
    batch_size: int = 32,
    patience: int = 0,
    max_train_windows: int = 0,
    seed: int = 0,
) -> RunConfig:
    return RunConfig(
        artist="synthetic",
        model=model_preset(preset),
        tokens=TokenConfig(seq_len=seq_len, min_count=1),
        split=SplitConfig(kind=split, seed=seed),
        train=TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            patience=patience,
            seed=seed,
            max_train_windows=max_train_windows,
        ),
    )


def synthetic_prepared(config: RunConfig, n_pieces: int = 6, length: int = 120) -> Prepared:
    pieces = synthetic_pieces(n_pieces, length)
    return prepare_tokens(
        pieces, [f"piece{i}" for i in range(n_pieces)], config, data_hash="synthetic"
    )
