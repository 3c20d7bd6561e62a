"""The per-artist papermill batch, with tiny dummy notebooks (the real ones need models).

Each dummy notebook appends one JSON line to ``<runs_root>/executions.log`` when it starts and
one when it ends, so the tests count executions exactly. Kernel start-up costs ~1 s per
notebook here, so the tests that execute notebooks are marked slow.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from pianogen import batch, execution
from pianogen.config import GenerateConfig, RunConfig, TrainConfig
from pianogen.presets import Profile

PROFILE = Profile(
    name="test",
    presets=("quick-gru",),
    train=TrainConfig(epochs=1, batch_size=8, max_train_windows=16),
    generate=GenerateConfig(count=2, tokens=8),
)

LOGGER = """
import json, os, pathlib, time
def record(event):
    log = pathlib.Path(runs_root) / "executions.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        handle.write(json.dumps({"nb": NB, "artist": artist, "event": event,
                                 "cwd": os.getcwd(), "pid": os.getpid(),
                                 "threads": os.environ.get("TF_NUM_INTRAOP_THREADS")}) + "\\n")
record("start")
os.write(2, b"oneDNN custom operations are on (noise the batch must keep off the terminal)\\n")
"""


def make_notebook(path: Path, params: str, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [
        cell,
        nbformat.v4.new_code_cell(f"NB = {path.stem[:2]!r}\n" + LOGGER),
        nbformat.v4.new_code_cell(body + '\nrecord("end")'),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    make_notebook(
        folder / "01_explore.ipynb",
        'artist = ""\ndata_dir = ""\nruns_root = ""\nmedia_dir = ""',
        'pathlib.Path(media_dir).mkdir(parents=True, exist_ok=True)\nprint("explored", artist)',
    )
    make_notebook(
        folder / "02_train.ipynb",
        'artist = ""\nruns_root = ""\nrun_config = None',
        'time.sleep(float(os.environ.get("PIANOGEN_TEST_SLEEP", "0")))\n'
        'preset = run_config["model"]["name"]\n'
        'if artist == "bad":\n    raise RuntimeError(f"boom while training {preset}")\n'
        'assert run_config["train"]["epochs"] == 1 and run_config["train"]["batch_size"] == 8',
    )
    make_notebook(
        folder / "03_evaluate.ipynb",
        'artist = ""\nruns_root = ""\npresets = []\ngenerate_config = None',
        'assert presets == ["quick-gru"] and generate_config["count"] == 2',
    )
    return folder


def make_data(root: Path, *artists: str) -> Path:
    for artist in artists:
        (root / artist).mkdir(parents=True)
        (root / artist / "piece.mid").write_bytes(b"MThd" + artist.encode())
    return root


def executions(runs_root: Path, event: str = "end") -> list[tuple[str, str]]:
    log = runs_root / "executions.log"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return sorted((r["artist"], r["nb"]) for r in rows if r["event"] == event)


def dirs(tmp_path: Path, notebooks: Path) -> dict:
    return {
        "out_book": tmp_path / "book" / "artists",
        "runs_root": tmp_path / "runs",
        "cache_dir": tmp_path / "cache",
        "notebooks_dir": notebooks,
    }


# --------------------------------------------------------------------------- fast tests
@pytest.mark.parametrize("name", ["chopin", "Bach J.S", "debussy-2", "Mozart, W.A.", "Dvořák"])
def test_valid_artist_names(name):
    assert batch.validate_artist_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "..", "../etc", "a/b", ".hidden", "x'); import os #", "a\nb", "a\x00b", "a\x1b[31m"],
)
def test_unsafe_artist_names_rejected(name):
    with pytest.raises(ValueError):
        batch.validate_artist_name(name)


def test_artist_data_hash(tmp_path):
    data = make_data(tmp_path, "a")
    (data / "a" / "sub").mkdir()
    (data / "a" / "sub" / "two.MIDI").write_bytes(b"MThd-two")
    (data / "a" / "notes.txt").write_text("not MIDI")
    first, count = batch.artist_data_hash(data, "a")
    assert count == 2 and len(first) == 64
    assert batch.artist_data_hash(data, "a") == (first, 2)  # stable
    (data / "a" / "notes.txt").write_text("changed, still not MIDI")
    assert batch.artist_data_hash(data, "a")[0] == first
    (data / "a" / "sub" / "two.MIDI").write_bytes(b"MThd-TWO")
    changed = batch.artist_data_hash(data, "a")[0]
    assert changed != first
    (data / "a" / "sub" / "two.MIDI").rename(data / "a" / "sub" / "three.MIDI")
    assert batch.artist_data_hash(data, "a")[0] not in (first, changed)  # names count too


def test_largest_artists_start_first(tmp_path):
    for artist, sizes in (("a", [10]), ("b", [30, 30]), ("c", [70]), ("d", [10])):
        for i, size in enumerate(sizes):
            path = tmp_path / artist / f"{i}.mid"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"x" * size)
    (tmp_path / "a" / "notes.txt").write_bytes(b"x" * 1000)  # not MIDI: does not count
    assert batch.largest_first(tmp_path, ["a", "b", "c", "d"]) == ["c", "b", "a", "d"]


def test_the_smallest_artists_of_the_data_folder_train_the_seed_replicates(tmp_path):
    for name, size in (("a", 300), ("b", 100), ("c", 200), ("_x", 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "p.mid").write_bytes(b"x" * size)
    seeded = PROFILE.replace(seeds=(1,), seeded=PROFILE.presets[:1], seed_artists=2)
    assert batch.seeded_artists(tmp_path, seeded) == {"b", "c"}
    assert batch.seeded_artists(tmp_path, seeded.replace(seed_artists=0)) == {"a", "b", "c"}
    assert batch.seeded_artists(tmp_path, PROFILE) == set()  # no seeds


def test_plan_tasks_names_outputs_and_declared_parameters(tmp_path):
    from pianogen.presets import make_run_config

    profile = PROFILE.replace(
        presets=("quick-gru", "quick-lstm"),
        window_split=("quick-gru",),
        timed=("quick-lstm",),
        timed_train=PROFILE.train.replace(epochs=5),
    )
    declared = {
        "01_explore": {"artist", "data_dir", "media_dir", "vocabulary"},
        "02_train": {"artist", "run_config", "runs_root", "epochs"},
        "03_evaluate": {"artist", "presets", "generate_config", "tokens"},
    }
    out = tmp_path / "book" / "chopin"
    kwargs = dict(
        notebooks_dir=tmp_path / "nb",
        out_dir=out,
        data_dir=tmp_path / "data",
        runs_root=tmp_path / "runs",
        cache_dir=tmp_path / "cache",
    )
    tasks = batch.plan_tasks("chopin", profile, declared=declared, **kwargs)
    assert [t.name for t in tasks] == [
        "01_explore",
        "02_train_quick-gru",
        "02_train_quick-lstm",
        "02_train_quick-gru_window",
        "02_train_quick-lstm-timed",
        "03_evaluate",
    ]
    assert [Path(t.output).name for t in tasks] == [f"{t.name}.ipynb" for t in tasks]
    assert all(Path(t.output).parent == out for t in tasks)
    assert tasks[0].parameters == {
        "artist": "chopin",
        "data_dir": str((tmp_path / "data").resolve()),  # outside the checkout: absolute
        "media_dir": "media",  # the kernel runs in the artist's folder
        "vocabulary": "paper",  # the runs' default tokens
    }
    # a profile on the merged tokens explores and trains on them
    merged = batch.plan_tasks(
        "chopin", profile.replace(vocabulary="merged"), declared=declared, **kwargs
    )
    assert merged[0].parameters["vocabulary"] == "merged"
    assert [t.name for t in merged][1:4] == [
        "02_train_quick-gru-merged",
        "02_train_quick-lstm-merged",
        "02_train_quick-gru-merged_window",
    ]
    assert merged[1].parameters["run_config"]["tokens"]["vocabulary"] == "merged"
    # Each training notebook gets its run's whole configuration as one value (no flat
    # 'epochs': the notebook's readable override is left at its default).
    window = make_run_config("chopin", "quick-gru", split="window", profile=profile)
    assert tasks[3].parameters == {
        "artist": "chopin",
        "run_config": window.to_dict(),
        "runs_root": str((tmp_path / "runs").resolve()),
    }
    configs = [RunConfig.from_dict(t.parameters["run_config"]) for t in tasks[1:5]]
    assert [c.run_name for c in configs] == [
        "quick-gru",
        "quick-lstm",
        "quick-gru",
        "quick-lstm-timed",
    ]
    assert [c.split.kind for c in configs] == ["piece", "piece", "window", "piece"]
    assert [c.train.epochs for c in configs] == [1, 1, 1, 5]  # the profile's timed_train
    assert tasks[5].parameters == {
        "artist": "chopin",
        "presets": ["quick-gru", "quick-lstm", "quick-lstm-timed"],
        "generate_config": profile.generate.to_dict(),  # one value, its seed included
    }
    assert tasks[5].requires_any == tuple(t.name for t in tasks[1:5])
    # seed replicates: the seeded presets' runs on the profile's vocabulary (both splits),
    # once per seed, with only the training seed changed; after the seed-0 runs
    seeded = profile.replace(seeds=(1, 2), seeded=("quick-gru",))
    replicated = batch.plan_tasks("chopin", seeded, declared=declared, replicates=True, **kwargs)
    assert [t.name for t in replicated][5:-1] == [
        "02_train_quick-gru-seed1",
        "02_train_quick-gru-seed1_window",
        "02_train_quick-gru-seed2",
        "02_train_quick-gru-seed2_window",
    ]
    runs = [RunConfig.from_dict(t.parameters["run_config"]) for t in replicated[5:-1]]
    assert [(c.train.seed, c.split.seed, c.split.kind) for c in runs] == [
        (1, 0, "piece"),
        (1, 0, "window"),
        (2, 0, "piece"),
        (2, 0, "window"),
    ]
    assert [c.run_name for c in runs] == ["quick-gru-seed1"] * 2 + ["quick-gru-seed2"] * 2
    assert replicated[-1].parameters["presets"] == tasks[5].parameters["presets"]
    assert len(batch.plan_tasks("chopin", seeded, declared=declared, **kwargs)) == len(tasks)
    # a seeded conditioned preset: its replicates train for all artists at once, after the
    # seed-0 runs; the evaluation pages name (and so wait for) the seed-0 run only
    pooled = seeded.replace(seeded=("quick-conditioned",), conditioned=("quick-conditioned",))
    conditioned = batch.plan_conditioned(
        ["bach", "chopin"], pooled, declared=declared, **{**kwargs, "out_dir": tmp_path / "c"}
    )
    assert [t.name for t in conditioned] == [
        "02_train_quick-conditioned",
        "02_train_quick-conditioned-seed1",
        "02_train_quick-conditioned-seed2",
    ]
    runs = [RunConfig.from_dict(t.parameters["run_config"]) for t in conditioned]
    assert [(c.train.seed, c.split.seed, c.artists) for c in runs] == [
        (s, 0, ("bach", "chopin")) for s in (0, 1, 2)
    ]
    assert "quick-conditioned-seed1" not in pooled.evaluated_runs
    assert batch.plan_conditioned(["bach"], pooled, declared=declared, **kwargs) == []
    # a training notebook that cannot receive a run configuration is refused up front
    declared["02_train"].discard("run_config")
    with pytest.raises(batch.BatchError, match="run_config"):
        batch.plan_tasks("chopin", profile, declared=declared, **kwargs)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


NOISE = ("oneDNN", "absl", "without encryption", "TF_CPP", "Traceback")


@pytest.mark.slow
def test_progress_bar_plain_lines_and_no_kernel_noise(tmp_path, notebooks, capfd):
    data = make_data(tmp_path / "data", "alice", "bob", "bad")
    kw = dirs(tmp_path, notebooks)
    book = kw["out_book"]

    terminal = FakeTerminal()
    summary = batch.run_batch(data, profile=PROFILE, jobs=2, stream=terminal, **kw)
    assert summary.succeeded == ["alice", "bob"] and summary.failed == ["bad"]
    shown = terminal.getvalue()
    # one bar, redrawn in place (carriage returns), that ends at every task of every artist
    assert "\r" in shown and "9/9 tasks" in shown and "ETA" in shown
    assert "\n" not in shown.rstrip("\n"), "a terminal gets one bar, not lines"
    printed = capfd.readouterr()
    for noise in NOISE:
        assert noise not in shown + printed.out + printed.err, noise
    # the noise went to each task's log, and the failure names its log
    assert "oneDNN" in (book / "alice" / "_logs" / "01_explore.log").read_text()
    bad = {a.artist: a for a in summary.artists}["bad"]
    assert bad.log == str(book / "bad" / "_logs" / "02_train_quick-gru.log")
    assert "boom while training quick-gru" in Path(bad.log).read_text()
    assert f"(log: {bad.log})" in batch.format_summary(summary)

    # not a terminal (CI, a log file): one plain line per finished task, in order
    plain = io.StringIO()
    batch.run_batch(data, profile=PROFILE, jobs=1, force=True, stream=plain, **kw)
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue() and len(lines) == 9
    assert [line.split("]")[0] for line in lines] == [f"[{i}/9" for i in range(1, 10)]
    assert lines[0].startswith("[1/9] alice: 01_explore finished in 0:0")
    assert "bad: 02_train_quick-gru FAILED after" in plain.getvalue()
    assert "bad: 03_evaluate not run: a task it needs failed" in plain.getvalue()
    assert "ETA 0:00 (ends ~" in lines[-1]
    printed = capfd.readouterr()
    for noise in NOISE:
        assert noise not in printed.out + printed.err, noise


def test_summary_json_and_text():
    summary = batch.BatchSummary(
        "quick",
        [
            batch.ArtistResult("alice", "succeeded", ran=["01_explore"], seconds=1.5),
            batch.ArtistResult("bad", "failed", failed=["02_train_x"], error="02_train_x: E: v"),
            batch.ArtistResult("bob", "skipped", skipped=["01_explore"]),
        ],
        seconds=3.0,
    )
    data = json.loads(json.dumps(summary.to_json()))
    assert data["succeeded"] == ["alice"] and data["failed"] == ["bad"]
    assert data["skipped"] == ["bob"] and data["exit_code"] == 1
    assert data["artists"][1]["error"] == "02_train_x: E: v"
    text = batch.format_summary(summary, figures={"alice": "paper 20.0% vs 3-gram 10.0%"})
    assert "02_train_x: E: v" in text and "1 succeeded, 1 failed, 1 skipped" in text
    header, alice = text.splitlines()[1:3]
    columns = ["artist", "status", "run", "done", "failed", "not", "run", "minutes", "figures"]
    assert header.split() == columns
    assert alice.split()[:7] == ["alice", "succeeded", "1", "0", "0", "0", "0.0"]
    assert alice.endswith("  paper 20.0% vs 3-gram 10.0%")
    assert batch.BatchSummary("quick", summary.artists[::2]).exit_code == 0


def test_run_batch_user_errors(tmp_path, notebooks):
    data = make_data(tmp_path / "data", "alice")
    kw = dirs(tmp_path, notebooks)
    with pytest.raises(batch.BatchError, match="does not exist"):
        batch.run_batch(tmp_path / "nope", profile=PROFILE, **kw)
    with pytest.raises(ValueError, match="unsafe artist name"):
        batch.run_batch(data, artists=["../alice"], profile=PROFILE, **kw)
    with pytest.raises(batch.BatchError, match="no artist folder"):
        batch.run_batch(data, artists=["carol"], profile=PROFILE, **kw)
    with pytest.raises(ValueError, match="unknown profile"):
        batch.run_batch(data, profile="nope", **kw)
    with pytest.raises(batch.BatchError, match="jobs"):
        batch.run_batch(data, profile=PROFILE, jobs=0, **kw)
    kw["notebooks_dir"] = tmp_path
    with pytest.raises(batch.BatchError, match=r"01_explore\.ipynb.*not found"):
        batch.run_batch(data, profile=PROFILE, **kw)
    assert not (tmp_path / "book").exists()


def test_a_kernel_that_did_not_start_is_started_again(tmp_path, monkeypatch):
    """CI saw "Kernel didn't respond in 60 seconds": a kernel that does not start (no cell
    ran) is started again, up to KERNEL_START_TRIES times; a cell's error fails at once."""
    import papermill

    calls, outcomes = [], []

    def fake(notebook, output, **kw):
        calls.append(kw["start_timeout"])
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        Path(output).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    out, log = tmp_path / "nb.ipynb", tmp_path / "_logs" / "nb.log"
    outcomes[:] = [RuntimeError("Kernel didn't respond in 300 seconds"), None]
    execution.execute_notebook(tmp_path / "in.ipynb", out, {}, log_path=log)
    assert out.is_file() and calls == [execution.KERNEL_START_TIMEOUT] * 2
    assert "starting the kernel again (try 2)" in log.read_text()

    calls.clear()
    tries = execution.KERNEL_START_TRIES
    outcomes[:] = [RuntimeError("Kernel died before replying to kernel_info")] * tries
    with pytest.raises(RuntimeError, match="Kernel died"):
        execution.execute_notebook(tmp_path / "in.ipynb", tmp_path / "two.ipynb", {})
    assert len(calls) == tries and not (tmp_path / "two.ipynb").exists()

    calls.clear()
    cell_error = papermill.PapermillExecutionError(0, 1, "", "RuntimeError", "boom", [])
    outcomes[:] = [cell_error]
    with pytest.raises(papermill.PapermillExecutionError):
        execution.execute_notebook(tmp_path / "in.ipynb", tmp_path / "three.ipynb", {})
    assert len(calls) == 1  # a cell's error is the notebook's: not run again
    assert not execution.kernel_did_not_start(RuntimeError("boom while training"))


