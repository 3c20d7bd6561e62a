"""The paper's part-wise music21 extraction: what ``part.recurse()`` yields, in its order.

The paper's code lineage reads each file with ``music21.converter.parse``, takes
``instrument.partitionByInstrument(score)`` and walks every part with ``part.recurse()``,
emitting one token per ``Note``, ``Chord`` and ``Rest``. What those elements are is decided
by music21's MIDI import (``midi/translate.py``, music21 10.5), per MIDI track:

1. chords are gathered within the track only (the fast engine's chord groups,
   :mod:`pianogen.parse`), so the two hands of a piano file never form one chord;
2. ``makeMeasures`` puts each element into the bar it starts in; when some chord group
   needed a second voice, ``makeVoices`` splits each bar with overlapping notes into voices
   (first fit: an element goes into the first voice that has ended by its onset);
3. ``makeTies`` cuts every element that crosses a barline; each piece is an element (a
   token) of its own, and the remainder goes into the next bar -- into its first voice when
   only that bar has voices, else into the bar itself (music21 cannot match voice ids);
4. ``makeRests`` fills each voice, or each bar without voices, with one rest per gap from
   the bar's start to its length. In a bar without voices the tempo, key and meter events
   (zero-length elements) also end gaps, so a tempo change in a silent bar splits its rest.
   music21 puts the conductor track's events into every part and keeps those written
   inside a track with notes in that track; the fast engine puts every event into every
   part (none of the 279 piano-midi.de files in ``../shared`` has such an event outside
   its conductor track);
5. ``partitionByInstrument`` flattens the tracks and merges tracks of the same instrument
   into one part in offset order; at the same offset the earlier track comes first.

Two music21 quirks change the order of the merged tokens and are reproduced. Bars are laid
end to end by their *content*: makeRests moves each bar to where the previous one's highest
time ends, so a bar whose highest time exceeds its length pushes every later bar of that
track back. And a ``Chord`` shortened by ``makeTies`` does not tell its bar or voice (its
``duration`` setter informs no site), so one that had cached its highest time before the
cut keeps the old, longer one. Which bars and voices hold such a cache was traced in
music21's code: a bar caches it when makeMeasures stores a zero-length element at the very
end of the part (on a barline: the part asks every bar for its duration) -- unless the bar
was left unsorted by its last insert (compared in floats, so a triplet position can count
as "before" the end of the previous element) or later gets an insert, a cut ``Note`` or a
rest; a voice caches it when a later element of its bar was tried against it and went to
another voice, or when a tie remainder goes into the bar outside its voices.

:func:`track_events` is that emulation for one track, :func:`merge_parts` step 5, and
:func:`music21_parts` reads the same elements from a parsed music21 score (the reference).
An element is ``(offset, pitches)``: offset in 12-tick units (rounded where a barline falls
off that grid), ``pitches`` a sorted tuple of MIDI pitches, ``()`` for a rest.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = [
    "Event",
    "TrackGroup",
    "instrument_group",
    "merge_parts",
    "music21_parts",
    "track_events",
    "track_instruments",
]

Event = tuple[int, tuple[int, ...]]  # (offset in 12-tick units, pitches; () is a rest)

_U = 8  # internal units per tick: bars of n/32 time stay integers (12 * 8 per quarter)
_Q = 12 * _U  # internal units per quarter


@dataclass
class TrackGroup:
    """One MIDI track's elements after chord gathering and quantization (12-tick grid).

    ``onsets``/``durations`` per element in music21's insertion order, ``pitches`` per element;
    ``voices_required``: music21 saw notes starting together with different ends.
    """

    onsets: Sequence[int]
    durations: Sequence[int]
    pitches: Sequence[tuple[int, ...]]
    voices_required: bool


@dataclass
class _Box:
    """A bar's top level or one of its voices: elements ``[offset, duration, pitches]``."""

    items: list[list] = field(default_factory=list)
    cached: bool = False  # highestTime cached by music21 (a later Chord cut leaves it stale)
    chord_cut_end: int | None = None  # the end a cut Chord had before the cut
    note_cut: bool = False

    def highest(self) -> int:
        return max((o + d for o, d, _ in self.items), default=0)


