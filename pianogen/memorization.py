"""Memorization audit: how much of a token sequence is copied from the training pieces.

For each piece: the longest span found verbatim in the training data, the longest found
after transposing the whole span by one interval (paper vocabulary: note names move with
their octave, chord pitch-class sets move mod 12 and are put back in normal order; timed
vocabulary: note pitches move), the share of its n-grams (n = 4, 8, 16) found in training,
and the nearest training excerpt (piece, offset, interval, both token spans). Training
pieces go into one suffix automaton (linear time and memory, ~0.2 s per 1e5 tokens), so
every query is linear in its length per transposition.

Used by :mod:`pianogen.evaluate` (which re-exports the public names); split from it to keep
modules small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pianogen.tokens import transpose_token  # re-exported: the audit's transpositions

__all__ = [
    "NGRAM_SIZES",
    "ORIGINALITY_MEASURES",
    "TRANSPOSITIONS",
    "TrainingIndex",
    "human_band",
    "memorization",
    "originality",
    "transpose_token",
]

NGRAM_SIZES = (4, 8, 16)
TRANSPOSITIONS = tuple(range(-11, 12))  # paper notes keep their octave: +7 and -5 differ


class _SuffixAutomaton:
    """The suffix automaton of an int sequence: every substring, O(n) states and time.

    ``first_end[v]`` is where the first occurrence of the strings of state ``v`` ends, so a
    match found by :meth:`matching` can be located in the text.
    """

    def __init__(self, text: Sequence[int]) -> None:
        nxt: list[dict[int, int]] = [{}]
        link, length, first_end = [-1], [0], [-1]
        last = 0
        for pos, c in enumerate(text):
            cur = len(length)
            nxt.append({})
            length.append(length[last] + 1)
            link.append(0)
            first_end.append(pos)
            p = last
            while p != -1 and c not in nxt[p]:
                nxt[p][c] = cur
                p = link[p]
            if p != -1:
                q = nxt[p][c]
                if length[p] + 1 == length[q]:
                    link[cur] = q
                else:
                    clone = len(length)
                    nxt.append(dict(nxt[q]))
                    length.append(length[p] + 1)
                    link.append(link[q])
                    first_end.append(first_end[q])
                    while p != -1 and nxt[p].get(c) == q:
                        nxt[p][c] = clone
                        p = link[p]
                    link[q] = clone
                    link[cur] = clone
            last = cur
        self.next, self.link, self.length, self.first_end = nxt, link, length, first_end

    def matching(self, query: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """For each position i: the longest suffix of ``query[:i+1]`` found in the text
        (its length) and where one occurrence of it ends in the text (-1 if none)."""
        nxt, link, length, first_end = self.next, self.link, self.length, self.first_end
        lengths = np.zeros(len(query), dtype=np.int64)
        ends = np.full(len(query), -1, dtype=np.int64)
        v, n = 0, 0
        for i, c in enumerate(query):
            while v and c not in nxt[v]:
                v = link[v]
                n = length[v]
            if c in nxt[v]:
                v = nxt[v][c]
                n += 1
            else:
                v, n = 0, 0
            lengths[i] = n
            ends[i] = first_end[v] if n else -1
        return lengths, ends


class TrainingIndex:
    """Every span of the training pieces, for exact and transposed copy detection.

    The pieces are concatenated with a unique separator between them (no match crosses a
    piece boundary) into a suffix automaton (~1 s for 1e5 tokens in pure Python).
    """

    def __init__(
        self,
        pieces: Sequence[Sequence[str]],
        names: Sequence[str] | None = None,
        vocabulary: str = "paper",
    ) -> None:
        self.vocabulary = vocabulary
        self.pieces = [list(p) for p in pieces]
        if names is None:
            names = [f"piece {i}" for i in range(len(self.pieces))]
        self.names = [str(n) for n in names]
        if len(self.names) != len(self.pieces):
            raise ValueError("names must match pieces one to one")
        self.symbols: dict[str, int] = {}
        text: list[int] = []
        self.starts: list[int] = []
        for i, piece in enumerate(self.pieces):
            self.starts.append(len(text))
            text.extend(self.symbols.setdefault(t, len(self.symbols)) for t in piece)
            text.append(-1 - i)  # a separator no query contains
        self.tokens_total = sum(len(p) for p in self.pieces)
        self._automaton = _SuffixAutomaton(text)
        self._transposed: dict[tuple[str, int], str | None] = {}

    def _encode(self, tokens: Sequence[str], k: int) -> list[int]:
        out = []
        for t in tokens:
            key = (t, k)
            if key not in self._transposed:
                self._transposed[key] = transpose_token(t, k, self.vocabulary)
            moved = self._transposed[key]
            out.append(self.symbols.get(moved, -(10**12)) if moved is not None else -(10**12))
        return out

    def locate(self, end: int, length: int) -> tuple[int, int]:
        """(piece index, start offset in it) of the text span of ``length`` ending at ``end``."""
        piece = int(np.searchsorted(self.starts, end, side="right")) - 1
        return piece, end - length + 1 - self.starts[piece]

    def matches(self, tokens: Sequence[str], k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Matching statistics of ``tokens`` moved by ``k`` semitones (see
        :meth:`_SuffixAutomaton.matching`)."""
        return self._automaton.matching(self._encode(tokens, k))

    def audit(
        self, tokens: Sequence[str], ns: Sequence[int] = NGRAM_SIZES, transpose: bool = True
    ) -> dict[str, Any]:
        """Copying figures of one token sequence against the training pieces.

        ``longest_exact``: the longest span found verbatim; ``longest_transposed``: the
        longest found after moving the whole span by one k in -11..11 (>= the exact one);
        ``ngram_share[n]``: share of the sequence's n-grams that occur in training
        (``ngram_share_transposed``: under some transposition); ``nearest``: where the
        longest (transposed) match is — piece, offset, k, both token spans.
        """
        tokens = list(tokens)
        shifts = TRANSPOSITIONS if transpose else (0,)
        per_k = {k: self.matches(tokens, k) for k in shifts}
        exact = per_k[0][0]
        best_any = np.max(np.stack([per_k[k][0] for k in shifts]), axis=0)
        best_k, best_len, best_pos = 0, 0, -1
        for k in sorted(shifts, key=lambda s: (abs(s), s < 0)):  # prefer k = 0, then small |k|
            lengths = per_k[k][0]
            if len(lengths) and lengths.max() > best_len:
                best_k, best_len, best_pos = k, int(lengths.max()), int(lengths.argmax())
        result: dict[str, Any] = {
            "tokens": len(tokens),
            "longest_exact": int(exact.max()) if len(exact) else 0,
            "longest_transposed": best_len,
            "transposition": best_k if best_len else None,
            "ngram_share": {},
            "ngram_share_transposed": {},
            "nearest": None,
        }
        for n in ns:
            if len(tokens) < n:
                result["ngram_share"][str(n)] = result["ngram_share_transposed"][str(n)] = None
                continue
            result["ngram_share"][str(n)] = float(np.mean(exact[n - 1 :] >= n))
            result["ngram_share_transposed"][str(n)] = float(np.mean(best_any[n - 1 :] >= n))
        if best_len:
            end = int(per_k[best_k][1][best_pos])
            piece, start = self.locate(end, best_len)
            result["nearest"] = {
                "piece": self.names[piece],
                "piece_index": piece,
                "start": start,
                "length": best_len,
                "transposition": best_k,
                "query_start": best_pos - best_len + 1,
                "training_tokens": self.pieces[piece][start : start + best_len],
                "tokens": tokens[best_pos - best_len + 1 : best_pos + 1],
            }
        return result


