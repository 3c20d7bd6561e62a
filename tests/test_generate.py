"""Sampling rules, the step model's equivalence with the windowed model, generate_run files."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from tiny_models import make_run, tiny_config, tiny_model

from pianogen import tokens as tok
from pianogen.config import GenerateConfig
from pianogen.generate import (
    GenerateError,
    NothingPlayable,
    choose_primers,
    filter_logits,
    generate_ids,
    generate_run,
    load_sample,
    naive_generate,
    sample,
    sample_notes,
)
from pianogen.models import build_model
from pianogen.runs import open_run
from pianogen.stepper import Stepper, stepper_for


# --------------------------------------------------------------------------- sample()
def _freqs(ids: np.ndarray, vocab: int) -> np.ndarray:
    return np.bincount(ids, minlength=vocab) / len(ids)


def test_sample_follows_the_probabilities():
    probs = np.tile([0.5, 0.3, 0.2, 0.0], (20000, 1))
    ids = sample(probs, rng=np.random.default_rng(1))
    assert np.allclose(_freqs(ids, 4), [0.5, 0.3, 0.2, 0.0], atol=0.015)
    assert not np.any(ids == 3)  # a zero-probability token is never drawn


def test_temperature_reshapes_the_distribution_not_just_the_argmax():
    probs = np.tile([0.8, 0.2], (20000, 1))
    hot = sample(probs, temperature=2.0, rng=np.random.default_rng(2))
    # p ** (1/T) renormalised: sqrt(.8) : sqrt(.2) = 2 : 1
    assert np.allclose(_freqs(hot, 2), [2 / 3, 1 / 3], atol=0.015)
    cold = sample(probs, temperature=0.05, rng=np.random.default_rng(2))
    assert np.all(cold == 0)


def test_top_k_and_top_p_keep_the_right_tokens():
    probs = np.tile([0.05, 0.5, 0.15, 0.3], (5000, 1))
    rng = np.random.default_rng(3)
    assert set(sample(probs, top_k=1, rng=rng)) == {1}
    assert set(sample(probs, top_k=2, rng=rng)) == {1, 3}
    # top-p 0.7: 0.5 alone is short of 0.7, 0.5 + 0.3 reaches it -> {1, 3}
    kept = sample(probs, top_p=0.7, rng=rng)
    assert set(kept) == {1, 3}
    assert np.allclose(_freqs(kept, 4)[[1, 3]], [0.625, 0.375], atol=0.03)
    assert set(sample(probs, top_p=0.5, rng=rng)) == {1}  # 0.5 already reaches 0.5
    assert set(sample(probs, top_p=0.81, rng=rng)) == {1, 2, 3}


def test_filter_logits_marks_removed_tokens():
    logits = np.log(np.array([[0.1, 0.6, 0.3]]))
    out = filter_logits(logits, 1.0, 2, 1.0)
    assert out[0, 0] == -np.inf and np.isfinite(out[0, 1:]).all()
    assert np.allclose(filter_logits(logits, 0.5, 0, 1.0), logits / 0.5)


def test_sample_is_seeded_and_takes_one_row():
    p = np.array([0.2, 0.3, 0.5])
    a = [int(sample(p, rng=np.random.default_rng(7))[0]) for _ in range(3)]
    b = [int(sample(p, rng=np.random.default_rng(7))[0]) for _ in range(3)]
    assert a == b and sample(p).shape == (1,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 1.5}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_impossible_sampling_settings_are_refused(kwargs, message):
    with pytest.raises(GenerateError, match=message):
        sample(np.array([0.5, 0.5]), **kwargs)


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match="probs"):
        sample(np.array([[0.0, 0.0]]))
    with pytest.raises(ValueError, match="probs"):
        sample(np.array([[0.5, -0.1]]))


# ----------------------------------------------------------------- the step model
@pytest.mark.parametrize(
    ("cell", "input_kind", "changes"),
    [
        ("gru", "scalar", {}),  # the paper's GRU shape: normalise, BN, dense
        ("lstm", "embedding", {"dense_units": 0}),  # ours
        ("lstm", "scalar", {"batchnorm": False, "final_dropout": False, "dense_dropout": 0.2}),
        ("gru", "embedding", {"units": (7,)}),
    ],
)
def test_window_mode_equals_the_windowed_model_at_every_step(cell, input_kind, changes):
    model = tiny_model(cell, input_kind, vocab_size=9, seq_len=6, **changes)
    primers = np.random.default_rng(0).integers(0, 9, size=(3, 6))
    ids, probs = generate_ids(
        model, primers, 14, GenerateConfig(seed=5), mode="window", return_probs=True
    )
    history = np.concatenate([primers, ids], axis=1)
    for t in range(14):  # every step, including after several windows have slid by
        expected = model(history[:, t : t + 6], training=False).numpy()
        np.testing.assert_allclose(probs[:, t], expected, atol=1e-5)


def test_stream_mode_carries_the_whole_history():
    model = tiny_model("gru", "scalar", vocab_size=9, seq_len=6)
    primers = np.random.default_rng(1).integers(0, 9, size=(2, 6))
    ids, probs = generate_ids(
        model, primers, 8, GenerateConfig(seed=2), mode="stream", return_probs=True
    )
    # First step: exactly the windowed model on the primer.
    np.testing.assert_allclose(probs[:, 0], model(primers, training=False).numpy(), atol=1e-5)
    # Later steps: the same network run over the whole history (a longer input, same weights).
    history = np.concatenate([primers, ids], axis=1)
    long = build_model(tiny_config("gru", "scalar"), 9, 6 + 7)
    long.set_weights(model.get_weights())
    np.testing.assert_allclose(
        probs[:, 7], long(history[:, :13], training=False).numpy(), atol=1e-5
    )
    windowed = model(history[:, 7:13], training=False).numpy()
    assert np.abs(probs[:, 7] - windowed).max() > 1e-6  # ... which is not the windowed view


def _chi2(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson's statistic, bins expected < 10 times merged into one (so it stays valid)."""
    big = expected >= 10
    o = np.append(observed[big], observed[~big].sum())
    e = np.append(expected[big], expected[~big].sum())
    assert o[e == 0].sum() == 0, "drew a token the sampling rules exclude"
    return float((((o - e) ** 2)[e > 0] / e[e > 0]).sum())


