"""Run the study's notebooks for every artist with papermill: in parallel, incrementally, safely.

Per artist the tasks run in order: ``01_explore``, then ``02_train`` once per model preset of
the profile (again on the paper's window split for the profile's ``window_split`` presets,
and on the timed vocabulary for its ``timed`` presets, when the notebook takes ``split`` and
``vocabulary`` parameters), then ``03_evaluate``. Executed
notebooks land in ``book/artists/<artist>/`` for the book.

- **Parallel**: artists run side by side in ``jobs`` local worker processes, or on an
  existing Dask cluster (``scheduler="tcp://host:port"``); one artist's tasks run in order
  inside one worker. Work crosses process boundaries as JSON strings only.
- **Incremental**: ``book/artists/<artist>/.stamp.json`` records, per finished task, a key
  hashing the artist's MIDI files (relative paths + bytes), the profile, the pianogen
  version, the notebook's bytes and its parameters, chained through the earlier tasks. A
  task whose key is unchanged and whose output exists is skipped, so a batch killed
  half-way redoes only what was missing. Notebooks execute to a hidden temporary name and
  are renamed into place only when they finish.
- **Isolated**: a failing notebook fails its artist (and the tasks that need it), never
  the other artists; its partly executed notebook is kept in ``_failed/`` for debugging.
- **Values, not code**: parameters reach the notebooks only as papermill parameter values,
  and only the names a notebook declares in its ``parameters`` cell.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pianogen import __version__
from pianogen.config import Profile, TokenConfig, run_name
from pianogen.config import profile as get_profile
from pianogen.data import data_hash, is_artist_folder, scan_artist, validate_artist_name
from pianogen.errors import PianogenError
from pianogen.explore import notebook_path
from pianogen.io import atomic_write_json, read_json, sha256_file

log = logging.getLogger(__name__)

EXPLORE, TRAIN, EVALUATE = "01_explore", "02_train", "03_evaluate"
STAMP_FILE = ".stamp.json"
LOCK_FILE = ".lock"
PROVENANCE_FILE = "provenance.json"
FAILED_DIR = "_failed"
MEDIA_DIR = "media"
# label -> distributions that provide it (the first one installed wins)
VERSION_PACKAGES = {"tensorflow": ("tensorflow", "tensorflow-cpu")} | {
    name: (name,) for name in ("pianogen", "keras", "music21", "numpy", "papermill")
}
_OUTPUT_NAME = re.compile(r"^0\d_[^/]*\.ipynb$")  # what the batch writes into an artist folder
RESULT_MARKER = "pianogen-batch-result: "  # how the artist subprocess returns its JSON
_PARENT_PID: int | None = None  # set in pool workers: stop starting tasks once it is gone


class BatchError(PianogenError, ValueError):
    """The batch cannot start (missing notebooks or data folder, bad names, no scheduler)."""


# --------------------------------------------------------------------------- names, hashes
def _artist_files(data_dir: Path, artist: str) -> list[Path]:
    """The artist's MIDI files as training will read them (:func:`pianogen.data.scan_artist`:
    hidden files skipped, symlinks that leave the folder refused)."""
    return scan_artist(data_dir, artist)[0]


def largest_first(data_dir: Path, artists: list[str]) -> list[str]:
    """Artists ordered by the bytes of their MIDI files, largest first (ties by name).

    Work per artist grows with its data, so starting the biggest ones first keeps every
    worker busy to the end instead of leaving one large artist running alone.
    """

    def size(artist: str) -> int:
        return sum(p.stat().st_size for p in _artist_files(Path(data_dir), artist))

    return sorted(artists, key=lambda a: (-size(a), a))


def artist_data_hash(data_dir: Path, artist: str) -> tuple[str, int]:
    """The artist's data hash as training computes it (:func:`pianogen.data.data_hash` over
    the files :func:`pianogen.data.scan_artist` finds), and the file count."""
    files = _artist_files(Path(data_dir), artist)
    return data_hash(Path(data_dir) / artist, files), len(files)


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


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Task:
    """One notebook execution: source, target and the parameter values it receives."""

    name: str
    notebook: str
    output: str
    parameters: dict[str, Any]
    requires: tuple[str, ...] = ()  # every one of these must have succeeded
    requires_any: tuple[str, ...] = ()  # at least one of these must have succeeded

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        lists = {k: tuple(data[k]) for k in ("requires", "requires_any")}
        return cls(**{**data, **lists})


def declared_parameters(notebook: Path) -> set[str]:
    """The names in a notebook's ``parameters`` cell (papermill's own reading of it)."""
    import papermill

    logging.getLogger("papermill").setLevel(logging.WARNING)  # not one INFO line per read
    return set(papermill.inspect_notebook(str(notebook)))


def plan_tasks(
    artist: str,
    profile: Profile,
    *,
    notebooks_dir: Path,
    out_dir: Path,
    data_dir: Path,
    run_dir: Path,
    cache_dir: Path,
    declared: dict[str, set[str]],
) -> list[Task]:
    """The artist's tasks in order, each with only the parameters its notebook declares."""
    train, gen = profile.train.to_dict(), profile.generate.to_dict()
    paths = {"data_dir": data_dir, "run_dir": run_dir, "cache_dir": cache_dir, "out_dir": out_dir}
    values: dict[str, Any] = {"artist": artist, "profile": profile.name}
    # Relative to notebooks/ inside the checkout (how the notebooks read them), so the
    # executed pages do not show the folder the book was built in.
    values |= {name: notebook_path(path) for name, path in paths.items()}
    values["media_dir"] = MEDIA_DIR  # relative to the kernel's folder, the artist's out_dir
    values |= {"presets": list(profile.evaluated_runs), "window_split": list(profile.window_split)}
    values |= TokenConfig().to_dict()  # the notebooks' defaults, recorded explicitly
    values |= {k: v for k, v in gen.items() if k != "seed"} | {"gen_seed": gen["seed"]}
    values |= train | {"n_samples": gen["count"], "train_config": train, "generate_config": gen}

    def task(stem: str, name: str, extra: dict[str, Any], **requires: tuple[str, ...]) -> Task:
        wanted = declared[stem]
        params = {k: v for k, v in {**values, **extra}.items() if k in wanted}
        notebook = str(notebooks_dir / f"{stem}.ipynb")
        return Task(name, notebook, str(out_dir / f"{name}.ipynb"), params, **requires)

    if "preset" not in declared[TRAIN]:
        raise BatchError(f"{TRAIN}.ipynb declares no 'preset' parameter; cannot train per preset")
    tasks = [task(EXPLORE, EXPLORE, {})]
    runs = [(preset, "piece", "paper") for preset in profile.presets]
    for extra, values_of, what in (
        ("split", [(p, "window", "paper") for p in profile.window_split], "window-split"),
        ("vocabulary", [(p, "piece", "timed") for p in profile.timed], "timed-vocabulary"),
    ):
        if extra in declared[TRAIN]:
            runs += values_of
        elif values_of:
            log.warning("%s.ipynb has no %r parameter: %s runs skipped", TRAIN, extra, what)
    for preset, split, vocabulary in runs:
        name = f"{TRAIN}_{run_name(preset, vocabulary)}" + ("_window" if split == "window" else "")
        extra = profile.train_for(vocabulary, preset).to_dict()
        extra |= profile.tokens_for(split, vocabulary).to_dict()
        extra |= {"preset": preset, "split": split, "vocabulary": vocabulary}
        tasks.append(task(TRAIN, name, extra, requires=(EXPLORE,)))
    trains = tuple(t.name for t in tasks[1:])
    tasks.append(task(EVALUATE, EVALUATE, {}, requires=(EXPLORE,), requires_any=trains))
    return tasks


