"""MIDI file -> :class:`~pianogen.notes.Piece`, with two engines that give the same notes.

``"music21"`` is the reference: the paper read MIDI with ``music21.converter.parse``, which
groups near-simultaneous notes into chords, snaps times to the sixteenth/triplet grid
(``quantize(quarterLengthDivisors=(4, 3))``) and splits notes at barlines with ties. It
costs ~2 s per piano-midi.de file. The notes are read back from music21's measures with
two repairs, without which the reference itself would be wrong: measure offsets are
recomputed from the bar lengths (``makeMeasures``/``makeTies`` can leave a measure overfull
when voices are needed, shifting one hand by up to a beat for the rest of the piece: 144
measures of ``alb_se4.mid``), and tied pieces are joined by pitch, end time and the MIDI
tick they came from (``stripTies`` joins the wrong pieces across voices).

``"fast"`` reads the file with symusic (compiled, sub-millisecond) and then redoes what
music21's MIDI import does (``midi/translate.py`` and ``Stream.quantize`` in music21 10.5),
in the same order and with the same float tie-breaks (see :mod:`pianogen.quantize`):

1. note-on/off pairing: a note-on ends at the *next* note-off of its pitch (music21 pairs
   backwards without popping), so overlapping re-strikes end together;
2. chord grouping: a note gathers the later notes that start less than a sixteenth after
   it and end within a sixteenth of it; the group sits at its first note's onset and
   lasts as long as its *last* member (music21's own quirk);
3. offsets snap to the nearer of the sixteenth and triplet grids (a tie goes to the
   sixteenth, an exact half-sixteenth rounds down);
4. durations snap with music21's look-ahead: a grid whose unit divides the gap to the next
   quantized onset wins, and a note never quantizes to length 0.

Known differences. (1) A note struck again at the tick where the previous one ends, with
the new note-on written *before* the old note-off: music21 pairs the new note-on with that
note-off and drops it as a zero-length grace note; symusic keeps it, and the fast engine
cannot see the order of events within a tick (4 notes of ``ravel_miroirs_1.mid``). (2)
symusic splits a track by channel, so in a *format-1* track holding several channels the
fast engine gathers chords per channel (format-0 files are merged back, as music21 keeps
them). (3) music21 turns a chord that mixes drum-channel and pitched notes into percussion,
dropping its pitched notes; the fast engine keeps them. (2) and (3) never occur in
piano-midi.de.

Both engines then share the post-processing: the piano part(s) by GM program (0-7, never
drums; all pitched parts when none is a piano), zero-length (grace) notes dropped, notes
with the same onset and pitch merged (longest duration, loudest velocity), the first tempo
(absurd tempi replaced by the default and noted in ``meta``), and :class:`BadMidi` with one
short reason for every file that cannot become a piece.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from pianogen.errors import PianogenError
from pianogen.notes import DEFAULT_QPM, TICKS_PER_QUARTER, Note, Piece
from pianogen.partwise import (
    instrument_group,
    merge_parts,
    music21_parts,
    track_events,
    track_instruments,
)
from pianogen.quantize import paired_notes, quantize_offsets, quantized_rows

# Bump whenever a parsing result can change: it is part of every cache key.
PARSER_VERSION = "4"
ENGINES = ("fast", "music21")
PIANO_PROGRAMS = range(8)  # GM 1-8: acoustic grand ... clavinet
MIN_QPM, MAX_QPM = 10.0, 1000.0  # tempi outside this range are treated as broken
DEFAULT_MAX_NOTES = 200_000  # == TokenConfig.max_notes_per_file

__all__ = [
    "DEFAULT_MAX_NOTES",
    "ENGINES",
    "PARSER_VERSION",
    "PIANO_PROGRAMS",
    "BadMidi",
    "parse_bytes",
    "parse_midi",
]

RawNote = tuple[int, int, int, int]  # (onset, duration, pitch, velocity), 12 ticks/quarter
# a piece of a note split by ties: (onset, duration, pitch, velocity, tie type
# "start"/"continue"/"stop"/"", origin); times in any exact unit (ticks or Fractions)
TiedPiece = tuple[int | Fraction, int | Fraction, int, int, str, object]


@dataclass(frozen=True)
class Skipped:
    """A file that was not used, and why (one short sentence)."""

    file: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict) -> Skipped:
        return cls(file=str(data["file"]), reason=str(data["reason"]))


class BadMidi(PianogenError, ValueError):
    """A file that cannot become a piece; ``reason`` is one short human sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------------- public API