@pytest.mark.slow
def test_incremental_sampling_has_the_naive_loops_distribution():
    """Two tokens from one primer, 2000 times each way; the second token's frequencies are
    compared with its exact marginal (summed over the first token) by a chi-square test.

    The weights are scaled so the distributions are sharp and history-dependent: the same
    test rejects a wrong temperature, a missing top-k, and the stream mode's longer memory.
    """
    vocab, seq_len, n = 5, 4, 2000
    model = tiny_model("gru", "scalar", vocab_size=vocab, seq_len=seq_len, seed=3)
    for name in ("rnn_0", "rnn_1", "dense", "head"):
        layer = model.get_layer(name)
        layer.set_weights([w * 2.5 for w in layer.get_weights()])
    config = GenerateConfig(temperature=1.3, top_k=4, seed=11)
    primer = np.array([1, 4, 0, 2])

    def marginal(temperature: float, top_k: int) -> np.ndarray:
        def tempered(p: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore"):
                logits = filter_logits(np.log(p), temperature, top_k, 1.0)
            w = np.exp(logits - logits.max(axis=-1, keepdims=True))
            return w / w.sum(axis=-1, keepdims=True)

        first = tempered(model(primer[None], training=False).numpy())[0]
        windows = np.array([[*primer[1:], x] for x in range(vocab)])
        return first @ tempered(model(windows, training=False).numpy())

    primers = np.tile(primer, (n, 1))
    fast = generate_ids(model, primers, 2, config)[:, 1]
    slow = naive_generate(model, primers, 2, config, batched=True)[:, 1]
    stream = generate_ids(model, primers, 2, config, mode="stream")[:, 1]
    limit = 18.47  # p = 0.001 at 4 degrees of freedom
    expected = marginal(1.3, 4) * n
    for draws in (fast, slow):
        assert _chi2(np.bincount(draws, minlength=vocab), expected) < limit
    counts = np.bincount(fast, minlength=vocab)
    assert _chi2(counts, marginal(1.0, 4) * n) > limit  # temperature really acts
    assert _chi2(counts, marginal(1.3, 0) * n) > limit  # top-k really acts
    assert _chi2(np.bincount(stream, minlength=vocab), expected) > limit  # by design


@pytest.mark.slow
def test_naive_loop_matches_window_mode_token_for_token_when_greedy():
    model = tiny_model("lstm", "embedding", vocab_size=7, seq_len=5, dense_units=0)
    primer = np.random.default_rng(4).integers(0, 7, size=5)
    greedy = GenerateConfig(top_k=1)
    slow = naive_generate(model, primer, 6, greedy)
    fast = generate_ids(model, primer, 6, greedy)[0]
    assert slow.tolist() == fast.tolist()


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p", "expected"),
    [
        (1.0, 0, 1.0, [8, 4, 2, 1, 1]),  # the probabilities themselves (/16)
        (1.0, 3, 1.0, [4, 2, 1, 0, 0]),  # top-3, renormalised (/7)
        (1.0, 3, 0.7, [2, 1, 0, 0, 0]),  # then the smallest set reaching 0.7: {0, 1}
        (1.0, 0, 0.5, [1, 0, 0, 0, 0]),  # 0.5 is reached by the first token alone
        (0.5, 0, 1.0, [64, 16, 4, 1, 1]),  # temperature 1/2 squares the probabilities
    ],
)
def test_the_compiled_sampler_draws_from_the_filtered_distribution(
    temperature, top_k, top_p, expected
):
    """4,000 rows of the same logits, one draw each (one uniform per row), against
    hand-computed probabilities; a removed token drawn even once fails."""
    import tensorflow as tf

    stepper = stepper_for(tiny_model("gru", "embedding", vocab_size=5, seq_len=3))
    n = 4000
    logits = np.log(np.tile([[0.5, 0.25, 0.125, 0.0625, 0.0625]], (n, 1))).astype(np.float32)
    draw = tf.function(stepper.choose, jit_compile=True)
    ids = draw(logits, 7, np.float32(temperature), top_k, np.float32(top_p), np.int64(3))
    expected = np.array(expected, float) / sum(expected) * n
    assert _chi2(np.bincount(ids.numpy(), minlength=5), expected) < 18.47  # p = 0.001, 4 dof
    again = draw(logits, 7, np.float32(temperature), top_k, np.float32(top_p), np.int64(3))
    other = draw(logits, 8, np.float32(temperature), top_k, np.float32(top_p), np.int64(3))
    assert (again.numpy() == ids.numpy()).all()
    assert expected.max() == n or not (other.numpy() == ids.numpy()).all()