def test_vector_extensions_name_the_widest():
    flags = ["fpu", "sse2", "avx", "avx2", "fma", "avx512f", "avx512_bf16"]
    assert execution.vector_extensions(flags) == "AVX-512 (BF16)"
    assert execution.vector_extensions(["avx", "avx2", "avx512f"]) == "AVX-512"
    assert execution.vector_extensions(["fma", "avx", "avx2"]) == "AVX2"
    assert execution.vector_extensions(["sse4_2", "avx"]) == "AVX"
    assert execution.vector_extensions(["neon", "asimd"]) == ""
    info = execution.machine_info()
    assert info["vector"] in {"AVX-512 (BF16)", "AVX-512", "AVX2", "AVX", ""}
    assert info["cores"] >= 1 and isinstance(info["gpus"], list)


def test_workers_share_the_cores_between_their_kernels(monkeypatch):
    from pianogen import worker

    assert execution.share_cores(3, cores=2) == {
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
    }
    assert execution.share_cores(2, cores=16)["TF_NUM_INTRAOP_THREADS"] == "8"
    assert execution.share_cores(1, cores=4)["TF_NUM_INTEROP_THREADS"] == "4"
    # a worker's kernels inherit the shares, unless the user chose their own
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "6")
    monkeypatch.setattr(worker, "configure", lambda *a, **k: None)
    monkeypatch.setattr(worker, "_PARENT_PID", worker._PARENT_PID)  # restored after
    worker.init_worker(logging.WARNING, os.getpid(), environment=execution.share_cores(3, 2))
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == "6"
    assert os.environ["TF_NUM_INTEROP_THREADS"] == "1"


