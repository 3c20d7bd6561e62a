"""MIDI -> Piece with both engines: hand-checked notes, music21's quirks, part selection."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from midi_factory import TrackSpec, midi_bytes, tracks_bytes, write_midi_file, write_midi_tracks

from pianogen import parse, quantize
from pianogen.notes import Note
from pianogen.parse import BadMidi, parse_bytes, parse_midi

ENGINES = ("fast", "music21")


def both(data: bytes) -> dict[str, object]:
    return {engine: parse_bytes(data, engine) for engine in ENGINES}


def rows(piece) -> list[tuple[int, int, int, int]]:
    return [(n.onset, n.duration, n.pitch, n.velocity) for n in piece.notes]


@pytest.mark.parametrize("engine", ENGINES)
def test_simple_melody(tmp_path: Path, engine: str) -> None:
    path = write_midi_file(tmp_path / "m.mid", [(0, 1, 60), (1, 1, 64, 90), (2, 2, 67)], qpm=90)
    piece = parse_midi(path, engine)
    assert piece.notes == (Note(0, 12, 60, 80), Note(12, 12, 64, 90), Note(24, 24, 67, 80))
    assert piece.qpm == 90.0
    assert piece.name == "m"
    assert piece.source == str(path)
    assert piece.meta["engine"] == engine
    assert [p[-len("(program 0)") :] for p in piece.meta["parts"]] == ["(program 0)"]


@pytest.mark.parametrize("engine", ENGINES)
def test_quantization_grid(engine: str) -> None:
    # onsets in ticks at 480 per quarter -> 12 per quarter
    notes = [
        (0.49, 0.5, 60),  # 235 ticks -> the sixteenth 6
        (1 + 1 / 3, 1 / 3, 62),  # triplet: 16, lasting 4
        (2 + 7 / 8, 1, 64),  # exactly between two sixteenths: music21 rounds down -> 33
        (4 + 1 / 48, 1, 65),  # 10 ticks late -> 48
    ]
    piece = parse_bytes(midi_bytes(notes), engine)
    assert [(n.onset, n.pitch) for n in piece.notes] == [(6, 60), (16, 62), (33, 64), (48, 65)]


@pytest.mark.parametrize("engine", ENGINES)
def test_chord_grouping_takes_first_onset(engine: str) -> None:
    # 24 ticks apart (< a sixteenth at 480 tpq = 120 ticks), same ends: one chord at 0,
    # although 0.1 quarters alone would quantize to the sixteenth 3.
    piece = parse_bytes(midi_bytes([(0, 1, 60), (0.05, 0.95, 64), (0.1, 0.9, 67)]), engine)
    assert rows(piece) == [(0, 12, 60, 80), (0, 12, 64, 80), (0, 12, 67, 80)]


@pytest.mark.parametrize("engine", ENGINES)
def test_overlapping_same_pitch_ends_at_next_note_off(engine: str) -> None:
    # on 0, on 1, off 2, off 3 (quarters): music21 ends both notes at the first note-off
    piece = parse_bytes(midi_bytes([(0, 2, 60), (1, 2, 60)]), engine)
    assert rows(piece) == [(0, 24, 60, 80), (12, 12, 60, 80)]


@pytest.mark.parametrize("engine", ENGINES)
def test_short_note_never_quantizes_to_zero(engine: str) -> None:
    piece = parse_bytes(midi_bytes([(0, 0.02, 60), (1, 1, 62)]), engine)
    assert rows(piece)[0] == (0, 3, 60, 80)


@pytest.mark.slow
def test_engines_agree_on_random_files() -> None:
    """Both engines give identical notes (onset, duration, pitch, velocity) on random
    small files: several tracks, overlaps, near-simultaneous onsets, odd resolutions."""
    rng = random.Random(1234)
    for _ in range(30):
        tpq = rng.choice([96, 120, 384, 480, 960])
        tracks = []
        for _t in range(rng.choice([1, 2, 3])):
            notes, pos = [], 0
            for _n in range(rng.randint(1, 30)):
                pos += rng.choice([0, 0, 7, tpq // 8, tpq // 4, tpq // 3, tpq, rng.randint(0, tpq)])
                dur = rng.choice([5, tpq // 6, tpq // 4, tpq // 3, tpq, rng.randint(1, 4 * tpq)])
                pitch = rng.choice([60, 62, 64, rng.randint(30, 90)])
                notes.append((pos / tpq, dur / tpq, pitch, rng.randint(1, 127)))
            tracks.append(TrackSpec(notes=notes))
        data = tracks_bytes(tracks, tpq=tpq)
        fast, ref = parse_bytes(data, "fast"), parse_bytes(data, "music21")
        assert rows(fast) == rows(ref)
        assert fast.qpm == ref.qpm


def test_quantize_offsets_match_music21_float_arithmetic() -> None:
    """The integer offset quantizer equals music21's float ``nearestMultiple`` rule for
    every tick of 20 quarters at several resolutions."""
    from music21 import common

    for tpq in (96, 120, 480, 384, 1000):
        ticks = np.arange(0, 20 * tpq)
        ours = quantize.quantize_offsets(ticks, tpq)
        for tick, q in zip(ticks.tolist(), ours.tolist(), strict=True):
            n = tick / tpq
            best = min(
                (
                    common.nearestMultiple(n, 1 / div)[1],
                    1 / div,
                    common.nearestMultiple(n, 1 / div)[0],
                )
                for div in (4, 3)
            )
            assert round(best[2] * 12) == q, (tpq, tick)


@pytest.mark.parametrize(
    ("gap12", "length", "expected"),
    [
        (-1, 160, 4),  # 1/3 quarter, nothing after it: the triplet grid fits exactly
        (-1, 185, 4),  # 0.385 quarters: nearer the triplet (1/3) than the sixteenth (1/2)
        (6, 185, 6),  # ... but the next onset is half a quarter on: the sixteenth fills it
        (4, 160, 4),  # next onset a triplet later: the triplet grid divides the gap
        (12, 160, 3),  # gap 1.0 is not a float multiple of 1/3 in music21: sixteenth wins
        (-1, 1, 3),  # never zero: the smallest unit
    ],
)
def test_quantize_duration_lookahead(gap12: int, length: int, expected: int) -> None:
    assert quantize.quantize_duration(length, 480, gap12) == expected


def test_quantize_duration_matches_music21_stream_quantize() -> None:
    """Our look-ahead duration rule against music21's own ``Stream.quantize``."""
    from music21 import note, stream

    rng = random.Random(5)
    tpq = 480
    s = stream.Stream()
    ticks = sorted(rng.randrange(0, 40 * tpq) for _ in range(300))
    lengths = [rng.randrange(1, 3 * tpq) for _ in ticks]
    for tick, length in zip(ticks, lengths, strict=True):
        s.insert(tick / tpq, note.Note(60, quarterLength=length / tpq))
    s.sort(force=True)  # music21's MIDI import sorts first; the look-ahead needs it
    s.quantize((4, 3), processOffsets=True, processDurations=True, inPlace=True)
    q_on = quantize.quantize_offsets(np.array(ticks), tpq).tolist()
    distinct = sorted(set(q_on))
    for el, q, length in zip(s.notes, q_on, lengths, strict=True):
        later = [d for d in distinct if d > q]
        gap = later[0] - q if later else -1
        assert round(float(el.quarterLength) * 12) == quantize.quantize_duration(length, tpq, gap)