# --------------------------------------------------------------------------- execution
def _format_escape(path: str) -> str:
    """papermill formats paths with the parameters (``str.format``): keep braces literal."""
    return path.replace("{", "{{").replace("}", "}}")


INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def execute_notebook(
    notebook: Path, output: Path, parameters: dict[str, Any], cwd: Path | None = None
) -> Path:
    """Execute ``notebook`` with papermill into ``output``, atomically.

    The notebook runs under a hidden temporary name beside ``output`` and is renamed over it
    only when every cell succeeded; on failure the partial notebook is left at the temporary
    name (returned in the exception's ``partial`` attribute) and ``output`` is untouched. The
    kernel starts in ``cwd`` (default: ``output``'s folder), set per kernel rather than with
    a process-wide ``chdir``, so notebooks run from threads cannot race on the working
    directory.
    """
    import papermill

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    logging.getLogger("papermill").setLevel(logging.WARNING)
    # Kernels inherit our environment; a non-interactive MPLBACKEND (Agg, set by many CI
    # setups) would make every plt.show() in the book produce no figure at all.
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        papermill.execute_notebook(
            _format_escape(str(notebook)),
            _format_escape(str(partial)),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            resources={"metadata": {"path": str(cwd or output.parent)}},
        )
    except BaseException as exc:
        exc.partial = partial  # type: ignore[attr-defined]
        raise
    partial.replace(output)
    return output


