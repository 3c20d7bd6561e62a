"""Token counts, frequency thresholds and the token <-> index map.

The paper keeps only tokens seen at least ``min_count`` times ("drops the tokens below the
threshold"). Here a token is kept when ``count >= min_count`` — the same ``>=`` in
:func:`vocab_at_thresholds` and :func:`build_vocab`, so the exploration's table predicts the
trained vocabulary exactly. Filtering builds a new list instead of deleting from the list
being iterated (the widespread notebook bug that skips the element after each deletion and
so leaves rare tokens in).

A :class:`Vocab` is saved as JSON beside every artifact that holds token ids::

    {"tokens": [...], "counts": {token: count}, "vocabulary": "paper", "min_count": 10}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from pianogen.io import atomic_write_json
from pianogen.tokens import get_vocabulary, vocabulary_names

__all__ = ["Vocab", "build_vocab", "count_tokens", "infer_vocabulary", "vocab_at_thresholds"]


def count_tokens(seqs: Iterable[Iterable[str]]) -> Counter:
    """How often each token occurs over all sequences."""
    counts: Counter = Counter()
    for seq in seqs:
        counts.update(seq)
    return counts


def vocab_at_thresholds(counts: Mapping[str, int], thresholds: Iterable[int]) -> dict[int, int]:
    """For each threshold ``t``: how many tokens occur at least ``t`` times (``count >= t``)."""
    values = np.sort(np.fromiter(counts.values(), dtype=np.int64, count=len(counts)))
    out = {}
    for t in thresholds:
        t = int(t)
        out[t] = int(len(values) - np.searchsorted(values, t, side="left"))
    return out


def infer_vocabulary(tokens: Iterable[str]) -> str:
    """The first registered vocabulary (``"paper"``, ``"timed"``, ...) that accepts every
    token; ``"paper"`` when none does or there are no tokens."""
    tokens = list(tokens)
    if tokens:
        for name in vocabulary_names():
            vocabulary = get_vocabulary(name)
            if all(vocabulary.accepts(t) for t in tokens):
                return name
    return "paper"


def _sort_key(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


class Vocab:
    """An ordered token list: index ``i`` is token ``tokens[i]``.

    ``counts`` maps each token to its count in the data the vocabulary was built from;
    ``vocabulary`` ("paper" or "timed") is inferred from the tokens when not given.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        counts: Mapping[str, int],
        *,
        vocabulary: str | None = None,
        min_count: int = 1,
    ) -> None:
        tokens = [str(t) for t in tokens]
        if not tokens:
            raise ValueError("a vocabulary needs at least one token")
        if len(set(tokens)) != len(tokens):
            dupes = sorted({t for t in tokens if tokens.count(t) > 1})[:5]
            raise ValueError(f"vocabulary tokens must be unique; repeated: {dupes}")
        missing = [t for t in tokens if t not in counts]
        if missing:
            raise ValueError(f"counts missing for token(s) {missing[:5]}")
        if vocabulary is None:
            vocabulary = infer_vocabulary(tokens)
        get_vocabulary(vocabulary)  # ValueError naming the registered ones
        self._tokens = tokens
        self._index = {t: i for i, t in enumerate(tokens)}
        self._counts = {t: int(counts[t]) for t in tokens}
        self.vocabulary = vocabulary
        self.min_count = int(min_count)

    # ------------------------------------------------------------------ lookups
    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return (
            self._tokens == other._tokens
            and self._counts == other._counts
            and self.vocabulary == other.vocabulary
            and self.min_count == other.min_count
        )

    def __repr__(self) -> str:
        return (
            f"Vocab({len(self)} tokens, vocabulary={self.vocabulary!r}, min_count={self.min_count})"
        )

    def index(self, token: str) -> int:
        """The id of ``token``; ``KeyError`` if it is not in the vocabulary."""
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the vocabulary") from None

    def token(self, i: int) -> str:
        """The token with id ``i``."""
        i = int(i)
        if not 0 <= i < len(self._tokens):
            raise IndexError(f"token id {i} is outside 0..{len(self._tokens) - 1}")
        return self._tokens[i]

    def encode(self, seq: Iterable[str]) -> np.ndarray:
        """Token ids (int32) of ``seq``; tokens not in the vocabulary are dropped (paper)."""
        index = self._index
        return np.fromiter((index[t] for t in seq if t in index), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids; ``ValueError`` on an id outside the vocabulary."""
        out = []
        n = len(self._tokens)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is outside the vocabulary (0..{n - 1})")
            out.append(self._tokens[i])
        return out

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict:
        return {
            "tokens": list(self._tokens),
            "counts": dict(self._counts),
            "vocabulary": self.vocabulary,
            "min_count": self.min_count,
        }

    def save(self, path: Path | str) -> Path:
        """Write the vocabulary as JSON (atomically); returns the path."""
        return atomic_write_json(Path(path), self.to_json())

    @classmethod
    def from_json(cls, data: object, source: str = "vocabulary data") -> Vocab:
        def bad(why: str) -> ValueError:
            return ValueError(
                f"{source} is not a pianogen vocabulary ({why}); expected JSON "
                '{"tokens": [...], "counts": {...}, "vocabulary": "paper"|"timed", '
                '"min_count": n} as written by Vocab.save'
            )

        if not isinstance(data, dict):
            raise bad("not a JSON object")
        tokens, counts = data.get("tokens"), data.get("counts")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise bad("'tokens' must be a list of strings")
        if not isinstance(counts, dict) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in counts.values()
        ):
            raise bad("'counts' must map tokens to integers")
        min_count = data.get("min_count", 1)
        if not isinstance(min_count, int) or isinstance(min_count, bool):
            raise bad("'min_count' must be an integer")
        try:
            return cls(
                tokens,
                counts,
                vocabulary=data.get("vocabulary"),
                min_count=min_count,
            )
        except ValueError as error:
            raise bad(str(error)) from None

    @classmethod
    def load(cls, path: Path | str) -> Vocab:
        """Read a file written by :meth:`save`; ``ValueError`` saying what is wrong otherwise."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no vocabulary file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON ({error}); is it a vocab.json?") from None
        return cls.from_json(data, source=str(path))


def build_vocab(
    train_seqs: Iterable[Iterable[str]],
    min_count: int,
    *,
    vocabulary: str | None = None,
) -> Vocab:
    """The vocabulary of tokens seen at least ``min_count`` times in ``train_seqs``.

    Tokens are ordered by count (most frequent first), ties by token, so the same data gives
    the same ids. Raises ``ValueError`` when no token reaches the threshold. ``vocabulary``
    is recorded in the saved file; it is inferred from the tokens when not given.
    """
    min_count = int(min_count)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = count_tokens(train_seqs)
    kept = sorted(((t, c) for t, c in counts.items() if c >= min_count), key=_sort_key)
    if not kept:
        most = max(counts.values(), default=0)
        raise ValueError(
            f"the threshold min_count={min_count} leaves no token; lower it "
            f"(the most frequent of {len(counts)} distinct tokens occurs {most} times)"
        )
    return Vocab(
        [t for t, _ in kept],
        dict(kept),
        vocabulary=vocabulary,
        min_count=min_count,
    )