# ----------------------------------------------------------------------- parts
@pytest.mark.parametrize("engine", ENGINES)
def test_piano_parts_by_program_not_name(tmp_path: Path, engine: str) -> None:
    tracks = [
        TrackSpec(notes=[(0, 1, 60)], program=1, name="Pedal"),  # piano-midi.de style
        TrackSpec(notes=[(0, 1, 40)], program=40, name="Violin"),
        TrackSpec(notes=[(0, 1, 36)], drum=True, name="Drums"),
        TrackSpec(notes=[(1, 1, 50)], program=0, name="Piano left"),
    ]
    piece = parse_midi(write_midi_tracks(tmp_path / "p.mid", tracks), engine)
    assert [(n.onset, n.pitch) for n in piece.notes] == [(0, 60), (12, 50)]
    assert piece.meta["parts"] == ["Pedal (program 1)", "Piano left (program 0)"]
    assert "Violin (program 40)" in piece.meta["parts_left_out"]


@pytest.mark.parametrize("engine", ENGINES)
def test_no_piano_uses_every_pitched_part(engine: str) -> None:
    tracks = [
        TrackSpec(notes=[(0, 1, 40)], program=40),
        TrackSpec(notes=[(0, 1, 70)], program=73),
        TrackSpec(notes=[(0, 1, 36)], drum=True),
    ]
    piece = parse_bytes(tracks_bytes(tracks), engine)
    assert [n.pitch for n in piece.notes] == [40, 70]


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicates_merged_longest_and_loudest(engine: str) -> None:
    tracks = [TrackSpec(notes=[(0, 1, 60, 50)]), TrackSpec(notes=[(0, 2, 60, 90)])]
    piece = parse_bytes(tracks_bytes(tracks), engine)
    assert rows(piece) == [(0, 24, 60, 90)]
    assert piece.meta["notes_dropped"] == {"duplicates_merged": 1}


@pytest.mark.parametrize("engine", ENGINES)
def test_format_0(engine: str) -> None:
    data = tracks_bytes([TrackSpec(notes=[(0, 1, 60), (1, 1, 62)])], fmt=0, conductor=False)
    assert [n.pitch for n in parse_bytes(data, engine).notes] == [60, 62]


