"""Notes <-> tokens: one class per vocabulary, a registry by name, plus MIDI writing.

Each vocabulary is a :class:`Vocabulary` object (encode, decode, what kind a token is, the
pitches it sounds, how far it moves time, transposition), registered under its name; the
config, the vocabulary files, the memorization audit, generation and the book ask
:func:`get_vocabulary` instead of branching on a name. The module-level :func:`encode`,
:func:`decode`, :func:`token_kind`, :func:`token_pitches` and :func:`transpose_token` take a
vocabulary name and delegate. A new vocabulary is one subclass plus :func:`register`.

Three vocabularies turn a piece into a token sequence and back. Two share the paper's
grammar (:class:`PaperGrammar`) and differ in what one token is:

``"paper"`` — the paper's music21 tokens, extracted as its code does
    One token per element music21's MIDI import makes of each piano part, walked part by
    part with ``recurse()`` (:class:`PaperVocabulary`; :mod:`pianogen.partwise` reproduces
    music21's elements from the fast parse). Chords are what music21 gathers within one MIDI
    track, so the two hands of a file are separate parts (one after the other when they are
    separate instruments, interleaved by onset when they are one), a note across a barline
    is one token per bar, and rests are music21's own (one per gap in every voice or bar).

``"merged"`` — events at onsets
    Every note that starts at the same tick belongs to one token, whatever hand or track it
    came from — a chord is what sounds together (:class:`MergedVocabulary`); ``R`` before an
    onset when every note sounding so far has ended before it (one ``R`` per silence,
    whatever its length; none before the first note or after the last).

Both spell one pitch sounding alone as its name with octave in music21 spelling (``C4``,
``F#5``, ``B-3``), several pitches as the music21 *normal order* of their pitch classes,
dot-joined (``4.7.11``); octaves and durations are dropped. Pitches that all share one
pitch class (C3 + C4) still form a chord, as in music21: ``Chord([48, 60]).normalOrder`` is
``[0]``, so the token is ``"0"`` (never ``"C4"``). Decoding follows the paper: every token
advances a fixed step of half a quarter (:data:`PAPER_STEP` ticks) and its notes last that
long; ``R`` advances one step and sounds nothing. Chord tokens are voiced by
:func:`~pianogen.pitches.chord_voicing` (first pitch class of the normal order in octave 3,
the others stacked above it) instead of the reference code's collapse of every chord into
octave 4.

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

Encoding is plain Python over sorted notes (no music21); pitch names and normal orders come
from :mod:`pianogen.pitches` (re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import groupby
from pathlib import Path

from pianogen.io import atomic_path
from pianogen.notes import TICKS_PER_QUARTER, Note, Piece
from pianogen.partwise import TrackGroup, track_events
from pianogen.pitches import (
    PITCH_NAMES,
    chord_voicing,
    normal_order,
    parse_pitch_name,
    pitch_name,
)

__all__ = [
    "DEFAULT_VELOCITY",
    "MAX_ADVANCE",
    "MAX_DURATION",
    "MIDI_TICKS_PER_QUARTER",
    "PAPER_STEP",
    "PITCH_NAMES",
    "REST",
    "MergedVocabulary",
    "PaperGrammar",
    "PaperVocabulary",
    "TimedVocabulary",
    "Vocabulary",
    "augment_shifts",
    "chord_voicing",
    "decode",
    "encode",
    "encode_piece",
    "get_vocabulary",
    "normal_order",
    "parse_pitch_name",
    "pitch_name",
    "register",
    "token_kind",
    "token_pitches",
    "transpose_token",
    "transpose_tokens",
    "unregister",
    "vocabulary_names",
    "write_midi",
]

REST = "R"
DEFAULT_VELOCITY = 80
PAPER_STEP = TICKS_PER_QUARTER // 2  # the paper's fixed offset step: 0.5 quarter
MAX_DURATION = 8 * TICKS_PER_QUARTER  # timed vocabulary: longer notes are clipped (2 bars)
MAX_ADVANCE = 4 * TICKS_PER_QUARTER  # timed vocabulary: the longest single time shift (a bar)
MIDI_TICKS_PER_QUARTER = 480


# --------------------------------------------------------------------------- the interface
class Vocabulary:
    """What a vocabulary is: a token grammar with its encoder and decoder.

    Subclasses set the class attributes and implement :meth:`encode`, :meth:`sounds`,
    :meth:`ticks`, :meth:`kind` and :meth:`transpose`; decoding, pitches and whole-sequence
    transposition follow from those. Every method raises ``ValueError`` naming a token that
    does not belong to the vocabulary.
    """

    name: str = ""  # the registry key, as in configs and vocab.json ("paper")
    label: str = ""  # how the book names it ("paper tokens")
    run_suffix: str = ""  # appended to a preset to name a run folder ("" or "-timed")
    kinds: tuple[str, ...] = ()  # what token_kind can answer, in display order
    # False: encode(decode(tokens)) == tokens for tokens that encode made. True: only the
    # sounding tokens survive that round trip, rests are derived again from the decoded
    # notes (the "paper" vocabulary: music21 makes one rest per gap per voice and bar).
    rests_rederived: bool = False

    def encode(self, notes: Sequence[Note]) -> list[str]:
        """The token sequence of a piece's notes (any order)."""
        raise NotImplementedError

    def encode_piece(self, piece: Piece) -> list[str]:
        """The token sequence of a parsed piece (by default: of its notes)."""
        return self.encode(piece.notes)

    def sounds(self, token: str) -> list[tuple[int, int]]:
        """``(pitch, duration in ticks)`` of each note the token starts when decoded."""
        raise NotImplementedError

    def ticks(self, token: str) -> int:
        """How far the token moves decoding time forward, in ticks."""
        raise NotImplementedError

    def kind(self, token: str) -> str:
        """One of :attr:`kinds`."""
        raise NotImplementedError

    def transpose(self, token: str, k: int) -> str | None:
        """``token`` moved by ``k`` semitones; ``None`` if a pitch leaves MIDI 0..127."""
        raise NotImplementedError

    # ------------------------------------------------------------------ derived
    def accepts(self, token: str) -> bool:
        """Whether ``token`` belongs to this vocabulary."""
        try:
            self.kind(token)
        except ValueError:
            return False
        return True

    def pitches(self, token: str) -> list[int]:
        """The MIDI pitches the token sounds when decoded ([] for rests and time shifts)."""
        return [pitch for pitch, _ in self.sounds(token)]

    def decode(self, tokens: Sequence[str]) -> list[Note]:
        """Notes (sorted, velocity :data:`DEFAULT_VELOCITY`) for a token sequence."""
        notes = []
        now = 0
        for token in tokens:
            notes.extend(Note(now, d, p, DEFAULT_VELOCITY) for p, d in self.sounds(token))
            now += self.ticks(token)
        return sorted(notes)

    def end_ticks(self, tokens: Sequence[str]) -> int:
        """Where decoding ``tokens`` leaves the time: the start of whatever follows them."""
        return sum(self.ticks(t) for t in tokens)

    def transpose_all(self, tokens: Sequence[str], k: int) -> list[str] | None:
        """A whole sequence moved by ``k`` semitones; ``None`` when any pitch would leave
        MIDI 0..127 (a piece is transposed whole or not at all)."""
        cache: dict[str, str | None] = {}
        out: list[str] = []
        for token in tokens:
            if token not in cache:
                cache[token] = self.transpose(token, k) if k else token
            moved = cache[token]
            if moved is None:
                return None
            out.append(moved)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# --------------------------------------------------------------------------- paper
