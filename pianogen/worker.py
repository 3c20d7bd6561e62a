"""One artist's part of the batch, in a worker: its notebooks in order, skipped when done.

A worker receives an artist's spec as JSON (artist, data_dir, out_dir, profile, force and
its :class:`Task` list; a spec that trains one model on several artists also lists them,
``artists``, and its data is all of theirs) and returns an
:class:`~pianogen.progress.ArtistResult` as JSON; nothing else crosses the process
boundary. Under the artist's lock it skips each task whose input key is unchanged
(``.stamp.json``), executes the others with :func:`pianogen.execution.execute_notebook`
(their output to ``_logs/<task>.log``), keeps a failed notebook in ``_failed/``, reports
each task's start and end to the batch's progress display, and writes
``provenance.json``. ``python -m pianogen.worker`` runs one artist from a spec on stdin
(how Dask workers run it, one process per artist).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import logging.handlers
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pianogen import __version__, progress
from pianogen.data import artist_data_hash, scan_artist
from pianogen.errors import PianogenError
from pianogen.execution import (
    LOGS_DIR,
    THREAD_VARIABLES,
    error_line,
    execute_notebook,
    machine_info,
)
from pianogen.io import atomic_write_json, file_lock, read_json, sha256_file
from pianogen.progress import ArtistResult

__all__ = [
    "FAILED_DIR",
    "LOCK_FILE",
    "PROVENANCE_FILE",
    "RESULT_MARKER",
    "STAMP_FILE",
    "VERSION_PACKAGES",
    "Task",
    "WorkerError",
    "artist_data_hash",
    "artist_files",
    "configure",
    "init_worker",
    "inputs_key",
    "nothing_to_do",
    "package_versions",
    "read_stamp",
    "run_artist",
    "run_artist_json",
    "run_artist_subprocess",
    "spec_key",
    "stamped_key",
]

log = logging.getLogger(__name__)


class WorkerError(PianogenError, RuntimeError):
    """An artist's worker process ended without returning its result."""


STAMP_FILE = ".stamp.json"
LOCK_FILE = ".lock"
PROVENANCE_FILE = "provenance.json"
FAILED_DIR = "_failed"
# label -> distributions that provide it (the first one installed wins)
VERSION_PACKAGES = {"tensorflow": ("tensorflow", "tensorflow-cpu")} | {
    name: (name,) for name in ("pianogen", "keras", "music21", "numpy", "papermill")
}
_OUTPUT_NAME = re.compile(r"^0\d_[^/]*\.ipynb$")  # what the batch writes into an artist folder
RESULT_MARKER = "pianogen-batch-result: "  # how the artist subprocess returns its JSON
_PARENT_PID: int | None = None  # set in pool workers: stop starting tasks once it is gone
_REPORT: Callable[[Any], None] | None = None  # where task events go (a queue in pool workers)
_LIVE_KERNELS = False  # --verbose: kernels print on our terminal instead of to log files


def artist_files(data_dir: Path, artist: str) -> list[Path]:
    """The artist's MIDI files as training will read them (:func:`pianogen.data.scan_artist`:
    hidden files skipped, symlinks that leave the folder refused)."""
    return scan_artist(data_dir, artist)[0]


