"""A content-addressed JSON cache of parsed pieces, and parallel parsing through it.

Key: sha256 of the file's bytes + engine + :data:`~pianogen.parse.PARSER_VERSION` + the note
limit, so an edited file, another engine or a parser change is a miss, while a renamed or
moved file is a hit. Value: the piece's JSON -- or the reason a bad file was skipped, so bad
files are not re-parsed every run -- under ``cache_dir/notes/<engine>/<key>.json``, written
atomically (:mod:`pianogen.io`): a killed process leaves the old entry or none, never half
of one. An unreadable entry (truncated, hand-edited) is a miss and is rewritten. No pickle:
entries are plain JSON.

:func:`parse_many` answers hits first, then parses the misses in a process pool, one file
per task, and returns results in the input order. A file that makes the parser raise
something unexpected, run past its time budget or kill its worker process becomes that
file's skip reason (not cached, so a later run retries it), never the end of the run.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from pianogen.io import atomic_write_text
from pianogen.notes import Note, Piece
from pianogen.parse import (
    DEFAULT_MAX_NOTES,
    ENGINES,
    PARSER_VERSION,
    BadMidi,
    Skipped,
    parse_bytes,
)

log = logging.getLogger("pianogen")

__all__ = [
    "DEFAULT_TIME_BUDGET",
    "OutOfTime",
    "cache_key",
    "entry_path",
    "parse_many",
    "pool_context",
    "read_entry",
    "time_budget",
    "write_entry",
]

# Seconds one file may take before it is skipped. music21 needs ~90 s for the longest
# piano-midi.de piece on an idle core; the fast engine needs milliseconds.
DEFAULT_TIME_BUDGET = {"music21": 900.0, "fast": 120.0}
# Below this many misses the fast engine parses in-process: starting workers costs more.
_FAST_POOL_MIN = 100


def cache_key(data: bytes, engine: str, max_notes: int = DEFAULT_MAX_NOTES) -> str:
    """The cache key of a file's bytes for an engine (see the module docstring)."""
    content = hashlib.sha256(data).hexdigest()
    text = f"{content}|{engine}|{PARSER_VERSION}|{int(max_notes)}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def entry_path(cache_dir: Path | str, engine: str, key: str) -> Path:
    return Path(cache_dir) / "notes" / engine / f"{key}.json"


def read_entry(path: Path, name: str = "", source: str = "") -> Piece | str | None:
    """A cached piece (named ``name``, from ``source``), a cached skip reason (``str``), or
    ``None`` for a miss. Anything unreadable -- missing, truncated, not our format -- is a
    miss."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("version") != PARSER_VERSION:
            return None
        if "skipped" in data:
            return str(data["skipped"])
        return _piece(data["piece"], name, source)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_entry(path: Path, result: Piece | str) -> None:
    """Store a piece or a skip reason atomically."""
    body: dict = {"version": PARSER_VERSION}
    if isinstance(result, Piece):
        body["piece"] = _columns(result)
    else:
        body["skipped"] = result
    atomic_write_text(Path(path), json.dumps(body, separators=(",", ":")))


def _columns(piece: Piece) -> dict:
    """A piece as JSON with its notes as four columns: 4x faster to load than rows."""
    notes = piece.notes
    return {
        "qpm": piece.qpm,
        "meta": piece.meta,
        "onset": [n.onset for n in notes],
        "duration": [n.duration for n in notes],
        "pitch": [n.pitch for n in notes],
        "velocity": [n.velocity for n in notes],
        # music21's elements part by part (pianogen.partwise): offsets, then pitch lists
        "streams": [[[o for o, _ in part], [list(p) for _, p in part]] for part in piece.streams],
    }


def _piece(data: dict, name: str, source: str) -> Piece:
    columns = [data[key] for key in ("onset", "duration", "pitch", "velocity")]
    if len({len(c) for c in columns}) != 1 or not all(isinstance(c, list) for c in columns):
        raise ValueError("note columns of different lengths")
    return Piece(
        name=name,
        notes=tuple(map(Note, *columns)),
        qpm=float(data["qpm"]),
        source=source,
        meta=dict(data["meta"]),
        streams=tuple(
            tuple(zip(offsets, map(tuple, pitches), strict=True))
            for offsets, pitches in data.get("streams", ())
        ),
    )


# --------------------------------------------------------------------------- parsing
class OutOfTime(Exception):
    """Raised inside :func:`time_budget` when the time is up."""


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Raise :class:`OutOfTime` in this thread after ``seconds`` (main thread only)."""
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(_signum, _frame):
        raise OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _parse_safely(
    data: bytes, engine: str, max_notes: int, budget: float | None, name: str, source: str
) -> tuple[Piece | str, bool]:
    """Parse one file's bytes; never raises. Returns (piece or skip reason, cacheable)."""
    try:
        with time_budget(budget):
            return parse_bytes(data, engine, max_notes=max_notes, name=name, source=source), True
    except BadMidi as exc:
        return exc.reason, True
    except OutOfTime:
        return f"parsing took longer than {budget:g} s (not cached)", False
    except RecursionError:
        return "the parser recursed too deeply (not cached)", False
    except MemoryError:
        return "the parser ran out of memory (not cached)", False
    except Exception as exc:  # noqa: BLE001 -- a third-party parser bug must not end the run
        detail = f"{type(exc).__name__}: {exc}"[:120]
        return f"the parser failed unexpectedly ({detail}; not cached)", False


