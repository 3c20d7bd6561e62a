"""music21's MIDI import redone on arrays: the arithmetic behind the fast engine.

What ``music21.midi.translate`` and ``Stream.quantize`` (music21 10.5) do to one part's
notes, reproduced in the same order and with the same float tie-breaks, so that
:mod:`pianogen.parse`'s fast engine gives music21's notes from symusic's arrays:
note-on/off pairing (:func:`music21_note_offs`), chord gathering (:func:`group_chords`),
whether music21 needs voices (:func:`voices_required`), offsets and durations snapped to
the sixteenth and triplet grids (:func:`quantize_offsets`, :func:`quantize_duration`), and
all of it for one part (:func:`quantized_rows`). The parse module's docstring lists the
rules and the known differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pianogen.notes import TICKS_PER_QUARTER
from pianogen.partwise import TrackGroup

__all__ = [
    "group_chords",
    "music21_note_offs",
    "nearest_multiple",
    "paired_notes",
    "quantize_duration",
    "quantize_offsets",
    "quantized_rows",
    "voices_required",
]

_DURATION_CACHE: dict[tuple[int, int, int], int] = {}


def paired_notes(arrays: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(onset, music21's note-off, pitch, velocity) in ticks, from one symusic track."""
    on = arrays["time"].astype(np.int64)
    off = on + arrays["duration"].astype(np.int64)
    pitch = arrays["pitch"].astype(np.int64) & 0x7F
    velocity = arrays["velocity"].astype(np.int64) & 0x7F
    return on, music21_note_offs(on, off, pitch), pitch, velocity


def quantized_rows(
    on: np.ndarray,
    off: np.ndarray,
    pitch: np.ndarray,
    velocity: np.ndarray,
    tpq: int,
    extra_ticks: Sequence[int] = (),
) -> tuple[np.ndarray, TrackGroup]:
    """Chord gathering and quantization of one music21 part's notes (ticks in, 12/quarter
    rows out), and the same as music21's elements (a :class:`~pianogen.partwise.TrackGroup`)."""
    order = np.argsort(on, kind="stable")  # note-on order, ties in file order
    on, off, pitch, velocity = on[order], off[order], pitch[order], velocity[order]
    firsts, lasts, members, sizes = group_chords(on, off, tpq / 4)
    voices = voices_required(on, off, firsts, sizes, tpq / 4)
    q_on = quantize_offsets(on[firsts], tpq)
    # music21 looks ahead to the next element (note, chord or same-track meta event) whose
    # quantized offset is later than this one's; offsets are monotone, so: the next larger.
    q_all = np.unique(np.concatenate([q_on, quantize_offsets(np.asarray(extra_ticks), tpq)]))
    k = np.searchsorted(q_all, q_on, side="right")
    gaps = np.where(k < len(q_all), q_all[np.minimum(k, len(q_all) - 1)] - q_on, -1)
    lengths = off[lasts] - on[lasts]
    cache = _DURATION_CACHE
    if len(cache) > 500_000:
        cache.clear()
    q_len = []
    for length, gap in zip(lengths.tolist(), gaps.tolist(), strict=True):
        key = (length, tpq, gap)
        value = cache.get(key)
        if value is None:
            # music21 turns a zero-length note into a grace note, which keeps length 0
            value = cache[key] = quantize_duration(length, tpq, gap) if length else 0
        q_len.append(value)
    rows = np.empty((len(members), 4), dtype=np.int64)
    rows[:, 0] = np.repeat(q_on, sizes)
    rows[:, 1] = np.repeat(np.asarray(q_len, dtype=np.int64), sizes)
    rows[:, 2] = pitch[members]
    rows[:, 3] = velocity[members]
    # music21 inserts the groups in note-on order of their first notes
    bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    member_pitches = pitch[members].tolist()
    element_order = np.argsort(firsts, kind="stable").tolist()
    q_on_list = q_on.tolist()
    track = TrackGroup(
        onsets=[q_on_list[g] for g in element_order],
        durations=[q_len[g] for g in element_order],
        pitches=[tuple(member_pitches[bounds[g] : bounds[g + 1]]) for g in element_order],
        voices_required=voices,
    )
    return rows, track


def voices_required(
    on: np.ndarray, off: np.ndarray, firsts: np.ndarray, sizes: np.ndarray, tol: float
) -> bool:
    """music21's ``voicesRequired``: a group's first note has a later note starting within
    ``tol`` whose end differs from its own by more than ``tol``."""
    window = np.searchsorted(on, on + tol, side="left")
    off_l = off.tolist()
    for i in firsts.tolist():
        for j in range(i + 1, int(window[i])):
            if abs(off_l[j] - off_l[i]) > tol:
                return True
    return False