def _error_line(exc: BaseException) -> str:
    """One line for the summary: papermill's ``ename: evalue``, else the exception's last line."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


@contextlib.contextmanager
def _artist_lock(out_dir: Path) -> Iterator[bool]:
    """An exclusive lock on the artist's folder; yields False if another batch holds it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_stamp(path: Path) -> dict[str, Any]:
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
        key = _sha(key, task.name, sha256_file(Path(task.notebook)), task.parameters)
        keys.append(key)
    return keys


def _is_done(done: dict[str, Any], task: Task, key: str) -> bool:
    return done.get(task.name, {}).get("key") == key and Path(task.output).is_file()


def _nothing_to_do(spec: dict[str, Any]) -> bool:
    """True when every task of the artist is finished with unchanged inputs.

    Checked without the lock (the worker checks again under it); it only spares starting a
    worker process for an artist with nothing to do.
    """
    tasks = [Task.from_json(t) for t in spec["tasks"]]
    try:
        data_hash, _ = artist_data_hash(Path(spec["data_dir"]), spec["artist"])
    except OSError:
        return False
    done = _read_stamp(Path(spec["out_dir"]) / STAMP_FILE)["tasks"]
    keys = _task_keys(spec, tasks, data_hash)
    return not spec["force"] and all(map(_is_done, [done] * len(tasks), tasks, keys))


def _check_parent() -> None:
    """In a pool worker whose batch process died (e.g. SIGKILL), start nothing more."""
    if _PARENT_PID is not None and os.getppid() != _PARENT_PID:
        log.warning("batch process %d is gone; worker %d stops", _PARENT_PID, os.getpid())
        os._exit(1)


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
        data_hash, n_files = artist_data_hash(Path(spec["data_dir"]), artist)
    except OSError as exc:
        result.error = f"cannot read the artist's files: {_error_line(exc)}"
        return
    stamp_path = out_dir / STAMP_FILE
    done: dict[str, dict[str, Any]] = _read_stamp(stamp_path)["tasks"]
    state: dict[str, str] = {}
    ok = ("ran", "skipped")
    for task, key in zip(tasks, _task_keys(spec, tasks, data_hash), strict=True):
        output = Path(task.output)
        if not spec["force"] and _is_done(done, task, key):
            state[task.name] = "skipped"
            result.skipped.append(task.name)
            continue
        done.pop(task.name, None)
        blocked = any(state.get(r) not in ok for r in task.requires) or (
            task.requires_any and not any(state.get(r) in ok for r in task.requires_any)
        )
        if blocked:
            state[task.name] = "blocked"
            result.blocked.append(task.name)
            output.unlink(missing_ok=True)  # a stale output must not pose as current
            continue
        _check_parent()
        log.info("batch: %s: %s started", artist, task.name)
        began = time.monotonic()
        try:
            execute_notebook(Path(task.notebook), output, task.parameters)
        except Exception as exc:  # noqa: BLE001 - isolation: any failure stays with its task
            state[task.name] = "failed"
            result.failed.append(task.name)
            line, seconds = _error_line(exc), time.monotonic() - began
            result.error = result.error or f"{task.name}: {line}"
            log.error("batch: %s: %s FAILED after %.1f s: %s", artist, task.name, seconds, line)
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
            log.info("batch: %s: %s finished in %.1f s", artist, task.name, seconds)
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
    }
    atomic_write_json(Path(spec["out_dir"]) / PROVENANCE_FILE, provenance)


