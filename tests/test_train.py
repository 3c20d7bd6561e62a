"""Training runs on tiny synthetic data: files, determinism, resume after SIGKILL, errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from synthetic_runs import synthetic_config, synthetic_prepared

from pianogen.config import PAPER_RESULTS
from pianogen.io import read_json
from pianogen.runs import HISTORY_COLUMNS, RunError, load_run, metrics_table
from pianogen.train import compile_model, train_prepared
from pianogen.windows import prepare_tokens

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def _history(run_dir: Path) -> list[list[str]]:
    lines = (run_dir / "history.csv").read_text().splitlines()
    return [line.split(",") for line in lines]


@pytest.fixture(scope="module")
def gru_run(tmp_path_factory) -> Path:
    """One finished 1-epoch quick-gru run, shared by the read-only tests."""
    config = synthetic_config("quick-gru", epochs=1)
    out = tmp_path_factory.mktemp("gru") / "run"
    return train_prepared(config, synthetic_prepared(config), out, progress=False)


def _check_run(run_dir: Path, config, split: str) -> None:
    for name in ("config.json", "vocab.json", "model.keras", "history.csv", "metrics.json"):
        assert (run_dir / name).is_file(), name
    assert _history(run_dir)[0] == list(HISTORY_COLUMNS)
    assert len(_history(run_dir)) == 2
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["split"] == split and metrics["epochs"] == 1
    assert set(metrics["baselines"]) == {"majority", "unigram", "ngram"}
    assert metrics["paper"] == PAPER_RESULTS[config.model.cell]
    model = metrics["model"]
    assert model["tokens"] == metrics["windows"]["test"] == metrics["baselines"]["ngram"]["tokens"]
    assert model["perplexity"] == pytest.approx(np.exp(model["loss"]))
    assert 0.0 <= model["accuracy"] <= model["top_5_accuracy"] <= 1.0
    run = load_run(run_dir)
    assert run.config == config and len(run.vocab) == run.model.output_shape[-1]


def test_quick_gru_piece_split_run(gru_run):
    _check_run(gru_run, synthetic_config("quick-gru", epochs=1), "piece")


def test_quick_lstm_window_split_run(tmp_path, capsys):
    config = synthetic_config("quick-lstm", epochs=1, split="window")
    run_dir = train_prepared(config, synthetic_prepared(config), tmp_path / "run")
    _check_run(run_dir, config, "window")
    out = capsys.readouterr().out
    assert "epoch 1/1: loss" in out and "test: loss" in out
    assert out.rstrip().endswith(f"); {(tmp_path / 'run').resolve()}")  # outside the checkout


def test_messages_name_run_folders_inside_the_checkout_relative_to_it(tmp_path):
    from pianogen.explore import repo_root
    from pianogen.train import _shown

    # A notebook's output then reads runs/bach/..., not the folder the book was built in.
    assert _shown(repo_root() / "runs" / "bach" / "pianogen-gru") == "runs/bach/pianogen-gru"
    assert _shown(tmp_path / "run") == str((tmp_path / "run").resolve())


def test_compile_uses_adamax_and_top5():
    config = synthetic_config()
    from pianogen.models import build_model

    model = compile_model(build_model(config.model, 10, 8), config)
    assert isinstance(model.optimizer, keras.optimizers.Adamax)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)


@pytest.mark.slow
def test_same_seed_same_history(tmp_path):
    config = synthetic_config("quick-gru", epochs=2, max_train_windows=200)
    prepared = synthetic_prepared(config)
    a = train_prepared(config, prepared, tmp_path / "a", progress=False)
    b = train_prepared(config, prepared, tmp_path / "b", progress=False)
    assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
    rows = _history(a)[1:]
    assert [r[1] for r in rows] == ["200", "200"]  # max_train_windows per epoch
    other = train_prepared(
        synthetic_config("quick-gru", epochs=1, max_train_windows=200, seed=1),
        prepared,
        tmp_path / "c",
        progress=False,
    )
    assert _history(other)[1] != rows[0]  # another seed, another first epoch


def test_finished_run_is_not_retrained_and_mismatches_are_refused(tmp_path, capsys, gru_run):
    config = synthetic_config(epochs=1)
    prepared = synthetic_prepared(config)
    run_dir = Path(shutil.copytree(gru_run, tmp_path / "run"))
    stamp = (run_dir / "model.keras").stat().st_mtime_ns
    train_prepared(config, prepared, run_dir)
    assert "already trained" in capsys.readouterr().out
    assert (run_dir / "model.keras").stat().st_mtime_ns == stamp

    with pytest.raises(
        RunError, match=r"another configuration \(differs in \['train.epochs'\]\).*--force"
    ):
        train_prepared(synthetic_config(epochs=3), prepared, run_dir)
    other_vocab = prepare_tokens(
        [["C4", "D4"] * 40] * 4, list("abcd"), config, data_hash="synthetic"
    )
    with pytest.raises(RunError, match=r"another vocabulary.*--force"):
        train_prepared(config, other_vocab, run_dir)
    # resume=False (the CLI's --force) starts over in the same folder.
    train_prepared(synthetic_config(epochs=2), prepared, run_dir, progress=False, resume=False)
    assert read_json(run_dir / "metrics.json")["epochs"] == 2


def test_corrupt_model_is_a_clear_error(tmp_path, gru_run):
    run_dir = Path(shutil.copytree(gru_run, tmp_path / "run"))
    (run_dir / "model.keras").write_bytes(b"not a zip file")
    with pytest.raises(RunError, match="corrupt or not a Keras model"):
        load_run(run_dir)
    (run_dir / "model.keras").unlink()
    with pytest.raises(RunError, match=r"model\.keras is missing"):
        load_run(run_dir)


def test_metrics_table_rows(gru_run):
    table = metrics_table(gru_run)
    assert list(table.index) == [
        "quick-gru (ours)",
        "majority token",
        "unigram sampling (expected)",
        "3-gram",
        "paper's GRU (quoted)",
    ]
    assert table.loc["paper's GRU (quoted)", "accuracy"] == 0.91
    assert table.loc["3-gram", "accuracy"] > table.loc["unigram sampling (expected)", "accuracy"]


def test_distribution_strategy_scope(tmp_path):
    config = synthetic_config(epochs=1, max_train_windows=64)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    run_dir = train_prepared(
        config, synthetic_prepared(config), tmp_path / "run", strategy=strategy, progress=False
    )
    assert read_json(run_dir / "metrics.json")["epochs"] == 1


_RESUME_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from synthetic_runs import synthetic_config, synthetic_prepared
from pianogen.train import train_prepared
config = synthetic_config("quick-gru", epochs={epochs}, max_train_windows=96, batch_size=16)
train_prepared(config, synthetic_prepared(config), {run_dir!r})
"""