def _parse_one(data: bytes, engine: str, max_notes: int, budget: float | None) -> dict:
    """Worker-process task: :func:`_parse_safely` with a plain JSON-able answer."""
    result, cacheable = _parse_safely(data, engine, max_notes, budget, "", "")
    if isinstance(result, Piece):
        return {"piece": _columns(result), "cache": cacheable}
    return {"skipped": result, "cache": cacheable}


def pool_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: ``fork`` on Linux, ``spawn`` elsewhere.

    fork starts a worker in milliseconds with the parser already imported (spawn re-imports
    music21, ~2 s per worker) and works from scripts without an ``if __name__ ==
    "__main__"`` guard, where spawn would re-run the script. The workers only parse, so
    threads of the parent (a notebook kernel, TensorFlow) are not a concern for them.
    ``PIANOGEN_MP_START=spawn`` (or ``forkserver``) overrides it.
    """
    method = os.environ.get("PIANOGEN_MP_START")
    if method is None:
        fork_ok = sys.platform.startswith("linux")
        method = (
            "fork" if fork_ok and "fork" in multiprocessing.get_all_start_methods() else "spawn"
        )
    return multiprocessing.get_context(method)


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, desc=desc, unit="file")


def parse_many(
    paths: Sequence[Path | str],
    engine: str = "fast",
    cache_dir: Path | str = Path(".cache"),
    jobs: int | None = None,
    progress: bool = True,
    *,
    max_notes: int = DEFAULT_MAX_NOTES,
    names: Sequence[str] | None = None,
    desc: str | None = None,
    time_budget: float | None = None,
) -> tuple[list[Piece], list[Skipped]]:
    """Parse ``paths`` through the cache; ``(pieces, skipped)`` in the order of ``paths``.

    ``jobs``: worker processes for the misses (default ``os.cpu_count()``; 1 parses in this
    process). ``names``: piece names (default: file stems). ``time_budget``: seconds per file
    (default :data:`DEFAULT_TIME_BUDGET` for the engine; enforced with ``SIGALRM`` in the
    worker). ``Skipped.file`` is the path as given.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown parse engine {engine!r}; choose one of {list(ENGINES)}")
    paths = [Path(p) for p in paths]
    names = list(names) if names is not None else [p.stem for p in paths]
    if len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} paths")
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    budget = DEFAULT_TIME_BUDGET[engine] if time_budget is None else time_budget
    results: list[Piece | str | None] = [None] * len(paths)
    todo: list[tuple[int, bytes, Path]] = []  # (index, bytes, cache entry)
    bar = _progress(len(paths), progress, desc or f"parsing ({engine})")
    try:
        for i, path in enumerate(paths):
            try:
                data = path.read_bytes()
            except OSError as exc:
                reason = "permission denied" if isinstance(exc, PermissionError) else None
                results[i] = f"unreadable ({reason or exc.strerror or type(exc).__name__})"
                bar.update()
                continue
            entry = entry_path(cache_dir, engine, cache_key(data, engine, max_notes))
            cached = read_entry(entry, names[i], str(path))
            if cached is None:
                todo.append((i, data, entry))
            else:
                results[i] = cached
                bar.update()
        entries = {i: entry for i, _data, entry in todo}
        misses = _parse_misses(todo, engine, max_notes, budget, jobs, bar, names, paths)
        for i, result, cacheable in misses:
            if cacheable:
                write_entry(entries[i], result)
            results[i] = result
    finally:
        bar.close()
    pieces: list[Piece] = []
    skipped: list[Skipped] = []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, Piece):
            pieces.append(result)
        else:
            skipped.append(Skipped(str(path), str(result)))
    return pieces, skipped


