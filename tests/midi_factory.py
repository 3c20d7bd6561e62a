"""Build tiny MIDI files (valid and deliberately broken) in code, byte by byte.

Tests all over the suite use these instead of committed fixtures: every file is readable
here, hand-checkable and built in microseconds. The writer is a plain Standard MIDI File
encoder (no library), so it can also produce what libraries refuse to write: note-ons
without note-offs, format 2, absurd tempi, truncated or lying chunk lengths.

Main entry points::

    write_midi_file(path, notes=[(onset_q, dur_q, pitch), ...], program=0, drum=False,
                    tpq=480, qpm=120)                       # one instrument track
    write_midi_tracks(path, [TrackSpec(notes=..., program=0, name="Piano right"), ...])
    midi_bytes(...) / tracks_bytes(...)                     # the same, as bytes

Notes are ``(onset_quarters, duration_quarters, pitch)`` or with a fourth item, velocity.
Times are converted with ``round(q * tpq)``. The ``broken_*`` builders each write one kind
of bad file and return its path.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NoteSpec = tuple  # (onset_q, dur_q, pitch) or (onset_q, dur_q, pitch, velocity)

__all__ = [
    "TrackSpec",
    "broken_absurd_tempo",
    "broken_drum_only",
    "broken_format2",
    "broken_huge_chunk_length",
    "broken_no_notes",
    "broken_note_ons_without_offs",
    "broken_random_bytes",
    "broken_truncated",
    "broken_zero_byte",
    "many_simultaneous_notes",
    "midi_bytes",
    "tracks_bytes",
    "write_midi_file",
    "write_midi_tracks",
]


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    if value < 0:
        raise ValueError(f"delta time must be >= 0, got {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _chunk(kind: bytes, payload: bytes, declared_length: int | None = None) -> bytes:
    length = len(payload) if declared_length is None else declared_length
    return kind + struct.pack(">I", length) + payload


def _header(fmt: int, ntracks: int, tpq: int) -> bytes:
    return _chunk(b"MThd", struct.pack(">HHH", fmt, ntracks, tpq))


def _tempo_event(qpm: float) -> bytes:
    mspq = max(1, min(0xFFFFFF, round(60_000_000 / qpm)))
    return b"\xff\x51\x03" + mspq.to_bytes(3, "big")


def _track_name_event(name: str) -> bytes:
    data = name.encode("utf-8")
    return b"\xff\x03" + _vlq(len(data)) + data


@dataclass
class TrackSpec:
    """One MIDI track: notes in quarters, a GM program, drum channel or not, a name.

    ``note_offs=False`` writes the note-ons only (a broken file some sequencers produce).
    ``extra`` holds raw ``(tick, event_bytes)`` pairs added as they are.
    """

    notes: Sequence[NoteSpec] = ()
    program: int = 0
    drum: bool = False
    name: str = ""
    channel: int | None = None  # 0-based; default 9 for drums, else 0
    note_offs: bool = True
    extra: Sequence[tuple[int, bytes]] = field(default_factory=tuple)
    program_change: bool = True  # False: no program change event (the track's name decides)

    def events(self, tpq: int) -> list[tuple[int, int, bytes]]:
        """(tick, order, bytes): at one tick, note-offs sort before note-ons."""
        channel = self.channel if self.channel is not None else (9 if self.drum else 0)
        events: list[tuple[int, int, bytes]] = []
        if self.name:
            events.append((0, 0, _track_name_event(self.name)))
        if not self.drum and self.program_change:
            events.append((0, 1, bytes([0xC0 | channel, self.program & 0x7F])))
        for i, spec in enumerate(self.notes):
            onset_q, dur_q, pitch = spec[0], spec[1], spec[2]
            velocity = spec[3] if len(spec) > 3 else 80
            on = round(onset_q * tpq)
            off = round((onset_q + dur_q) * tpq)
            events.append((on, 3 + 2 * i, bytes([0x90 | channel, pitch, velocity])))
            if self.note_offs:
                events.append((off, 2, bytes([0x80 | channel, pitch, 0])))
        for tick, data in self.extra:
            events.append((tick, 1_000_000, data))
        return events


def _track_payload(events: Iterable[tuple[int, int, bytes]], end_of_track: bool = True) -> bytes:
    out = bytearray()
    now = 0
    for tick, _order, data in sorted(events, key=lambda e: (e[0], e[1])):
        out += _vlq(tick - now) + data
        now = tick
    if end_of_track:
        out += b"\x00\xff\x2f\x00"
    return bytes(out)


def tracks_bytes(
    tracks: Sequence[TrackSpec],
    *,
    tpq: int = 480,
    qpm: float | None = 120.0,
    fmt: int = 1,
    conductor: bool = True,
    conductor_extra: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """A Standard MIDI File holding ``tracks``.

    With ``conductor=True`` (format 1) a first track holds only the tempo, as most
    sequencers write it, and the raw ``(tick, event_bytes)`` pairs of ``conductor_extra``
    (tempo changes, meters); otherwise the tempo goes into the first track.
    """
    payloads: list[bytes] = []
    tempo = [] if qpm is None else [(0, -1, _tempo_event(qpm))]
    tempo += [(tick, 1_000_000, data) for tick, data in conductor_extra]
    if conductor and fmt != 0:
        payloads.append(_track_payload(tempo))
        payloads += [_track_payload(t.events(tpq)) for t in tracks]
    else:
        for i, t in enumerate(tracks):
            payloads.append(_track_payload((tempo if i == 0 else []) + t.events(tpq)))
    if fmt == 0 and len(payloads) != 1:
        raise ValueError("format 0 holds exactly one track")
    return _header(fmt, len(payloads), tpq) + b"".join(_chunk(b"MTrk", p) for p in payloads)


def midi_bytes(
    notes: Sequence[NoteSpec] = (),
    *,
    program: int = 0,
    drum: bool = False,
    tpq: int = 480,
    qpm: float | None = 120.0,
    name: str = "",
) -> bytes:
    """A format-1 file: a tempo track and one instrument track holding ``notes``."""
    track = TrackSpec(notes=notes, program=program, drum=drum, name=name)
    return tracks_bytes([track], tpq=tpq, qpm=qpm)


def write_midi_file(
    path: Path | str,
    notes: Sequence[NoteSpec] = (),
    program: int = 0,
    drum: bool = False,
    tpq: int = 480,
    qpm: float | None = 120.0,
    name: str = "",
) -> Path:
    """Write a one-instrument MIDI file and return its path (parent folders are created)."""
    return _write(path, midi_bytes(notes, program=program, drum=drum, tpq=tpq, qpm=qpm, name=name))


def write_midi_tracks(
    path: Path | str,
    tracks: Sequence[TrackSpec],
    *,
    tpq: int = 480,
    qpm: float | None = 120.0,
    fmt: int = 1,
    conductor: bool = True,
) -> Path:
    """Write a MIDI file with several tracks (see :func:`tracks_bytes`)."""
    return _write(path, tracks_bytes(tracks, tpq=tpq, qpm=qpm, fmt=fmt, conductor=conductor))


def _write(path: Path | str, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------- broken files
SIMPLE_NOTES: tuple[NoteSpec, ...] = ((0, 1, 60), (1, 1, 64), (2, 1, 67), (3, 1, 72))


def broken_zero_byte(path: Path | str) -> Path:
    """An empty file with a MIDI name."""
    return _write(path, b"")


def broken_random_bytes(path: Path | str, size: int = 512, seed: int = 0) -> Path:
    """Random bytes (seeded) with a MIDI name; never starts with ``MThd``."""
    data = bytes(random.Random(seed).randrange(256) for _ in range(size))
    if data.startswith(b"MThd"):
        data = b"X" + data[1:]
    return _write(path, data)


def broken_truncated(path: Path | str, keep: float = 0.6) -> Path:
    """A valid header and the first part of the track data; the rest is cut off."""
    data = midi_bytes(SIMPLE_NOTES * 8)
    return _write(path, data[: max(14 + 8, int(len(data) * keep))])


def broken_huge_chunk_length(path: Path | str) -> Path:
    """A track chunk that declares 2 GiB of data but holds a few bytes."""
    track = _track_payload(TrackSpec(notes=SIMPLE_NOTES).events(480))
    data = _header(1, 1, 480) + _chunk(b"MTrk", track, declared_length=0x7FFFFFF0)
    return _write(path, data)


def broken_format2(path: Path | str) -> Path:
    """A format-2 file (independent sequences), which most readers reject."""
    tracks = [TrackSpec(notes=SIMPLE_NOTES), TrackSpec(notes=SIMPLE_NOTES)]
    return _write(path, tracks_bytes(tracks, fmt=2, conductor=False))


def broken_drum_only(path: Path | str) -> Path:
    """Only a percussion track (channel 10)."""
    return write_midi_file(path, [(i * 0.5, 0.25, 36 + i % 8) for i in range(16)], drum=True)


def broken_no_notes(path: Path | str) -> Path:
    """Tracks with a tempo, a name and a program change, but no notes."""
    return write_midi_file(path, [], name="Piano")


def broken_note_ons_without_offs(path: Path | str) -> Path:
    """Note-ons that are never released."""
    track = TrackSpec(notes=SIMPLE_NOTES, note_offs=False)
    return write_midi_tracks(path, [track])


def broken_absurd_tempo(path: Path | str, qpm: float = 60_000_000.0) -> Path:
    """Valid notes under an absurd tempo (1 microsecond per quarter by default)."""
    return write_midi_file(path, SIMPLE_NOTES, qpm=qpm)


def many_simultaneous_notes(path: Path | str, count: int = 4000) -> Path:
    """``count`` notes all starting together (pitches cycle through 21..108)."""
    notes = [(0, 1 + (i % 4), 21 + i % 88) for i in range(count)]
    return write_midi_file(path, notes)
