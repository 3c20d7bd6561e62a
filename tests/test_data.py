"""Artist folders: names, discovery (nested, symlinks, other files), loading, hashing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from midi_factory import broken_random_bytes, write_midi_file

from pianogen import data
from pianogen.data import NoUsableData, Skipped, validate_artist_name

MELODY = [(0, 1, 60), (1, 1, 62), (2, 1, 64), (3, 1, 65)]


@pytest.mark.parametrize(
    "name",
    [
        "chopin",
        "Clara Schumann",
        "Dvořák",
        "Saint-Saëns",
        "C.P.E. Bach",
        "O'Neill (arr.) & co",
        "李斯特",
        "a_b,c",
    ],
)
def test_valid_artist_names(name: str) -> None:
    assert validate_artist_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        (".", "relative path"),
        ("..", "relative path"),
        ("a/b", "separator"),
        ("a\\b", "separator"),
        (".hidden", "starts with a dot"),
        ("bad\x00name", "control character"),
        ("tab\there", "control character"),
        ("x" * 101, "longer than 100"),
        ("semi;colon", "';'"),
        ("star*", "'\\*'"),
        (" padded", "space"),
    ],
)
def test_invalid_artist_names(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as info:
        validate_artist_name(name)
    if name.strip():
        assert repr(name)[:20] in str(info.value)  # the message names the bad name


def test_non_string_name() -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        validate_artist_name(None)  # type: ignore[arg-type]


def test_list_artists(tmp_path: Path) -> None:
    for name in ("schumann", "bach", ".git"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert data.list_artists(tmp_path) == ["bach", "schumann"]
    with pytest.raises(FileNotFoundError, match="one folder per artist"):
        data.list_artists(tmp_path / "missing")
    (tmp_path / "bad;name").mkdir()
    with pytest.raises(ValueError, match="bad;name"):
        data.list_artists(tmp_path)


def make_artist(root: Path) -> Path:
    folder = root / "bach"
    write_midi_file(folder / "b.mid", MELODY)
    write_midi_file(folder / "A.MIDI", MELODY)
    write_midi_file(folder / "op 1" / "nested.Mid", MELODY)
    write_midi_file(folder / "op 1" / "deeper" / "x.mid", MELODY)
    (folder / "README.txt").write_text("not music")
    write_midi_file(folder / ".hidden.mid", MELODY)
    write_midi_file(folder / ".git" / "c.mid", MELODY)
    return folder


def test_discovery_nested_sorted_any_case(tmp_path: Path) -> None:
    folder = make_artist(tmp_path)
    files, skipped = data.scan_artist(tmp_path, "bach")
    rel = [p.relative_to(folder).as_posix() for p in files]
    assert rel == ["A.MIDI", "b.mid", "op 1/deeper/x.mid", "op 1/nested.Mid"]
    assert skipped == [Skipped("README.txt", "not a MIDI file name (.txt)")]
    assert data.list_midi_files(tmp_path, "bach") == files


def test_symlinks_inside_outside_and_loops(tmp_path: Path) -> None:
    folder = make_artist(tmp_path)
    outside = write_midi_file(tmp_path / "elsewhere" / "o.mid", MELODY)
    (folder / "outside.mid").symlink_to(outside)
    (folder / "same.mid").symlink_to(folder / "b.mid")
    (folder / "op 1" / "loop").symlink_to(folder)
    (folder / "dangling.mid").symlink_to(folder / "nowhere.mid")
    (folder / "self.mid").symlink_to(folder / "self.mid")
    files, skipped = data.scan_artist(tmp_path, "bach")
    rel = [p.relative_to(folder).as_posix() for p in files]
    assert rel == ["A.MIDI", "b.mid", "op 1/deeper/x.mid", "op 1/nested.Mid"]
    reasons = {s.file: s.reason for s in skipped}
    assert reasons["outside.mid"] == "symlink points outside the artist folder"
    assert reasons["same.mid"] == "same file as b.mid"
    assert "already searched" in reasons["op 1/loop"]
    assert "broken symlink" in reasons["dangling.mid"]
    assert "symlink loop" in reasons["self.mid"]


def test_missing_artist_folder(tmp_path: Path) -> None:
    with pytest.raises(NoUsableData, match="no folder"):
        data.scan_artist(tmp_path, "nobody")
    with pytest.raises(ValueError, match="unsafe artist name"):
        data.scan_artist(tmp_path, "../etc")


def test_load_artist(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_artist(tmp_path)
    broken_random_bytes(folder / "noise.mid")
    with caplog.at_level(logging.WARNING, logger="pianogen"):
        loaded = data.load_artist(tmp_path, "bach", cache_dir=tmp_path / "cache", progress=False)
    assert [p.name for p in loaded.pieces] == ["A", "b", "op 1/deeper/x", "op 1/nested"]
    assert all(len(p.notes) == 4 for p in loaded.pieces)
    assert {s.file: s.reason for s in loaded.skipped} == {
        "README.txt": "not a MIDI file name (.txt)",
        "noise.mid": "not a MIDI file (no MThd header)",
    }
    assert "skipped noise.mid: not a MIDI file" in caplog.text
    assert "skipped README.txt" in caplog.text
    assert len(loaded.data_hash) == 64
    # the same files give the same hash; an edit, a rename or a new file changes it
    again = data.load_artist(tmp_path, "bach", cache_dir=tmp_path / "cache", progress=False)
    assert again.data_hash == loaded.data_hash
    write_midi_file(folder / "b.mid", [*MELODY, (4, 1, 67)])
    edited = data.load_artist(tmp_path, "bach", cache_dir=tmp_path / "cache", progress=False)
    assert edited.data_hash != loaded.data_hash
    (folder / "b.mid").rename(folder / "c.mid")
    renamed = data.load_artist(tmp_path, "bach", cache_dir=tmp_path / "cache", progress=False)
    assert renamed.data_hash not in (loaded.data_hash, edited.data_hash)


def test_data_hash_matches_the_batch_definition(tmp_path: Path) -> None:
    """sha256 over "<relative path>\\0<file sha256>\\n" in path order (as batch.py hashes)."""
    import hashlib

    from pianogen.io import sha256_file

    folder = make_artist(tmp_path)
    files = data.list_midi_files(tmp_path, "bach")
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(sha256_file(path).encode() + b"\n")
    loaded = data.load_artist(tmp_path, "bach", cache_dir=tmp_path / "cache", progress=False)
    assert loaded.data_hash == digest.hexdigest()


def test_load_all_pools_artists(tmp_path: Path) -> None:
    write_midi_file(tmp_path / "bach" / "x.mid", MELODY)
    write_midi_file(tmp_path / "chopin" / "x.mid", MELODY)
    (tmp_path / "empty").mkdir()
    loaded = data.load_artist(tmp_path, "all", cache_dir=tmp_path / "c", progress=False)
    assert loaded.artist == "all"
    assert [p.name for p in loaded.pieces] == ["bach/x", "chopin/x"]


def test_nothing_usable_names_artist_and_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "satie"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    (folder / "empty.mid").write_bytes(b"")
    with pytest.raises(NoUsableData, match="'satie'") as info:
        data.load_artist(tmp_path, "satie", cache_dir=tmp_path / "c", progress=False)
    assert "empty.mid: empty file" in str(info.value)
    assert "notes.txt: not a MIDI file name" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_empty_artist_folder(tmp_path: Path) -> None:
    (tmp_path / "cage").mkdir()
    with pytest.raises(NoUsableData, match=r"'cage' has no usable MIDI file.*no MIDI files"):
        data.load_artist(tmp_path, "cage", cache_dir=tmp_path / "c", progress=False)


def test_skipped_json_round_trip() -> None:
    item = Skipped("a.mid", "empty file (0 bytes)")
    assert Skipped.from_json(item.to_json()) == item
    assert item.to_json() == {"file": "a.mid", "reason": "empty file (0 bytes)"}


def test_batch_explore_and_training_agree_on_artists_and_files(tmp_path):
    """One rule for what an artist is and which of its files count, wherever it is asked."""
    from pianogen import batch
    from pianogen import data as data_module

    data = tmp_path / "data"
    for name in ("one", "two"):
        write_midi_file(data / "a" / f"{name}.mid", MELODY)
    write_midi_file(data / "a" / ".hidden.mid", MELODY)  # hidden: never read
    outside = write_midi_file(tmp_path / "elsewhere.mid", MELODY)
    (data / "a" / "outside.mid").symlink_to(outside)  # leaves the artist folder: refused
    write_midi_file(data / "_aside" / "x.mid", MELODY)  # "_" folder: set aside, no artist
    write_midi_file(data / ".git" / "y.mid", MELODY)

    assert data_module.list_artists(data) == ["a"]
    names, failed = batch._artists(data, None)
    assert names == ["a"] and failed == []
    loaded = data_module.load_artist(data, "a", cache_dir=tmp_path / "cache", progress=False)
    assert sorted(p.name for p in loaded.pieces) == ["one", "two"]
    assert batch.artist_data_hash(data, "a") == (loaded.data_hash, 2)
    pooled = data_module.load_artist(data, "all", cache_dir=tmp_path / "cache", progress=False)
    assert sorted(p.name for p in pooled.pieces) == ["a/one", "a/two"]  # no _aside/x