def test_top_k_and_top_p_inside_the_compiled_loop():
    model = tiny_model("gru", "embedding", vocab_size=9, seq_len=5)
    primers = np.random.default_rng(6).integers(0, 9, size=(8, 5))
    ids, probs = generate_ids(model, primers, 10, GenerateConfig(top_k=1), return_probs=True)
    assert (ids == probs.argmax(axis=-1)).all()
    ids, probs = generate_ids(
        model, primers, 10, GenerateConfig(top_k=3, seed=1), return_probs=True
    )
    top3 = np.argsort(-probs, axis=-1)[..., :3]
    assert (top3 == ids[..., None]).any(axis=-1).all()
    ids, probs = generate_ids(model, primers, 10, GenerateConfig(top_p=1e-6), return_probs=True)
    assert (ids == probs.argmax(axis=-1)).all()


def test_same_seed_same_tokens_other_seed_other_tokens():
    model = tiny_model("gru", "embedding", vocab_size=9, seq_len=5)
    primers = np.random.default_rng(6).integers(0, 9, size=(4, 5))
    for mode in ("window", "stream"):
        a = generate_ids(model, primers, 30, GenerateConfig(seed=1), mode=mode)
        b = generate_ids(model, primers, 30, GenerateConfig(seed=1), mode=mode)
        c = generate_ids(model, primers, 30, GenerateConfig(seed=2), mode=mode)
        assert a.shape == (4, 30) and (a == b).all() and not (a == c).all()
        # the loop runs in compiled chunks of 32 steps: a longer run only adds tokens
        longer = generate_ids(model, primers, 70, GenerateConfig(seed=1), mode=mode)
        assert (longer[:, :30] == a).all()