# ----------------------------------------------------------------------- tempo
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("qpm", "expected"), [(None, 120.0), (73.5, 73.5), (5.0, 120.0)])
def test_first_tempo(engine: str, qpm: float | None, expected: float) -> None:
    piece = parse_bytes(midi_bytes([(0, 1, 60)], qpm=qpm), engine)
    assert piece.qpm == expected
    assert ("qpm_clamped_from" in piece.meta) == (qpm == 5.0)


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"RIFF....not midi", "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00", "truncated"),
        (b"MThd\x00\x00\x00\x06\x00\x02\x00\x01\x01\xe0", "format 2"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\xe7\x28", "SMPTE"),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_header_errors(data: bytes, reason: str, engine: str) -> None:
    with pytest.raises(BadMidi, match=reason):
        parse_bytes(data, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_too_many_notes(engine: str) -> None:
    data = midi_bytes([(i / 4, 0.25, 60) for i in range(50)])
    with pytest.raises(BadMidi, match="too many notes"):
        parse_bytes(data, engine, max_notes=10)
    assert len(parse_bytes(data, engine, max_notes=50).notes) == 50


def test_bad_midi_is_a_value_error_with_reason() -> None:
    with pytest.raises(ValueError, match="empty") as info:
        parse_bytes(b"")
    assert info.value.reason == "empty file (0 bytes)"


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match="unknown parse engine"):
        parse_bytes(midi_bytes([(0, 1, 60)]), "pretty_midi")


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(BadMidi, match="not found"):
        parse_midi(tmp_path / "nope.mid")
    with pytest.raises(BadMidi, match="folder"):
        parse_midi(tmp_path)


@pytest.mark.parametrize("engine", ENGINES)
def test_format_0_two_channels_is_one_part(engine: str) -> None:
    """A format-0 file with the hands on channels 1 and 2: music21 keeps one part and
    gathers chords across the channels; the fast engine merges symusic's split tracks."""
    # left hand (channel 2): C3 from tick 0 to 480; right hand (channel 1): E4 from tick
    # 100 to 480. Alone, tick 100 (0.21 quarters) would snap to the sixteenth (3); gathered
    # into the left hand's chord it sits at 0, and the chord takes the length of its last
    # member (380 ticks -> 0.75 quarters = 9), as music21 does.
    left_hand = [(0, bytes([0x91, 48, 70])), (480, bytes([0x81, 48, 0]))]
    right_hand = [(100 / 480, 380 / 480, 64), (1, 1, 67)]
    data = tracks_bytes([TrackSpec(notes=right_hand, extra=left_hand)], fmt=0, conductor=False)
    piece = parse_bytes(data, engine)
    assert [(n.onset, n.duration, n.pitch) for n in piece.notes] == [
        (0, 9, 48),
        (0, 9, 64),
        (12, 12, 67),
    ]


def test_measure_offsets_are_realigned() -> None:
    """music21 can leave a measure overfull (shifting every later measure of that hand);
    notes are placed from the nominal bar starts, a measure cut short by a meter change
    stays short, and the meter comes from the measures' own time signatures."""
    from fractions import Fraction

    from music21 import meter, note, stream

    part = stream.Part()
    bars = [  # (actual offset music21 left, time signature, notes (offset in bar, pitch))
        (0, "3/4", [(0, 60)]),
        (3.5, None, [(0, 62)]),  # the first bar was overfull by 0.5: drifted
        (6.5, "15/32", [(0.5, 64)]),  # 15/32 = 1.875 quarters ...
        (7.5, "2/4", [(0, 65)]),  # ... cut short after 1.0 by a meter change: real
    ]
    for number, (offset, ts, notes) in enumerate(bars, start=1):
        measure = stream.Measure(number=number)
        if ts:
            measure.timeSignature = meter.TimeSignature(ts)
        for at, pitch in notes:
            measure.insert(at, note.Note(pitch))
        part.insert(offset, measure)
    meta: dict = {}
    placed = [(offset, el.pitch.midi) for offset, el in parse._absolute_notes(part, meta)]
    assert placed == [(0, 60), (3, 62), (Fraction(13, 2), 64), (7, 65)]
    assert meta["measures_realigned"] == 3


def test_join_ties_by_pitch_end_and_origin() -> None:
    from fractions import Fraction

    third = Fraction(1, 3)
    pieces = [
        # two overlapping C4s split at the barline 4: origins tell them apart
        (Fraction(3), Fraction(1), 60, 80, "start", 10),
        (3 + third, 2 * third, 60, 70, "start", 20),
        (Fraction(4), third, 60, 70, "stop", 20),
        (Fraction(4), Fraction(1), 60, 80, "stop", 10),
        # a chord holding E4 twice, each copy tied on its own
        (Fraction(2), Fraction(2), 64, 80, "start", None),
        (Fraction(2), Fraction(2), 64, 80, "start", None),
        (Fraction(4), Fraction(1, 2), 64, 80, "stop", None),
        (Fraction(4), Fraction(1, 2), 64, 80, "continue", None),
        (Fraction(9, 2), Fraction(1, 2), 64, 80, "stop", None),
        # an untied note
        (Fraction(5), Fraction(1), 67, 80, "", 30),
    ]
    joined = sorted(parse._join_ties(pieces))
    assert joined == [
        (2, Fraction(5, 2), 64, 80),
        (2, Fraction(3), 64, 80),
        (3, 2, 60, 80),
        (3 + third, 1, 60, 70),  # 2/3 before the barline + 1/3 after it
        (5, 1, 67, 80),
    ]
