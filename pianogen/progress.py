"""What a long batch tells its user: one progress bar with an ETA, or one line per task.

:class:`BatchProgress` receives the batch's task events (plain dicts, so they cross process
boundaries through a queue) and shows them on one stream:

- on a terminal, one tqdm bar across every task of every artist: tasks done / total,
  elapsed time, an estimate of the time left and the tasks running now;
- anywhere else (CI, a log file), one plain line per finished task, never bar redraws.

The estimate replays the remaining work on the batch's workers: each remaining task is
expected to take as long as the finished tasks of the same kind (the same notebook and run,
e.g. ``02_train_pianogen-gru``) took in this batch, else as long as it took when it last ran
(the artists' stamps), else as long as finished tasks of the same notebook; each artist's
tasks run in order on one worker and artists start in the batch's order as workers free up.
A kind with no duration yet counts as the mean of every finished task, and the estimate is
then marked rough (``ETA ~12:30``); before any task finishes it is ``ETA ?``.

:class:`ArtistResult`, :class:`BatchSummary` and :func:`format_summary` are what the batch
returns and prints at the end.
"""

from __future__ import annotations

import heapq
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any, TextIO

__all__ = [
    "FINISHED",
    "ArtistResult",
    "BatchProgress",
    "BatchSummary",
    "clock",
    "format_summary",
    "makespan",
    "notebook_of",
]

# the events a batch reports, in ``{"event": ..., "artist": ..., "task": ...}`` dicts
STARTED, RAN, FAILED, SKIPPED, BLOCKED = "started", "ran", "failed", "skipped", "blocked"
FINISHED = (RAN, FAILED, SKIPPED, BLOCKED)


def notebook_of(task: str) -> str:
    """The notebook a task executes: ``02_train_pianogen-gru_window`` -> ``02_train``."""
    return "_".join(task.split("_")[:2])


