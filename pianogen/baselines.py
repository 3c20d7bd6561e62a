"""Baselines a next-token model has to beat, fitted on training windows, scored on test windows.

- **majority**: always the most frequent training target. A point prediction has no finite
  cross-entropy, so its ``loss``/``perplexity`` are ``None``; its top-5 are the five most
  frequent training targets.
- **unigram**: sampling from the training target frequencies (add-``alpha`` smoothed). Its
  figures are *expected* values, computed exactly: loss is the cross-entropy of the unigram
  probabilities, accuracy the mean probability of the true token (the chance a sample hits
  it); top-5 is the five most probable tokens.
- **n-gram**: an order-``N`` Markov model with interpolated backoff (a hierarchical Dirichlet
  / "interpolated add-alpha" estimate)::

      P_0(y)          = 1 / V
      P_m(y | h_m)    = (c(h_m, y) + alpha * P_{m-1}(y | h_{m-1})) / (c(h_m) + alpha)

  where ``h_m`` is the last ``m`` tokens of the window and counts come from the training
  (context, target) pairs. It is always normalised and never zero; its accuracy is argmax
  accuracy, like the network's.

Every score is a dict with ``loss`` (mean natural-log cross-entropy), ``accuracy``,
``top_5_accuracy``, ``perplexity`` and ``tokens`` (number of predicted tokens). Ties in
ranking are broken towards the lower token id (argmax convention).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pianogen.windows import Windows

__all__ = [
    "NGram",
    "baseline_metrics",
    "majority_metrics",
    "score_probs",
    "unigram_metrics",
    "unigram_probs",
]

_CHUNK = 4096


def score_probs(probs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Loss, argmax accuracy, top-5 accuracy, perplexity and count for ``probs (n, V)``."""
    targets = np.asarray(targets, dtype=np.int64)
    n = len(targets)
    if n == 0:
        raise ValueError("cannot score zero tokens")
    p_true = probs[np.arange(n), targets]
    loss = float(-np.mean(np.log(np.maximum(p_true, 1e-300))))
    # Rank of the true token: tokens strictly more probable, plus equal ones with lower ids.
    higher = (probs > p_true[:, None]).sum(axis=1)
    ids = np.arange(probs.shape[1])[None, :]
    tied_before = ((probs == p_true[:, None]) & (ids < targets[:, None])).sum(axis=1)
    rank = higher + tied_before
    return {
        "loss": loss,
        "accuracy": float(np.mean(rank == 0)),
        "top_5_accuracy": float(np.mean(rank < 5)),
        "perplexity": float(math.exp(loss)),
        "tokens": int(n),
    }


def unigram_probs(train_targets: np.ndarray, vocab_size: int, alpha: float = 1.0) -> np.ndarray:
    """Add-``alpha`` smoothed frequencies of the training targets, shape ``(V,)``."""
    counts = np.bincount(np.asarray(train_targets, np.int64), minlength=vocab_size)[:vocab_size]
    smoothed = counts.astype(np.float64) + alpha
    return smoothed / smoothed.sum()


def majority_metrics(train_targets: np.ndarray, test_targets: np.ndarray, vocab_size: int) -> dict:
    """Always predict the most frequent training target (lowest id among ties)."""
    counts = np.bincount(np.asarray(train_targets, np.int64), minlength=vocab_size)[:vocab_size]
    order = np.argsort(-counts, kind="stable")
    test_targets = np.asarray(test_targets, np.int64)
    if len(test_targets) == 0:
        raise ValueError("cannot score zero tokens")
    return {
        "loss": None,
        "accuracy": float(np.mean(test_targets == order[0])),
        "top_5_accuracy": float(np.mean(np.isin(test_targets, order[:5]))),
        "perplexity": None,
        "tokens": len(test_targets),
        "token_id": int(order[0]),
    }


def unigram_metrics(
    train_targets: np.ndarray, test_targets: np.ndarray, vocab_size: int, alpha: float = 1.0
) -> dict:
    """Expected scores of sampling from the (smoothed) training frequencies."""
    probs = unigram_probs(train_targets, vocab_size, alpha)
    test_targets = np.asarray(test_targets, np.int64)
    if len(test_targets) == 0:
        raise ValueError("cannot score zero tokens")
    order = np.argsort(-probs, kind="stable")
    loss = float(-np.mean(np.log(probs[test_targets])))
    return {
        "loss": loss,
        "accuracy": float(np.mean(probs[test_targets])),
        "top_5_accuracy": float(np.mean(np.isin(test_targets, order[:5]))),
        "perplexity": float(math.exp(loss)),
        "tokens": len(test_targets),
    }