@dataclass
class _Bar:
    length: int
    top: _Box
    voices: list[_Box] | None = None
    marks: list[int] = field(default_factory=list)


def _overlapping(items: list[list]) -> bool:
    end = None
    for o, d, _ in sorted(items, key=lambda e: e[0]):
        if end is not None and o < end:
            return True
        end = o + d if end is None else max(end, o + d)
    return False


def _first_fit(items: list[list]) -> list[_Box]:
    """makeVoices: each element into the first voice that has ended by its onset. Asking a
    voice for its highest time caches it, an insert clears that cache: a voice keeps a cached
    highest time when a later element was tried against it and went elsewhere."""
    voices: list[_Box] = []
    for e in sorted(items, key=lambda e: e[0]):
        for v in voices:
            if v.highest() <= e[0]:
                v.items.append(e)
                v.cached = False
                break
            v.cached = True
        else:
            voices.append(_Box([e]))
    return voices


def _bars(meters: Sequence[tuple[int, int]], end: int) -> list[list[int]]:
    """``[start, length]`` of each bar until ``end`` (internal units); 4/4 until a meter."""
    meters = sorted(meters)
    out: list[list[int]] = []
    start, i, length = 0, 0, 4 * 12 * _U
    while True:
        while i < len(meters) and meters[i][0] <= start:
            length = meters[i][1]
            i += 1
        out.append([start, length])
        start += length
        if start >= end:
            return out