def _sha(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages the results depend on (None: not installed)."""
    found: dict[str, str | None] = {}
    for label, dists in VERSION_PACKAGES.items():
        found[label] = None
        for dist in dists:
            with contextlib.suppress(metadata.PackageNotFoundError):
                found[label] = metadata.version(dist)
                break
    return found


@dataclass(frozen=True)
class Task:
    """One notebook execution: source, target and the parameter values it receives."""

    name: str
    notebook: str
    output: str
    parameters: dict[str, Any]
    requires: tuple[str, ...] = ()  # every one of these must have succeeded
    requires_any: tuple[str, ...] = ()  # at least one of these must have succeeded
    # A fingerprint of what the notebook reads beyond its artist's data and parameters (an
    # evaluation page: every artist's data, which the composer classifier learns from, and
    # the conditioned runs whose views it evaluates); "" for none. Part of the task's key.
    inputs: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        lists = {k: tuple(data[k]) for k in ("requires", "requires_any")}
        return cls(**{**data, **lists})


# --------------------------------------------------------------------------- execution
def _artist_lock(out_dir: Path) -> contextlib.AbstractContextManager[bool]:
    """An exclusive lock on the artist's folder; yields False if another batch holds it."""
    return file_lock(out_dir / LOCK_FILE, wait=False)


def read_stamp(path: Path) -> dict[str, Any]:
    try:
        stamp = read_json(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return {"tasks": {}}
    return stamp if isinstance(stamp.get("tasks"), dict) else {"tasks": {}}


def _task_keys(spec: dict[str, Any], tasks: list[Task], data_hash: str) -> list[str]:
    """Each task's input key, chained: a changed task also changes every later one."""
    key = _sha("artist", spec["artist"], data_hash, spec["profile"], __version__)
    keys = []
    for task in tasks:
        parts = (task.name, sha256_file(Path(task.notebook)), task.parameters)
        key = _sha(key, *parts, task.inputs) if task.inputs else _sha(key, *parts)
        keys.append(key)
    return keys


def spec_key(spec: dict[str, Any]) -> str:
    """The key of a spec's last task: it changes whenever any of its tasks' inputs do."""
    tasks = [Task.from_json(t) for t in spec["tasks"]]
    return _task_keys(spec, tasks, _spec_data_hash(spec)[0])[-1] if tasks else ""


def stamped_key(spec: dict[str, Any]) -> str:
    """The key its last task was stamped with when it last ran ("" if never): what the
    spec's outputs on disk were made from."""
    if not spec["tasks"]:
        return ""
    done = read_stamp(Path(spec["out_dir"]) / STAMP_FILE)["tasks"]
    return str((done.get(spec["tasks"][-1]["name"]) or {}).get("key", ""))


def inputs_key(*parts: Any) -> str:
    """A :attr:`Task.inputs` fingerprint of ``parts`` (JSON-serialisable)."""
    return _sha("inputs", *parts)


def _spec_data_hash(spec: dict[str, Any]) -> tuple[str, int]:
    """The data hash and file count of a spec: its artist's, or for a spec that trains on
    several artists (``spec["artists"]``, a conditioned model) all of theirs together."""
    data_dir = Path(spec["data_dir"])
    if not spec.get("artists"):
        return artist_data_hash(data_dir, spec["artist"])
    found = [artist_data_hash(data_dir, a) for a in spec["artists"]]
    return _sha("artists", spec["artists"], [h for h, _ in found]), sum(n for _, n in found)


def _is_done(done: dict[str, Any], task: Task, key: str) -> bool:
    return done.get(task.name, {}).get("key") == key and Path(task.output).is_file()


def nothing_to_do(spec: dict[str, Any]) -> bool:
    """True when every task of the artist is finished with unchanged inputs.

    Checked without the lock (the worker checks again under it); it only spares starting a
    worker process for an artist with nothing to do.
    """
    tasks = [Task.from_json(t) for t in spec["tasks"]]
    try:
        data_hash, _ = _spec_data_hash(spec)
    except OSError:
        return False
    done = read_stamp(Path(spec["out_dir"]) / STAMP_FILE)["tasks"]
    keys = _task_keys(spec, tasks, data_hash)
    return not spec["force"] and all(map(_is_done, [done] * len(tasks), tasks, keys))


def _check_parent() -> None:
    """In a pool worker whose batch process died (e.g. SIGKILL), start nothing more."""
    if _PARENT_PID is not None and os.getppid() != _PARENT_PID:
        log.warning("batch process %d is gone; worker %d stops", _PARENT_PID, os.getpid())
        os._exit(1)


def _report(artist: str, task: str, event: str, **more: Any) -> None:
    """Tell the batch's progress display about a task (see :mod:`pianogen.progress`)."""
    if _REPORT is not None:
        _REPORT({"artist": artist, "task": task, "event": event, **more})


def run_artist(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one artist's tasks in order (skipping finished ones); never raises for a task.

    ``spec``: artist, data_dir, out_dir, profile (dict), force, tasks (``Task`` dicts).
    Returns an :class:`ArtistResult` as a dict.
    """
    start = time.monotonic()
    artist, out_dir = spec["artist"], Path(spec["out_dir"])
    result = ArtistResult(artist=artist, status="failed")
    with _artist_lock(out_dir) as locked:
        if not locked:
            result.error = f"another batch is running {artist!r} (lock {out_dir / LOCK_FILE})"
            return result.to_json()
        _run_locked(spec, out_dir, result)
    result.seconds = round(time.monotonic() - start, 2)
    if result.failed or result.blocked:
        result.status = "failed"
    else:
        result.status = "succeeded" if result.ran else "skipped"
    return result.to_json()


def _run_locked(spec: dict[str, Any], out_dir: Path, result: ArtistResult) -> None:
    artist = spec["artist"]
    tasks = [Task.from_json(t) for t in spec["tasks"]]
    for leftover in out_dir.glob(".*.partial.ipynb"):
        leftover.unlink()
    try:
        data_hash, n_files = _spec_data_hash(spec)
    except OSError as exc:
        result.error = f"cannot read the artist's files: {error_line(exc)}"
        return
    stamp_path = out_dir / STAMP_FILE
    done: dict[str, dict[str, Any]] = read_stamp(stamp_path)["tasks"]
    state: dict[str, str] = {}
    ok = ("ran", "skipped")
    for task, key in zip(tasks, _task_keys(spec, tasks, data_hash), strict=True):
        output = Path(task.output)
        if not spec["force"] and _is_done(done, task, key):
            state[task.name] = "skipped"
            result.skipped.append(task.name)
            _report(artist, task.name, progress.SKIPPED)
            continue
        done.pop(task.name, None)
        blocked = any(state.get(r) not in ok for r in task.requires) or (
            task.requires_any and not any(state.get(r) in ok for r in task.requires_any)
        )
        if blocked:
            state[task.name] = "blocked"
            result.blocked.append(task.name)
            output.unlink(missing_ok=True)  # a stale output must not pose as current
            _report(artist, task.name, progress.BLOCKED)
            continue
        _check_parent()
        log.debug("batch: %s: %s started", artist, task.name)
        _report(artist, task.name, progress.STARTED)
        log_path = None if _LIVE_KERNELS else out_dir / LOGS_DIR / f"{task.name}.log"
        began = time.monotonic()
        try:
            execute_notebook(Path(task.notebook), output, task.parameters, log_path=log_path)
        except Exception as exc:  # noqa: BLE001 - isolation: any failure stays with its task
            state[task.name] = "failed"
            result.failed.append(task.name)
            line, seconds = error_line(exc), time.monotonic() - began
            result.error = result.error or f"{task.name}: {line}"
            result.log = result.log or (str(log_path) if log_path else "")
            log.debug("batch: %s: %s FAILED after %.1f s: %s", artist, task.name, seconds, line)
            _report(artist, task.name, progress.FAILED, seconds=seconds, log=str(log_path or ""))
            output.unlink(missing_ok=True)
            partial = getattr(exc, "partial", None)
            if partial is not None and Path(partial).is_file():
                (out_dir / FAILED_DIR).mkdir(exist_ok=True)
                Path(partial).replace(out_dir / FAILED_DIR / output.name)
        else:
            seconds = round(time.monotonic() - began, 2)
            state[task.name] = "ran"
            result.ran.append(task.name)
            (out_dir / FAILED_DIR / output.name).unlink(missing_ok=True)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            done[task.name] = {"key": key, "seconds": seconds, "finished": now}
            log.debug("batch: %s: %s finished in %.1f s", artist, task.name, seconds)
            _report(artist, task.name, progress.RAN, seconds=seconds)
        atomic_write_json(stamp_path, {"artist": artist, "tasks": done})
    _remove_stale(out_dir, {Path(t.output).name for t in tasks}, done)
    atomic_write_json(stamp_path, {"artist": artist, "tasks": done})
    if result.ran or result.failed or not (out_dir / PROVENANCE_FILE).is_file():
        _write_provenance(spec, tasks, state, done, data_hash, n_files)


def _remove_stale(out_dir: Path, planned: set[str], done: dict[str, Any]) -> None:
    """Delete executed notebooks of tasks no longer planned (e.g. the profile changed)."""
    for path in out_dir.iterdir():
        if _OUTPUT_NAME.match(path.name) and path.name not in planned:
            log.info("batch: removing %s (no longer in the profile)", path)
            path.unlink()
    for name in [name for name in done if f"{name}.ipynb" not in planned]:
        del done[name]


def _write_provenance(
    spec: dict[str, Any],
    tasks: list[Task],
    state: dict[str, str],
    done: dict[str, Any],
    data_hash: str,
    n_files: int,
) -> None:
    """``provenance.json``: how this artist's part of the book was made."""
    provenance = {
        "artist": spec["artist"],
        "profile": spec["profile"]["name"],
        "profile_config": spec["profile"],
        "data_hash": data_hash,
        "midi_files": n_files,
        "parameters": {t.name: t.parameters for t in tasks},
        "notebooks": {t.name: sha256_file(Path(t.notebook))[:16] for t in tasks},
        "tasks": state,
        "run_time_s": round(sum(float(e.get("seconds", 0.0)) for e in done.values()), 2),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "python": platform.python_version(),
        "machine": machine_info(),
        # TensorFlow's thread pools in the kernels (unset: every core): they change the
        # trainings' last digits.
        "threads": {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }
    atomic_write_json(Path(spec["out_dir"]) / PROVENANCE_FILE, provenance)


def run_artist_json(spec_json: str) -> str:
    """Process/Dask entry point: JSON in, JSON out (nothing else crosses the boundary)."""
    return json.dumps(run_artist(json.loads(spec_json)))


def run_artist_subprocess(spec_json: str) -> str:
    """Dask entry point: the artist runs in a fresh ``python -m pianogen.batch`` process.

    Dask may run tasks in threads, and papermill/nbclient share one event loop per process
    (two notebooks at once in threads fail with "This event loop is already running"), so
    each artist gets its own process: own kernels, event loop, memory and working folder.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "pianogen.worker"],
        input=spec_json,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        raise WorkerError(f"artist process exited with status {proc.returncode}")
    return lines[-1].removeprefix(RESULT_MARKER)


def configure(report: Callable[[Any], None] | None, live: bool = False) -> None:
    """Where this process's task events go (None: nowhere) and whether kernels print live
    (``--verbose``) instead of to their log files."""
    global _REPORT, _LIVE_KERNELS
    _REPORT, _LIVE_KERNELS = report, live


def init_worker(
    level: int,
    parent_pid: int,
    events: Any = None,
    live: bool = False,
    environment: dict[str, str] | None = None,
) -> None:
    """Pool worker set-up: task events and log records go to the batch through ``events``
    (a queue), so they reach the user's terminal above the progress bar; ``environment``
    becomes the defaults of the worker's kernels (a variable the user set is kept)."""
    global _PARENT_PID
    _PARENT_PID = parent_pid
    for name, value in (environment or {}).items():
        os.environ.setdefault(name, value)
    if events is None:
        configure(None, live)
        logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
        return
    configure(events.put, live)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(events)]
    root.setLevel(level)


if __name__ == "__main__":  # one artist, spec JSON on stdin, result JSON on stdout
    init_worker(logging.INFO, os.getppid())
    print(RESULT_MARKER + run_artist_json(sys.stdin.read()))
