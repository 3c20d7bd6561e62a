"""The composer classifier, style fidelity and the originality band, on tiny built data."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from midi_factory import write_midi_file

from pianogen import results
from pianogen.features import FEATURE_NAMES, cut_excerpts, excerpt_features
from pianogen.memorization import human_band, originality
from pianogen.presets import make_run_config
from pianogen.style import (
    ClassifierConfig,
    NoSamples,
    StyleClassifier,
    StyleError,
    attribution,
    attribution_shares,
    classifier_config_for,
    ensure_classifier,
    fidelity_frame,
    fit_softmax,
    judge_run,
    load_classifier,
    style_fidelity,
    train_classifier,
)
from pianogen.vocab import Vocab
from pianogen.windows import prepare

FAST = ClassifierConfig(excerpt_tokens=16, train_hop=8, steps=200)


def _feature(tokens, name, vocabulary="paper"):
    return excerpt_features(tokens, vocabulary)[FEATURE_NAMES.index(name)]


# ------------------------------------------------------------------------------ features
def test_features_by_hand():
    tokens = ["C4", "E4", "G4", "R", "0.4.7", "C4"]
    f = excerpt_features(tokens)
    assert f.shape == (len(FEATURE_NAMES),)
    # Pitch classes: C x3 (C4, chord, C4), E x2, G x2 -> commonest C at pc+0.
    assert _feature(tokens, "pc+0") == pytest.approx(3 / 7)
    assert _feature(tokens, "pc+4") == pytest.approx(2 / 7)
    assert _feature(tokens, "pc+7") == pytest.approx(2 / 7)
    assert _feature(tokens, "silent share") == pytest.approx(1 / 6)
    assert _feature(tokens, "chord 1") == pytest.approx(4 / 5)
    assert _feature(tokens, "chord 3") == pytest.approx(1 / 5)
    # Single notes C4 E4 G4 C4: steps 4, 3, 7 -> bins 3-4 (two) and 5-7 (one).
    assert _feature(tokens, "step 3-4") == pytest.approx(2 / 3)
    assert _feature(tokens, "step 5-7") == pytest.approx(1 / 3)
    assert _feature(tokens, "distinct tokens") == pytest.approx(5 / 6)


def test_features_do_not_depend_on_the_key_but_register_does():
    tokens = ["C4", "E4", "G4", "0.4.7", "D4", "R", "F4"]
    moved = ["D4", "F#4", "A4", "2.6.9", "E4", "R", "G4"]
    a, b = excerpt_features(tokens), excerpt_features(moved)
    register = FEATURE_NAMES.index("register mean")
    assert b[register] - a[register] == pytest.approx(2 / 12)  # two semitones, in octaves
    assert np.allclose(np.delete(a, register), np.delete(b, register))


def test_cut_excerpts():
    seq = [str(i) for i in range(10)]
    assert [s for s, _ in cut_excerpts(seq, 4, 4)] == [0, 4]
    assert [s for s, _ in cut_excerpts(seq, 4, 2)] == [0, 2, 4, 6]
    assert cut_excerpts(seq[:3], 4, 2) == []
    assert cut_excerpts(seq[:3], 4, 2, shortest=2) == [(0, seq[:3])]


def test_fit_softmax_separates_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(-2, 0.5, (40, 2)), rng.normal(2, 0.5, (10, 2))])
    y = np.array([0] * 40 + [1] * 10)
    w, b = fit_softmax(x, y, 2, l2=0.01, steps=300)
    assert ((x @ w + b).argmax(axis=1) == y).all()
    w2, b2 = fit_softmax(x, y, 2, l2=0.01, steps=300)
    assert np.array_equal(w, w2) and np.array_equal(b, b2)


# ------------------------------------------------------------------------- tiny artists
def _artist(root, name, pieces, pitches, step=0.5):
    folder = root / name
    folder.mkdir(parents=True)
    for k in range(pieces):
        notes = [(i * step, step, pitches[(i + k) % len(pitches)]) for i in range(64)]
        write_midi_file(folder / f"{name}_{k}.mid", notes)


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "midi"
    _artist(root, "scales", 6, [60, 62, 64, 65, 67, 69, 71, 72])  # stepwise
    _artist(root, "leaps", 6, [48, 67, 52, 76, 55, 72])  # wide leaps
    _artist(root, "tiny", 2, [60, 64])  # too few pieces for a piece split
    return root


def test_classifier_split_has_no_piece_overlap_and_is_the_runs_split(data_dir, tmp_path):
    model, metrics = train_classifier(data_dir, FAST, cache_dir=tmp_path / "c")
    assert model.artists == ["leaps", "scales"]
    assert metrics["left_out"] == [
        {"artist": "tiny", "pieces": 2, "reason": "fewer than 3 pieces: no piece split"}
    ]
    for artist in model.artists:
        counts = metrics["excerpts"][artist]
        assert counts["train pieces"] + counts["validation pieces"] + counts["test pieces"] == 6
    # The classifier's test pieces are exactly a run's test pieces (same split rule).
    config = classifier_config_for(make_run_config("scales", "quick-gru"), 16)
    assert (config.seed, config.vocabulary) == (0, "paper")
    run = prepare(make_run_config("scales", "quick-gru"), data_dir, tmp_path / "c", False)
    _, held = train_classifier(
        data_dir, FAST, cache_dir=tmp_path / "c", artists=["scales", "leaps"]
    )
    assert held["excerpts"]["scales"]["test pieces"] == len(run.names["test"])
    assert not set(run.names["test"]) & set(run.names["train"])
    # Two plainly different artists: every held-out excerpt is named right.
    assert metrics["test_accuracy"] == 1.0
    assert metrics["chance"] == 0.5


def test_classifier_needs_two_artists(data_dir, tmp_path):
    with pytest.raises(StyleError, match="at least two artists"):
        train_classifier(data_dir, FAST, cache_dir=tmp_path / "c", artists=["scales", "tiny"])


def test_ensure_classifier_reuses_and_retrains_on_new_data(data_dir, tmp_path):
    runs = tmp_path / "runs"
    ensure_classifier(runs, data_dir, FAST, cache_dir=tmp_path / "c")
    model_file = runs / "_classifier" / "paper-16" / "model.json"
    stamp = model_file.stat().st_mtime_ns
    os.utime(model_file, ns=(stamp - 10**9, stamp - 10**9))
    stamp = model_file.stat().st_mtime_ns
    again, _ = ensure_classifier(runs, data_dir, FAST, cache_dir=tmp_path / "c")
    assert model_file.stat().st_mtime_ns == stamp  # loaded, not retrained
    assert again.artists == ["leaps", "scales"]
    _artist(data_dir, "tiny2", 1, [60])  # a new artist folder changes the data
    ensure_classifier(runs, data_dir, FAST, cache_dir=tmp_path / "c")
    assert model_file.stat().st_mtime_ns != stamp
    loaded, metrics = load_classifier(model_file.parent)
    assert loaded.to_dict() == json.loads(model_file.read_text())
    assert {o["artist"] for o in metrics["left_out"]} == {"tiny", "tiny2"}


# ----------------------------------------------------------------------------- fidelity
class _Always(StyleClassifier):
    """A classifier that names one artist whatever it hears."""

    def __init__(self, artists, answer):
        d = len(FEATURE_NAMES)
        super().__init__(
            artists, "paper", 16, np.zeros(d), np.ones(d), np.zeros((d, len(artists))),
            np.zeros(len(artists)),
        )  # fmt: skip
        self.answer = answer

    def predict(self, excerpts):
        return [self.answer] * len(excerpts)


def _run_with_samples(root, artist, samples):
    folder = root / artist / "quick-gru"
    folder.mkdir(parents=True)
    evaluation = {
        "artist": artist,
        "vocabulary": "paper",
        "samples": [{"tokens": t} for t in samples],
    }
    (folder / "evaluation.json").write_text(json.dumps(evaluation))
    Vocab(["C4", "E4"], {"C4": 3, "E4": 1}, vocabulary="paper").save(folder / "vocab.json")
    return folder


def test_fidelity_against_the_right_labels(tmp_path):
    artists = ["a", "b", "c"]
    judge = _Always(artists, "a")
    metrics = {"chance": 1 / 3, "per_artist_accuracy": {"a": 0.9, "b": 0.5, "c": 0.4}}
    got = {
        name: judge_run(_run_with_samples(tmp_path, name, [["C4"] * 16] * 4), judge, metrics)
        for name in artists
    }
    assert [got[n]["fidelity"] for n in artists] == [1.0, 0.0, 0.0]
    assert got["b"]["attribution"] == {"a": 4, "b": 0, "c": 0}
    assert got["b"]["real_accuracy"] == 0.5
    # Noise is attributed the same way, so here it says as much as the model does.
    assert got["a"]["references"]["uniform"]["fidelity"] == 1.0
    assert got["b"]["references"]["unigram"]["fidelity"] == 0.0
    saved = json.loads((tmp_path / "b" / "quick-gru" / "style.json").read_text())
    assert saved["fidelity"] == 0.0
    frame = fidelity_frame({"quick-gru": got["b"]}, "b")
    assert frame.loc["quick-gru", "style fidelity"] == 0.0
    assert frame.loc["quick-gru", "uniform noise"] == 0.0
    shares = attribution_shares({"quick-gru": got["b"]}, [], "b")
    assert shares.loc["quick-gru", "a"] == 1.0 and shares.loc["quick-gru", "b"] == 0.0
    assert style_fidelity(["a", "b", "a", "a"], "a") == 0.75
    assert style_fidelity([], "a") is None
    assert attribution(["b", "b"], artists) == {"a": 0, "b": 2, "c": 0}


def test_a_run_without_samples_is_reported(tmp_path):
    folder = _run_with_samples(tmp_path, "a", [])
    with pytest.raises(NoSamples, match="no generated samples"):
        judge_run(folder, _Always(["a", "b"], "a"), {"chance": 0.5, "per_artist_accuracy": {}})
    with pytest.raises(NoSamples):
        judge_run(tmp_path / "nothing", _Always(["a", "b"], "a"), {})


# -------------------------------------------------------------------------- originality
def _audit(longest, share4):
    return {"longest_exact": longest, "ngram_share": {"4": share4, "8": 0.0}}


def test_human_band_and_flags():
    heldout = [_audit(n, n / 100) for n in range(10, 21)]  # 10..20
    assert human_band(heldout, "longest_copy", (0, 100)) == (10.0, 20.0)
    assert human_band(heldout, "longest_copy", (10, 90)) == pytest.approx((11.0, 19.0))
    assert human_band([], "longest_copy") is None
    with pytest.raises(ValueError, match="unknown measure"):
        human_band(heldout, "nonsense")
    audit = {"heldout": heldout, "generated": [_audit(5, 0.05), _audit(15, 0.15), _audit(40, 0.4)]}
    found = originality(audit, (0, 100))["measures"]
    assert found["longest_copy"]["flags"] == ["below", "within", "above"]
    assert found["ngram4_copied"]["counts"] == {"below": 1, "within": 1, "above": 1}
    assert found["longest_copy"]["band"] == [10.0, 20.0]
    # On the band's edges a sample is within it.
    edges = originality({"heldout": heldout, "generated": [_audit(10, 0.2)]}, (0, 100))
    assert edges["measures"]["longest_copy"]["flags"] == ["within"]


def test_results_style_tables(tmp_path):
    runs = tmp_path / "runs"
    for artist, fid, noise in (("a", 0.75, 0.1), ("b", 0.25, 0.5)):
        folder = runs / artist / "quick-gru"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"split": "piece", "vocabulary": "paper"}))
        style = {
            "fidelity": fid,
            "chance": 0.5,
            "real_accuracy": 0.9,
            "references": {"uniform": {"fidelity": 0.0}, "unigram": {"fidelity": noise}},
        }
        (folder / "style.json").write_text(json.dumps(style))
    table = results.summary_table(runs)
    matrix = results.style_matrix(table)
    assert matrix.loc["a", "quick-gru"] == 0.75
    assert matrix.loc["b", "noise (paper)"] == 0.5
    assert matrix.loc["a", "real excerpts (paper)"] == 0.9
    confusion = results.classifier_confusion({"artists": ["a", "b"], "confusion": [[3, 1], [0, 0]]})
    assert confusion.loc["a", "a"] == 0.75 and confusion.loc["b"].sum() == 0.0
