"""Notes <-> tokens: the paper's vocabulary and a timed one, plus MIDI writing.

Two vocabularies turn a piece's :class:`~pianogen.notes.Note` list into a token sequence and
back. Both treat a piece as *events at onsets*: every note that starts at the same tick
belongs to the same event, whatever hand or track it came from — a chord is what sounds
together.

``"paper"`` — the paper's music21 tokens
    One pitch sounding alone is its name with octave in music21 spelling (``C4``, ``F#5``,
    ``B-3``). Several pitches are the music21 *normal order* of their pitch classes,
    dot-joined (``4.7.11``); octaves and durations are dropped. Pitches that all share one
    pitch class (C3 + C4) still form a chord, as in music21: ``Chord([48, 60]).normalOrder``
    is ``[0]``, so the token is ``"0"`` (never ``"C4"``). A token ``R`` marks a silence:
    it is emitted before an onset when every note sounding so far has ended before it (one
    ``R`` per silence, whatever its length; no ``R`` before the first note or after the
    last). Decoding follows the paper: every token advances a fixed step of half a quarter
    (:data:`PAPER_STEP` ticks) and its notes last that long; ``R`` advances one step and
    sounds nothing. Chord tokens are voiced by :func:`chord_voicing` (first pitch class of
    the normal order in octave 3, the others stacked above it) instead of the reference
    code's collapse of every chord into octave 4.

``"timed"`` — keeps what the paper throws away
    Two kinds of token. A *note* token is a pitch with octave and its duration in ticks
    (``C4:d6``: middle C for half a quarter); notes are listed in onset order, and notes
    starting together follow each other in ascending pitch, so a chord is a run of note
    tokens. A *shift* token ``a<ticks>`` advances the time to the next onset (``a3``: a
    sixteenth later); silences are simply longer shifts, so no rest token is needed. Shifts
    longer than :data:`MAX_ADVANCE` are split into several (``a48 a12``), as is the silence
    before the first note; durations longer than :data:`MAX_DURATION` are clipped to it (0.02%
    of the notes of piano-midi.de). Velocities are not kept: decoded notes get
    :data:`DEFAULT_VELOCITY`.

    Round trip: for any notes with durations <= ``MAX_DURATION``,
    ``decode(encode(notes, "timed"), "timed") == sorted(n with velocity DEFAULT_VELOCITY)``
    exactly (onsets, durations, pitches, repeated notes included).

    Why not one token per chord with its duration and advance (``C4.E4.G4:d6:a6``)? Measured
    on the 48 Chopin pieces of piano-midi.de that vocabulary has 9,172 distinct tokens and
    the tokens seen >= 10 times cover only 62% of the sequence, so dropping rare tokens (the
    paper's filter) would delete a third of the music and shift its timing. Note + shift
    tokens: 1,095 distinct, 462 seen >= 10 times covering 98.5%; and since time lives only in
    shift tokens, dropping a rare note never moves the notes after it. The price is
    sequence length: 1.47 tokens per note instead of 0.58.

Encoding is plain Python over sorted notes (no music21): :func:`normal_order` reimplements
music21's ``Chord.normalOrder`` (Forte's packing) and is tested against it on all 4095
pitch-class sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import groupby
from pathlib import Path

from pianogen.io import atomic_path
from pianogen.notes import TICKS_PER_QUARTER, Note

__all__ = [
    "DEFAULT_VELOCITY",
    "MAX_ADVANCE",
    "MAX_DURATION",
    "MIDI_TICKS_PER_QUARTER",
    "PAPER_STEP",
    "PITCH_NAMES",
    "REST",
    "VOCABULARIES",
    "augment_shifts",
    "chord_voicing",
    "decode",
    "encode",
    "normal_order",
    "parse_pitch_name",
    "pitch_name",
    "token_kind",
    "token_pitches",
    "transpose_token",
    "transpose_tokens",
    "write_midi",
]

VOCABULARIES = ("paper", "timed")
PITCH_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")
REST = "R"
DEFAULT_VELOCITY = 80
PAPER_STEP = TICKS_PER_QUARTER // 2  # the paper's fixed offset step: 0.5 quarter
PAPER_CHORD_OCTAVE = 3  # the octave the first pitch class of a decoded chord sits in
MAX_DURATION = 8 * TICKS_PER_QUARTER  # timed vocabulary: longer notes are clipped (2 bars)
MAX_ADVANCE = 4 * TICKS_PER_QUARTER  # timed vocabulary: the longest single time shift (a bar)
MIDI_TICKS_PER_QUARTER = 480

_NAME_TO_PC = {name: pc for pc, name in enumerate(PITCH_NAMES)}
_PITCH_RE = re.compile(r"^([A-G](?:#|-)?)([0-9]?)$")
_CHORD_RE = re.compile(r"^(?:1[01]|\d)(?:\.(?:1[01]|\d))*$")
_TIMED_NOTE_RE = re.compile(r"^([^:]+):d([1-9]\d*)$")
_TIMED_SHIFT_RE = re.compile(r"^a([1-9]\d*)$")


# --------------------------------------------------------------------------- pitches
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
    """MIDI pitches for a paper chord token's pitch classes (in the token's order).

    The first pitch class sits in octave 3 (``48 + pc``); each following one is placed on
    the nearest pitch above the previous note, so a normal order (span < an octave) is
    voiced compactly within about an octave above the bass. A single pitch class (a chord of
    octaves such as C3 + C4, token ``"0"``) is doubled at the octave: ``[48, 60]``.
    """
    if not pitch_classes:
        raise ValueError("a chord needs at least one pitch class")
    base = (PAPER_CHORD_OCTAVE + 1) * 12
    pitches = [base + pitch_classes[0] % 12]
    for pc in pitch_classes[1:]:
        step = (pc - pitches[-1]) % 12 or 12
        pitches.append(pitches[-1] + step)
    if len(pitches) == 1:
        pitches.append(pitches[0] + 12)
    return pitches


# --------------------------------------------------------------------------- checks
def _check_vocabulary(vocabulary: str) -> None:
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"vocabulary must be one of {list(VOCABULARIES)}, got {vocabulary!r}")


def _parse_chord(token: str) -> list[int]:
    pcs = [int(part) for part in token.split(".")]
    if any(pc > 11 for pc in pcs) or len(set(pcs)) != len(pcs):
        raise ValueError(
            f"chord token {token!r} must list distinct pitch classes 0..11, dot-joined"
        )
    return pcs


def _parse_timed(token: str) -> tuple[list[int], int, int]:
    """``([pitch], duration, 0)`` for a timed note token, ``([], 0, ticks)`` for a shift."""
    shift = _TIMED_SHIFT_RE.match(token)
    if shift is not None:
        return [], 0, int(shift.group(1))
    match = _TIMED_NOTE_RE.match(token)
    if match is None:
        raise ValueError(
            f"{token!r} is not a timed token; expected a note '<pitch>:d<ticks>' "
            "(e.g. 'C4:d6') or a time shift 'a<ticks>' (e.g. 'a3')"
        )
    return [parse_pitch_name(match.group(1))], int(match.group(2)), 0


def token_kind(token: str, vocabulary: str = "paper") -> str:
    """What a token is: ``"note"``, ``"chord"`` or ``"rest"`` (paper); ``"note"`` or
    ``"shift"`` (timed)."""
    _check_vocabulary(vocabulary)
    if vocabulary == "paper":
        if token == REST:
            return "rest"
        if _CHORD_RE.match(token):
            _parse_chord(token)
            return "chord"
        parse_pitch_name(token)
        return "note"
    return "note" if _parse_timed(token)[0] else "shift"


def token_pitches(token: str, vocabulary: str = "paper") -> list[int]:
    """The MIDI pitches a token sounds when decoded ([] for rests and time shifts).

    For paper chord tokens this is the :func:`chord_voicing` used by :func:`decode`.
    """
    _check_vocabulary(vocabulary)
    if vocabulary == "timed":
        return _parse_timed(token)[0]
    if token == REST:
        return []
    if _CHORD_RE.match(token):
        return chord_voicing(_parse_chord(token))
    try:
        return [parse_pitch_name(token)]
    except ValueError:
        raise ValueError(
            f"{token!r} is not a paper token; expected a pitch name ('C4'), "
            f"a normal-order chord ('4.7.11') or {REST!r}"
        ) from None


# --------------------------------------------------------------------------- transpose
def transpose_token(token: str, k: int, vocabulary: str = "paper") -> str | None:
    """``token`` moved by ``k`` semitones; ``None`` if a pitch leaves MIDI 0..127.

    Paper vocabulary: a note name moves with its octave (``B3`` +1 -> ``C4``); a chord's
    pitch classes move mod 12 and are put back in normal order (``0.4.7`` +2 -> ``2.6.9``);
    ``R`` stays. Timed vocabulary: a note token's pitch moves, its duration stays
    (``C4:d6`` +2 -> ``D4:d6``); time shifts (``a3``) stay.
    """
    _check_vocabulary(vocabulary)
    k = int(k)
    if k == 0:
        return token
    if vocabulary == "paper":
        if token == REST:
            return token
        if _CHORD_RE.match(token):
            pcs = [(pc + k) % 12 for pc in _parse_chord(token)]
            return ".".join(str(pc) for pc in normal_order(pcs))
        pitch = parse_pitch_name(token) + k
        return pitch_name(pitch) if 0 <= pitch <= 127 else None
    pitches, duration, _ = _parse_timed(token)
    if not pitches:
        return token
    moved = pitches[0] + k
    return f"{pitch_name(moved)}:d{duration}" if 0 <= moved <= 127 else None


def transpose_tokens(tokens: Sequence[str], k: int, vocabulary: str = "paper") -> list[str] | None:
    """A whole token sequence moved by ``k`` semitones; ``None`` when any pitch would leave
    MIDI 0..127 (a piece is transposed whole or not at all)."""
    cache: dict[str, str | None] = {}
    out: list[str] = []
    for token in tokens:
        if token not in cache:
            cache[token] = transpose_token(token, k, vocabulary)
        moved = cache[token]
        if moved is None:
            return None
        out.append(moved)
    return out


def augment_shifts(keys: int) -> tuple[int, ...]:
    """The semitone shifts of ``keys`` keys, nearest first: 1 -> (0,), 3 -> (0, 1, -1),
    12 -> (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6): every key once, the original first."""
    keys = int(keys)
    if not 1 <= keys <= 12:
        raise ValueError(f"keys must be in 1..12 (12 is every key), got {keys}")
    shifts = [0]
    step = 1
    while len(shifts) < keys:
        shifts.append(step)
        if len(shifts) < keys:
            shifts.append(-step)
        step += 1
    return tuple(shifts)


# --------------------------------------------------------------------------- encode
def _onset_groups(notes: Sequence[Note]) -> list[tuple[int, list[Note]]]:
    ordered = sorted(notes)
    return [(onset, list(group)) for onset, group in groupby(ordered, key=lambda n: n.onset)]


def _encode_paper(notes: Sequence[Note]) -> list[str]:
    out: list[str] = []
    sounding_until: int | None = None  # when the last note sounding so far ends
    for onset, group in _onset_groups(notes):
        if sounding_until is not None and onset > sounding_until:
            out.append(REST)
        pitches = sorted({n.pitch for n in group})
        if len(pitches) == 1:
            out.append(pitch_name(pitches[0]))
        else:
            out.append(".".join(str(pc) for pc in normal_order(pitches)))
        group_end = max(n.end for n in group)
        sounding_until = group_end if sounding_until is None else max(sounding_until, group_end)
    return out


def _shifts(ticks: int) -> list[str]:
    out = []
    while ticks > 0:
        step = min(ticks, MAX_ADVANCE)
        out.append(f"a{step}")
        ticks -= step
    return out


def _encode_timed(notes: Sequence[Note]) -> list[str]:
    out: list[str] = []
    now = 0
    for n in sorted(notes, key=lambda n: (n.onset, n.pitch, n.duration)):
        if n.onset > now:
            out.extend(_shifts(n.onset - now))
            now = n.onset
        out.append(f"{pitch_name(n.pitch)}:d{min(n.duration, MAX_DURATION)}")
    return out


def encode(notes: Sequence[Note], vocabulary: str = "paper") -> list[str]:
    """The token sequence of a piece's notes (any order; see the module docstring)."""
    _check_vocabulary(vocabulary)
    return _encode_paper(notes) if vocabulary == "paper" else _encode_timed(notes)


