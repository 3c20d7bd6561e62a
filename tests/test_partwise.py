"""The paper's part-wise extraction: the fast emulation against music21 itself.

The reference is the paper's own loop (``partitionByInstrument`` + ``recurse()``), run here
on tiny MIDI built in code; the fast engine must give the same elements in the same order.
"""

from __future__ import annotations

import difflib
import random
from pathlib import Path

import pytest
from midi_factory import TrackSpec, tracks_bytes

from pianogen import tokens
from pianogen.parse import parse_bytes, parse_midi
from pianogen.partwise import track_instruments

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "piano-midi-de"


def paper_loop(data: bytes) -> list[str]:
    """The paper's code, as its lineage writes it (rests included)."""
    from music21 import chord, converter, instrument, note

    score = converter.parse(data, format="midi", forceSource=True)
    parts = instrument.partitionByInstrument(score)
    out = []
    for part in parts.parts if parts else [score]:
        for el in part.recurse():
            if isinstance(el, note.Note):
                out.append(str(el.pitch))
            elif isinstance(el, chord.Chord):
                out.append(".".join(str(i) for i in el.normalOrder))
            elif isinstance(el, note.Rest):
                out.append("R")
    return out


def exact(data: bytes, engine: str) -> list[str]:
    return tokens.encode_piece(parse_bytes(data, engine), "paper")


def tempo(tick: int, qpm: float) -> tuple[int, bytes]:
    return tick, b"\xff\x51\x03" + round(60_000_000 / qpm).to_bytes(3, "big")


HAND = {
    # right hand C5 D5, left hand a C3+G3 fifth (normal order 7.0): chords stay within a
    # hand, the hands interleave by onset (right first), each hand fills its bar with a rest
    "two hands": (
        [
            TrackSpec(notes=[(0, 1, 72), (1, 1, 74)], name="Piano right"),
            TrackSpec(notes=[(0, 2, 48), (0, 2, 55)], name="Piano left"),
        ],
        ["C5", "7.0", "D5", "R", "R"],
    ),
    # a note over the barline is two tokens; rests before and after it
    "tie": ([TrackSpec(notes=[(3, 2, 60)])], ["R", "C4", "C4", "R"]),
    # a tempo change inside a silence ends a rest: two rests for one gap
    "tempo splits a rest": (
        [TrackSpec(notes=[(0, 1, 60), (4, 1, 62)], extra=[tempo(960, 90)])],
        ["C4", "R", "R", "D4", "R"],
    ),
    # partitionByInstrument groups by instrument name: a track without a program change is
    # named after itself ("Piano left2": a part of its own, after the program-0 piano that
    # merges the other two hands by offset)
    "no program change": (
        [
            TrackSpec(notes=[(0, 1, 72)], name="Piano right"),
            TrackSpec(notes=[(0, 1, 48)], name="Piano left2", program_change=False),
            TrackSpec(notes=[(1, 1, 60)], name="Piano left"),
        ],
        ["C5", "R", "R", "C4", "R", "C3", "R"],
    ),
    # two notes starting together with different ends: voice 1 holds C3, voice 2 E4 F4 and
    # its rest; at one offset the first voice comes first
    "voices": (
        [TrackSpec(notes=[(0, 4, 48), (0, 1, 64), (1, 1, 65)])],
        ["C3", "E4", "F4", "R"],
    ),
}


@pytest.mark.parametrize("case", sorted(HAND))
@pytest.mark.parametrize("engine", ["fast", "music21"])
def test_hand_checked_tokens(case: str, engine: str) -> None:
    specs, expected = HAND[case]
    data = tracks_bytes(specs)
    assert paper_loop(data) == expected  # the paper's code itself
    assert exact(data, engine) == expected


@pytest.mark.parametrize("engine", ["fast", "music21"])
def test_a_part_that_is_no_instrument_is_left_out_beside_the_pianos(engine: str) -> None:
    # a track named by a copyright line, without a program change, is no instrument to
    # music21: the paper's loop would read it too, the piano parts are what is kept
    specs, expected = HAND["no program change"]
    data = tracks_bytes([*specs, TrackSpec([(0, 1, 36)], name="(c) 2004", program_change=False)])
    assert paper_loop(data) == [*expected, "C2", "R"]
    assert exact(data, engine) == expected


def test_track_instruments_reads_names_and_program_changes() -> None:
    specs, _ = HAND["no program change"]
    assert track_instruments(tracks_bytes(specs)) == [
        ("Piano right", True),
        ("Piano left2", False),
        ("Piano left", True),
    ]
    assert (
        track_instruments(
            b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x02\x00\xff"
        )
        == []
    )


def test_explore_counts_exact_tokens(tmp_path: Path) -> None:
    from pianogen.config import TokenConfig
    from pianogen.explore import explore

    folder = tmp_path / "midi" / "a"
    folder.mkdir(parents=True)
    for name, (specs, _) in HAND.items():
        (folder / f"{name.replace(' ', '_')}.mid").write_bytes(tracks_bytes(specs))
    result = explore(
        tmp_path / "midi", "a", TokenConfig(vocabulary="paper"), cache_dir=tmp_path / "c"
    )
    expected = sum(len(e) for _, e in HAND.values())
    assert result["tokens"] == expected
    assert result["token_kinds"]["rest"] == sum(e.count("R") for _, e in HAND.values())


@pytest.mark.slow
def test_fast_equals_music21_on_random_files() -> None:
    """Random small files (one or two hands, overlaps, ties, triplets, tempo changes in the
    conductor track as piano-midi.de writes them): the fast engine's elements equal
    music21's, token for token."""
    rng = random.Random(7)
    for _ in range(30):
        tpq = rng.choice([96, 384, 480])
        tracks = []
        for _t in range(rng.choice([1, 2])):
            notes, pos = [], 0.0
            for _n in range(rng.randint(2, 25)):
                pos += rng.choice([0, 0.25, 0.5, 1, 1.5, 2, 1 / 3])
                notes.append((pos, rng.choice([0.25, 0.5, 1, 2, 3, 5]), rng.randint(40, 84)))
            tracks.append(TrackSpec(notes=notes))
        tempi = [tempo(rng.randint(0, 8 * tpq), rng.choice([80, 100])) for _ in range(2)]
        data = tracks_bytes(tracks, tpq=tpq, conductor_extra=tempi)
        assert exact(data, "music21") == paper_loop(data)  # the reference is the paper's
        assert exact(data, "fast") == exact(data, "music21")


@pytest.mark.skipif(not SHARED.is_dir(), reason="piano-midi.de folders not in ../shared")
@pytest.mark.parametrize(
    "name", ["chopin/chpn-p7.mid", "schumann/scn15_4.mid", "borodin/bor_ps1.mid"]
)
def test_real_files_agree_with_music21(name: str) -> None:
    path = SHARED / name
    fast = tokens.encode_piece(parse_midi(path, "fast"), "paper")
    ref = tokens.encode_piece(parse_midi(path, "music21"), "paper")
    matcher = difflib.SequenceMatcher(None, fast, ref, autojunk=False)
    same = sum(block.size for block in matcher.get_matching_blocks())
    assert same / max(len(fast), len(ref)) >= 0.98