_CHORD_RE = re.compile(r"^(?:1[01]|\d)(?:\.(?:1[01]|\d))*$")


def _chord_classes(token: str) -> list[int]:
    pcs = [int(part) for part in token.split(".")]
    if any(pc > 11 for pc in pcs) or len(set(pcs)) != len(pcs):
        raise ValueError(
            f"chord token {token!r} must list distinct pitch classes 0..11, dot-joined"
        )
    return pcs


def _onset_groups(notes: Sequence[Note]) -> list[tuple[int, list[Note]]]:
    ordered = sorted(notes)
    return [(onset, list(group)) for onset, group in groupby(ordered, key=lambda n: n.onset)]


class PaperGrammar(Vocabulary):
    """The paper's token grammar: ``C4``, normal-order chords ``4.7.11``, rests ``R``; a
    fixed step of :data:`PAPER_STEP` ticks per token when decoded (the module docstring).
    Its two encoders are :class:`PaperVocabulary` and :class:`MergedVocabulary`."""

    kinds = ("note", "chord", "rest")

    def kind(self, token: str) -> str:
        if token == REST:
            return "rest"
        if _CHORD_RE.match(token):
            _chord_classes(token)
            return "chord"
        try:
            parse_pitch_name(token)
        except ValueError:
            raise ValueError(
                f"{token!r} is not a paper token; expected a pitch name ('C4'), "
                f"a normal-order chord ('4.7.11') or {REST!r}"
            ) from None
        return "note"

    def sounds(self, token: str) -> list[tuple[int, int]]:
        kind = self.kind(token)
        if kind == "rest":
            return []
        if kind == "chord":
            return [(p, PAPER_STEP) for p in chord_voicing(_chord_classes(token))]
        return [(parse_pitch_name(token), PAPER_STEP)]

    def ticks(self, token: str) -> int:
        self.kind(token)
        return PAPER_STEP

    def transpose(self, token: str, k: int) -> str | None:
        """A note name moves with its octave (``B3`` +1 -> ``C4``); a chord's pitch classes
        move mod 12 and are put back in normal order (``0.4.7`` +2 -> ``2.6.9``); ``R``
        stays."""
        k = int(k)
        kind = self.kind(token)
        if k == 0 or kind == "rest":
            return token
        if kind == "chord":
            pcs = [(pc + k) % 12 for pc in _chord_classes(token)]
            return ".".join(str(pc) for pc in normal_order(pcs))
        pitch = parse_pitch_name(token) + k
        return pitch_name(pitch) if 0 <= pitch <= 127 else None