def _parse_misses(
    todo: list[tuple[int, bytes, Path]],
    engine: str,
    max_notes: int,
    budget: float | None,
    jobs: int,
    bar,
    names: list[str],
    paths: list[Path],
) -> Iterator[tuple[int, Piece | str, bool]]:
    """Yield ``(index, piece or reason, cacheable)`` for every miss, here or in a pool."""
    serial = jobs == 1 or len(todo) <= 1 or (engine == "fast" and len(todo) < _FAST_POOL_MIN)
    if serial:
        for i, data, _entry in todo:
            yield (i, *_parse_safely(data, engine, max_notes, budget, names[i], str(paths[i])))
            bar.update()
        return

    def unpack(i: int, answer: dict) -> tuple[int, Piece | str, bool]:
        if "piece" in answer:
            return i, _piece(answer["piece"], names[i], str(paths[i])), answer["cache"]
        return i, str(answer["skipped"]), answer["cache"]

    context = pool_context()
    broken: list[tuple[int, bytes]] = []
    # The biggest files first, so a long one does not start last and run alone.
    ordered = sorted(todo, key=lambda item: -len(item[1]))
    with cf.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
        try:
            pool.submit(_ping).result()
        except cf.process.BrokenProcessPool:
            # Workers cannot start here (e.g. spawn from a script without a __main__
            # guard): parse in this process rather than call every file a crash.
            log.warning("parser worker processes failed to start; parsing in this process")
            ordered = []
            broken = []
            serial_todo = todo
        else:
            serial_todo = []
        futures = {
            pool.submit(_parse_one, data, engine, max_notes, budget): (i, data)
            for i, data, _entry in ordered
        }
        for future in cf.as_completed(futures):
            i, data = futures[future]
            try:
                answer = future.result()
            except cf.process.BrokenProcessPool:
                broken.append((i, data))  # retried alone below: which file killed it?
                continue
            bar.update()
            yield unpack(i, answer)
    for i, data, _entry in serial_todo:
        yield (i, *_parse_safely(data, engine, max_notes, budget, names[i], str(paths[i])))
        bar.update()
    for i, data in sorted(broken, key=lambda item: item[0]):
        yield unpack(i, _parse_isolated(data, engine, max_notes, budget, context))
        bar.update()


def _ping() -> bool:
    return True


def _parse_isolated(
    data: bytes, engine: str, max_notes: int, budget: float | None, context
) -> dict:
    """Parse in a fresh one-worker pool, so a crash is this file's alone."""
    started = time.monotonic()
    try:
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(_parse_one, data, engine, max_notes, budget).result()
    except cf.process.BrokenProcessPool:
        seconds = time.monotonic() - started
        return {
            "skipped": f"the parser process crashed on this file ({seconds:.1f} s; not cached)",
            "cache": False,
        }