def _run_artist_json(spec_json: str) -> str:
    """Process/Dask entry point: JSON in, JSON out (nothing else crosses the boundary)."""
    return json.dumps(run_artist(json.loads(spec_json)))


def _run_artist_subprocess(spec_json: str) -> str:
    """Dask entry point: the artist runs in a fresh ``python -m pianogen.batch`` process.

    Dask may run tasks in threads, and papermill/nbclient share one event loop per process
    (two notebooks at once in threads fail with "This event loop is already running"), so
    each artist gets its own process: own kernels, event loop, memory and working folder.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "pianogen.batch"],
        input=spec_json,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        raise BatchError(f"artist process exited with status {proc.returncode}")
    return lines[-1].removeprefix(RESULT_MARKER)


def _init_worker(level: int, parent_pid: int) -> None:
    global _PARENT_PID
    _PARENT_PID = parent_pid
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")


# --------------------------------------------------------------------------- summary
@dataclass
class ArtistResult:
    """What happened to one artist: its status and which tasks ran, were skipped or failed."""

    artist: str
    status: str  # "succeeded" | "failed" | "skipped"
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # not run: a task they need failed
    error: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchSummary:
    """The outcome of :func:`run_batch`; ``exit_code`` is 1 if any artist failed."""

    profile: str
    artists: list[ArtistResult]
    seconds: float = 0.0

    def _named(self, status: str) -> list[str]:
        return [a.artist for a in self.artists if a.status == status]

    @property
    def succeeded(self) -> list[str]:
        return self._named("succeeded")

    @property
    def failed(self) -> list[str]:
        return self._named("failed")

    @property
    def skipped(self) -> list[str]:
        return self._named("skipped")

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``json.dumps`` it)."""
        return {
            "profile": self.profile,
            "seconds": self.seconds,
            "exit_code": self.exit_code,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "skipped": self.skipped,
            "artists": [a.to_json() for a in self.artists],
        }