class NGram:
    """An order-``order`` token model with interpolated backoff (see the module docstring).

    ``fit(contexts, targets)`` takes training contexts ``(n, order - 1)`` (the last tokens
    before each target, oldest first) and targets ``(n,)``; ``probs(contexts)`` returns the
    full next-token distributions ``(n, V)``.
    """

    def __init__(self, vocab_size: int, order: int = 3, alpha: float = 1.0) -> None:
        if order < 1:
            raise ValueError(f"n-gram order must be >= 1, got {order}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if vocab_size ** max(order - 1, 1) * vocab_size >= 2**62:
            raise ValueError(f"order {order} at vocabulary {vocab_size} overflows the count keys")
        self.vocab_size = int(vocab_size)
        self.order = int(order)
        self.alpha = float(alpha)
        # For each context length m = 0..order-1: sorted joint keys (h * V + y) and their
        # counts, and sorted context keys and their counts.
        self._joint: list[tuple[np.ndarray, np.ndarray]] = []
        self._ctx: list[tuple[np.ndarray, np.ndarray]] = []

    def _keys(self, contexts: np.ndarray, m: int) -> np.ndarray:
        """Integer key of the last ``m`` context tokens (0 for m = 0)."""
        keys = np.zeros(len(contexts), dtype=np.int64)
        for j in range(contexts.shape[1] - m, contexts.shape[1]):
            keys = keys * self.vocab_size + contexts[:, j]
        return keys

    def _check(self, contexts: np.ndarray) -> np.ndarray:
        contexts = np.asarray(contexts, dtype=np.int64)
        if contexts.ndim != 2 or contexts.shape[1] < self.order - 1:
            raise ValueError(
                f"contexts must have shape (n, >= {self.order - 1}), got {contexts.shape}"
            )
        return contexts[:, contexts.shape[1] - (self.order - 1) :]

    def fit(self, contexts: np.ndarray, targets: np.ndarray) -> NGram:
        contexts = self._check(contexts)
        targets = np.asarray(targets, dtype=np.int64)
        if len(targets) != len(contexts):
            raise ValueError("contexts and targets must have the same length")
        self._joint, self._ctx = [], []
        for m in range(self.order):
            h = self._keys(contexts, m)
            self._joint.append(np.unique(h * self.vocab_size + targets, return_counts=True))
            self._ctx.append(np.unique(h, return_counts=True))
        return self

    def probs(self, contexts: np.ndarray) -> np.ndarray:
        if not self._joint:
            raise ValueError("fit the n-gram model before asking for probabilities")
        contexts = self._check(contexts)
        n, vsize = len(contexts), self.vocab_size
        p = np.full((n, vsize), 1.0 / vsize)
        for m in range(self.order):
            h = self._keys(contexts, m)
            ctx_keys, ctx_counts = self._ctx[m]
            pos = np.searchsorted(ctx_keys, h)
            found = (pos < len(ctx_keys)) & (ctx_keys[np.minimum(pos, len(ctx_keys) - 1)] == h)
            c_h = np.where(found, ctx_counts[np.minimum(pos, len(ctx_keys) - 1)], 0)
            counts = np.zeros((n, vsize))
            joint_keys, joint_counts = self._joint[m]
            lo = np.searchsorted(joint_keys, h * vsize)
            hi = np.searchsorted(joint_keys, h * vsize + vsize)
            lengths = hi - lo
            if lengths.sum():
                rows = np.repeat(np.arange(n), lengths)
                entry = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
                entry += np.repeat(lo, lengths)
                counts[rows, joint_keys[entry] % vsize] = joint_counts[entry]
            p = (counts + self.alpha * p) / (c_h[:, None] + self.alpha)
        return p

    def score(self, contexts: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """:func:`score_probs` over ``contexts`` in chunks (bounded memory)."""
        targets = np.asarray(targets, dtype=np.int64)
        parts = []
        for i in range(0, len(targets), _CHUNK):
            scored = score_probs(self.probs(contexts[i : i + _CHUNK]), targets[i : i + _CHUNK])
            parts.append(scored)
        return _merge(parts)


def _merge(parts: list[dict[str, float]]) -> dict[str, float]:
    """Token-weighted mean of chunk scores."""
    total = sum(p["tokens"] for p in parts)
    if total == 0:
        raise ValueError("cannot score zero tokens")
    out = {
        k: sum(p[k] * p["tokens"] for p in parts) / total
        for k in ("loss", "accuracy", "top_5_accuracy")
    }
    out["perplexity"] = math.exp(out["loss"])
    out["tokens"] = total
    return out


def baseline_metrics(
    train: Windows, test: Windows, vocab_size: int, *, order: int = 3, alpha: float = 1.0
) -> dict[str, Any]:
    """All three baselines fitted on ``train`` windows and scored on ``test`` windows."""
    train_y, test_y = train.targets(), test.targets()
    ngram = NGram(vocab_size, order=order, alpha=alpha)
    ngram.fit(train.contexts(order - 1), train_y)
    scored = ngram.score(test.contexts(order - 1), test_y)
    scored.update(order=order, alpha=alpha)
    return {
        "majority": majority_metrics(train_y, test_y, vocab_size),
        "unigram": unigram_metrics(train_y, test_y, vocab_size, alpha),
        "ngram": scored,
    }