# --------------------------------------------------------------------------- notebooks run
@pytest.mark.slow
def test_parameters_arrive_as_values(tmp_path):
    nb = make_notebook(
        tmp_path / "01_echo.ipynb",
        'artist = ""\nruns_root = ""',
        'pathlib.Path(runs_root, "seen.json").write_text(json.dumps([artist, os.getcwd()]))',
    )
    evil = 'x\'); import os #""" {runs_root}'
    out = tmp_path / "we{ir}d" / "echo.ipynb"  # papermill str.formats paths: braces too
    execution.execute_notebook(nb, out, {"artist": evil, "runs_root": str(tmp_path)})
    assert json.loads((tmp_path / "seen.json").read_text()) == [evil, str(out.parent)]
    assert out.is_file() and not list(out.parent.glob(".*partial*"))
    # the other layer: such a name never becomes an artist in the first place
    with pytest.raises(ValueError):
        batch.validate_artist_name("x'); import os #")


@pytest.mark.slow
def test_batch_runs_skips_forces_and_isolates_failures(tmp_path, notebooks):
    data = make_data(tmp_path / "data", "alice", "bob", "bad", "x'); import os #")
    kw = dirs(tmp_path, notebooks)
    runs, book = kw["runs_root"], kw["out_book"]

    summary = batch.run_batch(data, profile=PROFILE, jobs=2, **kw)
    assert summary.succeeded == ["alice", "bob"]
    assert summary.failed == ["bad", "x'); import os #"] and summary.exit_code == 1
    bad = {a.artist: a for a in summary.artists}["bad"]
    assert bad.error == "02_train_quick-gru: RuntimeError: boom while training quick-gru"
    assert bad.ran == ["01_explore"] and bad.blocked == ["03_evaluate"]
    invalid = {a.artist: a for a in summary.artists}["x'); import os #"]
    assert "invalid artist name" in invalid.error and not invalid.ran
    assert executions(runs) == sorted(
        [(a, nb) for a in ("alice", "bob") for nb in ("01", "02", "03")] + [("bad", "01")]
    )
    for artist in ("alice", "bob"):
        names = sorted(p.name for p in (book / artist).glob("*.ipynb"))
        assert names == ["01_explore.ipynb", "02_train_quick-gru.ipynb", "03_evaluate.ipynb"]
    assert (book / "bad" / "01_explore.ipynb").is_file()
    assert not (book / "bad" / "02_train_quick-gru.ipynb").exists()
    assert (book / "bad" / "_failed" / "02_train_quick-gru.ipynb").is_file()  # for debugging
    assert not (book / "x'); import os #").exists()
    # the kernel ran in the artist's book folder; parameters arrived as values
    rows = [json.loads(line) for line in (runs / "executions.log").read_text().splitlines()]
    assert {r["cwd"] for r in rows if r["artist"] == "alice"} == {str(book / "alice")}
    # two workers share the cores: their kernels' TensorFlow thread pools say so
    shared = (
        os.environ.get("TF_NUM_INTRAOP_THREADS")
        or execution.share_cores(2)["TF_NUM_INTRAOP_THREADS"]
    )
    assert {r["threads"] for r in rows} == {shared}
    prov = json.loads((book / "alice" / "provenance.json").read_text())
    assert prov["profile"] == "test" and prov["midi_files"] == 1 and len(prov["data_hash"]) == 64
    assert prov["threads"]["TF_NUM_INTRAOP_THREADS"] == shared
    assert prov["parameters"]["02_train_quick-gru"]["run_config"]["model"]["name"] == "quick-gru"
    assert prov["parameters"]["01_explore"]["data_dir"] == str(data.resolve())
    assert set(prov["versions"]) >= {"pianogen", "tensorflow", "keras", "music21", "numpy"}
    assert prov["tasks"] == dict.fromkeys(
        ["01_explore", "02_train_quick-gru", "03_evaluate"], "ran"
    )

    # unchanged: nothing reruns (inline, one job)
    again = batch.run_batch(data, artists=["alice", "bob"], profile=PROFILE, jobs=1, **kw)
    assert again.skipped == ["alice", "bob"] and again.exit_code == 0
    assert all(a.skipped == list(prov["tasks"]) for a in again.artists)
    assert len(executions(runs)) == 7

    # one artist's data changes: that artist reruns, and the other artists' evaluation
    # pages (the composer classifier they judge with learns from every artist's music)
    (data / "bob" / "new.mid").write_bytes(b"MThd-new")
    third = batch.run_batch(data, artists=["alice", "bob"], profile=PROFILE, **kw)
    assert third.succeeded == ["alice", "bob"]
    assert {a.artist: a.ran for a in third.artists}["alice"] == ["03_evaluate"]
    assert executions(runs).count(("bob", "01")) == 2 and len(executions(runs)) == 11

    # force reruns the finished task too; the failed one fails again, alone
    forced = batch.run_batch(data, artists=["bad"], profile=PROFILE, force=True, **kw)
    assert forced.failed == ["bad"] and forced.artists[0].ran == ["01_explore"]
    assert executions(runs).count(("bad", "01")) == 2
    assert executions(runs, "start").count(("bad", "02")) == 2