def clock(seconds: float) -> str:
    """``75`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def makespan(running: Iterable[float], queued: Iterable[float], workers: int) -> float:
    """Seconds until the last artist finishes: ``running`` artists' remaining seconds occupy
    workers now, ``queued`` artists (in order) start on the first worker that frees up."""
    free = sorted(running)
    workers = max(workers, len(free), 1)
    free += [0.0] * (workers - len(free))
    heapq.heapify(free)
    for seconds in queued:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free)


class BatchProgress:
    """Shows a batch's progress on ``stream`` (see the module docstring); thread-safe.

    ``plan``: artist -> its task names, in the order the workers receive the artists.
    ``prior``: task name -> seconds it took when it last ran (a first guess for the ETA).
    ``stream`` None: nothing is shown, the events are only recorded.
    """

    def __init__(
        self,
        plan: dict[str, list[str]],
        stream: TextIO | None,
        *,
        workers: int,
        prior: dict[str, float] | None = None,
        tick: float = 1.0,
        clock_fn: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan, self.stream, self.workers = plan, stream, max(1, workers)
        self.prior = dict(prior or {})
        self.now = clock_fn
        self.started_at = clock_fn()
        self.state: dict[tuple[str, str], str] = {}
        self.began: dict[tuple[str, str], float] = {}
        self.took: dict[str, list[float]] = defaultdict(list)  # task name -> seconds (ran only)
        self.total = sum(len(tasks) for tasks in plan.values())
        self.lines: list[str] = []  # every finished-task line, also when a bar shows instead
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.bar = None
        if stream is not None and _is_terminal(stream) and self.total:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total,
                file=stream,
                unit="task",
                ncols=shutil.get_terminal_size((120, 24)).columns,  # 0 x 0 ptys: 120
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} tasks [{elapsed}{postfix}]",
                desc="batch",
            )
            self._ticker = threading.Thread(target=self._tick, args=(tick,), daemon=True)
            self._ticker.start()

    # ------------------------------------------------------------------ events
    def update(self, event: dict[str, Any]) -> None:
        """Record one event (``event``, ``artist``, ``task`` and, when finished, ``seconds``
        and, when failed, ``log``)."""
        with self._lock:
            key, kind = (event["artist"], event["task"]), event["event"]
            if self.state.get(key) in FINISHED:
                return
            self.state[key] = kind
            if kind == STARTED:
                self.began[key] = self.now()
            elif kind in FINISHED:
                self.began.pop(key, None)
                if kind == RAN and event.get("seconds") is not None:
                    self.took[event["task"]].append(float(event["seconds"]))
                if self.bar is not None:
                    self.bar.update(1)
                if kind != SKIPPED:
                    self._line(self._finished_line(event))
            self._refresh()

    def settle(self, artist: str, *finished: list[str]) -> None:
        """Mark an artist's tasks as its result lists them (``ran``, ``skipped``, ``failed``,
        ``blocked``), for those no event reported (a Dask worker, a lost process)."""
        for kind, tasks in zip((RAN, SKIPPED, FAILED, BLOCKED), finished, strict=False):
            for task in tasks:
                if self.state.get((artist, task)) not in FINISHED:
                    self.update({"artist": artist, "task": task, "event": kind, "seconds": None})

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self.bar is not None:
                self._refresh()
                self.bar.close()
                self.bar = None

    # ------------------------------------------------------------------ figures
    @property
    def done(self) -> int:
        return sum(1 for kind in self.state.values() if kind in FINISHED)

    def expected(self, task: str) -> tuple[float, bool] | None:
        """Seconds a task of this kind is expected to take, and whether that comes from its
        own kind (True) or only from the mean of every finished task (False, a rough guess);
        None while nothing has finished."""
        if self.took.get(task):
            return fmean(self.took[task]), True
        if task in self.prior:
            return self.prior[task], True
        stem = notebook_of(task)
        same = [s for name, times in self.took.items() if notebook_of(name) == stem for s in times]
        if same:
            return fmean(same), True
        every = [s for times in self.took.values() for s in times]
        return (fmean(every), False) if every else None

    def remaining(self) -> tuple[float, bool] | None:
        """Seconds until the batch ends, by replaying the remaining work, and whether every
        remaining kind had a duration of its own (None: nothing to go by yet)."""
        now, running, queued, exact = self.now(), [], [], True
        for artist, tasks in self.plan.items():
            left, started = 0.0, False
            for task in tasks:
                kind = self.state.get((artist, task))
                started = started or kind is not None
                if kind in FINISHED:
                    continue
                guess = self.expected(task)
                if guess is None:
                    return None
                seconds, own = guess
                exact = exact and own
                if kind == STARTED:
                    seconds = max(0.0, seconds - (now - self.began[(artist, task)]))
                left += seconds
            if started and left:
                running.append(left)
            elif not started:
                queued.append(left)
        return (makespan(running, queued, self.workers) if running or queued else 0.0), exact

    def running(self) -> list[tuple[str, str]]:
        return [key for key, kind in self.state.items() if kind == STARTED]

    def eta_text(self) -> str:
        estimate = self.remaining()
        if estimate is None:
            return "ETA ?"
        left, exact = estimate
        ends = datetime.now() + timedelta(seconds=left)
        return f"ETA {'' if exact else '~'}{clock(left)} (ends ~{ends:%H:%M})"

    # ------------------------------------------------------------------ output
    def _finished_line(self, event: dict[str, Any]) -> str:
        width = len(str(self.total))
        head = f"[{self.done:>{width}}/{self.total}] {event['artist']}: {event['task']}"
        kind = event["event"]
        took = clock(float(event.get("seconds") or 0))
        if kind == RAN:
            what = f"finished in {took}"
        elif kind == FAILED:
            what = f"FAILED after {took}"
            what += f" (log: {event['log']})" if event.get("log") else ""
        else:
            what = "not run: a task it needs failed"
        return f"{head} {what} · elapsed {clock(self.now() - self.started_at)} · {self.eta_text()}"

    def _line(self, text: str) -> None:
        self.lines.append(text)
        if self.bar is None and self.stream is not None:
            print(text, file=self.stream, flush=True)

    def _refresh(self) -> None:
        if self.bar is None:
            return
        running = ", ".join(f"{a}: {t}" for a, t in self.running()) or "-"
        self.bar.set_postfix_str(f"{self.eta_text()} · running {running}", refresh=False)
        self.bar.refresh()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                self._refresh()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


# --------------------------------------------------------------------------- summary
@dataclass
class ArtistResult:
    """What happened to one artist: its status and which tasks ran, were skipped or failed."""

    artist: str
    status: str  # "succeeded" | "failed" | "skipped" | "interrupted"
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # not run: a task they need failed
    error: str = ""
    log: str = ""  # the log file of the task that failed
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchSummary:
    """The outcome of :func:`run_batch`; ``exit_code`` is 1 if any artist failed."""

    profile: str
    artists: list[ArtistResult]
    seconds: float = 0.0
    interrupted: bool = False  # Ctrl-C: what finished is kept, a re-run continues from it

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
    def interrupted_artists(self) -> list[str]:
        return self._named("interrupted")

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``json.dumps`` it)."""
        return {
            "profile": self.profile,
            "seconds": self.seconds,
            "exit_code": self.exit_code,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "artists": [a.to_json() for a in self.artists],
        }


def format_summary(summary: BatchSummary, figures: dict[str, str] | None = None) -> str:
    """The end of a batch as a table: per artist its status, notebooks run / already done /
    failed / not run, minutes and (``figures``: artist -> text) its headline figures; then
    the totals, each failure's reason and log, and what to do after an interruption."""
    figures = figures or {}
    rows = [("artist", "status", "run", "done", "failed", "not run", "minutes", "figures")]
    for a in summary.artists:
        counts = (len(a.ran), len(a.skipped), len(a.failed), len(a.blocked))
        minutes = f"{a.seconds / 60:.1f}"
        rows.append((a.artist, a.status, *map(str, counts), minutes, figures.get(a.artist, "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4, 5, 6}

    def line(row: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  " + "  ".join(cells).rstrip()

    head = f"batch ({summary.profile} profile, {summary.seconds / 60:.1f} min):"
    lines = [head, line(rows[0])] + [line(row) for row in rows[1:]]
    lines.append(
        f"{len(summary.succeeded)} succeeded, {len(summary.failed)} failed, "
        f"{len(summary.skipped)} skipped"
        + (f", {len(summary.interrupted_artists)} interrupted" if summary.interrupted else "")
    )
    for a in summary.artists:
        if a.status == "failed":
            lines.append(
                f"  {a.artist}: {a.error or 'failed'}" + (f" (log: {a.log})" if a.log else "")
            )
    if summary.interrupted:
        lines.append("interrupted: finished notebooks are kept; run the same command to continue")
    return "\n".join(lines)
