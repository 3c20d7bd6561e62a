"""Bad input of every kind, built in the test: the run goes on, each bad file is reported
with a one-line reason, no traceback reaches the user and nothing is left half-written."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import midi_factory as mf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pianogen import data
from pianogen.cache import read_entry
from pianogen.data import NoUsableData
from pianogen.notes import Piece
from pianogen.parse import BadMidi, parse_bytes, parse_midi

GOOD = [(0, 1, 60), (1, 1, 64), (2, 1, 67), (3, 0.5, 72), (3.5, 0.5, 71)]

# file name -> (builder, the reason it is skipped, or None if it must parse)
CASES = {
    "zero.mid": (mf.broken_zero_byte, "empty file (0 bytes)"),
    "random.mid": (mf.broken_random_bytes, "not a MIDI file (no MThd header)"),
    "truncated.mid": (mf.broken_truncated, "truncated or corrupt MIDI data"),
    "huge_chunk.mid": (mf.broken_huge_chunk_length, "truncated or corrupt MIDI data"),
    "format2.mid": (mf.broken_format2, "MIDI format 2 is not supported"),
    "drums.mid": (mf.broken_drum_only, "percussion only (channel 10)"),
    "no_notes.mid": (mf.broken_no_notes, "no notes"),
    "ons_only.mid": (mf.broken_note_ons_without_offs, "no notes"),
    "absurd_tempo.mid": (mf.broken_absurd_tempo, None),
    "crowd.mid": (lambda p: mf.many_simultaneous_notes(p, 3000), None),
    "Ünïcode 'quoted' \"name\" with spaces.MID": (
        lambda p: mf.write_midi_file(p, GOOD),
        None,
    ),
    "nested/deeper/inner.mid": (lambda p: mf.write_midi_file(p, GOOD), None),
}


def build_artist(root: Path, artist: str = "messy") -> Path:
    folder = root / artist
    for name, (builder, _reason) in CASES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        builder(folder / name)
    (folder / "liner notes.pdf").write_bytes(b"%PDF-1.4 not music")
    (folder / "nested" / "loop").symlink_to(folder)
    return folder


@pytest.mark.parametrize("engine", ["fast", "music21"])
def test_messy_folder(tmp_path: Path, engine: str, caplog: pytest.LogCaptureFixture) -> None:
    build_artist(tmp_path)
    if engine == "music21":  # music21 needs seconds for 3000 simultaneous notes
        mf.many_simultaneous_notes(tmp_path / "messy" / "crowd.mid", 300)
    cache_dir = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="pianogen"):
        loaded = data.load_artist(
            tmp_path, "messy", engine=engine, cache_dir=cache_dir, jobs=1, progress=False
        )
    names = [p.name for p in loaded.pieces]
    assert names == [
        "absurd_tempo",
        "crowd",
        "nested/deeper/inner",
        "Ünïcode 'quoted' \"name\" with spaces",
    ]
    reasons = {s.file: s.reason for s in loaded.skipped}
    for name, (_builder, reason) in CASES.items():
        if reason is not None:
            assert reasons[name].startswith(reason), (name, reasons[name])
    assert reasons["liner notes.pdf"] == "not a MIDI file name (.pdf)"
    assert "already searched" in reasons["nested/loop"]
    assert len(loaded.skipped) == 10
    # one warning line per skipped file, naming it, and never a traceback
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 10
    assert all("\n" not in w and w.startswith("skipped ") for w in warnings)
    assert "Traceback" not in caplog.text
    by_name = {p.name: p for p in loaded.pieces}
    assert by_name["absurd_tempo"].qpm == 120.0
    assert by_name["absurd_tempo"].meta["qpm_clamped_from"] == 60_000_000.0
    assert len(by_name["crowd"].notes) == 88  # duplicates merged: 88 distinct pitches at 0
    # every cache entry is complete JSON (pieces or skip reasons), no stray temp files
    entries = list((cache_dir / "notes" / engine).iterdir())
    assert len(entries) == len(CASES) - 1  # the two GOOD files have the same bytes: one key
    for entry in entries:
        assert entry.suffix == ".json" and not entry.name.startswith(".")
        assert read_entry(entry) is not None, entry.name


def test_no_traceback_for_the_user(tmp_path: Path) -> None:
    """A real process loading a messy folder and an empty one: warnings and a clear error
    line on stderr, exit status 0, no Python traceback."""
    build_artist(tmp_path)
    (tmp_path / "empty").mkdir()
    script = textwrap.dedent(
        f"""
        import logging, sys
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
        from pianogen.data import load_artist, NoUsableData
        loaded = load_artist({str(tmp_path)!r}, "messy", cache_dir={str(tmp_path / "c")!r})
        print(len(loaded.pieces), len(loaded.skipped))
        try:
            load_artist({str(tmp_path)!r}, "empty", cache_dir={str(tmp_path / "c")!r})
        except NoUsableData as exc:
            print("error:", exc, file=sys.stderr)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4", "10"]
    assert "Traceback" not in done.stderr
    assert "WARNING: skipped zero.mid: empty file (0 bytes)" in done.stderr
    assert "error: artist 'empty' has no usable MIDI file" in done.stderr


