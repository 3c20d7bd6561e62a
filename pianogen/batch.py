"""Run the study's notebooks for every artist with papermill: in parallel, incrementally, safely.

Per artist the tasks run in order: ``01_explore``, then ``02_train`` once per model preset of
the profile (again on the paper's window split for the profile's ``window_split`` presets,
and on the timed vocabulary for its ``timed`` presets, when the notebook takes ``split`` and
``vocabulary`` parameters), then ``03_evaluate``. Executed
notebooks land in ``book/artists/<artist>/`` for the book. A profile's conditioned presets
(one model for every artist, :mod:`pianogen.conditioned`) are trained by a batch of every
artist folder, once, as a spec of their own (``book/artists/_conditioned/``) submitted
before the artists; an artist's evaluation waits for them while they train.

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
- **Quiet, with progress**: each notebook's output (TensorFlow's start-up lines, kernel
  warnings) goes to ``<artist>/_logs/<task>.log``; the terminal shows one progress bar with
  an ETA (:mod:`pianogen.progress`), or one line per finished task when it is not a
  terminal. Ctrl-C stops the workers and their kernels; what finished is kept.

This module plans the tasks and runs the artists (here, in a process pool or on Dask);
:mod:`pianogen.worker` runs one artist's tasks, :mod:`pianogen.execution` one notebook.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TextIO

from pianogen import progress
from pianogen.config import POOLED, TokenConfig
from pianogen.data import is_artist_folder, validate_artist_name
from pianogen.errors import PianogenError
from pianogen.execution import declared_parameters, error_line, share_cores
from pianogen.explore import notebook_path
from pianogen.presets import Profile, make_run_config
from pianogen.presets import profile as get_profile
from pianogen.progress import ArtistResult, BatchSummary, format_summary
from pianogen.runs import CONDITIONED_DIR, TRAIN_NOTEBOOK, train_page_name
from pianogen.worker import (
    STAMP_FILE,
    Task,
    artist_data_hash,
    artist_files,
    configure,
    init_worker,
    inputs_key,
    nothing_to_do,
    read_stamp,
    run_artist_json,
    run_artist_subprocess,
    spec_key,
    stamped_key,
)

__all__ = [
    "EVALUATE",
    "EXPLORE",
    "MEDIA_DIR",
    "TRAIN",
    "ArtistResult",
    "BatchError",
    "BatchSummary",
    "artist_data_hash",
    "format_summary",
    "largest_first",
    "plan_conditioned",
    "plan_tasks",
    "run_batch",
    "seeded_artists",
]

log = logging.getLogger(__name__)

EXPLORE, TRAIN, EVALUATE = "01_explore", TRAIN_NOTEBOOK, "03_evaluate"
MEDIA_DIR = "media"


class BatchError(PianogenError, ValueError):
    """The batch cannot start (missing notebooks or data folder, bad names, no scheduler)."""


# --------------------------------------------------------------------------- names, hashes
def largest_first(data_dir: Path, artists: list[str]) -> list[str]:
    """Artists ordered by the bytes of their MIDI files, largest first (ties by name).

    Work per artist grows with its data, so starting the biggest ones first keeps every
    worker busy to the end instead of leaving one large artist running alone.
    """

    def size(artist: str) -> int:
        return sum(p.stat().st_size for p in artist_files(Path(data_dir), artist))

    return sorted(artists, key=lambda a: (-size(a), a))


def seeded_artists(data_dir: Path, profile: Profile) -> set[str]:
    """The artists that train the profile's seed replicates: the ``seed_artists`` with the
    least MIDI data of every artist folder in ``data_dir`` (not only those a batch runs, so
    the choice does not change with ``--artists``); none when the profile has no seeds."""
    if not (profile.seeds and profile.seeded):
        return set()
    every, _ = _artists(Path(data_dir), None)  # unsafe folder names fail anyway
    smallest = largest_first(data_dir, every)[::-1]
    return set(smallest[: profile.seed_artists or None])


# --------------------------------------------------------------------------- the plan
def _paths(data_dir: Path, runs_root: Path, cache_dir: Path) -> dict[str, str]:
    """The folders a notebook reads, relative to notebooks/ inside the checkout (how the
    notebooks read them), so the executed pages do not show the folder the book was built
    in."""
    paths = {"data_dir": data_dir, "runs_root": runs_root, "cache_dir": cache_dir}
    return {name: notebook_path(path) for name, path in paths.items()}


def _task(
    notebooks_dir: Path,
    out_dir: Path,
    declared: dict[str, set[str]],
    stem: str,
    name: str,
    values: dict[str, Any],
    **requires: tuple[str, ...],
) -> Task:
    """Notebook ``stem`` executed into ``out_dir/<name>.ipynb`` with those of ``values``
    that it declares."""
    params = {k: v for k, v in values.items() if k in declared[stem]}
    notebook = str(notebooks_dir / f"{stem}.ipynb")
    return Task(name, notebook, str(out_dir / f"{name}.ipynb"), params, **requires)


def plan_tasks(
    artist: str,
    profile: Profile,
    *,
    notebooks_dir: Path,
    out_dir: Path,
    data_dir: Path,
    runs_root: Path,
    cache_dir: Path,
    declared: dict[str, set[str]],
    replicates: bool = False,
    evaluation_inputs: str = "",
) -> list[Task]:
    """The artist's tasks in order, each with only the parameters its notebook declares;
    with ``replicates`` the profile's seed replicates too (:meth:`Profile.runs`).

    Each training notebook receives its run's whole configuration as one value,
    ``run_config`` (:func:`pianogen.presets.make_run_config` of the profile, the preset, the
    split and the vocabulary); the evaluation notebook receives the profile's
    ``generate_config``, and ``evaluation_inputs`` as its :attr:`Task.inputs` (what it reads
    beyond the artist's own data: see :func:`run_batch`).
    """
    values: dict[str, Any] = {"artist": artist, "profile": profile.name}
    values |= _paths(data_dir, runs_root, cache_dir)
    values["media_dir"] = MEDIA_DIR  # relative to the kernel's folder, the artist's out_dir
    values |= {
        "presets": list(profile.evaluated_runs),
        "generate_config": profile.generate.to_dict(),
    }
    # The exploration notebook counts the tokens the runs use (the profile's vocabulary).
    tokens = TokenConfig(vocabulary=profile.vocabulary).to_dict()
    values |= {k: v for k, v in tokens.items() if k in declared[EXPLORE]}

    def task(stem: str, name: str, extra: dict[str, Any], **requires: tuple[str, ...]) -> Task:
        return _task(notebooks_dir, out_dir, declared, stem, name, {**values, **extra}, **requires)

    if "run_config" not in declared[TRAIN]:
        raise BatchError(
            f"{TRAIN}.ipynb declares no 'run_config' parameter; cannot train the profile's runs"
        )
    tasks = [task(EXPLORE, EXPLORE, {})]
    for preset, split, vocabulary, seed in profile.runs(replicates):
        config = make_run_config(
            artist, preset, split=split, vocabulary=vocabulary, profile=profile
        )
        config = config.replace(train=config.train.replace(seed=seed))
        extra = {"run_config": config.to_dict()}
        name = train_page_name(preset, vocabulary, split, seed)
        tasks.append(task(TRAIN, name, extra, requires=(EXPLORE,)))
    trains = tuple(t.name for t in tasks[1:])
    evaluate = task(EVALUATE, EVALUATE, {}, requires=(EXPLORE,), requires_any=trains)
    tasks.append(replace(evaluate, inputs=evaluation_inputs))
    return tasks


def _data_hash_or_error(data_dir: Path, artist: str) -> str:
    """The artist's data hash, or the error reading it (that artist's worker reports it)."""
    try:
        return artist_data_hash(data_dir, artist)[0]
    except OSError as exc:
        return f"unreadable: {error_line(exc)}"


def plan_conditioned(
    artists: Sequence[str],
    profile: Profile,
    *,
    notebooks_dir: Path,
    out_dir: Path,
    data_dir: Path,
    runs_root: Path,
    cache_dir: Path,
    declared: dict[str, set[str]],
) -> list[Task]:
    """The training pages of the profile's conditioned presets: one run each on every
    artist of ``artists`` at once (:mod:`pianogen.conditioned`), their seed replicates last
    (:meth:`Profile.conditioned_runs`); none for fewer than 2 artists."""
    if len(artists) < 2:
        return []
    values = _paths(data_dir, runs_root, cache_dir)
    tasks = []
    for preset, vocabulary, seed in profile.conditioned_runs(replicates=True):
        config = make_run_config(
            POOLED, preset, vocabulary=vocabulary, profile=profile, artists=artists
        )
        config = config.replace(train=config.train.replace(seed=seed))
        extra = {**values, "run_config": config.to_dict()}
        name = train_page_name(preset, vocabulary, seed=seed)
        tasks.append(_task(notebooks_dir, out_dir, declared, TRAIN, name, extra))
    return tasks


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
    runs_root: Path = Path("runs"),
    cache_dir: Path = Path(".cache"),
    notebooks_dir: Path = Path("notebooks"),
    stream: TextIO | None = None,
    verbose: bool = False,
) -> BatchSummary:
    """Run every artist's notebooks (see the module docstring); returns the summary.

    ``stream`` (the CLI's stderr) shows the progress (:mod:`pianogen.progress`); each
    notebook's own output goes to ``<artist>/_logs/<task>.log`` unless ``verbose``, which
    lets the kernels print on the terminal. Ctrl-C stops the workers and their notebooks;
    the summary says what finished (``interrupted``), and a re-run continues from there.

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
    where_from |= {"runs_root": Path(runs_root).resolve(), "cache_dir": Path(cache_dir).resolve()}
    specs, plan = {}, {}

    def make_spec(name: str, out_dir: Path, tasks: list[Task], **more: Any) -> dict[str, Any]:
        """One worker's spec: its tasks and everything they need to know."""
        spec = {"artist": name, **more, "data_dir": str(data_dir), "out_dir": str(out_dir)}
        spec |= {"profile": prof.to_dict(), "force": bool(force)}
        return spec | {"tasks": [asdict(t) for t in tasks]}

    def enqueue(spec: dict[str, Any]) -> None:
        """Plan a spec, or record it as skipped when nothing changed (decided here too: no
        worker is started for nothing)."""
        name, tasks = spec["artist"], [t["name"] for t in spec["tasks"]]
        if nothing_to_do(spec):
            log.info("batch: %s unchanged, skipped", name)
            results.append(ArtistResult(name, "skipped", skipped=tasks))
        else:
            specs[name] = json.dumps(spec)
            plan[name] = tasks

    # The conditioned runs learn from every artist folder, so they are trained by a batch of
    # every artist only; first, as the artists' evaluations wait for them.
    # The key of the conditioned runs the artists' evaluation pages will read is part of
    # their keys: the runs planned here when this batch trains them (the pages wait for
    # them), else those last trained (a batch of some artists leaves them as they are).
    every, _ = _artists(data_dir, None)
    pooled, pooled_key = [], ""
    if prof.conditioned:
        # a piece split needs 3 pieces: an artist with fewer files cannot take part
        pooled = [a for a in every if len(artist_files(data_dir, a)) >= 3]
        out_dir = out_book / CONDITIONED_DIR
        tasks = plan_conditioned(pooled, prof, out_dir=out_dir, declared=declared, **where_from)
        spec = make_spec(CONDITIONED_DIR, out_dir, tasks, artists=pooled)
        trains_them = bool(tasks) and set(names) == set(every)
        try:
            pooled_key = spec_key(spec) if trains_them else stamped_key(spec)
        except OSError as exc:  # an unreadable artist: its own worker reports it
            pooled_key = f"unreadable: {error_line(exc)}"
        if trains_them:
            for artist in sorted(set(every) - set(pooled)):
                log.warning(
                    "batch: %s has fewer than 3 MIDI files: not in the conditioned runs", artist
                )
            enqueue(spec)
    # An evaluation page also reads every artist's data (the composer classifier learns
    # from all of them) and, for an artist of the conditioned runs, their views: it runs
    # again when any of these change, not only when its own artist's do.
    everyone = [(a, _data_hash_or_error(data_dir, a)) for a in every]
    seeded = seeded_artists(data_dir, prof)
    # Seeded artists first: they have the most work, so they should not finish alone.
    for artist in sorted(largest_first(data_dir, names), key=lambda a: a not in seeded):
        out_dir = out_book / artist
        tasks = plan_tasks(
            artist,
            prof,
            out_dir=out_dir,
            declared=declared,
            replicates=artist in seeded,
            evaluation_inputs=inputs_key(everyone, pooled_key if artist in pooled else ""),
            **where_from,
        )
        enqueue(make_spec(artist, out_dir, tasks))
    where = f"Dask scheduler {scheduler}" if scheduler else f"{min(jobs, len(specs) or 1)} job(s)"
    log.info("batch: %d artist(s) to run, profile %s, %s", len(specs), prof.name, where)
    workers = len(specs) if scheduler else min(jobs, len(specs) or 1)
    prior = _last_durations(out_book, names)
    shown = progress.BatchProgress(plan, stream, workers=workers, prior=prior)

    def collect(artist: str, get: Callable[[], str]) -> ArtistResult:
        try:
            res = ArtistResult(**json.loads(get()))
        except KeyboardInterrupt:
            res = ArtistResult(artist, "interrupted")
        except Exception as exc:  # noqa: BLE001 - a lost worker fails its artist, not the batch
            res = ArtistResult(artist, "failed", error=f"worker lost: {error_line(exc)}")
        if res.status == "interrupted":
            res.ran = [t for t in plan[artist] if shown.state.get((artist, t)) == progress.RAN]
        shown.settle(artist, res.ran, res.skipped, res.failed, res.blocked)
        error = f": {res.error}" if res.error else ""
        log.debug("batch: %s %s (%.1f s)%s", artist, res.status, res.seconds, error)
        results.append(res)
        return res

    interrupted = False
    try:
        with _showing_logs_above(shown):
            interrupted = _execute(specs, jobs, scheduler, verbose, shown, collect)
    finally:
        shown.close()
    for artist in set(specs) - {r.artist for r in results}:  # never started: interrupted
        collect(artist, _raise_interrupt)
    results.sort(key=lambda r: r.artist)
    seconds = round(time.monotonic() - started, 2)
    return BatchSummary(prof.name, results, seconds, interrupted=interrupted)


def _raise_interrupt() -> str:
    raise KeyboardInterrupt


def _last_durations(out_book: Path, artists: Sequence[str]) -> dict[str, float]:
    """Task name -> mean seconds it took when it last ran, from the artists' stamps."""
    seen: dict[str, list[float]] = {}
    for artist in artists:
        for name, entry in read_stamp(out_book / artist / STAMP_FILE)["tasks"].items():
            if isinstance(entry, dict) and isinstance(entry.get("seconds"), (int, float)):
                seen.setdefault(name, []).append(float(entry["seconds"]))
    return {name: sum(times) / len(times) for name, times in seen.items()}


@contextlib.contextmanager
def _showing_logs_above(shown: progress.BatchProgress) -> Iterator[None]:
    """While a progress bar is drawn, log lines are printed above it instead of through it."""
    if shown.bar is None:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


def _execute(
    specs: dict[str, str],
    jobs: int,
    scheduler: str | None,
    verbose: bool,
    shown: progress.BatchProgress,
    collect: Callable[[str, Callable[[], str]], ArtistResult],
) -> bool:
    """Run the artists' specs here, in worker processes or on Dask; True if interrupted."""
    if scheduler and specs:
        _run_on_dask(scheduler, specs, collect)
        return False
    if jobs == 1 or len(specs) == 1:
        configure(shown.update, verbose)
        try:
            for artist, spec in specs.items():
                if collect(artist, lambda spec=spec: run_artist_json(spec)).status == "interrupted":
                    return True
        except KeyboardInterrupt:
            return True
        finally:
            configure(None)
        return False
    if not specs:
        return False
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    workers = min(jobs, len(specs))
    # The cores shared between the workers' TensorFlow kernels (execution.share_cores),
    # the same share for every kernel of the batch: the thread count changes a training's
    # last digits, so a share that followed the workers still busy (tried on 2026-12-07)
    # made a run's numbers depend on when it started (in a fresh-clone book two of mozart's
    # runs, started when two threads were free, differed in loss from the book with one
    # share; the other 43 runs were identical) and did not shorten the book.
    level = logging.getLogger().getEffectiveLevel()
    init = (level, os.getpid(), events, verbose, share_cores(workers))
    drain = threading.Thread(target=_drain, args=(events, shown), daemon=True)
    drain.start()
    interrupted = False
    try:
        with ProcessPoolExecutor(workers, ctx, init_worker, init) as pool:
            futures = {pool.submit(run_artist_json, s): a for a, s in specs.items()}
            collected = set()
            try:
                for future in as_completed(futures):
                    collected.add(future)
                    collect(futures[future], future.result)
            except KeyboardInterrupt:
                # The workers got the same Ctrl-C and stop their notebooks; wait for them,
                # and start no artist that has not begun.
                interrupted = True
                pool.shutdown(wait=True, cancel_futures=True)
                for future, artist in futures.items():
                    if future not in collected and future.done() and not future.cancelled():
                        collect(artist, future.result)
    finally:
        events.put(None)
        drain.join(timeout=10)
    return interrupted


def _drain(events: Any, shown: progress.BatchProgress) -> None:
    """The batch's side of the workers' queue: task events and log records, until None."""
    while True:
        item = events.get()
        if item is None:
            return
        if isinstance(item, dict):
            shown.update(item)
        else:
            logging.getLogger(item.name).handle(item)


def _run_on_dask(
    scheduler: str, specs: dict[str, str], collect: Callable[[str, Callable[[], str]], Any]
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
            run_artist_subprocess,
            [specs[a] for a in artists],
            key=[f"pianogen-batch-{a}-{os.getpid()}-{time.time_ns()}" for a in artists],
            pure=False,
        )
        owner = {f.key: a for f, a in zip(futures, artists, strict=True)}
        for future in dask_completed(futures):
            collect(owner[future.key], future.result)