def parse_midi(
    path: Path | str,
    engine: str = "fast",
    *,
    max_notes: int = DEFAULT_MAX_NOTES,
    name: str | None = None,
) -> Piece:
    """Parse one MIDI file into a :class:`Piece` (its name defaults to the file stem).

    Raises :class:`BadMidi` for anything that is not a usable MIDI file: unreadable, empty,
    not MIDI, corrupt or truncated, format 2, percussion only, no notes, too many notes.
    """
    path = Path(path)
    if engine not in ENGINES:
        raise ValueError(f"unknown parse engine {engine!r}; choose one of {list(ENGINES)}")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise BadMidi("unreadable (permission denied)") from None
    except IsADirectoryError:
        raise BadMidi("a folder, not a file") from None
    except FileNotFoundError:
        raise BadMidi("file not found") from None
    except OSError as exc:
        raise BadMidi(f"unreadable ({exc.strerror or type(exc).__name__})") from None
    return parse_bytes(data, engine, max_notes=max_notes, name=name or path.stem, source=path)


def parse_bytes(
    data: bytes,
    engine: str = "fast",
    *,
    max_notes: int = DEFAULT_MAX_NOTES,
    name: str = "piece",
    source: Path | str = "",
) -> Piece:
    """Parse the bytes of a MIDI file (see :func:`parse_midi`)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown parse engine {engine!r}; choose one of {list(ENGINES)}")
    header = _check_header(data)
    streams = None
    if engine == "fast":
        parts, qpm, meta = _parse_fast(data, header, max_notes)
    else:
        parts, qpm, meta, streams = _parse_music21(data, max_notes)
    return _finish(parts, qpm, meta, engine=engine, name=name, source=str(source), streams=streams)


# ----------------------------------------------------------------------- shared steps
def _check_header(data: bytes) -> dict:
    """Cheap checks both engines share, so they reject the same files for the same reason."""
    if not data:
        raise BadMidi("empty file (0 bytes)")
    if not data.startswith(b"MThd"):
        raise BadMidi("not a MIDI file (no MThd header)")
    if len(data) < 14:
        raise BadMidi("truncated MIDI header")
    length, fmt, ntracks, division = struct.unpack(">IHHh", data[4:14])
    if length < 6:
        raise BadMidi("corrupt MIDI header")
    if fmt not in (0, 1):
        raise BadMidi(f"MIDI format {fmt} is not supported (only formats 0 and 1)")
    if division <= 0:
        raise BadMidi("SMPTE (frame-based) timing is not supported")
    if ntracks == 0:
        raise BadMidi("no tracks")
    # Walk the chunks: music21 reads a truncated file as far as it goes, symusic refuses it;
    # both engines refuse it here, for the same reason.
    pos, found = 8 + length, 0
    while pos + 8 <= len(data) and found < ntracks:
        size = struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if pos + 8 + size > len(data):
            raise BadMidi("truncated or corrupt MIDI data (a chunk runs past the end of the file)")
        found += data[pos : pos + 4] == b"MTrk"
        pos += 8 + size
    if found < ntracks:
        raise BadMidi(f"truncated MIDI file ({found} of {ntracks} tracks present)")
    return {"format": fmt, "tracks": ntracks, "tpq": division}


def _sane_qpm(qpm: float | None, meta: dict) -> float:
    """The first tempo, or the default when there is none or it is absurd (noted in meta)."""
    if qpm is None:
        return DEFAULT_QPM
    if not MIN_QPM <= qpm <= MAX_QPM:
        meta["qpm_clamped_from"] = qpm
        return DEFAULT_QPM
    return float(qpm)


@dataclass
class _Part:
    """One instrument part as an engine read it: rows (onset, duration, pitch, velocity)
    on the 12-tick grid (empty for drum parts, which are only counted)."""

    name: str
    program: int
    drum: bool
    count: int
    notes: np.ndarray
    events: tuple = ()  # the track's music21 elements (pianogen.partwise), fast engine only
    group: tuple = ()  # the instrument partitionByInstrument files it under (fast engine)
    piano_group: bool = True  # whether that instrument is a piano

    def label(self) -> str:
        kind = "drums" if self.drum else f"program {self.program}"
        return f"{self.name.strip() or 'track'} ({kind})"


def _rows(notes: Sequence[RawNote]) -> np.ndarray:
    return np.asarray(notes, dtype=np.int64).reshape(-1, 4)


def _select_parts(parts: list[_Part], meta: dict) -> list[_Part]:
    """Piano parts by GM program; all pitched parts when none is a piano; never drums."""
    pitched = [p for p in parts if not p.drum and p.count]
    drums = [p for p in parts if p.drum and p.count]
    if not pitched:
        raise BadMidi("percussion only (channel 10)" if drums else "no notes")
    chosen = [p for p in pitched if p.program in PIANO_PROGRAMS] or pitched
    meta["parts"] = [p.label() for p in chosen]
    left_out = [p.label() for p in pitched + drums if not any(p is c for c in chosen)]
    if left_out:
        meta["parts_left_out"] = left_out
    return chosen


def _finish(
    parts: list[_Part],
    qpm: float,
    meta: dict,
    *,
    engine: str,
    name: str,
    source: str,
    streams: tuple | None = None,
) -> Piece:
    chosen = _select_parts(parts, meta)
    if streams is None:  # fast engine: one part per instrument, as partitionByInstrument
        by_group: dict[tuple, list] = {}
        pianos = any(p.piano_group for p in chosen)
        for p in chosen:
            if p.piano_group or not pianos:
                by_group.setdefault(p.group or ("program", p.program), []).append(p.events)
        streams = tuple(merge_parts(tracks) for tracks in by_group.values())
    rows = np.concatenate([p.notes for p in chosen])
    keep = rows[:, 1] > 0
    zero = int(len(rows) - keep.sum())
    rows = rows[keep]
    if not len(rows):
        raise BadMidi("no notes (only zero-length notes)" if zero else "no notes")
    # Merge notes with the same onset and pitch: the longest duration, the loudest velocity.
    rows = rows[np.lexsort((rows[:, 2], rows[:, 0]))]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (rows[1:, 0] != rows[:-1, 0]) | (rows[1:, 2] != rows[:-1, 2])
    firsts = np.flatnonzero(new)
    onset, pitch = rows[firsts, 0], rows[firsts, 2]
    duration = np.maximum.reduceat(rows[:, 1], firsts)
    velocity = np.clip(np.maximum.reduceat(rows[:, 3], firsts), 0, 127)
    order = np.lexsort((velocity, pitch, duration, onset))  # Note's own order: one-pass sort
    notes = tuple(map(Note, *(a[order].tolist() for a in (onset, duration, pitch, velocity))))
    dropped = {}
    if zero:
        dropped["zero_length"] = zero
    if len(rows) > len(notes):
        dropped["duplicates_merged"] = len(rows) - len(notes)
    meta = {"engine": engine, **meta, "notes": len(notes)}
    if dropped:
        meta["notes_dropped"] = dropped
    return Piece(name=name, notes=notes, qpm=qpm, source=source, meta=meta, streams=streams)


# ------------------------------------------------------------------- fast (symusic)
def _parse_fast(data: bytes, header: dict, max_notes: int) -> tuple[list[_Part], float, dict]:
    import symusic

    try:
        score = symusic.Score.from_midi(data)
    except (RuntimeError, ValueError) as exc:  # symusic's MiniMidi raises RuntimeError
        raise BadMidi(_symusic_reason(str(exc))) from None
    tpq = int(score.ticks_per_quarter)
    count = sum(len(t.notes) for t in score.tracks)
    if count > max_notes:
        raise BadMidi(f"too many notes ({count} > {max_notes})")
    meta: dict = {"tpq": tpq}
    qpm = None
    if len(score.tempos):
        tempos = score.tempos.numpy()
        mspq = int(tempos["mspq"][int(np.argmin(tempos["time"]))])  # earliest, first written
        qpm = round(60_000_000 / mspq, 2) if mspq > 0 else None  # as music21 reads it
    qpm = _sane_qpm(qpm, meta)
    # In a format-0 file the tempo/meter/key events share the notes' track, and music21's
    # duration look-ahead sees them (format 1 keeps them in the conductor track).
    events = (score.tempos, score.time_signatures, score.key_signatures)
    mark_ticks = [int(e.time) for ev in events for e in ev]
    extra = mark_ticks if header["format"] == 0 else []
    # Tempo, key and meter events: zero-length elements in every music21 part (they end
    # rests), and the meters that lay out its bars (pianogen.partwise).
    marks = np.unique(quantize_offsets(np.asarray(mark_ticks, np.int64), tpq)).tolist()
    meters = [
        (int(quantize_offsets(np.asarray([int(t.time)]), tpq)[0]), t.numerator, t.denominator)
        for t in score.time_signatures
        if t.numerator > 0 and t.denominator > 0
    ]
    pitched = [t for t in score.tracks if len(t.notes) and not t.is_drum]
    # symusic splits a track by channel and program. music21 keeps the one track of a
    # format-0 file as one part (chords gathered across its channels): merge it back.
    groups = [pitched] if header["format"] == 0 and pitched else [[t] for t in pitched]
    instruments = track_instruments(data) if header["format"] == 1 else []
    last = -1
    parts = []
    for group in groups:
        paired = [paired_notes(t.notes.numpy()) for t in group]  # pairing is per channel
        rows, track = quantized_rows(
            *(np.concatenate(c) for c in zip(*paired, strict=True)), tpq, extra
        )
        count = sum(len(t.notes) for t in group)
        elements = tuple(track_events(track, marks, meters))
        name, program = str(group[0].name), int(group[0].program)
        # the MIDI track symusic's track came from: the next one of that name (symusic keeps
        # the tracks' order and splits one by channel, so a split track names the same one)
        candidates = (*range(last + 1, len(instruments)), last)
        found = next((j for j in candidates if j >= 0 and instruments[j][0] == name), None)
        key, piano = ("program", program), True
        if found is not None:
            last = found
            key, piano = instrument_group(name, instruments[last][1], program)
        parts.append(_Part(name, program, False, count, rows, elements, key, piano))
    for track in score.tracks:
        if track.is_drum and len(track.notes):  # only counted: drums are never used
            parts.append(
                _Part(str(track.name), int(track.program), True, len(track.notes), _rows(()))
            )
    return parts, qpm, meta


def _symusic_reason(message: str) -> str:
    """One short reason from a symusic (MiniMidi) error message."""
    text = message.lower()
    if "mthd" in text or "less than 14" in text:
        return "not a MIDI file (bad header)"
    if "chunk length" in text or "eof" in text or "end of" in text:
        return "corrupt or truncated MIDI data"
    if text.startswith("get ") and "=" in text:  # "Get velocity=144": a data byte > 127
        return f"corrupt MIDI data (a {text[4:].split('=')[0]} value above 127)"
    if "status" in text:
        return "corrupt MIDI data (an invalid event)"
    return "corrupt MIDI data"


# ---------------------------------------------------------------- music21 reference
def _music21_errors() -> tuple[type[BaseException], ...]:
    """What music21's MIDI reader raises on bad bytes (seen on broken and fuzzed files)."""
    from music21 import exceptions21

    return (
        exceptions21.Music21Exception,  # MidiException, StreamException, ...
        IndexError,
        KeyError,
        ValueError,
        TypeError,
        struct.error,
        UnicodeDecodeError,
        ZeroDivisionError,
        OverflowError,
        EOFError,
    )