def _summary(audits: Sequence[dict[str, Any]], prefix: str) -> dict[str, float | None]:
    def stat(values: list, fn: Any) -> float | None:
        values = [v for v in values if v is not None]
        return float(fn(values)) if values else None

    exact = [a["longest_exact"] for a in audits]
    moved = [a["longest_transposed"] for a in audits]
    share8 = [a["ngram_share"].get("8") for a in audits]
    share8t = [a["ngram_share_transposed"].get("8") for a in audits]
    return {
        f"{prefix}longest_copy_median": stat(exact, np.median),
        f"{prefix}longest_copy_max": stat(exact, np.max),
        f"{prefix}longest_copy_transposed_max": stat(moved, np.max),
        f"{prefix}ngram8_copied": stat(share8, np.mean),
        f"{prefix}ngram8_copied_transposed": stat(share8t, np.mean),
    }


def memorization(
    generated: Sequence[Sequence[str]],
    index: TrainingIndex,
    heldout: Sequence[Sequence[str]] = (),
    ns: Sequence[int] = NGRAM_SIZES,
) -> dict[str, Any]:
    """Audit generated token sequences (and held-out real ones, the baseline) against the
    training index: per-piece :meth:`TrainingIndex.audit` plus a flat ``summary`` of
    numbers (medians/maxima of the longest copies, mean share of copied 8-grams; keys for
    the baseline start with ``heldout_``)."""
    gen = [index.audit(t, ns) for t in generated]
    held = [index.audit(t, ns) for t in heldout]
    summary = _summary(gen, "")
    if held:
        summary.update(_summary(held, "heldout_"))
    return {"generated": gen, "heldout": held, "summary": summary}