def track_events(
    track: TrackGroup, marks: Sequence[int], meters: Sequence[tuple[int, int, int]]
) -> list[Event]:
    """The elements music21 makes of one track (see the module docstring), in order.

    ``marks``: onsets (12-tick grid) of the tempo, key and meter events; ``meters``:
    ``(onset, numerator, denominator)`` of each time signature.
    """
    els = [
        [int(o) * _U, int(d) * _U, tuple(sorted(p))]
        for o, d, p in zip(track.onsets, track.durations, track.pitches, strict=True)
    ]
    if not els:
        return []
    marks = sorted(int(m) * _U for m in marks)
    bar_units = [(int(o) * _U, 4 * 12 * _U * int(n) // int(d)) for o, n, d in meters]
    end = max([o + d for o, d, _ in els] + marks[-1:])
    grid = _bars(bar_units, end)
    starts = [s for s, _ in grid]
    # makeMeasures stores a zero-length element at the very end, on a barline, "at the end"
    # of the part, which asks the part for its duration and so caches every bar's highest
    # time; without one, no bar has a cached highest time that a Chord cut could leave stale
    at_end = bool(marks) and marks[-1] == end and grid[-1][0] + grid[-1][1] == end
    bars = [_Bar(length, _Box()) for _, length in grid]
    inserted_end = [0] * len(bars)  # each bar's highest time so far, as it is filled
    unsorted = [False] * len(bars)
    stream = sorted(
        [(m, 0, i, None) for i, m in enumerate(marks)]
        + [(e[0], 1, i, e) for i, e in enumerate(els)],
        key=lambda x: (x[0], x[1], x[2]),
    )
    for offset, _, _, e in stream:
        k = min(bisect.bisect_right(starts, offset) - 1, len(bars) - 1)
        local = offset - starts[k]
        # An insert before the bar's highest time leaves it unsorted; the next insert into
        # the same bar sorts it first (makeMeasures asks the bar for its clef), so only the
        # last insert counts. A bar left unsorted is sorted (its cache cleared) by makeTies.
        # makeMeasures compares in floats (a Fraction offset minus the bar's float start), so
        # an element on a triplet position right where the last one ends can count as
        # "before" it: the comparison is made the same way here.
        in_bar = offset / _Q - starts[k] / _Q  # int / int: the float music21 has
        unsorted[k] = in_bar < Fraction(inserted_end[k], _Q)  # float vs Fraction: exact
        if e is None:
            bars[k].marks.append(local)
        else:
            bars[k].top.items.append([local, e[1], e[2]])
            inserted_end[k] = max(inserted_end[k], local + e[1])
    for bar, left_unsorted in zip(bars, unsorted, strict=True):
        bar.top.cached = at_end and not left_unsorted
    if track.voices_required:
        for bar in bars:
            if bar.top.items and _overlapping(bar.top.items):
                bar.voices, bar.top = _first_fit(bar.top.items), _Box()
    _make_ties(bars)
    return _flatten(bars)


def _make_ties(bars: list[_Bar]) -> None:
    k = 0
    while k < len(bars):
        bar = bars[k]
        if k + 1 == len(bars) and any(
            o < bar.length < o + d for box in (bar.voices or [bar.top]) for o, d, _ in box.items
        ):
            bars.append(_Bar(bar.length, _Box()))
        nxt = bars[k + 1] if k + 1 < len(bars) else None
        next_had_voices = nxt is not None and nxt.voices is not None
        for box in bar.voices if bar.voices is not None else [bar.top]:
            for e in sorted(box.items, key=lambda e: e[0]):
                o, d, pitches = e
                if not o < bar.length < o + d:
                    continue
                e[1] = bar.length - o
                if len(pitches) > 1:
                    box.chord_cut_end = max(box.chord_cut_end or 0, o + d)
                else:
                    box.note_cut = True
                rest = [0, o + d - bar.length, pitches]
                assert nxt is not None
                if next_had_voices and bar.voices is None:
                    dst = nxt.voices[0]
                elif bar.voices is not None and not next_had_voices:
                    if nxt.voices is None:  # moveNotesToVoices
                        nxt.voices, nxt.top = [_Box(nxt.top.items)], _Box()
                    dst = nxt.voices[0]
                else:
                    dst = nxt.top
                    if nxt.voices is not None:
                        # inserting into a (sorted) voiced bar asks it for its highest
                        # time, which caches each of its voices' own
                        for voice in nxt.voices:
                            voice.cached = True
                dst.items.append(rest)
                dst.cached = False
        k += 1
    for bar in bars:  # flattenUnnecessaryVoices: one voice is the bar itself (re-inserted)
        if bar.voices is not None and len(bar.voices) == 1:
            bar.top = _Box(bar.voices[0].items + bar.top.items)
            bar.voices = None


def _fill(box: _Box, length: int, marks: Sequence[int] = ()) -> tuple[list, int]:
    """Rests for one voice or bar: ``([(offset, pitches)], highest time)``."""
    out = []
    points = sorted(
        [(o, d, p) for o, d, p in box.items] + [(m, 0, None) for m in marks], key=lambda x: x[0]
    )
    hi, rests = 0, 0
    for o, d, p in points:
        if o > hi:
            out.append((hi, ()))
            rests += 1
        if p is not None:
            out.append((o, p))
        hi = max(hi, o + d)
    if hi < length:
        out.append((hi, ()))
        rests += 1
    highest = max(hi, length)
    if not rests and box.cached and box.chord_cut_end is not None and not box.note_cut:
        highest = max(highest, box.chord_cut_end)  # music21's stale highestTime
    return out, highest


def _flatten(bars: list[_Bar]) -> list[Event]:
    out: list[Event] = []
    start = 0
    for bar in bars:
        flat: list[tuple[int, int, tuple[int, ...]]] = []
        if bar.voices is not None:
            highest = bar.length
            for vi, voice in enumerate(bar.voices):
                events, h = _fill(voice, bar.length)
                flat += [(o, vi, p) for o, p in events]
                highest = max(highest, h)
            flat += [(o, len(bar.voices), p) for o, _, p in bar.top.items]
            highest = max([highest] + [o + d for o, d, _ in bar.top.items])
        else:
            events, highest = _fill(bar.top, bar.length, bar.marks)
            flat += [(o, 0, p) for o, p in events]
        flat.sort(key=lambda x: (x[0], x[1]))
        out += [(round((start + o) / _U), p) for o, _, p in flat]
        start += max(bar.length, highest)
    return out


def merge_parts(tracks: Sequence[Sequence[Event]]) -> tuple[Event, ...]:
    """Tracks of one instrument merged as ``partitionByInstrument`` does: by offset, the
    earlier track first at the same offset, each track's own order kept."""
    keyed = [(o, t, i, p) for t, events in enumerate(tracks) for i, (o, p) in enumerate(events)]
    keyed.sort(key=lambda x: (x[0], x[1], x[2]))
    return tuple((o, p) for o, _, _, p in keyed)


def music21_parts(score, programs: Sequence[int] = range(8)) -> tuple[tuple[Event, ...], ...]:
    """The reference: ``partitionByInstrument(score)`` walked with ``recurse()``, as the
    paper's code does, keeping the parts with notes whose instrument is a piano (GM program
    in ``programs``; every pitched part when none is)."""

    from music21 import chord, instrument, note

    partitioned = instrument.partitionByInstrument(score)
    parts = list(partitioned.parts) if partitioned is not None else []
    if not parts:
        parts = [score]
    found = []
    for part in parts:
        events: list[Event] = []
        for el in part.recurse():
            if isinstance(el, note.Note):
                pitches: tuple[int, ...] = (int(el.pitch.midi),)
            elif isinstance(el, chord.Chord):
                pitches = tuple(sorted(int(p.midi) for p in el.pitches))
            elif isinstance(el, note.Rest):
                pitches = ()
            else:
                continue
            offset = Fraction(el.getOffsetInHierarchy(part))
            events.append((round(offset * 12), pitches))
        inst = part.getInstrument(returnDefault=False) if hasattr(part, "getInstrument") else None
        program = inst.midiProgram if inst is not None else None
        if any(p for _, p in events):
            found.append((program, tuple(events)))
    pianos = [events for program, events in found if program in programs]
    return tuple(pianos or [events for _, events in found])


def track_instruments(data: bytes) -> list[tuple[str, bool]]:
    """``(track name, has a program change)`` of each MIDI track with a note-on, in order.

    ``partitionByInstrument`` groups tracks by instrument *name*: a track with a program
    change is that program's instrument ("Piano" for 0); one without is named after its
    track ("Piano left2"), or is no known instrument at all (a copyright line as the name).
    symusic gives every track a program (0 when none is set), so this reads the bytes.
    Unreadable data gives ``[]`` (callers fall back to the program symusic reports).
    """
    out: list[tuple[str, bool]] = []
    pos = 14 if len(data) >= 14 else len(data)
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if data[pos : pos + 4] == b"MTrk":
            scanned = _scan_track(data[pos + 8 : pos + 8 + size])
            if scanned is None:
                return []
            if scanned[2]:
                out.append(scanned[:2])
        pos += 8 + size
    return out


def _varlen(chunk: bytes, i: int) -> tuple[int, int]:
    value = 0
    while chunk[i] & 0x80:
        value = (value << 7) | (chunk[i] & 0x7F)
        i += 1
    return (value << 7) | chunk[i], i + 1


def _scan_track(chunk: bytes) -> tuple[str, bool, bool] | None:
    """``(name, program change seen, note-on seen)`` of one track chunk; ``None`` if corrupt."""
    i, status, name, program, notes = 0, 0, None, False, False
    try:
        while i < len(chunk):
            _, i = _varlen(chunk, i)  # delta time
            byte = chunk[i]
            if byte == 0xFF:  # meta event: type, length, data
                kind = chunk[i + 1]
                length, i = _varlen(chunk, i + 2)
                if kind == 0x03 and name is None:
                    name = chunk[i : i + length].decode("utf-8", "replace")
                i += length
                continue
            if byte in (0xF0, 0xF7):  # sysex: length, data
                length, i = _varlen(chunk, i + 1)
                i += length
                continue
            if byte & 0x80:
                status, i = byte, i + 1
            kind = status & 0xF0
            program |= kind == 0xC0
            notes |= kind == 0x90 and chunk[i + 1] > 0
            i += 1 if kind in (0xC0, 0xD0) else 2
    except IndexError:
        return None
    return (name or "", program, notes)


def instrument_group(name: str, has_program: bool, program: int) -> tuple[tuple, bool]:
    """The key ``partitionByInstrument`` merges a track under, and whether that part counts
    as a piano (:func:`music21_parts`): by program when the track sets one, else by its
    name -- a piano when the name says so, no instrument otherwise."""
    if has_program:
        return ("program", int(program)), int(program) in range(8)
    if "piano" in name.lower():
        return ("name", name), True
    return ("none",), False