def format_summary(summary: BatchSummary) -> str:
    """A few human lines: one per artist, then the totals."""
    lines = [f"batch ({summary.profile} profile, {summary.seconds:.1f} s):"]
    width = max((len(a.artist) for a in summary.artists), default=0)
    for a in summary.artists:
        if a.status == "failed":
            detail = a.error or "failed"
        elif a.status == "skipped":
            detail = "unchanged, nothing to run"
        else:
            detail = f"{len(a.ran)} notebook(s) run, {len(a.skipped)} already done"
        lines.append(f"  {a.status:<9} {a.artist:<{width}}  {detail}  ({a.seconds:.1f} s)")
    lines.append(
        f"{len(summary.succeeded)} succeeded, {len(summary.failed)} failed, "
        f"{len(summary.skipped)} skipped"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the batch
def _artists(data_dir: Path, artists: Sequence[str] | None) -> tuple[list[str], list[ArtistResult]]:
    """Valid artist names to run, and failed results for folders with unsafe names."""
    if artists is not None:
        names = [validate_artist_name(a) for a in artists]
        missing = [a for a in names if not (data_dir / a).is_dir()]
        if missing:
            raise BatchError(f"no artist folder(s) {missing} in {str(data_dir)!r}")
        return sorted(set(names)), []
    good, bad = [], []
    for path in sorted(p for p in data_dir.iterdir() if is_artist_folder(p)):
        try:
            good.append(validate_artist_name(path.name))
        except ValueError as exc:
            bad.append(ArtistResult(path.name, "failed", error=f"invalid artist name: {exc}"))
    return good, bad


def run_batch(
    data_dir: Path,
    artists: Sequence[str] | None = None,
    profile: str | Profile = "quick",
    jobs: int = 2,
    scheduler: str | None = None,
    force: bool = False,
    out_book: Path = Path("book/artists"),
    run_dir: Path = Path("runs"),
    cache_dir: Path = Path(".cache"),
    notebooks_dir: Path = Path("notebooks"),
) -> BatchSummary:
    """Run every artist's notebooks (see the module docstring); returns the summary.

    Raises :class:`BatchError` (a ValueError) before doing any work if the data folder,
    a notebook or a named artist is missing, or the Dask scheduler cannot be reached.
    """
    started = time.monotonic()
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    if jobs < 1:
        raise BatchError(f"jobs must be >= 1, got {jobs}")
    data_dir, out_book = Path(data_dir).resolve(), Path(out_book).resolve()
    if not data_dir.is_dir():
        raise BatchError(f"data folder {str(data_dir)!r} does not exist")
    notebooks_dir = Path(notebooks_dir).resolve()
    declared = {}
    for stem in (EXPLORE, TRAIN, EVALUATE):
        path = notebooks_dir / f"{stem}.ipynb"
        if not path.is_file():
            raise BatchError(f"notebook {str(path)!r} not found; run from the repository root")
        declared[stem] = declared_parameters(path)
    names, results = _artists(data_dir, artists)
    where_from = {"notebooks_dir": notebooks_dir, "data_dir": data_dir}
    where_from |= {"run_dir": Path(run_dir).resolve(), "cache_dir": Path(cache_dir).resolve()}
    specs = {}
    for artist in largest_first(data_dir, names):
        out_dir = out_book / artist
        tasks = plan_tasks(artist, prof, out_dir=out_dir, declared=declared, **where_from)
        spec = {"artist": artist, "data_dir": str(data_dir), "out_dir": str(out_dir)}
        spec |= {"profile": prof.to_dict(), "force": bool(force)}
        spec["tasks"] = [asdict(t) for t in tasks]
        if _nothing_to_do(spec):  # decided here too: no worker is started for nothing
            log.info("batch: %s unchanged, skipped", artist)
            results.append(ArtistResult(artist, "skipped", skipped=[t.name for t in tasks]))
        else:
            specs[artist] = json.dumps(spec)
    where = f"Dask scheduler {scheduler}" if scheduler else f"{min(jobs, len(specs) or 1)} job(s)"
    log.info("batch: %d artist(s) to run, profile %s, %s", len(specs), prof.name, where)

    def collect(artist: str, get: Callable[[], str]) -> None:
        try:
            res = ArtistResult(**json.loads(get()))
        except Exception as exc:  # noqa: BLE001 - a lost worker fails its artist, not the batch
            res = ArtistResult(artist, "failed", error=f"worker lost: {_error_line(exc)}")
        error = f": {res.error}" if res.error else ""
        log.info("batch: %s %s (%.1f s)%s", artist, res.status, res.seconds, error)
        results.append(res)

    if scheduler and specs:
        _run_on_dask(scheduler, specs, collect)
    elif jobs == 1 or len(specs) == 1:
        for artist, spec in specs.items():
            collect(artist, lambda spec=spec: _run_artist_json(spec))
    elif specs:
        ctx = multiprocessing.get_context("spawn")
        init = (logging.getLogger().getEffectiveLevel(), os.getpid())
        with ProcessPoolExecutor(min(jobs, len(specs)), ctx, _init_worker, init) as pool:
            futures = {pool.submit(_run_artist_json, s): a for a, s in specs.items()}
            for future in as_completed(futures):
                collect(futures[future], future.result)
    results.sort(key=lambda r: r.artist)
    return BatchSummary(prof.name, results, round(time.monotonic() - started, 2))


def _run_on_dask(
    scheduler: str, specs: dict[str, str], collect: Callable[[str, Callable[[], str]], None]
) -> None:
    """Send one task per artist to an existing Dask cluster; the workers need pianogen."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    with client:
        artists = list(specs)
        futures = client.map(
            _run_artist_subprocess,
            [specs[a] for a in artists],
            key=[f"pianogen-batch-{a}-{os.getpid()}-{time.time_ns()}" for a in artists],
            pure=False,
        )
        owner = {f.key: a for f, a in zip(futures, artists, strict=True)}
        for future in dask_completed(futures):
            collect(owner[future.key], future.result)


if __name__ == "__main__":  # one artist, spec JSON on stdin, result JSON on stdout
    _init_worker(logging.INFO, os.getppid())
    print(RESULT_MARKER + _run_artist_json(sys.stdin.read()))