# A terminal's foreground job: Ctrl-C raises KeyboardInterrupt. (Started from a background
# job of a non-interactive shell, SIGINT arrives ignored, and an ignored SIGINT is inherited.)
BATCH_SCRIPT = """
import json, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from pianogen import batch
from pianogen.config import GenerateConfig, TrainConfig
from pianogen.presets import Profile
kw = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}
p = json.loads(sys.argv[2])
profile = Profile(p["name"], tuple(p["presets"]), TrainConfig(**p["train"]),
                  GenerateConfig(**p["generate"]))
if __name__ == "__main__":
    s = batch.run_batch(Path(sys.argv[3]), profile=profile, jobs=2, stream=sys.stderr, **kw)
    print(json.dumps(s.to_json()))
    sys.exit(s.exit_code)
"""


def _batch_in_its_own_group(tmp_path: Path, kw: dict, data: Path) -> subprocess.Popen:
    """The batch in a new process (group, as a terminal's foreground job), trainings that
    sleep 120 s; returns once both artists' trainings started."""
    (tmp_path / "run.py").write_text(BATCH_SCRIPT)
    args = [json.dumps({k: str(v) for k, v in kw.items()}), PROFILE.to_json(), str(data)]
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "run.py"), *args],
        env={**os.environ, "PIANOGEN_TEST_SLEEP": "120"},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len([r for r in executions(kw["runs_root"], "start") if r[1] == "02"]) < 2:
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before it could be stopped: {proc.communicate()}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the batch never reached 02_train")
        time.sleep(0.2)
    return proc


