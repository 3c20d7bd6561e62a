"""Features of a token excerpt that the composer classifier (:mod:`pianogen.style`) reads.

45 shares and means a reader can check by hand, computed from any registered vocabulary's
tokens (through their pitches and decoded notes), so real and generated excerpts are
measured alike: pitch classes relative to the excerpt's commonest one (key-free, so the
networks' 12-key augmentation cannot decide it), chord sizes, the motion between successive
lowest pitch classes, melodic steps of single notes, register, inter-onset intervals, notes
per onset, token variety and repetition.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from pianogen.notes import TICKS_PER_QUARTER

__all__ = ["FEATURE_NAMES", "cut_excerpts", "excerpt_features", "ngram_repetition"]

_PCS = [f"pc+{k}" for k in range(12)]
_SIZES = ["chord 1", "chord 2", "chord 3", "chord 4+"]
_MOTION = [f"bass motion +{k}" for k in range(12)]
_LEAPS = (0, 2, 4, 7, 12)  # |interval| bins: 0, 1-2, 3-4, 5-7, 8-12, 13+
_MELODY = ["step 0", "step 1-2", "step 3-4", "step 5-7", "step 8-12", "step 13+"]
_IOI_EDGES = (0.25, 0.5, 1.0, 2.0)  # quarters: <=1/4, <=1/2, <=1, <=2, longer
_IOI = ["ioi <=1/4", "ioi <=1/2", "ioi <=1", "ioi <=2", "ioi >2"]
FEATURE_NAMES: tuple[str, ...] = (
    *_PCS,
    *_SIZES,
    "silent share",
    *_MOTION,
    *_MELODY,
    "register mean",
    "register spread",
    *_IOI,
    "notes per onset",
    "distinct tokens",
    "repeated 4-grams",
)


def ngram_repetition(tokens: Sequence[object], n: int = 4) -> float | None:
    """``1 - distinct n-grams / n-grams``: 0 when no n-gram repeats, near 1 for a loop.

    ``None`` when the sequence has fewer than ``n`` tokens.
    """
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return None
    return 1.0 - len(set(grams)) / len(grams)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def excerpt_features(tokens: Sequence[str], vocabulary: str = "paper") -> np.ndarray:
    """The :data:`FEATURE_NAMES` of one token excerpt (shares, so excerpt length cancels).

    Pitch classes are counted over every sounding token's pitch classes and rotated so the
    commonest is ``pc+0``; chord sizes count distinct pitch classes per sounding token;
    bass motion is the interval mod 12 between successive sounding tokens' lowest pitches;
    melodic steps are between successive single-note tokens; register is the single notes'
    mean and spread in octaves; inter-onset intervals and notes per onset come from the
    decoded notes (for fixed-step vocabularies they only see the step and the rests).
    """
    from pianogen import tokens as tok

    tokens = list(tokens)
    pitches = [tok.token_pitches(t, vocabulary) for t in tokens]
    sounding = [sorted(p) for p in pitches if p]
    pcs = np.bincount([q % 12 for p in sounding for q in p], minlength=12).astype(float)
    rotated = np.roll(pcs, -int(np.argmax(pcs))) if pcs.sum() else pcs
    sizes = np.zeros(4)
    for p in sounding:
        sizes[min(len({q % 12 for q in p}), 4) - 1] += 1
    silent = 1.0 - len(sounding) / len(tokens) if tokens else 0.0
    motion = np.bincount(
        [(b[0] - a[0]) % 12 for a, b in itertools.pairwise(sounding)],
        minlength=12,
    ).astype(float)
    singles = [p[0] for p in sounding if len(p) == 1]
    steps = np.abs(np.diff(singles)) if len(singles) > 1 else np.array([], dtype=int)
    melody = np.bincount(np.searchsorted(_LEAPS, steps, side="left"), minlength=6)[:6]
    register = (
        (float(np.mean(singles)) / 12.0, float(np.std(singles)) / 12.0) if singles else (5.0, 0.0)
    )
    notes = tok.decode(tokens, vocabulary) if sounding else []
    onsets = np.unique([n.onset for n in notes])
    iois = np.diff(onsets) / TICKS_PER_QUARTER
    ioi = np.bincount(np.searchsorted(_IOI_EDGES, iois, side="left"), minlength=5)[:5]
    per_onset = len(notes) / len(onsets) if len(onsets) else 0.0
    distinct = len(set(tokens)) / len(tokens) if tokens else 0.0
    repeated = ngram_repetition(tokens, 4) or 0.0
    return np.concatenate(
        [
            _shares(rotated),
            _shares(sizes),
            [silent],
            _shares(motion),
            _shares(melody.astype(float)),
            register,
            _shares(ioi.astype(float)),
            [per_onset, distinct, repeated],
        ]
    )


def cut_excerpts(
    tokens: Sequence[str], length: int, hop: int, shortest: int | None = None
) -> list[tuple[int, list[str]]]:
    """``(start, tokens)`` of every full ``length``-token excerpt starting every ``hop``
    tokens. A piece shorter than ``length`` gives none, or itself whole when it has at
    least ``shortest`` tokens."""
    tokens = list(tokens)
    if len(tokens) < length:
        return [(0, tokens)] if shortest is not None and len(tokens) >= shortest else []
    return [(s, tokens[s : s + length]) for s in range(0, len(tokens) - length + 1, hop)]