def _element_token(pitches: Sequence[int]) -> str:
    if not pitches:
        return REST
    if len(pitches) == 1:
        return pitch_name(pitches[0])
    return ".".join(str(pc) for pc in normal_order(pitches))


class PaperVocabulary(PaperGrammar):
    """The paper's extraction exactly: one token per element music21 makes of each part
    (``partitionByInstrument`` + ``recurse()``; :mod:`pianogen.partwise`), in its order.

    Chords are only what music21 gathers within one MIDI track, the hands are interleaved
    element by element, a note cut at a barline is one token per piece, and rests are
    music21's (one per gap in each voice or bar, split by tempo changes).
    """

    name = "paper"
    label = "paper tokens"
    run_suffix = ""
    rests_rederived = True

    def encode_piece(self, piece: Piece) -> list[str]:
        if not piece.streams:
            return self.encode(piece.notes)
        return [_element_token(p) for part in piece.streams for _, p in part]

    def encode(self, notes: Sequence[Note]) -> list[str]:
        """Notes as one track in 4/4 through :func:`~pianogen.partwise.track_events`: notes
        with the same onset and duration form a chord (music21 would also gather notes whose
        ends differ by up to a sixteenth; decoded notes never do). A parsed piece's own parts
        are read by :meth:`encode_piece`."""
        groups: dict[tuple[int, int], list[int]] = {}
        for n in sorted(notes):
            groups.setdefault((n.onset, n.duration), []).append(n.pitch)
        keys = sorted(groups)
        onsets = [o for o, _ in keys]
        track = TrackGroup(
            onsets=onsets,
            durations=[d for _, d in keys],
            pitches=[tuple(groups[k]) for k in keys],
            voices_required=len(set(onsets)) < len(onsets),
        )
        return [_element_token(p) for _, p in track_events(track, (), ())]