def _resume_finishes_the_rest(data: Path, kw: dict) -> None:
    summary = batch.run_batch(data, profile=PROFILE, jobs=2, **kw)
    assert summary.succeeded == ["alice", "bob"]
    for result in summary.artists:
        assert result.skipped == ["01_explore"]
        assert result.ran == ["02_train_quick-gru", "03_evaluate"]
        assert not list((kw["out_book"] / result.artist).glob(".*partial*"))
    assert executions(kw["runs_root"]) == sorted(
        (a, nb) for a in ("alice", "bob") for nb in ("01", "02", "03")
    )


@pytest.mark.slow
def test_sigkill_mid_batch_then_resume(tmp_path, notebooks):
    data = make_data(tmp_path / "data", "alice", "bob")
    kw = dirs(tmp_path, notebooks)
    runs, book = kw["runs_root"], kw["out_book"]
    proc = _batch_in_its_own_group(tmp_path, kw, data)
    os.killpg(proc.pid, signal.SIGKILL)  # the batch and its workers, no clean-up
    proc.communicate(timeout=30)
    assert executions(runs) == [("alice", "01"), ("bob", "01")]
    for artist in ("alice", "bob"):
        assert (book / artist / "01_explore.ipynb").is_file()
        assert not (book / artist / "02_train_quick-gru.ipynb").exists()
        stamp = json.loads((book / artist / ".stamp.json").read_text())
        assert list(stamp["tasks"]) == ["01_explore"]
    _resume_finishes_the_rest(data, kw)