def music21_note_offs(on: np.ndarray, off: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """music21 ends a note at the first note-off of its pitch after its note-on.

    symusic pairs overlapping same-pitch notes first-in-first-out; music21 walks the events
    backwards without popping, so each note-on takes the *next* note-off. Only notes that
    overlap a note of the same pitch change. (Every note-on symusic kept has a note-off at
    or after it, so the search always finds one.)
    """
    big = np.int64(1) << 40
    off_keys = np.sort(pitch * big + off)
    idx = np.searchsorted(off_keys, pitch * big + on, side="right")
    nxt = off_keys[np.minimum(idx, len(off_keys) - 1)] - pitch * big
    # A zero-length note had its note-off right after its note-on (same tick): music21
    # pairs them too and keeps it as a zero-length grace note.
    return np.where(off == on, on, nxt)


def group_chords(
    on: np.ndarray, off: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """music21's chord gathering (``midiTrackToStream``), the same in behaviour.

    A note gathers each later note that starts less than ``tol`` (a sixteenth) after it and
    ends within ``tol`` of it. The group sits at its first note's onset but takes the
    length of its *last* member, and the scan does not skip notes already gathered (both
    as in music21 10.5). Returns each group's first and last note index, all member
    indices group by group, and the group sizes.
    """
    n = len(on)
    # A group never spans a gap >= tol between consecutive onsets, so only runs of close
    # onsets need the loop; an isolated note is a group of one.
    close = np.diff(on) < tol
    lone = np.ones(n, dtype=bool)
    lone[:-1] &= ~close
    lone[1:] &= ~close
    if lone.all():
        idx = np.arange(n)
        return idx, idx, idx, np.ones(n, dtype=np.int64)
    off_l = off.tolist()
    window = np.searchsorted(on, on + tol, side="left").tolist()  # first j: on[j] >= on[i]+tol
    gathered = lone.tolist()
    groups: list[list[int]] = [[i] for i in np.flatnonzero(lone).tolist()]
    for i in np.flatnonzero(~lone).tolist():
        if gathered[i]:
            continue
        end, stop = off_l[i], window[i]
        if stop - i > 64:  # a huge cluster (thousands of simultaneous notes): vectorized
            found = (np.flatnonzero(np.abs(off[i + 1 : stop] - end) <= tol) + i + 1).tolist()
        else:
            found = [j for j in range(i + 1, stop) if abs(off_l[j] - end) <= tol]
        for j in found:
            gathered[j] = True
        groups.append([i, *found])
    firsts = np.fromiter((g[0] for g in groups), dtype=np.int64, count=len(groups))
    lasts = np.fromiter((g[-1] for g in groups), dtype=np.int64, count=len(groups))
    sizes = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    members = np.fromiter((j for g in groups for j in g), dtype=np.int64, count=int(sizes.sum()))
    return firsts, lasts, members, sizes


# ------------------------------------------------------------------ quantization
_UNITS = (0.25, 1 / 3)  # music21's grid units: 1 / divisor for the divisors (4, 3)


def quantize_offsets(ticks: np.ndarray, tpq: int) -> np.ndarray:
    """music21 ``quantize`` of offsets, in exact integers (result: 12 ticks per quarter).

    The nearest point of the sixteenth or the triplet grid; a tie between the grids goes
    to the sixteenth, and a point exactly between two sixteenths goes down. The tests check
    it against music21's float arithmetic tick by tick.
    """
    x = 12 * np.asarray(ticks, dtype=np.int64)
    s_step, t_step = 3 * tpq, 4 * tpq
    s_low = (x // s_step) * s_step
    s_rest = x - s_low
    s_up = 2 * s_rest > s_step
    s_err = np.where(s_up, s_step - s_rest, s_rest)
    t_low = (x // t_step) * t_step
    t_rest = x - t_low
    t_up = 2 * t_rest > t_step
    t_err = np.where(t_up, t_step - t_rest, t_rest)
    best = np.where(
        s_err <= t_err, np.where(s_up, s_low + s_step, s_low), np.where(t_up, t_low + t_step, t_low)
    )
    return best // tpq


def nearest_multiple(n: float, unit: float) -> tuple[float, float]:
    """``music21.common.nearestMultiple``: (match, error rounded to 7 places)."""
    mult = math.floor(n / unit)
    low = unit * mult
    high = unit * (mult + 1)
    if low <= n <= low + unit / 2.0:
        return low, round(n - low, 7)
    return high, round(high - n, 7)


def quantize_duration(length: int, tpq: int, gap12: int) -> int:
    """music21 ``quantize`` of a note's duration (zero not allowed) with its look-ahead.

    ``gap12`` is the distance (12 ticks per quarter) from the note's quantized onset to the
    next later quantized onset in its track, or -1 if there is none. A grid whose unit
    divides the gap (tested in floats, as music21 does, so ``1.0 % (1/3) != 0``) leaves no
    gap and wins; otherwise the grid leaving the smaller gap, then the smaller error, then
    the sixteenth. music21 computes the gap as a float difference snapped by ``opFrac``,
    which is exactly ``gap12 / 12`` correctly rounded.
    """
    target = length / tpq
    gap = gap12 / TICKS_PER_QUARTER if gap12 >= 0 else 0.0
    best: tuple[float, float, float, float] | None = None
    for unit in _UNITS:
        match, error = nearest_multiple(target, unit)
        if match == 0.0:
            match = unit
            error = abs(round(target - match, 7))
        remaining = 0.0 if gap % unit == 0 else max(gap - match, 0.0)
        candidate = (remaining, error, unit, match)
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return round(best[3] * TICKS_PER_QUARTER)
