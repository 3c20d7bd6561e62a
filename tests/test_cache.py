"""The parse cache: hits, misses, corrupt entries, crash safety, parallel parsing."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from midi_factory import write_midi_file

from pianogen import cache
from pianogen.cache import cache_key, entry_path, parse_many, read_entry
from pianogen.data import Skipped
from pianogen.notes import Note, Piece
from pianogen.parse import PARSER_VERSION

MELODY = [(0, 1, 60), (1, 1, 62), (2, 0.5, 64), (2.5, 1.5, 67)]


def files(tmp_path: Path, n: int = 3) -> list[Path]:
    """Files p0, p1, ...: file i opens with pitch 60 + i at velocity 100 + i."""
    return [
        write_midi_file(tmp_path / "in" / f"p{i}.mid", [(0, 1, 60 + i, 100 + i), *MELODY])
        for i in range(n)
    ]


class Counter:
    """Wraps parse_bytes to count calls (or to misbehave)."""

    def __init__(self, action=None):
        self.calls = 0
        self.action = action

    def __call__(self, data, engine, **kwargs):
        self.calls += 1
        if self.action is not None:
            self.action(data)
        return REAL_PARSE(data, engine, **kwargs)


REAL_PARSE = cache.parse_bytes


def test_hit_returns_identical_piece(tmp_path: Path, monkeypatch) -> None:
    paths = files(tmp_path)
    first, skipped = parse_many(paths, "fast", tmp_path / "c", jobs=1, progress=False)
    assert skipped == []
    counter = Counter()
    monkeypatch.setattr(cache, "parse_bytes", counter)
    second, _ = parse_many(paths, "fast", tmp_path / "c", jobs=1, progress=False)
    assert counter.calls == 0
    assert second == first  # name, notes, qpm, source
    assert [p.meta for p in second] == [p.meta for p in first]
    assert second[0].notes[0] == Note(0, 12, 60, 100)


def test_entry_layout_and_key(tmp_path: Path) -> None:
    [path] = files(tmp_path, 1)
    parse_many([path], "fast", tmp_path / "c", jobs=1, progress=False)
    key = cache_key(path.read_bytes(), "fast")
    entry = entry_path(tmp_path / "c", "fast", key)
    assert entry == tmp_path / "c" / "notes" / "fast" / f"{key}.json"
    assert isinstance(read_entry(entry), Piece)
    assert cache_key(path.read_bytes(), "music21") != key
    assert cache_key(path.read_bytes(), "fast", max_notes=10) != key


def test_content_change_is_a_miss_and_rename_is_a_hit(tmp_path: Path, monkeypatch) -> None:
    [path] = files(tmp_path, 1)
    parse_many([path], "fast", tmp_path / "c", jobs=1, progress=False)
    counter = Counter()
    monkeypatch.setattr(cache, "parse_bytes", counter)
    write_midi_file(path, [(0, 2, 72)])
    [piece], _ = parse_many([path], "fast", tmp_path / "c", jobs=1, progress=False)
    assert counter.calls == 1
    assert piece.notes == (Note(0, 24, 72, 80),)
    moved = path.rename(tmp_path / "moved.mid")
    [again], _ = parse_many([moved], "fast", tmp_path / "c", jobs=1, progress=False)
    assert counter.calls == 1
    assert (again.name, again.source, again.notes) == ("moved", str(moved), piece.notes)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "",  # empty
        lambda text: "\x00\x01garbage",  # not JSON
        lambda text: text.replace('"onset":[', '"onset":[0,'),  # columns of unequal length
        lambda text: json.dumps({"version": PARSER_VERSION, "piece": {"notes": [[1, 2]]}}),
        lambda text: text.replace('"version":"', '"version":"old'),  # another parser version
    ],
)
def test_corrupt_entry_is_reparsed_and_rewritten(tmp_path: Path, monkeypatch, damage) -> None:
    [path] = files(tmp_path, 1)
    [good], _ = parse_many([path], "fast", tmp_path / "c", jobs=1, progress=False)
    entry = entry_path(tmp_path / "c", "fast", cache_key(path.read_bytes(), "fast"))
    entry.write_text(damage(entry.read_text()))
    assert read_entry(entry) is None
    counter = Counter()
    monkeypatch.setattr(cache, "parse_bytes", counter)
    [piece], _ = parse_many([path], "fast", tmp_path / "c", jobs=1, progress=False)
    assert counter.calls == 1
    assert piece == good
    assert read_entry(entry).notes == good.notes  # rewritten


def test_bad_files_are_cached_with_their_reason(tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x02\x00\x01\x01\xe0")
    _, skipped = parse_many([bad], "fast", tmp_path / "c", jobs=1, progress=False)
    assert skipped == [Skipped(str(bad), "MIDI format 2 is not supported (only formats 0 and 1)")]
    counter = Counter()
    monkeypatch.setattr(cache, "parse_bytes", counter)
    _, again = parse_many([bad], "fast", tmp_path / "c", jobs=1, progress=False)
    assert counter.calls == 0
    assert again == skipped


def test_order_is_the_input_order(tmp_path: Path) -> None:
    paths = files(tmp_path, 4)
    empty = tmp_path / "in" / "empty.mid"
    empty.write_bytes(b"")
    parse_many(paths[2:], "fast", tmp_path / "c", jobs=1, progress=False)  # some hits
    order = [paths[3], empty, paths[0], paths[2], paths[1]]
    pieces, skipped = parse_many(order, "fast", tmp_path / "c", jobs=1, progress=False)
    assert [p.name for p in pieces] == ["p3", "p0", "p2", "p1"]
    assert [s.file for s in skipped] == [str(empty)]
    named, _ = parse_many(
        paths[:2], "fast", tmp_path / "c", jobs=1, progress=False, names=["a", "b"]
    )
    assert [p.name for p in named] == ["a", "b"]


def test_unreadable_path(tmp_path: Path) -> None:
    _, skipped = parse_many([tmp_path / "missing.mid"], "fast", tmp_path / "c", progress=False)
    assert skipped[0].reason.startswith("unreadable")


def test_unexpected_parser_error_is_a_skip_not_cached(tmp_path: Path, monkeypatch) -> None:
    paths = files(tmp_path, 2)

    def explode(data: bytes) -> None:
        if b"\x90\x3c\x64" in data:  # note-on 60 at velocity 100: p0 only
            raise ZeroDivisionError("bug in a library")

    monkeypatch.setattr(cache, "parse_bytes", Counter(explode))
    pieces, skipped = parse_many(paths, "fast", tmp_path / "c", jobs=1, progress=False)
    assert [p.name for p in pieces] == ["p1"]
    assert "failed unexpectedly (ZeroDivisionError: bug in a library" in skipped[0].reason
    monkeypatch.setattr(cache, "parse_bytes", REAL_PARSE)
    pieces, skipped = parse_many(paths, "fast", tmp_path / "c", jobs=1, progress=False)
    assert (len(pieces), skipped) == (2, [])  # retried, since the failure was not cached


def test_time_budget(tmp_path: Path, monkeypatch) -> None:
    [path] = files(tmp_path, 1)
    monkeypatch.setattr(cache, "parse_bytes", Counter(lambda data: time.sleep(10)))
    started = time.monotonic()
    _, skipped = parse_many([path], "fast", tmp_path / "c", jobs=1, progress=False, time_budget=0.3)
    assert time.monotonic() - started < 5
    assert skipped[0].reason == "parsing took longer than 0.3 s (not cached)"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_process_pool_and_a_crashing_worker(tmp_path: Path, monkeypatch) -> None:
    """Misses go to worker processes; a file that kills its worker is that file's skip."""
    paths = files(tmp_path, 5)

    def crash(data: bytes) -> None:
        if b"\x90\x3e\x66" in data:  # note-on 62 at velocity 102: p2 only
            os._exit(3)

    # fork, so the workers inherit the patched parser
    monkeypatch.setattr(cache, "pool_context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(cache, "_FAST_POOL_MIN", 1)
    monkeypatch.setattr(cache, "parse_bytes", Counter(crash))
    pieces, skipped = parse_many(paths, "fast", tmp_path / "c", jobs=2, progress=False)
    assert [p.name for p in pieces] == ["p0", "p1", "p3", "p4"]
    assert [s.file for s in skipped] == [str(paths[2])]
    assert "crashed" in skipped[0].reason
    # the good files were cached by the parent; the crash was not
    monkeypatch.setattr(cache, "parse_bytes", REAL_PARSE)
    serial, rest = parse_many(paths, "fast", tmp_path / "c", jobs=1, progress=False)
    assert [p.name for p in serial] == ["p0", "p1", "p2", "p3", "p4"] and rest == []
    assert serial[:2] == pieces[:2]


def test_pool_results_equal_serial_results(tmp_path: Path, monkeypatch) -> None:
    paths = files(tmp_path, 4)
    monkeypatch.setattr(cache, "_FAST_POOL_MIN", 1)
    pooled, _ = parse_many(paths, "fast", tmp_path / "pool", jobs=2, progress=False)
    serial, _ = parse_many(paths, "fast", tmp_path / "serial", jobs=1, progress=False)
    assert pooled == serial


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pianogen.cache import write_entry
    from pianogen.notes import Note, Piece

    real_fsync = os.fsync
    def announced_fsync(fd):  # test hook: say when the data is written but not renamed yet
        print("fsync", flush=True)
        time.sleep(0.05)
        real_fsync(fd)
    os.fsync = announced_fsync

    notes = tuple(Note(i, 3, 21 + i % 88, 64) for i in range(int(sys.argv[2])))
    piece = Piece("huge", notes)
    write_entry(sys.argv[1], piece)
    print("ready", flush=True)  # one entry is complete; now rewrite it until killed
    while True:
        write_entry(sys.argv[1], piece)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigkill_while_writing_never_leaves_a_corrupt_entry(tmp_path: Path) -> None:
    """A real writer process rewrites a ~1.5 MB entry over and over and is SIGKILLed:
    right after it wrote a new version but before the rename (the writer announces that
    moment), or at a random moment. The entry is always complete, never half-written."""
    entry = tmp_path / "notes" / "fast" / "entry.json"
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for attempt in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(entry), "60000"],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        line = b"fsync"
        while line == b"fsync":  # until the first entry is complete
            line = proc.stdout.readline().strip()
        assert line == b"ready", "the writer process failed to start"
        if attempt % 2 == 0:
            assert proc.stdout.readline().strip() == b"fsync"  # mid-write, for sure
        else:
            time.sleep(rng.uniform(0.01, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        piece = read_entry(entry)
        assert isinstance(piece, Piece), "a killed writer left a corrupt entry"
        assert len(piece.notes) == 60000
    leftovers = [p.name for p in entry.parent.iterdir() if p.name != entry.name]
    assert len(leftovers) >= 2  # the deterministic kills did interrupt writes
    assert all(name.startswith(".entry.json.") and name.endswith(".tmp") for name in leftovers)


def test_pool_start_method(monkeypatch) -> None:
    monkeypatch.delenv("PIANOGEN_MP_START", raising=False)
    expected = "fork" if sys.platform.startswith("linux") else "spawn"
    assert cache.pool_context().get_start_method() == expected
    monkeypatch.setenv("PIANOGEN_MP_START", "spawn")
    assert cache.pool_context().get_start_method() == "spawn"


@pytest.mark.slow
def test_workers_that_cannot_start_fall_back_to_this_process(tmp_path: Path) -> None:
    """spawn from a script without a __main__ guard cannot start workers: the files are
    parsed in the calling process (with a warning), not all reported as crashes."""
    paths = files(tmp_path, 3)
    script = textwrap.dedent(
        f"""
        import logging
        logging.basicConfig(format="%(levelname)s: %(message)s")
        import pianogen.cache as cache
        cache._FAST_POOL_MIN = 1
        pieces, skipped = cache.parse_many(
            {[str(p) for p in paths]!r}, "fast", {str(tmp_path / "c")!r}, jobs=2, progress=False
        )
        print(len(pieces), len(skipped))
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "PIANOGEN_MP_START": "spawn",
    }
    script_path = tmp_path / "no_main_guard.py"
    script_path.write_text(script)
    done = subprocess.run(
        [sys.executable, str(script_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.stdout.split() == ["3", "0"], done.stderr[-2000:]
    assert "parsing in this process" in done.stderr


def test_progress_bar_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = files(tmp_path, 3)
    parse_many(paths, "fast", tmp_path / "c", jobs=1, progress=True, desc="parsing bach")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "parsing bach" in captured.err and "3/3" in captured.err
    parse_many(paths, "fast", tmp_path / "c", jobs=1, progress=False)
    assert capsys.readouterr().err == ""