class MergedVocabulary(PaperGrammar):
    """The paper's grammar with one chord per onset: every note that starts at the same
    tick, in any hand or track, is one token; ``R`` before an onset when everything
    sounding so far has ended (see the module docstring)."""

    name = "merged"
    label = "merged-onset tokens"
    run_suffix = "-merged"

    def encode(self, notes: Sequence[Note]) -> list[str]:
        out: list[str] = []
        sounding_until: int | None = None  # when the last note sounding so far ends
        for onset, group in _onset_groups(notes):
            if sounding_until is not None and onset > sounding_until:
                out.append(REST)
            out.append(_element_token(sorted({n.pitch for n in group})))
            group_end = max(n.end for n in group)
            sounding_until = group_end if sounding_until is None else max(sounding_until, group_end)
        return out


# --------------------------------------------------------------------------- timed
_TIMED_NOTE_RE = re.compile(r"^([^:]+):d([1-9]\d*)$")
_TIMED_SHIFT_RE = re.compile(r"^a([1-9]\d*)$")


def _shifts(ticks: int) -> list[str]:
    out = []
    while ticks > 0:
        step = min(ticks, MAX_ADVANCE)
        out.append(f"a{step}")
        ticks -= step
    return out


class TimedVocabulary(Vocabulary):
    """Note tokens with durations (``C4:d6``) and time shifts (``a3``); see the module
    docstring. Decoding inverts encoding exactly for durations <= :data:`MAX_DURATION`."""

    name = "timed"
    label = "timed tokens"
    run_suffix = "-timed"
    kinds = ("note", "shift")

    def _parse(self, token: str) -> tuple[int | None, int, int]:
        """``(pitch, duration, 0)`` for a note token, ``(None, 0, ticks)`` for a shift."""
        shift = _TIMED_SHIFT_RE.match(token)
        if shift is not None:
            return None, 0, int(shift.group(1))
        match = _TIMED_NOTE_RE.match(token)
        if match is None:
            raise ValueError(
                f"{token!r} is not a timed token; expected a note '<pitch>:d<ticks>' "
                "(e.g. 'C4:d6') or a time shift 'a<ticks>' (e.g. 'a3')"
            )
        return parse_pitch_name(match.group(1)), int(match.group(2)), 0

    def encode(self, notes: Sequence[Note]) -> list[str]:
        out: list[str] = []
        now = 0
        for n in sorted(notes, key=lambda n: (n.onset, n.pitch, n.duration)):
            if n.onset > now:
                out.extend(_shifts(n.onset - now))
                now = n.onset
            out.append(f"{pitch_name(n.pitch)}:d{min(n.duration, MAX_DURATION)}")
        return out

    def kind(self, token: str) -> str:
        return "shift" if self._parse(token)[0] is None else "note"

    def sounds(self, token: str) -> list[tuple[int, int]]:
        pitch, duration, _ = self._parse(token)
        return [] if pitch is None else [(pitch, duration)]

    def ticks(self, token: str) -> int:
        return self._parse(token)[2]

    def transpose(self, token: str, k: int) -> str | None:
        """A note token's pitch moves, its duration stays (``C4:d6`` +2 -> ``D4:d6``); time
        shifts (``a3``) stay."""
        pitch, duration, _ = self._parse(token)
        if pitch is None or int(k) == 0:
            return token
        moved = pitch + int(k)
        return f"{pitch_name(moved)}:d{duration}" if 0 <= moved <= 127 else None


# --------------------------------------------------------------------------- registry
_REGISTRY: dict[str, Vocabulary] = {}