@pytest.mark.slow
def test_resume_after_sigkill_continues_exactly(tmp_path):
    epochs = 12
    run_dir = tmp_path / "killed"
    script = tmp_path / "train_script.py"
    script.write_text(
        textwrap.dedent(
            _RESUME_SCRIPT.format(tests=str(TESTS), epochs=epochs, run_dir=str(run_dir))
        )
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    state_path = run_dir / "checkpoint" / "state.json"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if state_path.exists() and read_json(state_path)["epoch"] >= 2:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    done = read_json(state_path)["epoch"]
    assert 2 <= done < epochs
    before = (run_dir / "history.csv").read_text().splitlines()
    assert len(before) == done + 1

    resumed = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert f"resuming after epoch {done} of {epochs}" in resumed.stdout
    assert f"epoch {done + 1}/{epochs}:" in resumed.stdout
    assert f"epoch {done}/{epochs}:" not in resumed.stdout
    after = (run_dir / "history.csv").read_text().splitlines()
    assert after[: done + 1] == before
    assert [int(line.split(",")[0]) for line in after[1:]] == list(range(1, epochs + 1))
    assert not list(run_dir.rglob(".*.tmp*"))
    assert [p.name for p in (run_dir / "checkpoint").glob("*.keras")] == [
        f"epoch-{epochs:04d}.keras"
    ]
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == epochs
    load_run(run_dir)

    # The interrupted run ends exactly where an uninterrupted one does.
    config = synthetic_config("quick-gru", epochs=epochs, max_train_windows=96, batch_size=16)
    straight = train_prepared(
        config, synthetic_prepared(config), tmp_path / "straight", progress=False
    )
    assert (straight / "history.csv").read_text().splitlines() == after


@pytest.mark.slow
def test_train_end_to_end_on_tiny_midi(tmp_path):
    from midi_factory import write_midi_file

    from pianogen.config import RunConfig, TokenConfig, TrainConfig
    from pianogen.presets import model_preset
    from pianogen.train import train

    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    for i in range(4):
        notes = [(q * 0.5, 0.5, scale[(q + i) % len(scale)]) for q in range(40)]
        write_midi_file(tmp_path / "data" / "tiny" / f"piece{i}.mid", notes)
    config = RunConfig(
        artist="tiny",
        model=model_preset("quick-gru"),
        tokens=TokenConfig(seq_len=8, min_count=1),
        train=TrainConfig(epochs=1, batch_size=16),
    )
    run_dir = train(
        config, tmp_path / "data", tmp_path / "runs", cache_dir=tmp_path / "cache", progress=False
    )
    assert run_dir == tmp_path / "runs" / "tiny" / "quick-gru"
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["pieces"] == {"train": 2, "validation": 1, "test": 1}
    assert metrics["model"]["tokens"] == 40 - 8  # one test piece of 40 notes
    run = load_run(run_dir)
    assert set(run.vocab.tokens) <= {"C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"}


def test_early_stopping_keeps_the_best_epoch(tmp_path, capsys):
    # A learning rate this high makes validation loss jump after the first epoch.
    config = synthetic_config(epochs=8, patience=1)
    config = config.replace(train=config.train.replace(optimizer="adam", learning_rate=0.5))
    run_dir = train_prepared(config, synthetic_prepared(config), tmp_path / "run")
    rows = _history(run_dir)[1:]
    val = [float(r[HISTORY_COLUMNS.index("val_loss")]) for r in rows]
    best = int(np.argmin(val)) + 1
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["stopped_early"] and metrics["epochs"] == len(rows) == best + 1 < 8
    assert metrics["best_epoch"] == best and metrics["best_val_loss"] == pytest.approx(min(val))
    assert "early stopping" in capsys.readouterr().out


def test_plateau_counter_by_hand():
    from pianogen.train import _track_plateau

    state: dict = {}
    for accuracy in (0.10, 0.104, 0.20, 0.203, 0.204, 0.21):
        _track_plateau(state, accuracy, delta=0.005)
    # 0.10 best; 0.104 no rise; 0.20 new best; 0.203, 0.204 no rise of 0.005; 0.21 rises.
    assert state == {"best_train_accuracy": 0.21, "since_train_best": 0}
    _track_plateau(state, 0.212, delta=0.005)
    _track_plateau(state, 0.2, delta=0.005)
    assert state["since_train_best"] == 2 and state["best_train_accuracy"] == 0.21


def test_training_stops_when_training_accuracy_plateaus(tmp_path, capsys):
    config = synthetic_config(epochs=10, patience=0)
    # A rise of 2.0 is impossible: epoch 1 sets the best, epochs 2 and 3 do not rise.
    config = config.replace(train=config.train.replace(plateau=2, plateau_delta=2.0))
    run_dir = train_prepared(config, synthetic_prepared(config), tmp_path / "run")
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["epochs"] == 3 and metrics["stopped_early"] is True
    assert "training accuracy plateaued" in metrics["stop_reason"]
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3
    assert metrics["final_train"]["accuracy"] == pytest.approx(
        float(history[-1].split(",")[HISTORY_COLUMNS.index("accuracy")])
    )
    assert "early stopping: training accuracy plateaued" in capsys.readouterr().out
    # Off (0) by default: the same run goes on to its epoch cap.
    assert synthetic_config().train.plateau == 0


def test_a_refused_run_keeps_the_data_record_of_the_run_it_holds(tmp_path):
    from midi_factory import write_midi_file

    from pianogen.config import RunConfig
    from pianogen.runs import RunError, recorded_data_dir
    from pianogen.train import train

    roots = [tmp_path / name / "midi" for name in ("first", "second")]
    for root in roots:
        for i in range(4):
            write_midi_file(
                root / "bach" / f"piece{i}.mid",
                [(j * 0.5, 0.5, 60 + i % 2 + j % 8) for j in range(80)],
            )
    runs = tmp_path / "runs"
    config = RunConfig.from_dict(
        {
            "artist": "bach",
            "model": {"name": "quick-gru", "units": [8], "embedding_dim": 4},
            "tokens": {"seq_len": 8, "min_count": 1},
            "train": {"epochs": 1, "batch_size": 16},
        }
    )
    folder = train(config, roots[0], runs, cache_dir=tmp_path / "cache", progress=False)
    assert recorded_data_dir(folder) == roots[0].resolve()
    other = config.replace(train=config.train.replace(epochs=2))
    with pytest.raises(RunError, match="another configuration"):
        train(other, roots[1], runs, cache_dir=tmp_path / "cache", progress=False)
    assert recorded_data_dir(folder) == roots[0].resolve()  # not the refused run's folder


def _sequence_config(epochs: int, *, sequence_loss: bool = True, **kwargs):
    config = synthetic_config("quick-gru", epochs=epochs, **kwargs)
    return config.replace(
        model=config.model.replace(sequence_loss=sequence_loss),
        train=config.train.replace(optimizer="adam", learning_rate=0.01),
    )


def test_sequence_loss_learns_faster_and_saves_the_next_token_model(tmp_path):
    import pianogen.train as train_module

    last = _sequence_config(epochs=3, sequence_loss=False)
    every = _sequence_config(epochs=3)
    prepared = synthetic_prepared(last)
    a = train_prepared(last, prepared, tmp_path / "last", progress=False)
    b = train_prepared(every, prepared, tmp_path / "every", progress=False)
    ma, mb = read_json(a / "metrics.json"), read_json(b / "metrics.json")
    # The same 3 epochs of windows, 8 targets each instead of 1: the synthetic chain (a step
    # up by one note 80 % of the time) is learned in the time the other has barely begun.
    assert mb["sequence_loss"] is True and ma["sequence_loss"] is False
    assert mb["best_val_loss"] < ma["best_val_loss"] - 0.15  # measured: 1.62 against 1.87
    assert mb["model"]["accuracy"] > ma["model"]["accuracy"]
    with warnings.catch_warnings():
        # the saved model's optimizer never stepped: loading it must not warn about its state
        warnings.simplefilter("error")
        run = load_run(b)
    assert run.model.output_shape == (None, len(run.vocab))  # what generation samples from
    # The validation figures of the best epoch are the saved model's on the validation set.
    val = prepared.windows("validation")
    scorer = compile_model(run.model, every)
    scores = scorer.evaluate(val.dataset(64), verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(mb["best_val_loss"], rel=1e-5)
    # Scored from the saved file (as when the best epoch is not the last), the test figures
    # are the in-memory model's, without a warning.
    state = read_json(b / "checkpoint" / "state.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_module._finish(every, prepared, b, state, False)
    assert read_json(b / "metrics.json")["model"] == mb["model"]


def test_a_sequence_loss_run_resumes_exactly(tmp_path, monkeypatch):
    import pianogen.train as train_module

    config = _sequence_config(epochs=4, max_train_windows=96, batch_size=16)
    prepared = synthetic_prepared(config)
    straight = train_prepared(config, prepared, tmp_path / "straight", progress=False)

    say = train_module._say

    def interrupt(message: str, progress: bool) -> None:
        say(message, progress)
        if message.startswith("epoch 2/"):  # after epoch 2 is committed
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_say", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_prepared(config, prepared, tmp_path / "cut", progress=False)
    monkeypatch.setattr(train_module, "_say", say)
    assert read_json(tmp_path / "cut" / "checkpoint" / "state.json")["epoch"] == 2
    resumed = train_prepared(config, prepared, tmp_path / "cut", progress=False)
    assert (resumed / "history.csv").read_text() == (straight / "history.csv").read_text()
    assert (
        read_json(resumed / "metrics.json")["model"]
        == read_json(straight / "metrics.json")["model"]
    )


def test_a_sequence_loss_run_killed_before_its_metrics_finishes_with_the_trained_weights(
    tmp_path, monkeypatch
):
    import pianogen.train as train_module

    config = _sequence_config(epochs=2, max_train_windows=96, batch_size=16)
    prepared = synthetic_prepared(config)
    straight = train_prepared(config, prepared, tmp_path / "straight", progress=False)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # after the last epoch's commit, before metrics.json

    finish = train_module._finish
    monkeypatch.setattr(train_module, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        train_prepared(config, prepared, tmp_path / "cut", progress=False)
    monkeypatch.setattr(train_module, "_finish", finish)
    assert not (tmp_path / "cut" / "metrics.json").exists()
    resumed = train_prepared(config, prepared, tmp_path / "cut", progress=False)  # no epoch left
    assert (
        read_json(resumed / "metrics.json")["model"]
        == read_json(straight / "metrics.json")["model"]
    )
