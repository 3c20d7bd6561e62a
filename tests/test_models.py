"""Model presets: the paper's exact parameter counts, the layer-name contract, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from pianogen.config import ModelConfig
from pianogen.models import build_model, flops_per_sequence
from pianogen.presets import MODEL_PRESETS


def _trainable(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.parametrize(
    ("preset", "vocab", "total", "trainable"),
    [
        ("paper-lstm-table", 65, 2_709_057, 2_709_057),
        ("paper-lstm-text", 65, 1_038_913, 1_037_633),
        ("paper-gru", 225, 835_297, 834_017),
    ],
)
def test_paper_parameter_counts_exact(preset, vocab, total, trainable):
    model = build_model(preset, vocab)
    assert model.count_params() == total
    assert _trainable(model) == trainable


def test_layer_names_follow_the_contract():
    names = [layer.name for layer in build_model("paper-gru", 225).layers]
    assert names == [
        "tokens", "normalise", "expand",
        "rnn_0", "bn_0", "dropout_0", "rnn_1", "bn_1", "dropout_1", "rnn_2", "bn_2", "dropout_2",
        "dense", "head",
    ]  # fmt: skip
    table = [layer.name for layer in build_model("paper-lstm-table", 65).layers]
    assert table == [
        "tokens", "normalise", "expand", "rnn_0", "dropout_0", "rnn_1", "dropout_1", "rnn_2",
        "dense", "dense_dropout", "head",
    ]  # fmt: skip
    quick = [layer.name for layer in build_model("quick-lstm", 30).layers]
    assert quick == ["tokens", "embedding", "rnn_0", "bn_0", "dropout_0", "head"]


def test_cudnn_compatible_settings():
    gru = build_model("paper-gru", 20).get_layer("rnn_0")
    assert gru.cell.reset_after and gru.cell.activation.__name__ == "tanh"
    assert gru.cell.recurrent_activation.__name__ == "sigmoid" and gru.cell.recurrent_dropout == 0
    lstm = build_model("paper-lstm-text", 20).get_layer("rnn_2")
    assert lstm.cell.activation.__name__ == "tanh" and not lstm.return_sequences


def test_scalar_input_is_normalised_inside_the_model():
    model = build_model("paper-gru", 40, seq_len=5)
    assert model.input.dtype == "int32" and tuple(model.input.shape) == (None, 5)
    assert model.get_layer("normalise").weights == []
    ids = np.array([[0, 1, 10, 20, 39]], dtype=np.int32)
    probe = keras.Model(model.input, model.get_layer("expand").output)
    scaled = probe(ids).numpy()
    assert scaled.shape == (1, 5, 1) and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[0, :, 0], ids[0] / 40, rtol=1e-7)


def test_outputs_are_distributions():
    model = build_model("quick-gru", 12, seq_len=6)
    probs = model(np.zeros((3, 6), np.int32), training=False).numpy()
    assert probs.shape == (3, 12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("preset", ["quick-lstm", "paper-gru"])
def test_save_load_round_trip_safe_mode(tmp_path, preset):
    model = build_model(preset, 15, seq_len=6)
    ids = np.random.default_rng(0).integers(0, 15, (4, 6)).astype(np.int32)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(model(ids).numpy(), loaded(ids).numpy())


def test_every_preset_builds():
    for name, config in MODEL_PRESETS.items():
        model = build_model(config, 30, seq_len=4)
        assert model.name == name and model.output_shape == (None, 30)


def test_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="unknown model preset 'nope'"):
        build_model("nope", 10)
    with pytest.raises(ValueError, match=">= 2 tokens"):
        build_model("quick-gru", 1)


def test_flops_by_hand():
    config = ModelConfig(name="t", cell="gru", input="embedding", units=(32,), embedding_dim=16,
                         dense_units=0)  # fmt: skip
    flops = flops_per_sequence(config, vocab_size=10, seq_len=8)
    assert flops["forward"] == 2 * 8 * 3 * 32 * (16 + 32) + 2 * 32 * 10
    assert flops["train"] == 3 * flops["forward"]
    table = flops_per_sequence("paper-lstm-table", 65, 50)["forward"]
    expected = 2 * 50 * 4 * (256 * 257 + 512 * 768 + 256 * 768) + 2 * (256 * 256 + 256 * 65)
    assert table == expected


def test_the_head_stays_float32_under_a_mixed_precision_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model("quick-gru", 9, seq_len=4)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("rnn_0").compute_dtype == "bfloat16"
    probs = model(np.arange(8, dtype=np.int32).reshape(2, 4) % 9, training=False)
    assert keras.backend.standardize_dtype(probs.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(probs).sum(axis=-1), 1.0, rtol=1e-5)


def test_an_unrolled_model_computes_the_same_function():
    rolled = build_model("quick-gru", 9, seq_len=6)
    unrolled = build_model(MODEL_PRESETS["quick-gru"].replace(unroll=True), 9, seq_len=6)
    assert unrolled.get_layer("rnn_0").unroll and not rolled.get_layer("rnn_0").unroll
    unrolled.set_weights(rolled.get_weights())
    ids = np.random.default_rng(0).integers(0, 9, size=(3, 6)).astype(np.int32)
    np.testing.assert_allclose(
        np.asarray(unrolled(ids, training=False)),
        np.asarray(rolled(ids, training=False)),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="unroll must be true or false"):
        MODEL_PRESETS["quick-gru"].replace(unroll="yes")


@pytest.mark.parametrize("preset", ["quick-gru", "pianogen-lstm"])
def test_every_step_twin_shares_weights_and_its_last_step_is_the_model(preset):
    from pianogen.models import copy_weights

    twin = build_model(preset, 13, seq_len=5, every_step=True)
    model = build_model(preset, 13, seq_len=5)
    assert twin.output_shape == (None, 5, 13) and model.output_shape == (None, 13)
    assert [w.shape for w in twin.weights] == [w.shape for w in model.weights]
    copy_weights(twin, model)
    ids = np.random.default_rng(1).integers(0, 13, (4, 5)).astype(np.int32)
    every = twin(ids, training=False).numpy()
    np.testing.assert_allclose(every.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(every[:, -1], model(ids, training=False).numpy(), atol=1e-6)
    # Causal: the prediction after position 2 ignores the tokens after it.
    changed = ids.copy()
    changed[:, 3:] = (changed[:, 3:] + 1) % 13
    np.testing.assert_allclose(every[:, 2], twin(changed, training=False).numpy()[:, 2], atol=1e-6)


def test_the_model_table_counts_a_conditioned_presets_artist_vectors():
    from pianogen.results import model_table

    table = model_table(artists=5)
    own, pooled = table.loc["pianogen-gru"], table.loc["conditioned-gru"]
    # pianogen-gru plus one 64-wide vector per artist, added to every token's embedding.
    assert pooled["parameters"] - own["parameters"] == 5 * 64
    assert pooled["artists"] == 5 and pd.isna(own["artists"])
    assert model_table(artists=3).loc["conditioned-gru", "parameters"] == own["parameters"] + 192
    # A book of one artist trains no conditioned model; the table shows the smallest one.
    assert model_table(artists=1).loc["conditioned-gru", "artists"] == 2