def test_generation_refuses_short_primers_and_bad_ids():
    model = tiny_model("gru", "scalar", vocab_size=9, seq_len=6)
    with pytest.raises(GenerateError, match="at least 6 primer tokens"):
        generate_ids(model, np.zeros((1, 5), int), 3, GenerateConfig())
    with pytest.raises(GenerateError, match=r"0\.\.8"):
        generate_ids(model, np.full((1, 6), 9), 3, GenerateConfig())
    with pytest.raises(GenerateError, match="mode"):
        generate_ids(model, np.zeros((1, 6), int), 3, GenerateConfig(), mode="beam")
    with pytest.raises(ValueError, match="temperature"):
        GenerateConfig(temperature=0)
    # A longer primer is fine: the last seq_len tokens are the window.
    long = np.arange(20) % 9
    a = generate_ids(model, long, 4, GenerateConfig(top_k=1))
    b = generate_ids(model, long[-6:], 4, GenerateConfig(top_k=1))
    assert (a == b).all()


def test_unsupported_layers_are_named():
    def model_with(conv_first: bool) -> keras.Model:
        inputs = keras.Input((4,), dtype="int32", name="tokens")
        x = keras.layers.Embedding(5, 3, name="embedding")(inputs)
        if conv_first:
            x = keras.layers.Conv1D(3, 2, padding="same", name="conv")(x)
        x = keras.layers.GRU(4, return_sequences=True, name="rnn_0")(x)
        if not conv_first:
            x = keras.layers.Conv1D(4, 2, name="conv")(x)
        x = keras.layers.GRU(4, name="rnn_1")(x)
        return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="head")(x))

    with pytest.raises(GenerateError, match="mix time steps"):
        Stepper(model_with(conv_first=True))
    with pytest.raises(GenerateError, match="'conv'"):
        Stepper(model_with(conv_first=False))


def test_stepper_is_cached_and_rebuilt_after_training():
    model = tiny_model("gru", "scalar", vocab_size=9, seq_len=6)
    first = stepper_for(model)
    assert stepper_for(model) is first
    weights = model.get_weights()
    model.set_weights([w + 0.01 for w in weights])
    assert stepper_for(model) is not first


def test_choose_primers_is_seeded_and_in_range():
    seqs = [np.arange(5), np.arange(12), np.arange(30)]
    picks = choose_primers(seqs, 5, 8, seed=3)
    assert picks == choose_primers(seqs, 5, 8, seed=3)
    assert {p for p, _ in picks} == {1, 2}  # the 5-token piece is too short
    assert all(0 <= s <= len(seqs[p]) - 8 for p, s in picks)
    assert {p for p, _ in picks[:2]} == {1, 2}  # different pieces before repeating one
    with pytest.raises(GenerateError, match="no piece"):
        choose_primers([np.arange(3)], 1, 8, seed=0)


# ----------------------------------------------------------------------- generate_run
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs"))


def test_generate_run_writes_midi_and_token_streams(run, tmp_path):
    run_dir, prepared = run
    config = GenerateConfig(count=3, tokens=20, seed=4)
    paths = generate_run(open_run(run_dir, prepared=prepared), config, out_dir=tmp_path / "a")
    assert [p.name for p in paths[:3]] == [
        "sample_00.mid",
        "sample_00_continuation.mid",
        "sample_00.json",
    ]
    assert len(paths) == 9 and all(p.is_file() for p in paths)
    record = load_sample(paths[2])
    assert record["primer"]["split"] == "test"
    assert record["primer"]["piece"] in prepared.names["test"]  # held-out music
    assert len(record["primer"]["tokens"]) == 8
    assert len(record["continuation"]["tokens"]) == 20
    assert record["tokens"] == record["primer"]["tokens"] + record["continuation"]["tokens"]
    assert record["seed"] == 4 and record["config"]["tokens"] == 20
    # The primer really is the test piece's tokens at the recorded offset.
    piece = prepared.names["test"].index(record["primer"]["piece"])
    start = record["primer"]["start"]
    test_ids = prepared.splits["test"][piece][start : start + 8]
    assert record["primer"]["tokens"] == prepared.vocab.decode(test_ids)
    # The MIDI holds exactly the decoded notes of primer + continuation.
    import symusic

    score = symusic.Score(str(record["paths"]["full"]))
    expected = tok.decode(record["tokens"], "paper")
    assert sum(len(t.notes) for t in score.tracks) == len(expected)
    assert score.tracks[0].program == 0
    cont = symusic.Score(str(record["paths"]["continuation"]))
    assert sum(len(t.notes) for t in cont.tracks) == len(
        tok.decode(record["continuation"]["tokens"], "paper")
    )