def test_empty_artist_folder(tmp_path: Path) -> None:
    (tmp_path / "nobody").mkdir()
    with pytest.raises(NoUsableData, match="'nobody'"):
        data.load_artist(tmp_path, "nobody", cache_dir=tmp_path / "c", progress=False)


def test_artist_with_only_bad_files_lists_them(tmp_path: Path) -> None:
    mf.broken_zero_byte(tmp_path / "bad" / "a.mid")
    mf.broken_drum_only(tmp_path / "bad" / "b.mid")
    with pytest.raises(NoUsableData) as info:
        data.load_artist(tmp_path, "bad", cache_dir=tmp_path / "c", progress=False)
    message = str(info.value)
    assert "a.mid: empty file" in message and "b.mid: percussion only" in message


def test_tiny_artist_still_parses(tmp_path: Path) -> None:
    """Too small for one 50-token window: parsing works; training reports it later."""
    mf.write_midi_file(tmp_path / "tiny" / "t.mid", [(0, 1, 60), (1, 1, 62)])
    loaded = data.load_artist(tmp_path, "tiny", cache_dir=tmp_path / "c", progress=False)
    assert [len(p.notes) for p in loaded.pieces] == [2]


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not block reads")
def test_unreadable_file_chmod(tmp_path: Path) -> None:
    path = mf.write_midi_file(tmp_path / "locked" / "x.mid", GOOD)
    mf.write_midi_file(tmp_path / "locked" / "y.mid", GOOD)
    path.chmod(0)
    try:
        loaded = data.load_artist(tmp_path, "locked", cache_dir=tmp_path / "c", progress=False)
    finally:
        path.chmod(0o644)
    assert [p.name for p in loaded.pieces] == ["y"]
    assert loaded.skipped[0].reason == "unreadable (permission denied)"


def test_unreadable_file_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path without needing a non-root user: reading the file raises
    PermissionError (as it does for a chmod-000 file when not root)."""
    locked = mf.write_midi_file(tmp_path / "locked" / "x.mid", GOOD)
    mf.write_midi_file(tmp_path / "locked" / "y.mid", GOOD)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    loaded = data.load_artist(tmp_path, "locked", cache_dir=tmp_path / "c", progress=False)
    assert [p.name for p in loaded.pieces] == ["y"]
    assert [(s.file, s.reason) for s in loaded.skipped] == [
        ("x.mid", "unreadable (permission denied)")
    ]
    with pytest.raises(BadMidi, match="permission denied"):
        parse_midi(locked)


def test_unsafe_artist_names_are_refused_before_any_file_access(tmp_path: Path) -> None:
    for name in ("..", "../outside", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="unsafe artist name"):
            data.load_artist(tmp_path, name, cache_dir=tmp_path / "c", progress=False)


# ----------------------------------------------------------------------- fuzzing
VALID = [
    mf.midi_bytes(GOOD),
    mf.tracks_bytes(
        [mf.TrackSpec(notes=GOOD, program=1), mf.TrackSpec(notes=GOOD[:2], drum=True)], tpq=96
    ),
    mf.tracks_bytes([mf.TrackSpec(notes=GOOD)], fmt=0, conductor=False),
]


def check(data_bytes: bytes) -> None:
    try:
        piece = parse_bytes(data_bytes, "fast", max_notes=5000)
    except BadMidi as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert isinstance(piece, Piece) and piece.notes
    assert all(n.duration > 0 and 0 <= n.pitch <= 127 for n in piece.notes)
    assert list(piece.notes) == sorted(piece.notes)
    assert Piece.from_json(json.loads(json.dumps(piece.to_json()))) == piece


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(blob: bytes) -> None:
    check(blob)
    check(b"MThd" + blob)  # get past the first check


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10_000),
)
def test_fuzz_mutated_valid_files(base: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    mutated = bytearray(base)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    check(bytes(mutated))
    check(bytes(mutated[: max(1, len(mutated) - cut % len(mutated))]))
