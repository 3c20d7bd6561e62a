"""Pitch spelling and pitch-class sets, in music21's conventions, without music21.

The one place pitch names live: every vocabulary spells its notes with :func:`pitch_name`,
the piano roll labels its axis with it, and chord tokens are :func:`normal_order` sets.

- :func:`pitch_name` is music21's ``Pitch(midi).nameWithOctave`` (``60 -> "C4"``, sharps
  as ``#``, flats as ``-``: ``E-4``); :func:`parse_pitch_name` inverts it.
- :func:`normal_order` reimplements music21's ``Chord.normalOrder`` (Forte's packing); it is
  tested against music21 on all 4095 pitch-class sets.
- :func:`chord_voicing` turns a pitch-class set back into MIDI pitches for listening.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = [
    "CHORD_OCTAVE",
    "PITCH_NAMES",
    "chord_voicing",
    "normal_order",
    "parse_pitch_name",
    "pitch_name",
]

PITCH_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")
CHORD_OCTAVE = 3  # the octave the first pitch class of a voiced chord sits in

_NAME_TO_PC = {name: pc for pc, name in enumerate(PITCH_NAMES)}
_PITCH_RE = re.compile(r"^([A-G](?:#|-)?)([0-9]?)$")


def pitch_name(midi: int) -> str:
    """music21's ``Pitch(midi).nameWithOctave``: ``60 -> "C4"``, ``63 -> "E-4"``.

    MIDI 0-11 (octave -1, below the piano) have no octave digit, as in music21
    (``4 -> "E"``), which keeps every name unambiguous (``"E-1"`` is E-flat 1, MIDI 27).
    """
    midi = int(midi)
    if not 0 <= midi <= 127:
        raise ValueError(f"MIDI pitch must be in 0..127, got {midi}")
    octave = midi // 12 - 1
    return PITCH_NAMES[midi % 12] + ("" if octave < 0 else str(octave))


def parse_pitch_name(name: str) -> int:
    """The MIDI number of a :func:`pitch_name` (the inverse of it)."""
    match = _PITCH_RE.match(name)
    if match is None or match.group(1) not in _NAME_TO_PC:
        raise ValueError(
            f"{name!r} is not a pitch name; expected e.g. 'C4', 'F#5', 'B-3' "
            f"(names {', '.join(PITCH_NAMES)})"
        )
    octave = int(match.group(2)) if match.group(2) else -1
    midi = (octave + 1) * 12 + _NAME_TO_PC[match.group(1)]
    if not 0 <= midi <= 127:
        raise ValueError(f"pitch {name!r} is outside MIDI 0..127")
    return midi


@lru_cache(maxsize=4096)
def _normal_order_of_mask(mask: int) -> tuple[int, ...]:
    pcs = [pc for pc in range(12) if mask >> pc & 1]
    best_key: tuple[int, ...] | None = None
    best: list[int] = pcs
    # Rotations start from the lowest pitch class, so among equally packed rotations of a
    # transpositionally symmetric set the one starting lowest wins — as in music21.
    for i in range(len(pcs)):
        rotation = pcs[i:] + pcs[:i]
        intervals = [(pc - rotation[0]) % 12 for pc in rotation]
        key = (intervals[-1], *intervals[1:])  # smallest span, then packed to the left
        if best_key is None or key < best_key:
            best_key, best = key, rotation
    return tuple(best)


def normal_order(pitch_classes: Iterable[int]) -> tuple[int, ...]:
    """The normal order of a set of pitch classes, equal to music21's ``Chord.normalOrder``.

    The rotation of the sorted pitch classes with the smallest span, ties broken by packing
    towards the first element (Forte); MIDI pitches are reduced mod 12 and duplicates merged.
    ``normal_order([64, 67, 71]) == (4, 7, 11)``; ``normal_order([48, 60]) == (0,)``.
    """
    mask = 0
    for value in pitch_classes:
        mask |= 1 << (int(value) % 12)
    if mask == 0:
        raise ValueError("normal_order needs at least one pitch class")
    return _normal_order_of_mask(mask)


def chord_voicing(pitch_classes: Sequence[int]) -> list[int]:
    """MIDI pitches for a chord token's pitch classes (in the token's order).

    The first pitch class sits in octave :data:`CHORD_OCTAVE` (``48 + pc``); each following
    one is placed on the nearest pitch above the previous note, so a normal order (span <
    an octave) is voiced compactly within about an octave above the bass. A single pitch
    class (a chord of octaves such as C3 + C4, token ``"0"``) is doubled at the octave:
    ``[48, 60]``.
    """
    if not pitch_classes:
        raise ValueError("a chord needs at least one pitch class")
    base = (CHORD_OCTAVE + 1) * 12
    pitches = [base + pitch_classes[0] % 12]
    for pc in pitch_classes[1:]:
        step = (pc - pitches[-1]) % 12 or 12
        pitches.append(pitches[-1] + step)
    if len(pitches) == 1:
        pitches.append(pitches[0] + 12)
    return pitches