def register(vocabulary: Vocabulary) -> Vocabulary:
    """Make ``vocabulary`` selectable by its name everywhere (configs, CLI, the book)."""
    if not vocabulary.name or not vocabulary.kinds:
        raise ValueError(f"{vocabulary!r} needs a name and its token kinds")
    if vocabulary.name in _REGISTRY:
        raise ValueError(f"a vocabulary named {vocabulary.name!r} is already registered")
    if any(v.run_suffix == vocabulary.run_suffix for v in _REGISTRY.values()):
        raise ValueError(f"run suffix {vocabulary.run_suffix!r} is already taken")
    _REGISTRY[vocabulary.name] = vocabulary
    return vocabulary


def unregister(name: str) -> None:
    """Remove a vocabulary registered by :func:`register` (for tests and plug-ins)."""
    if name in ("paper", "timed", "merged"):
        raise ValueError(f"the built-in vocabulary {name!r} cannot be removed")
    _REGISTRY.pop(name, None)


def vocabulary_names() -> tuple[str, ...]:
    """The registered vocabularies' names, built-ins first: ``("paper", "timed", "merged")``."""
    return tuple(_REGISTRY)


def get_vocabulary(name: str | Vocabulary) -> Vocabulary:
    """The vocabulary registered as ``name`` (a :class:`Vocabulary` is returned as is)."""
    if isinstance(name, Vocabulary):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"vocabulary must be one of {list(_REGISTRY)}, got {name!r}") from None


register(PaperVocabulary())
register(TimedVocabulary())
register(MergedVocabulary())


# --------------------------------------------------------------------------- by name
def encode(notes: Sequence[Note], vocabulary: str = "merged") -> list[str]:
    """The token sequence of a piece's notes (any order; see the module docstring). Bare
    notes know no parts, so the default is one token per onset; a parsed piece's paper
    tokens come from :func:`encode_piece`."""
    return get_vocabulary(vocabulary).encode(notes)


def encode_piece(piece: Piece, vocabulary: str = "paper") -> list[str]:
    """The token sequence of a parsed piece (the ``"paper"`` vocabulary reads its
    ``streams``; the others its notes)."""
    return get_vocabulary(vocabulary).encode_piece(piece)


def decode(tokens: Sequence[str], vocabulary: str = "paper") -> list[Note]:
    """Notes (sorted, velocity :data:`DEFAULT_VELOCITY`) for a token sequence.

    Raises ``ValueError`` naming the first token that does not belong to the vocabulary.
    """
    return get_vocabulary(vocabulary).decode(tokens)


def token_kind(token: str, vocabulary: str = "paper") -> str:
    """What a token is: ``"note"``, ``"chord"`` or ``"rest"`` (paper); ``"note"`` or
    ``"shift"`` (timed)."""
    return get_vocabulary(vocabulary).kind(token)


def token_pitches(token: str, vocabulary: str = "paper") -> list[int]:
    """The MIDI pitches a token sounds when decoded ([] for rests and time shifts).

    For paper chord tokens this is the :func:`chord_voicing` used by :func:`decode`.
    """
    return get_vocabulary(vocabulary).pitches(token)


def transpose_token(token: str, k: int, vocabulary: str = "paper") -> str | None:
    """``token`` moved by ``k`` semitones; ``None`` if a pitch leaves MIDI 0..127
    (see :meth:`PaperVocabulary.transpose`, :meth:`TimedVocabulary.transpose`)."""
    return get_vocabulary(vocabulary).transpose(token, int(k))


def transpose_tokens(tokens: Sequence[str], k: int, vocabulary: str = "paper") -> list[str] | None:
    """A whole token sequence moved by ``k`` semitones; ``None`` when any pitch would leave
    MIDI 0..127 (a piece is transposed whole or not at all)."""
    return get_vocabulary(vocabulary).transpose_all(tokens, int(k))


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