# ------------------------------------------------------------------ the human interval
# Copy measures of the originality check (after Yin et al. 2022's originality report): the
# longest span found verbatim in training, and the share of 4-grams found there.
ORIGINALITY_MEASURES = {
    "longest_copy": "longest verbatim copy (tokens)",
    "ngram4_copied": "4-grams found in training (share)",
}


def _measure(audit: dict[str, Any], measure: str) -> float | None:
    if measure == "longest_copy":
        return float(audit["longest_exact"])
    if measure == "ngram4_copied":
        value = audit["ngram_share"].get("4")
        return None if value is None else float(value)
    raise ValueError(f"unknown measure {measure!r}; choose one of {sorted(ORIGINALITY_MEASURES)}")


def human_band(
    heldout: Sequence[dict[str, Any]], measure: str, quantiles: tuple[float, float] = (5, 95)
) -> tuple[float, float] | None:
    """The composer's own self-borrowing: the ``quantiles`` (percent, linear interpolation)
    of ``measure`` over audits of the artist's held-out excerpts against its training
    pieces. ``None`` without held-out audits."""
    values = [v for a in heldout if (v := _measure(a, measure)) is not None]
    if not values:
        return None
    low, high = np.percentile(values, quantiles)
    return float(low), float(high)


def originality(audit: dict[str, Any], quantiles: tuple[float, float] = (5, 95)) -> dict[str, Any]:
    """Each generated sample against the human band of each :data:`ORIGINALITY_MEASURES`
    (``audit``: a :func:`memorization` result with held-out audits).

    A sample is ``"above"`` the band when it copies more than the composer's own held-out
    music does against the same training pieces (towards plagiarism), ``"below"`` when it
    copies less (too random to share the composer's idioms), else ``"within"``. Returns per
    measure the band, the held-out values, every sample's value and flag, and the counts.
    """
    out: dict[str, Any] = {"quantiles": list(quantiles), "measures": {}}
    for measure in ORIGINALITY_MEASURES:
        band = human_band(audit.get("heldout", []), measure, quantiles)
        values = [_measure(a, measure) for a in audit.get("generated", [])]
        flags = [
            None
            if band is None or v is None
            else ("above" if v > band[1] else "below" if v < band[0] else "within")
            for v in values
        ]
        out["measures"][measure] = {
            "band": None if band is None else list(band),
            "heldout": [_measure(a, measure) for a in audit.get("heldout", [])],
            "samples": values,
            "flags": flags,
            "counts": {k: sum(1 for f in flags if f == k) for k in ("below", "within", "above")},
        }
    return out
