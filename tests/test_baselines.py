"""Baselines on tiny sequences whose scores are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pianogen.baselines import (
    NGram,
    baseline_metrics,
    majority_metrics,
    score_probs,
    unigram_metrics,
    unigram_probs,
)
from pianogen.windows import Windows


def test_score_probs_by_hand():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    scores = score_probs(probs, np.array([1, 2]))
    loss = -(math.log(0.3) + math.log(0.8)) / 2
    assert scores == pytest.approx(
        {
            "loss": loss,
            "accuracy": 0.5,
            "top_5_accuracy": 1.0,
            "perplexity": math.exp(loss),
            "tokens": 2,
        }
    )


def test_score_probs_top5_and_ties():
    probs = np.full((1, 8), 0.1)
    probs[0, :2] = 0.2  # ids 0, 1 first; then ties 2..7 ranked by id
    assert score_probs(probs, np.array([4]))["top_5_accuracy"] == 1.0  # rank 4: 0, 1, 2, 3 first
    assert score_probs(probs, np.array([5]))["top_5_accuracy"] == 0.0  # rank 5
    tie = np.array([[0.5, 0.5]])
    assert score_probs(tie, np.array([0]))["accuracy"] == 1.0
    assert score_probs(tie, np.array([1]))["accuracy"] == 0.0  # argmax takes the lower id


def test_majority_by_hand():
    scores = majority_metrics(np.array([0, 1, 1, 2]), np.array([1, 2, 1]), vocab_size=3)
    assert scores["token_id"] == 1
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["top_5_accuracy"] == 1.0  # only 3 tokens
    assert scores["loss"] is None and scores["perplexity"] is None and scores["tokens"] == 3


def test_unigram_expected_scores_by_hand():
    train, test = np.array([0, 1, 1, 2]), np.array([1, 2])
    np.testing.assert_allclose(unigram_probs(train, 3, alpha=1.0), [2 / 7, 3 / 7, 2 / 7])
    scores = unigram_metrics(train, test, 3, alpha=1.0)
    loss = -(math.log(3 / 7) + math.log(2 / 7)) / 2
    assert scores["loss"] == pytest.approx(loss)
    assert scores["accuracy"] == pytest.approx((3 / 7 + 2 / 7) / 2)  # chance a sample hits
    assert scores["perplexity"] == pytest.approx(math.exp(loss))


def test_bigram_interpolation_by_hand():
    # Pairs from the sequence 0 1 0 1 2: (0->1) (1->0) (0->1) (1->2).
    contexts = np.array([[0], [1], [0], [1]])
    targets = np.array([1, 0, 1, 2])
    model = NGram(vocab_size=3, order=2, alpha=1.0).fit(contexts, targets)
    # P1(y) = (c(y) + 1/3) / (4 + 1) = [4, 7, 4] / 15; P2(y|0) = ([0, 2, 0] + P1) / (2 + 1).
    p = model.probs(np.array([[0], [2]]))
    np.testing.assert_allclose(p[0], [4 / 45, 37 / 45, 4 / 45])
    np.testing.assert_allclose(p[1], [4 / 15, 7 / 15, 4 / 15])  # unseen context: backs off
    scores = model.score(np.array([[0], [1]]), np.array([1, 2]))
    # P2(.|1) = ([1, 0, 1] + P1) / 3 = [19, 7, 19] / 45
    loss = -(math.log(37 / 45) + math.log(19 / 45)) / 2
    assert scores["loss"] == pytest.approx(loss)
    assert scores["accuracy"] == 0.5  # 0 -> 1 right; after 1, ids 0 and 2 tie and 0 wins
    assert scores["tokens"] == 2


def test_unigram_order_equals_smoothed_unigram():
    targets = np.array([0, 1, 1, 2, 2, 2])
    model = NGram(3, order=1, alpha=1.0).fit(np.zeros((6, 0), np.int64), targets)
    p = model.probs(np.zeros((1, 0), np.int64))[0]
    np.testing.assert_allclose(p, (np.array([1, 2, 3]) + 1 / 3) / 7)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_ngram_distributions_are_normalised(order):
    rng = np.random.default_rng(order)
    ctx, y = rng.integers(0, 7, (300, 5)), rng.integers(0, 7, 300)
    model = NGram(7, order=order, alpha=0.5).fit(ctx, y)
    p = model.probs(rng.integers(0, 7, (50, 5)))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p > 0).all()


def test_baselines_on_windows_rank_as_expected():
    # A deterministic cycle: a trigram model predicts it perfectly, the unigram cannot.
    seq = np.tile(np.arange(5, dtype=np.int32), 40)
    windows = Windows.from_seqs([seq], seq_len=6)
    train, test = windows.subset(np.arange(0, 150)), windows.subset(np.arange(150, len(windows)))
    scores = baseline_metrics(train, test, vocab_size=5)
    assert scores["ngram"]["accuracy"] == 1.0 and scores["ngram"]["order"] == 3
    assert scores["ngram"]["loss"] < scores["unigram"]["loss"]
    assert scores["unigram"]["accuracy"] == pytest.approx(0.2, abs=0.01)
    assert {k: v["tokens"] for k, v in scores.items()} == {k: len(test) for k in scores}


def test_errors_are_clear():
    with pytest.raises(ValueError, match="order"):
        NGram(5, order=0)
    with pytest.raises(ValueError, match="fit"):
        NGram(5).probs(np.zeros((1, 2), np.int64))
    with pytest.raises(ValueError, match="zero tokens"):
        score_probs(np.zeros((0, 3)), np.array([], dtype=np.int64))
