"""The batch's progress display: the ETA replayed by hand, plain lines, the bar's ending."""

from __future__ import annotations

import io

from pianogen import progress
from pianogen.progress import BatchProgress, clock, makespan, notebook_of

TASKS = ["01_explore", "02_train_x", "03_evaluate"]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def event(artist: str, task: str, kind: str, seconds: float | None = None) -> dict:
    return {"artist": artist, "task": task, "event": kind, "seconds": seconds}


def test_clock_and_notebook_names():
    assert clock(0) == "0:00" and clock(75) == "1:15" and clock(3725) == "1:02:05"
    assert notebook_of("02_train_pianogen-gru_window") == "02_train"
    assert notebook_of("01_explore") == "01_explore"


def test_makespan_replays_artists_on_workers():
    assert makespan([10], [5, 5], 2) == 10  # [10, 0] -> [10, 5] -> [10, 10]
    assert makespan([], [4, 3, 2], 2) == 5  # [0, 0] -> [0, 4] -> [3, 4] -> [4, 5]
    assert makespan([3], [], 4) == 3
    assert makespan([], [7], 1) == 7


def test_eta_from_finished_tasks_of_the_same_kind_by_hand():
    now = Clock()
    shown = BatchProgress({"a": TASKS, "b": TASKS}, None, workers=1, clock_fn=now)
    assert shown.remaining() is None and shown.eta_text() == "ETA ?"
    shown.update(event("a", "01_explore", progress.STARTED))
    now.t = 10
    shown.update(event("a", "01_explore", progress.RAN, 10))
    # a: 02 and 03 unknown -> the mean of every finished task (10 s each), rough; b: 3 x 10
    assert shown.remaining() == (makespan([20], [30], 1), False) == (50, False)
    shown.update(event("a", "02_train_x", progress.STARTED))
    now.t = 40
    shown.update(event("a", "02_train_x", progress.RAN, 30))
    shown.update(event("a", "03_evaluate", progress.STARTED))
    now.t = 45
    # a/03: mean of 10 and 30 = 20, 5 s in -> 15 left; b: 10 + 30 + 20 = 60
    assert shown.remaining() == (75, False)
    now.t = 50
    shown.update(event("a", "03_evaluate", progress.RAN, 10))
    # every kind has its own duration now: b = 10 + 30 + 10
    assert shown.remaining() == (50, True)
    assert shown.eta_text().startswith("ETA 0:50 (ends ~")
    assert shown.done == 3 and shown.total == 6


def test_prior_durations_count_as_the_kind_own():
    shown = BatchProgress({"a": TASKS}, None, workers=2, prior=dict.fromkeys(TASKS, 60.0))
    assert shown.remaining() == (180, True)


def test_blocked_and_failed_tasks_leave_the_estimate():
    now = Clock()
    shown = BatchProgress({"a": TASKS}, None, workers=1, clock_fn=now)
    shown.update(event("a", "01_explore", progress.STARTED))
    now.t = 5
    shown.update(event("a", "01_explore", progress.FAILED, 5))
    shown.settle("a", [], [], [], ["02_train_x", "03_evaluate"])
    assert shown.done == 3 and shown.remaining() == (0.0, True)


def test_plain_stream_gets_one_line_per_finished_task():
    now, out = Clock(), io.StringIO()
    shown = BatchProgress({"a": TASKS[:2]}, out, workers=1, clock_fn=now)
    assert shown.bar is None  # StringIO is not a terminal
    shown.update(event("a", "01_explore", progress.STARTED))
    now.t = 65
    shown.update(event("a", "01_explore", progress.RAN, 65))
    shown.update(event("a", "02_train_x", progress.SKIPPED))
    shown.update(event("a", "02_train_x", progress.RAN, 1))  # a late duplicate is ignored
    shown.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1  # skipped tasks print nothing
    assert lines[0].startswith("[1/2] a: 01_explore finished in 1:05 · elapsed 1:05 · ETA ~1:05 (")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_one_bar_that_ends_full():
    out = Terminal()
    shown = BatchProgress({"a": TASKS[:1]}, out, workers=1, tick=60)
    shown.update(event("a", "01_explore", progress.STARTED))
    shown.update(event("a", "01_explore", progress.RAN, 2))
    shown.close()
    text = out.getvalue()
    assert "\r" in text and "1/1 tasks" in text and "100%" in text
    assert shown.lines and shown.lines[0] not in text  # the line is kept, the bar is shown