@pytest.mark.slow
def test_ctrl_c_stops_workers_and_kernels_then_resume(tmp_path, notebooks):
    data = make_data(tmp_path / "data", "alice", "bob")
    kw = dirs(tmp_path, notebooks)
    runs = kw["runs_root"]
    proc = _batch_in_its_own_group(tmp_path, kw, data)
    began = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - began < 30, "Ctrl-C did not stop the running notebooks"
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["interrupted"] is True
    assert {a["artist"]: (a["status"], a["ran"]) for a in summary["artists"]} == {
        "alice": ("interrupted", ["01_explore"]),
        "bob": ("interrupted", ["01_explore"]),
    }
    rows = [json.loads(line) for line in (runs / "executions.log").read_text().splitlines()]
    kernels = [r["pid"] for r in rows if r["nb"] == "02"]
    time.sleep(3)
    for pid in kernels:  # the training kernels are gone, not left running on their own
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert executions(runs) == [("alice", "01"), ("bob", "01")]
    _resume_finishes_the_rest(data, kw)


@pytest.mark.slow
def test_dask_local_cluster(tmp_path, notebooks):
    distributed = pytest.importorskip("distributed")
    data = make_data(tmp_path / "data", "alice", "bad")
    kw = dirs(tmp_path, notebooks)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        summary = batch.run_batch(data, profile=PROFILE, scheduler=cluster.scheduler_address, **kw)
    assert summary.succeeded == ["alice"] and summary.failed == ["bad"]
    assert "boom while training" in summary.artists[1].error
    assert executions(kw["runs_root"]) == [
        ("alice", "01"),
        ("alice", "02"),
        ("alice", "03"),
        ("bad", "01"),
    ]
    rows = [json.loads(x) for x in (kw["runs_root"] / "executions.log").read_text().splitlines()]
    for row in rows:  # two artists at once in threads: each kernel in its own folder
        assert row["cwd"] == str(kw["out_book"] / row["artist"])