# --------------------------------------------------------------------------- decode
def _decode_paper(tokens: Sequence[str]) -> list[Note]:
    notes = []
    for i, token in enumerate(tokens):
        for pitch in token_pitches(token, "paper"):
            notes.append(Note(i * PAPER_STEP, PAPER_STEP, pitch, DEFAULT_VELOCITY))
    return sorted(notes)


def _decode_timed(tokens: Sequence[str]) -> list[Note]:
    notes = []
    now = 0
    for token in tokens:
        pitches, duration, advance = _parse_timed(token)
        notes.extend(Note(now, duration, p, DEFAULT_VELOCITY) for p in pitches)
        now += advance
    return sorted(notes)


def decode(tokens: Sequence[str], vocabulary: str = "paper") -> list[Note]:
    """Notes (sorted, velocity :data:`DEFAULT_VELOCITY`) for a token sequence.

    Raises ``ValueError`` naming the first token that does not belong to the vocabulary.
    """
    _check_vocabulary(vocabulary)
    return _decode_paper(tokens) if vocabulary == "paper" else _decode_timed(tokens)


# --------------------------------------------------------------------------- MIDI
def write_midi(
    notes: Iterable[Note], path: Path | str, qpm: float = 120.0, program: int = 0
) -> Path:
    """Write notes as a one-track MIDI file (480 ticks per quarter, tempo ``qpm``).

    The file is written atomically; ``program`` is the General MIDI program (0: piano).
    Notes keep their velocity, except 0 (a note-off in MIDI), which is written as 1.
    """
    from symusic import Note as MidiNote
    from symusic import Score, Tempo, Track

    if not qpm > 0:
        raise ValueError(f"qpm must be > 0, got {qpm}")
    if not 0 <= int(program) <= 127:
        raise ValueError(f"program must be a General MIDI program 0..127, got {program}")
    scale = MIDI_TICKS_PER_QUARTER // TICKS_PER_QUARTER
    score = Score(MIDI_TICKS_PER_QUARTER)
    score.tempos.append(Tempo(0, qpm=float(qpm)))
    track = Track(name="Piano", program=int(program), is_drum=False)
    for n in sorted(notes):
        # velocity 0 would be a note-off in MIDI: such notes are written at velocity 1
        velocity = max(1, n.velocity)
        track.notes.append(MidiNote(n.onset * scale, n.duration * scale, n.pitch, velocity))
    score.tracks.append(track)
    path = Path(path)
    with atomic_path(path) as tmp:
        score.dump_midi(str(tmp))
    return path
