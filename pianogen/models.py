"""Model presets -> Keras models: the paper's three networks and our embedding models.

Every model takes **int token ids** of shape ``(seq_len,)`` (input layer ``"tokens"``) and
returns next-token probabilities (softmax head ``"head"``). The paper fed the network a
normalised index ``id / vocab_size``; that normalisation lives *inside* the scalar models
(a weightless ``Rescaling`` layer named ``"normalise"`` followed by a ``Reshape`` named
``"expand"`` to ``(seq_len, 1)``), so data pipelines and generation never need to know which
input kind a model uses.

Layer names are a contract with :mod:`pianogen.generate`, which re-implements the recurrent
step from these weights:

``tokens`` -> (``normalise`` -> ``expand`` | ``embedding``) -> ``rnn_0`` [-> ``bn_0``]
[-> ``dropout_0``] -> ``rnn_1`` ... -> [``dense`` [-> ``dense_dropout``]] -> ``head``

A conditioned model (``ModelConfig.conditioned``, built with ``artists=n``) has a second
input ``"artist"`` (one id per window) whose vector from ``artist_embedding`` (n x
embedding_dim) is added to every token's embedding (``with_artist``) before ``rnn_0``: the
same as the plain model with the embedding table shifted by the artist's vector, which is how
:mod:`pianogen.conditioned` turns it into one plain model per artist.

A model whose config sets ``sequence_loss`` is *trained* on a twin built with
``every_step=True``: the same layers and weights, but the last recurrent layer returns every
step and the head predicts the next token at each of the ``seq_len`` positions (the way
char-RNN and Magenta's melody models train: one window gives ``seq_len`` targets instead of
one). :func:`copy_weights` moves the weights into the next-token model, which is the one
saved, evaluated and sampled.

Recurrent layers use cuDNN-compatible settings (tanh/sigmoid, no recurrent dropout, GRU
``reset_after=True``), so the same model runs on the fused GPU kernels when one is present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pianogen.config import ModelConfig
from pianogen.presets import model_preset

if TYPE_CHECKING:
    import keras

__all__ = ["build_model", "copy_weights", "flops_per_sequence", "resolve_config"]


def resolve_config(preset_or_config: str | ModelConfig) -> ModelConfig:
    """A preset name or a ``ModelConfig`` -> ``ModelConfig`` (ValueError for unknown names)."""
    if isinstance(preset_or_config, ModelConfig):
        return preset_or_config
    return model_preset(str(preset_or_config))


def build_model(
    preset_or_config: str | ModelConfig,
    vocab_size: int,
    seq_len: int = 50,
    *,
    every_step: bool = False,
    artists: int = 0,
) -> keras.Model:
    """Build (uncompiled) the next-token model for ``vocab_size`` tokens and ``seq_len`` inputs.

    ``artists``: the number of artists of a conditioned model (inputs ``tokens`` and
    ``artist``); 0 for the plain model (the only choice for an unconditioned preset).

    ``every_step``: the training twin of a ``sequence_loss`` model — output
    ``(batch, seq_len, vocab_size)``, the next-token probabilities after every position
    (weights identical in names and shapes to the plain model's).

    The paper's presets reproduce its parameter counts exactly: ``paper-lstm-table``
    2,709,057 at vocabulary 65, ``paper-lstm-text`` 1,038,913 at 65, ``paper-gru`` 835,297
    at 225 (the normalise layer adds no weights).
    """
    import keras
    from keras import layers

    config = resolve_config(preset_or_config)
    if int(vocab_size) < 2:
        raise ValueError(f"a next-token model needs a vocabulary of >= 2 tokens, got {vocab_size}")
    if int(seq_len) < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    vocab_size, seq_len = int(vocab_size), int(seq_len)

    artists = int(artists)
    if artists and not config.conditioned:
        raise ValueError(f"preset {config.name!r} has no artist input (ModelConfig.conditioned)")
    if artists == 1 or artists < 0:
        raise ValueError(f"a conditioned model needs >= 2 artists, got {artists}")
    tokens = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    inputs = [tokens]
    if config.input == "scalar":
        # id / vocab_size as float32 (computed as float32(id) * float32(1 / vocab_size)).
        x = layers.Rescaling(1.0 / vocab_size, name="normalise")(tokens)
        x = layers.Reshape((seq_len, 1), name="expand")(x)
    else:
        x = layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(tokens)
        if artists:
            artist = keras.Input(shape=(1,), dtype="int32", name="artist")
            inputs.append(artist)
            vector = layers.Embedding(artists, config.embedding_dim, name="artist_embedding")
            x = layers.Add(name="with_artist")([x, vector(artist)])  # (b, T, d) + (b, 1, d)

    cell = layers.LSTM if config.cell == "lstm" else layers.GRU
    extra = {} if config.cell == "lstm" else {"reset_after": True}
    last = len(config.units) - 1
    for i, units in enumerate(config.units):
        x = cell(
            units,
            return_sequences=every_step or i < last,
            unroll=config.unroll,
            name=f"rnn_{i}",
            **extra,
        )(x)
        if config.batchnorm:
            x = layers.BatchNormalization(name=f"bn_{i}")(x)
        if config.dropout > 0 and (i < last or config.final_dropout):
            x = layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    if config.dense_units > 0:
        x = layers.Dense(config.dense_units, activation=config.dense_activation, name="dense")(x)
        if config.dense_dropout > 0:
            x = layers.Dropout(config.dense_dropout, name="dense_dropout")(x)
    # float32 whatever the dtype policy: a softmax in bfloat16/float16 loses small
    # probabilities (Keras' mixed-precision advice), and metrics expect float32.
    probs = layers.Dense(vocab_size, activation="softmax", name="head", dtype="float32")(x)
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, probs, name=config.name)


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy every layer's weights from ``source`` to the layer of the same name in ``target``
    (a ``sequence_loss`` model's training twin -> its next-token model, or back)."""
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())


def flops_per_sequence(
    preset_or_config: str | ModelConfig, vocab_size: int, seq_len: int = 50
) -> dict[str, float]:
    """Multiply-add FLOPs (2 per MAC) of the matmuls for one window, forward and training.

    Counts the recurrent input and recurrent matmuls of every time step and the dense/head
    matmuls once; elementwise work is ignored. ``train`` is the usual 3x forward (forward +
    two backward matmuls). Used by the benchmark to express throughput as GFLOP/s.
    """
    config = resolve_config(preset_or_config)
    gates = 4 if config.cell == "lstm" else 3
    width = 1 if config.input == "scalar" else config.embedding_dim
    forward = 0.0
    for units in config.units:
        forward += 2.0 * seq_len * gates * units * (width + units)
        width = units
    if config.dense_units > 0:
        forward += 2.0 * width * config.dense_units
        width = config.dense_units
    forward += 2.0 * width * vocab_size
    return {"forward": forward, "train": 3.0 * forward}