@pytest.mark.slow
def test_a_conditioned_model_trains_once_for_every_artist_first(tmp_path, notebooks):
    # an evaluation page that names the conditioned run among the artist's runs
    make_notebook(
        notebooks / "03_evaluate.ipynb",
        'artist = ""\nruns_root = ""\npresets = []\ngenerate_config = None',
        'assert presets == ["quick-gru", "quick-conditioned"]',
    )
    data = make_data(tmp_path / "data", "alice", "bob", "carol", "dave")
    for artist in ("alice", "bob", "carol"):  # dave keeps 1 file: too few for a piece split
        for i in (2, 3):
            (data / artist / f"piece{i}.mid").write_bytes(b"MThd" + bytes([i]))
    kw = dirs(tmp_path, notebooks)
    profile = PROFILE.replace(conditioned=("quick-conditioned",))
    summary = batch.run_batch(data, profile=profile, jobs=2, **kw)
    assert summary.succeeded == ["_conditioned", "alice", "bob", "carol", "dave"]
    pooled = kw["out_book"] / "_conditioned"
    assert sorted(p.name for p in pooled.glob("*.ipynb")) == ["02_train_quick-conditioned.ipynb"]
    prov = json.loads((pooled / "provenance.json").read_text())
    config = RunConfig.from_dict(prov["parameters"]["02_train_quick-conditioned"]["run_config"])
    assert config.pooled and config.artists == ("alice", "bob", "carol")  # not dave
    assert prov["midi_files"] == 9  # every one of their files
    rows = [json.loads(x) for x in (kw["runs_root"] / "executions.log").read_text().splitlines()]
    starts = [(r["artist"], r["nb"]) for r in rows if r["event"] == "start"]
    # submitted first: with 2 workers it starts before the second artist's first page
    assert starts.index(("", "02")) < starts.index(("bob", "01"))
    # unchanged: skipped; a batch of some artists only leaves it alone
    again = batch.run_batch(data, profile=profile, jobs=2, **kw)
    assert again.skipped == ["_conditioned", "alice", "bob", "carol", "dave"]
    (data / "carol" / "piece.mid").write_bytes(b"MThd changed")
    some = batch.run_batch(data, artists=["alice"], profile=profile, jobs=1, **kw)
    assert [a.artist for a in some.artists] == ["alice"]
    # Another artist's data: alice's exploration and trainings stay; her evaluation page
    # runs again (the composer classifier learns from every artist's music, and the
    # conditioned run she evaluates learns from carol's).
    assert some.artists[0].ran == ["03_evaluate"]
    third = batch.run_batch(data, profile=profile, jobs=2, **kw)
    ran = {a.artist: a.ran for a in third.artists}
    assert ran["_conditioned"] == ["02_train_quick-conditioned"] and ran["carol"]
    # alice again: the conditioned run is retrained only now (a batch of some artists
    # leaves it alone); bob and dave for the classifier (dave is not in the pooled run).
    for artist in ("alice", "bob", "dave"):
        assert ran[artist] == ["03_evaluate"], (artist, ran[artist])
    # Nothing changed: nothing runs.
    assert batch.run_batch(data, profile=profile, jobs=2, **kw).skipped == [
        "_conditioned",
        "alice",
        "bob",
        "carol",
        "dave",
    ]