@pytest.mark.slow
def test_same_seed_gives_byte_identical_files(run, tmp_path):
    run_dir, prepared = run
    config = GenerateConfig(count=2, tokens=16, seed=9)
    a = generate_run(open_run(run_dir, prepared=prepared), config, out_dir=tmp_path / "a")
    b = generate_run(open_run(run_dir, prepared=prepared), config, out_dir=tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    opened = open_run(run_dir, prepared=prepared)
    c = generate_run(opened, config.replace(seed=10), out_dir=tmp_path / "c")
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_default_output_folder_is_run_samples(run):
    run_dir, prepared = run
    paths = generate_run(open_run(run_dir, prepared=prepared), GenerateConfig(count=1, tokens=5))
    assert paths[0].parent == run_dir / "samples"
    assert json.loads(paths[2].read_text())["mode"] == "window"


def test_generate_run_without_a_model_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenerateError, match=r"model\.keras"):
        generate_run(open_run(tmp_path / "empty"), GenerateConfig())


def test_missing_data_folder_is_explained(run, tmp_path):
    run_dir, _ = run
    with pytest.raises(GenerateError, match="data folder"):
        generate_run(open_run(run_dir, data_dir=tmp_path / "nowhere"), GenerateConfig())


def test_all_rest_continuations_are_refused(tmp_path):
    run_dir, prepared = make_run(tmp_path)
    model = keras.models.load_model(run_dir / "model.keras")
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    bias[:] = -30.0
    bias[prepared.vocab.index("R")] = 30.0
    head.set_weights([np.zeros_like(kernel), bias])
    model.save(run_dir / "model.keras")
    with pytest.raises(NothingPlayable, match="all rests"):
        opened = open_run(run_dir, prepared=prepared)
        generate_run(opened, GenerateConfig(count=1, tokens=10), tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_sample_notes_split_primer_and_continuation():
    paper = {
        "vocabulary": "paper",
        "primer": {"tokens": ["C4", "R", "0.4.7"]},
        "continuation": {"tokens": ["D4", "E4"]},
        "tokens": ["C4", "R", "0.4.7", "D4", "E4"],
    }
    full, primer, cont, end = sample_notes(paper)
    assert end == 3 * tok.PAPER_STEP
    assert [n.onset for n in full if n.onset >= end] == [3 * tok.PAPER_STEP, 4 * tok.PAPER_STEP]
    assert len(primer) == 1 + 3 and [n.onset for n in cont] == [0, tok.PAPER_STEP]
    timed = {
        "vocabulary": "timed",
        "primer": {"tokens": ["C4:d6", "a6", "E4:d3", "a12"]},
        "continuation": {"tokens": ["G4:d6"]},
        "tokens": ["C4:d6", "a6", "E4:d3", "a12", "G4:d6"],
    }
    full, _, _, end = sample_notes(timed)
    assert end == 18 and [n.onset for n in full] == [0, 6, 18]


def test_the_self_check_catches_a_wrong_step_model():
    import dataclasses

    model = tiny_model("gru", "scalar", vocab_size=9, seq_len=6)
    stepper = Stepper(model)  # passes its own check
    stepper.head = dataclasses.replace(stepper.head, kernel=stepper.head.kernel * 0.5)
    with pytest.raises(GenerateError, match="disagrees with the model"):
        stepper._verify(model)
