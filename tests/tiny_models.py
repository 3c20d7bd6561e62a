"""Tiny models and run folders for the generate/evaluate tests (built in code, seconds).

``tiny_model`` builds a model with :func:`pianogen.models.build_model` (the layer contract
generation relies on) with non-trivial BatchNorm statistics, so the inference-form BatchNorm
of the step model is really exercised. ``make_run`` writes a run folder (config.json,
vocab.json, model.keras) for synthetic paper-vocabulary pieces, without training: untrained
weights generate just as well for the tests' purposes, and it takes a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from synthetic_runs import token_walk

from pianogen.config import ModelConfig, RunConfig, SplitConfig, TokenConfig
from pianogen.models import build_model
from pianogen.windows import Prepared, prepare_tokens

TOKENS = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5", "0.4.7", "2.7", "R"]


def tiny_config(cell: str = "gru", input_kind: str = "scalar", **changes) -> ModelConfig:
    base = {
        "name": f"tiny-{cell}-{input_kind}",
        "cell": cell,
        "input": input_kind,
        "units": (12, 8),
        "batchnorm": True,
        "dropout": 0.1,
        "dense_units": 10,
        "embedding_dim": 6,
    }
    base.update(changes)
    return ModelConfig(**base)


def tiny_model(
    cell: str = "gru",
    input_kind: str = "scalar",
    vocab_size: int = 9,
    seq_len: int = 6,
    seed: int = 0,
    **changes,
):
    """A small untrained model with random BatchNorm moving statistics."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(tiny_config(cell, input_kind, **changes), vocab_size, seq_len)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.2, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, shape).astype("float32"))
    return model


def synthetic_pieces(n_pieces: int = 8, length: int = 60, seed: int = 0) -> list[list[str]]:
    """Paper-vocabulary token pieces from a seeded walk (with rests)."""
    return token_walk(TOKENS, [1, 2, 5], n_pieces, length, seed)


def synthetic_timed_pieces(n_pieces: int = 8, length: int = 60, seed: int = 0) -> list[list[str]]:
    """Timed-vocabulary token pieces: notes with durations, time shifts between onsets."""
    rng = np.random.default_rng(seed)
    names = ["C4", "D4", "E4", "G4", "A4", "C5"]
    pieces = []
    for _ in range(n_pieces):
        seq = []
        while len(seq) < length:
            seq.append(f"{names[int(rng.integers(len(names)))]}:d{int(rng.choice([3, 6, 12]))}")
            if rng.random() < 0.6:
                seq.append(f"a{int(rng.choice([3, 6, 12]))}")
        pieces.append(seq)
    return pieces


def make_run(
    root: Path,
    *,
    seq_len: int = 8,
    cell: str = "gru",
    seed: int = 0,
    vocabulary: str = "paper",
) -> tuple[Path, Prepared]:
    """An untrained run folder ``root/synthetic/<model>`` and its prepared data."""
    config = RunConfig(
        artist="synthetic",
        model=tiny_config(cell, "embedding", units=(16,), dense_units=0, batchnorm=False),
        tokens=TokenConfig(vocabulary=vocabulary, seq_len=seq_len, min_count=1),
        split=SplitConfig(kind="piece", seed=seed, val_fraction=0.25, test_fraction=0.25),
    )
    pieces = synthetic_pieces() if vocabulary == "paper" else synthetic_timed_pieces()
    prepared = prepare_tokens(
        pieces, [f"piece{i}" for i in range(len(pieces))], config, data_hash="synthetic"
    )
    run_dir = Path(root) / "synthetic" / config.model.name
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    prepared.vocab.save(run_dir / "vocab.json")
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(config.model, len(prepared.vocab), seq_len)
    model.save(run_dir / "model.keras")
    return run_dir, prepared