def _parse_music21(data: bytes, max_notes: int) -> tuple[list[_Part], float, dict, tuple]:
    from music21 import chord, converter, instrument, note, percussion, tempo

    count = _count_notes(data)
    if count > max_notes:
        raise BadMidi(f"too many notes ({count} > {max_notes})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TranslateWarning for unknown instrument names
        try:
            # forceSource: never music21's own pickle cache (we keep a JSON one).
            score = converter.parse(data, format="midi", forceSource=True)
        except _music21_errors() as exc:
            raise BadMidi(f"music21 could not read it ({type(exc).__name__})") from None
    meta: dict = {}
    marks = sorted(
        score.flatten().getElementsByClass(tempo.MetronomeMark),
        key=lambda m: m.getOffsetInHierarchy(score),
    )
    qpm = _sane_qpm(float(marks[0].number) if marks and marks[0].number else None, meta)
    parts = []
    for part in score.parts:
        inst = part.recurse().getElementsByClass(instrument.Instrument).first()
        program = inst.midiProgram if inst is not None and inst.midiProgram is not None else 0
        pieces: list[TiedPiece] = []
        drum_notes = 0
        for offset, el in _absolute_notes(part, meta):
            if isinstance(el, note.Unpitched | percussion.PercussionChord):
                drum_notes += 1
                continue
            onset, duration = offset, Fraction(el.quarterLength)  # exact until joined
            # makeTies copies the editorial: a continuation still knows its note's MIDI tick
            origin = el.editorial.get("midiTickStart")
            for n in el.notes if isinstance(el, chord.Chord) else (el,):
                tie = n.tie if n.tie is not None else el.tie
                velocity = n.volume.velocity if n.volume.velocity is not None else 64
                kind = tie.type if tie is not None else ""
                pieces.append((onset, duration, int(n.pitch.midi), int(velocity), kind, origin))
        notes = [(_ticks(o), _ticks(d), p, v) for o, d, p, v in _join_ties(pieces)]
        if notes or drum_notes:
            drum = not notes
            count = drum_notes if drum else len(notes)
            parts.append(_Part(str(part.partName or ""), int(program), drum, count, _rows(notes)))
    return parts, qpm, meta, music21_parts(score, PIANO_PROGRAMS)


def _absolute_notes(part, meta: dict) -> list[tuple[Fraction, object]]:
    """Every note/chord of a music21 part with its exact offset from the start of the piece.

    Offsets are counted from each measure's *nominal* start (the sum of the bar lengths
    before it), not from ``Measure.offset``: when a part needs voices, music21 10.5's
    ``makeMeasures``/``makeTies`` can leave a measure overfull (e.g. 3.5 quarters in 3/4),
    which shifts every later measure of that hand -- and everything in them -- by the
    overflow. The notes inside each measure are right; only the measure offsets drift. A
    measure *shorter* than its bar (a meter change in mid-bar) is real and kept. Offsets
    stay exact fractions: a barline can fall off the 12-tick grid (15/32 time).
    """
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        return [(Fraction(el.offset), el) for el in part.flatten().notes]
    out = []
    start = Fraction(0)
    drifted = 0
    offsets = [Fraction(m.offset) for m in measures]
    bar = Fraction(4)  # music21's default 4/4 until a measure carries a time signature
    for k, measure in enumerate(measures):
        if offsets[k] != start:
            drifted += 1
        for el in measure.recurse().notes:
            out.append((start + Fraction(el.getOffsetInHierarchy(measure)), el))
        if measure.timeSignature is not None:
            # not Measure.barDuration: it looks the meter up by the (drifted) offset
            bar = Fraction(measure.timeSignature.barDuration.quarterLength)
        step = bar
        if k + 1 < len(measures) and offsets[k + 1] - offsets[k] < step:
            step = offsets[k + 1] - offsets[k]  # cut short by a meter change mid-bar: real
        start += step
    if drifted:
        meta["measures_realigned"] = meta.get("measures_realigned", 0) + drifted
    return out


def _join_ties(pieces: list[TiedPiece]) -> list[tuple]:
    """Undo barline ties: a piece marked ``stop``/``continue`` extends the piece of the same
    pitch and origin marked ``start``/``continue`` that ends exactly where it begins.

    ``origin`` tells overlapping same-pitch notes apart (their pieces would otherwise be
    ambiguous); ``None`` when unknown. music21's own ``stripTies`` joins the wrong pieces
    when they sit in different voices.
    """
    pieces.sort(key=lambda p: p[0])
    notes: list[list] = []
    # (pitch, end tick, origin) -> notes waiting for their continuation (a chord may hold
    # the same pitch twice, each copy tied on its own)
    open_ties: dict[tuple, list[list]] = {}
    for onset, duration, pitch, velocity, kind, origin in pieces:
        current = None
        if kind in ("stop", "continue"):
            waiting = open_ties.get((pitch, onset, origin))
            if waiting:
                current = waiting.pop(0)
        if current is None:
            current = [onset, duration, pitch, velocity]
            notes.append(current)
        else:
            current[1] += duration
        if kind in ("start", "continue"):
            open_ties.setdefault((pitch, current[0] + current[1], origin), []).append(current)
    return [(a, b, c, d) for a, b, c, d in notes]


def _ticks(quarter_length: Fraction | float) -> int:
    return round(Fraction(quarter_length) * TICKS_PER_QUARTER)


def _count_notes(data: bytes) -> int:
    """The note count, read by symusic (fast): refuses huge files before music21 spends
    minutes on them, and corrupt files for the reason the fast engine gives (music21 reads
    many corrupt files as far as it can), so both engines skip the same files."""
    import symusic

    try:
        return int(symusic.Score.from_midi(data).note_num())
    except (RuntimeError, ValueError) as exc:
        raise BadMidi(_symusic_reason(str(exc))) from None
