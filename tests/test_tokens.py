"""Tokens: music21-compatible names and normal orders, paper and timed encode/decode pairs."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pianogen import tokens
from pianogen.notes import Note
from pianogen.tokens import (
    MAX_ADVANCE,
    MAX_DURATION,
    PAPER_STEP,
    chord_voicing,
    decode,
    encode,
    normal_order,
    parse_pitch_name,
    pitch_name,
    token_kind,
    token_pitches,
    write_midi,
)


def n(onset: int, duration: int, pitch: int, velocity: int = 80) -> Note:
    return Note(onset, duration, pitch, velocity)


def at_default_velocity(notes):
    return sorted(replace(x, velocity=tokens.DEFAULT_VELOCITY) for x in notes)


# --------------------------------------------------------------------------- pitch names
def test_pitch_name_spelling():
    assert [pitch_name(p) for p in (60, 61, 63, 66, 70, 58, 21, 108)] == [
        "C4",
        "C#4",
        "E-4",
        "F#4",
        "B-4",
        "B-3",
        "A0",
        "C8",
    ]


def test_pitch_names_equal_music21_and_parse_back_for_every_midi_pitch():
    from music21 import pitch

    for midi in range(128):
        name = pitch_name(midi)
        assert name == pitch.Pitch(midi).nameWithOctave, midi
        assert parse_pitch_name(name) == midi


def test_octave_minus_one_has_no_digit_and_is_unambiguous():
    # as in music21: MIDI 4 is "E", MIDI 27 is "E-1" (E-flat 1), MIDI 34 is "B-1"
    assert [pitch_name(p) for p in (0, 4, 11, 27, 34)] == ["C", "E", "B", "E-1", "B-1"]
    assert [parse_pitch_name(x) for x in ("C", "E", "B", "E-1", "B-1")] == [0, 4, 11, 27, 34]


@pytest.mark.parametrize("bad", ["H4", "c4", "Cb4", "C#10", "E#4", "", "G#9", "4", "C-"])
def test_parse_pitch_name_rejects(bad):
    with pytest.raises(ValueError):
        parse_pitch_name(bad)


def test_pitch_name_range():
    with pytest.raises(ValueError, match=r"0\.\.127"):
        pitch_name(128)


# --------------------------------------------------------------------------- normal order
def test_normal_order_examples():
    assert normal_order([60, 64, 67]) == (0, 4, 7)
    assert normal_order([64, 67, 71]) == (4, 7, 11)
    assert normal_order([70, 74, 77]) == (10, 2, 5)  # B-, D, F (music21 docs)
    assert normal_order([48, 60]) == (0,)
    assert normal_order([0, 4, 8]) == (0, 4, 8)  # symmetric: starts on the lowest pc
    with pytest.raises(ValueError):
        normal_order([])


def test_normal_order_equals_music21_for_all_4095_pitch_class_sets():
    from music21 import chord, pitch

    for mask in range(1, 1 << 12):
        pcs = [pc for pc in range(12) if mask >> pc & 1]
        # Pitch objects skip music21's enharmonic simplification (60x faster); spelling
        # does not change pitch classes. A few int-built chords below check that.
        expected = chord.Chord([pitch.Pitch(60 + pc) for pc in pcs]).normalOrder
        assert list(normal_order(pcs)) == expected, pcs


def test_normal_order_of_int_chords_equals_music21():
    from music21 import chord

    rng = random.Random(0)
    cases = [[48, 60], [60, 64, 67], [64, 67, 71], [43, 59, 62, 65]]
    cases += [rng.sample(range(36, 96), rng.randint(2, 6)) for _ in range(20)]
    for pitches in cases:
        assert list(normal_order(pitches)) == chord.Chord(pitches).normalOrder, pitches


# --------------------------------------------------------------------------- paper encode
def test_merged_encode_notes_chords_and_merged_hands():
    notes = [
        n(0, 6, 60),  # C4
        n(6, 6, 62),  # D4
        n(12, 12, 64),  # E-G-B from two hands at one onset: one event
        n(12, 12, 67, 30),
        n(12, 12, 71),
        n(24, 6, 48),  # C3 + C4: one pitch class, still a chord
        n(24, 6, 60),
        n(30, 6, 70),  # B-4
    ]
    assert encode(notes, "merged") == ["C4", "D4", "4.7.11", "0", "B-4"]


def test_merged_encode_ignores_input_order_and_duplicates():
    notes = [n(0, 6, 60), n(0, 6, 60), n(6, 6, 64), n(6, 6, 67)]
    shuffled = list(reversed(notes))
    assert encode(shuffled, "merged") == encode(notes, "merged") == ["C4", "4.7"]


def test_merged_rests_only_when_nothing_sounds():
    # a gap after C4 and after D4 -> R; the held bass covers the later gaps -> no R
    notes = [n(0, 6, 60), n(12, 6, 62), n(24, 48, 36), n(30, 3, 67), n(48, 3, 69)]
    assert encode(notes, "merged") == ["C4", "R", "D4", "R", "C2", "G4", "A4"]
    # a note ending exactly at the next onset leaves no silence
    assert encode([n(0, 6, 60), n(6, 6, 62)], "merged") == ["C4", "D4"]
    # silence before the first note is not a rest; one R per silence, however long
    assert encode([n(24, 3, 60), n(300, 3, 62)], "merged") == ["C4", "R", "D4"]
    assert encode([], "merged") == []


# --------------------------------------------------------------------------- paper decode
def test_paper_decode_fixed_step_and_voicing():
    notes = decode(["C4", "R", "0.4.7", "0", "E-5"], "paper")
    s = PAPER_STEP
    assert notes == [
        n(0, s, 60),
        n(2 * s, s, 48),
        n(2 * s, s, 52),
        n(2 * s, s, 55),
        n(3 * s, s, 48),
        n(3 * s, s, 60),
        n(4 * s, s, 75),
    ]


def test_chord_voicing_is_not_collapsed_into_one_octave():
    # normal order 10.2.5 (B-, D, F): B-3, D4, F4 — bass in octave 3, stacked upwards
    assert chord_voicing([10, 2, 5]) == [58, 62, 65]
    assert chord_voicing([4, 7, 11]) == [52, 55, 59]
    assert chord_voicing([0]) == [48, 60]
    assert token_pitches("11.2.5.8", "paper") == [59, 62, 65, 68]


def test_merged_round_trip_on_tokens():
    toks = ["C4", "4.7.11", "R", "0", "B-2", "10.2.5", "R", "G#6"]
    assert encode(decode(toks, "merged"), "merged") == toks


@st.composite
def paper_token_seqs(draw):
    out: list[str] = []
    for i in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["note", "chord", "rest"]))
        if kind == "rest" and i > 0 and out[-1] != "R":
            out.append("R")
        elif kind == "chord":
            pcs = draw(st.sets(st.integers(0, 11), min_size=1, max_size=12))
            out.append(".".join(map(str, normal_order(pcs))))
        else:
            out.append(pitch_name(draw(st.integers(0, 127))))
    while out and out[-1] == "R":
        out.pop()
    return out


@settings(max_examples=150, deadline=None)
@given(paper_token_seqs())
def test_merged_decode_then_encode_is_identity(toks):
    assert encode(decode(toks, "merged"), "merged") == toks


@pytest.mark.parametrize("bad", ["H4", "12", "0.0", "0.4.", "C4:d6", "", "r"])
def test_paper_decode_rejects_unknown_tokens(bad):
    with pytest.raises(ValueError):
        decode(["C4", bad], "paper")


def test_token_pitches_and_kinds_paper():
    assert token_pitches("R", "paper") == []
    assert token_pitches("C#4", "paper") == [61]
    assert token_pitches("4.7.11", "paper") == [52, 55, 59]
    assert [token_kind(t, "paper") for t in ("R", "C4", "0", "4.7")] == [
        "rest",
        "note",
        "chord",
        "chord",
    ]
    for tok in ("C4", "0.4.7", "0"):
        assert sorted({x.pitch for x in decode([tok], "paper")}) == token_pitches(tok, "paper")


def test_unknown_vocabulary():
    with pytest.raises(ValueError, match="vocabulary"):
        encode([n(0, 3, 60)], "midi")


# --------------------------------------------------------------------------- timed
def test_timed_tokens_by_hand():
    notes = [
        n(0, 12, 48),  # bass held a quarter under two eighths
        n(0, 6, 64),
        n(0, 6, 67),
        n(6, 6, 65),
        n(24, 3, 72),  # after a silence: shift of 18 ticks
    ]
    assert encode(notes, "timed") == [
        "C3:d12",
        "E4:d6",
        "G4:d6",
        "a6",
        "F4:d6",
        "a18",
        "C5:d3",
    ]


HAND_EXAMPLES = {
    "scale": [n(3 * i, 3, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])],
    "chord with held melody": [
        *(n(0, 48, 76), n(0, 12, 48), n(0, 12, 55), n(12, 12, 52)),
        *(n(24, 24, 53), n(24, 24, 57)),
    ],
    "overlapping": [n(0, 10, 60), n(4, 10, 60), n(8, 1, 61), n(9, 30, 40)],
    "rest": [n(0, 6, 60), n(18, 6, 62), n(130, 3, 64)],
    "triplets": [*(n(4 * i, 4, 60 + i) for i in range(6)), n(24, 3, 70), n(27, 9, 71)],
    "leading silence": [n(100, 6, 60), n(100, 6, 64)],
    "repeated note": [n(0, 6, 60), n(0, 6, 60), n(0, 12, 60)],
    "extremes": [n(0, MAX_DURATION, 0), n(0, 1, 127), n(1, 1, 4), n(2, 1, 11)],
}


@pytest.mark.parametrize("name", sorted(HAND_EXAMPLES))
def test_timed_round_trip_hand_examples(name):
    notes = HAND_EXAMPLES[name]
    toks = encode(notes, "timed")
    assert decode(toks, "timed") == at_default_velocity(notes)
    assert encode(decode(toks, "timed"), "timed") == toks


def test_timed_long_gaps_split_and_durations_clip():
    toks = encode([n(0, 3, 60), n(3 + 2 * MAX_ADVANCE + 5, MAX_DURATION + 40, 62)], "timed")
    assert toks == [
        "C4:d3",
        f"a{MAX_ADVANCE}",
        f"a{MAX_ADVANCE}",
        "a8",
        f"D4:d{MAX_DURATION}",
    ]
    assert decode(toks, "timed")[1] == n(3 + 2 * MAX_ADVANCE + 5, MAX_DURATION, 62)
    # leading silence is shifts too, so onsets stay exact
    assert encode([n(50, 3, 60)], "timed") == [f"a{MAX_ADVANCE}", "a2", "C4:d3"]


def test_timed_velocity_is_not_kept():
    assert decode(encode([n(0, 3, 60, velocity=5)], "timed"), "timed") == [n(0, 3, 60, 80)]


notes_strategy = st.lists(
    st.builds(
        Note,
        onset=st.one_of(
            st.integers(0, 64).map(lambda k: 3 * k),  # sixteenth grid
            st.integers(0, 48).map(lambda k: 4 * k),  # triplet grid
            st.integers(0, 400),  # anything else on the 12-ticks grid
        ),
        duration=st.one_of(st.sampled_from([3, 4, 6, 8, 12, 24, 48]), st.integers(1, MAX_DURATION)),
        pitch=st.integers(0, 127),
        velocity=st.integers(0, 127),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(notes_strategy)
def test_timed_round_trip_property(notes):
    toks = encode(notes, "timed")
    assert decode(toks, "timed") == at_default_velocity(notes)
    assert all(token_kind(t, "timed") in ("note", "shift") for t in toks)


@settings(max_examples=50, deadline=None)
@given(notes_strategy)
def test_merged_encode_property(notes):
    toks = encode(notes, "merged")
    assert len([t for t in toks if t != "R"]) == len({x.onset for x in notes})
    decoded = decode(toks, "paper")
    assert {x.pitch % 12 for x in decoded} == {x.pitch % 12 for x in notes}


def test_timed_token_pitches_and_errors():
    assert token_pitches("F#5:d6", "timed") == [78]
    assert token_pitches("a6", "timed") == []
    assert token_kind("a6", "timed") == "shift"
    for bad in ("C4", "C4:d0", "a0", "a-3", "R", "0.4.7", "C4.E4:d6", "C4:d6:a6"):
        with pytest.raises(ValueError):
            decode([bad], "timed")


# --------------------------------------------------------------------------- MIDI
def test_write_midi_round_trip_with_symusic(tmp_path: Path):
    from symusic import Score

    notes = [n(0, 12, 60, 90), n(0, 6, 64), n(6, 4, 67, 100), n(30, 3, 72)]
    path = write_midi(notes, tmp_path / "out" / "piece.mid", qpm=90.0, program=0)
    assert path == tmp_path / "out" / "piece.mid"
    assert sorted(p.name for p in path.parent.iterdir()) == ["piece.mid"]  # no temp files
    score = Score(str(path))
    assert score.ticks_per_quarter == 480
    assert len(score.tracks) == 1
    track = score.tracks[0]
    assert track.program == 0 and not track.is_drum
    assert [round(t.qpm, 3) for t in score.tempos] == [90.0]
    got = sorted(Note(x.time // 40, x.duration // 40, x.pitch, x.velocity) for x in track.notes)
    assert got == sorted(notes)


def test_write_midi_program_and_errors(tmp_path: Path):
    from symusic import Score

    path = write_midi([n(0, 3, 60)], tmp_path / "a.mid", program=4)
    assert Score(str(path)).tracks[0].program == 4
    silent = Score(str(write_midi([n(0, 3, 60, velocity=0)], tmp_path / "v.mid")))
    assert [(x.pitch, x.velocity) for x in silent.tracks[0].notes] == [(60, 1)]
    with pytest.raises(ValueError, match="qpm"):
        write_midi([n(0, 3, 60)], tmp_path / "b.mid", qpm=0)
    with pytest.raises(ValueError, match="program"):
        write_midi([n(0, 3, 60)], tmp_path / "b.mid", program=128)
    assert not (tmp_path / "b.mid").exists()


def test_paper_encode_reads_notes_as_one_music21_track_in_four_four():
    # Notes without the parsed parts (generated music): one track, bars of 4/4, one rest
    # per gap and a rest filling the last bar, a note over the barline cut into two
    notes = [n(0, 12, 60), n(24, 12, 62), n(42, 12, 64)]
    assert encode(notes, "paper") == ["C4", "R", "D4", "R", "E4", "E4", "R"]
    # notes starting together with the same duration are one chord, within the track
    assert encode([n(0, 48, 60), n(0, 48, 64), n(0, 48, 67)], "paper") == ["0.4.7"]
