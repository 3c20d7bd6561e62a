"""The plateau study (pianogen.plateau): the stopping rule, the study's configs, the tables
and the verdict on hand-written run folders, and one real study on tiny MIDI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from midi_factory import write_midi_file

from pianogen.cli import main
from pianogen.io import atomic_write_json, atomic_write_text
from pianogen.plateau import plateau_curves, plateau_root, plateau_table, study_artists, verdict
from pianogen.presets import PLATEAU, PlateauStudy
from pianogen.results import summary_table
from pianogen.runs import HISTORY_COLUMNS, WINDOW_SPLIT_DIR, run_dir_for
from pianogen.train import _stop_reason, _track_plateau


# ------------------------------------------------------------------ the stopping rule
def test_epochs_at_the_majority_level_do_not_count_towards_a_plateau():
    state: dict = {}
    # The paper's GRU on haydn's window split: 0.183, then 0.203 twice (the majority token's
    # share is 0.204): not converged, so the counter stays at 0 however long it sits there.
    for accuracy in (0.183, 0.203, 0.203, 0.204, 0.2035):
        _track_plateau(state, accuracy, delta=0.005, floor=0.204)
    assert state == {"best_train_accuracy": 0.203, "since_train_best": 0}
    # Above the floor, epochs without a rise of 0.005 count: 0.30 best, 0.302 and 0.304 not.
    for accuracy in (0.30, 0.302, 0.304):
        _track_plateau(state, accuracy, delta=0.005, floor=0.204)
    assert state == {"best_train_accuracy": 0.30, "since_train_best": 2}
    tc = PLATEAU.run_configs("x")[0].train.replace(plateau=2)
    assert "plateaued" in _stop_reason(state | {"since_best": 0}, tc)
    # Without a floor (the default) the first two flat epochs would already have counted.
    plain: dict = {}
    for accuracy in (0.203, 0.203, 0.2035):
        _track_plateau(plain, accuracy, delta=0.005)
    assert plain["since_train_best"] == 2


# ------------------------------------------------------------------ the study's configs
def test_the_study_trains_the_paper_presets_with_the_papers_optimizer_until_a_plateau(tmp_path):
    configs = PLATEAU.run_configs("haydn")
    assert [(c.model.name, c.split.kind) for c in configs] == [
        ("paper-gru", "window"),
        ("paper-gru", "piece"),
        ("paper-lstm-text", "window"),
        ("paper-lstm-text", "piece"),
    ]
    for c in configs:
        assert (c.train.optimizer, c.train.learning_rate, c.train.batch_size) == (
            "adamax",
            0.001,
            64,
        )
        assert c.train.patience == 0 and c.train.plateau == 10 and c.train.max_train_windows == 0
        assert c.tokens.augment_keys == 1 and c.tokens.vocabulary == "paper"
        assert c.model.unroll is True
    dirs = [run_dir_for(plateau_root(tmp_path), c) for c in configs]
    assert len(set(dirs)) == 4
    assert dirs[0] == tmp_path / "_plateau" / WINDOW_SPLIT_DIR / "haydn" / "paper-gru"
    assert dirs[1] == tmp_path / "_plateau" / "haydn" / "paper-gru"
    assert PlateauStudy.from_dict(json.loads(json.dumps(PLATEAU.to_dict()))) == PLATEAU


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"presets": ("gpt",)}, "unknown preset"),
        ({"presets": ("conditioned-gru",)}, "conditioned"),
        ({"presets": ()}, "at least one preset"),
        ({"splits": ("random",)}, "splits"),
        ({"artists": 0}, "artists"),
        ({"plateau": 0}, "plateau"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_a_bad_study_is_refused_with_a_message(changes, message):
    with pytest.raises(ValueError, match=message):
        PLATEAU.replace(**changes)


# ------------------------------------------------------------------ tables and verdict
def _fake_run(
    runs_root: Path,
    preset: str,
    split: str,
    curve: list[tuple[float, float, float, float]],
    *,
    artist: str = "haydn",
    ngram: float = 0.15,
    test: float = 0.12,
    patience: int = 0,
) -> Path:
    """A finished study run whose history is ``curve``: (loss, acc, val loss, val acc)."""
    config = PLATEAU.replace(presets=(preset,), splits=(split,)).run_configs(artist)[0]
    config = config.replace(train=config.train.replace(patience=patience))
    folder = run_dir_for(plateau_root(runs_root), config)
    folder.mkdir(parents=True)
    config.save(folder / "config.json")
    lines = [",".join(HISTORY_COLUMNS)]
    for epoch, (loss, acc, val_loss, val_acc) in enumerate(curve, 1):
        row = [epoch, 6000, loss, acc, acc, val_loss, val_acc, val_acc]
        lines.append(",".join(str(v) for v in row))
    atomic_write_text(folder / "history.csv", "\n".join(lines) + "\n")
    baselines = {"ngram": {"accuracy": ngram}, "unigram": {"loss": 4.5}}
    metrics = {
        "split": split,
        "model": {"accuracy": test, "loss": 4.2},
        "baselines": baselines,
        "validation_baselines": baselines,
        "stop_reason": "training accuracy plateaued",
        "windows": {"train": 6000},
        "train_seconds": 600.0,
    }
    atomic_write_json(folder / "metrics.json", metrics)
    return folder


MEMORISES = [(4.1, 0.20, 4.2, 0.22), (1.2, 0.70, 6.0, 0.09), (0.48, 0.85, 7.5, 0.08)]


def test_the_table_reads_the_last_epoch_beside_the_papers_figures(tmp_path):
    _fake_run(tmp_path, "paper-gru", "window", MEMORISES)
    _fake_run(tmp_path, "paper-gru", "piece", [(4.1, 0.2, 4.3, 0.19), (0.9, 0.8, 8.0, 0.05)])
    # Not a study run (early stopping on): left out; and no study run reaches the main tables.
    _fake_run(tmp_path, "paper-lstm-text", "window", MEMORISES, patience=3)
    table = plateau_table(tmp_path).set_index("split")
    assert list(table.index) == ["piece", "window"]
    window = table.loc["window"]
    assert window["epochs"] == 3 and window["cell"] == "GRU"
    assert (window["training accuracy"], window["training loss"]) == (0.85, 0.48)
    assert (window["held-out accuracy"], window["held-out loss"]) == (0.08, 7.5)
    assert window["best held-out accuracy"] == 0.22
    assert (window["paper accuracy"], window["paper loss"]) == (0.91, 0.46)
    assert window["3-gram held-out accuracy"] == 0.15 and window["minutes"] == 10.0
    curves = plateau_curves(tmp_path)
    assert len(curves) == 2 * (3 + 2)  # training and held-out per epoch
    last = curves[(curves["split"] == "window") & (curves["epoch"] == 3)]
    assert dict(zip(last["measured on"], last["accuracy"], strict=True)) == {
        "training": 0.85,
        "held-out": 0.08,
    }
    assert summary_table(tmp_path).empty


def test_the_verdict_says_which_explanation_the_numbers_support(tmp_path):
    _fake_run(tmp_path, "paper-gru", "window", MEMORISES)
    _fake_run(tmp_path, "paper-gru", "piece", [(0.9, 0.8, 8.0, 0.05)])
    found = verdict(plateau_table(tmp_path))
    assert found["explanation"] == "b"
    assert found["runs"] == [{"artist": "haydn", "preset": "paper-gru", "explanation": "b"}]
    sentence = found["sentence"]
    for figure in ("3 epochs", "85.0 % training accuracy", "loss 0.48", "91.0 % / 0.46"):
        assert figure in sentence
    assert "8.0 % (the 3-gram: 15.0 %)" in sentence and "held-out pieces 5.0 %" in sentence
    assert "explanation (b)" in sentence


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        ([(0.4, 0.88, 0.5, 0.86)], "a"),  # held-out windows as good as training: the leak
        ([(0.5, 0.85, 7.0, 0.10)], "b"),  # 85 % is within 10 points of 91 %; held-out is not
        ([(3.0, 0.40, 4.0, 0.10)], "neither"),
    ],
)
def test_each_explanation_by_its_threshold(tmp_path, curve, expected):
    _fake_run(tmp_path, "paper-gru", "window", curve)
    assert verdict(plateau_table(tmp_path))["explanation"] == expected


def test_runs_that_disagree_are_mixed_and_no_runs_say_how_to_make_them(tmp_path):
    missing = verdict(plateau_table(tmp_path))
    assert missing["explanation"] is None and "make plateau" in missing["sentence"]
    _fake_run(tmp_path, "paper-gru", "window", [(0.5, 0.85, 7.0, 0.10)])
    _fake_run(tmp_path, "paper-lstm-text", "window", [(3.0, 0.40, 4.0, 0.10)])
    found = verdict(plateau_table(tmp_path))
    assert found["explanation"] == "mixed"
    assert "paper-gru on haydn: (b)" in found["sentence"]
    assert "paper-lstm-text on haydn: (neither)" in found["sentence"]


# ------------------------------------------------------------------ a real study
def _scale(start: int, n: int) -> list[tuple[float, float, int]]:
    return [(i * 0.5, 0.5, start + (i % 8)) for i in range(n)]


def test_an_unknown_artist_is_refused_before_anything_is_written(tmp_path):
    write_midi_file(tmp_path / "midi" / "bach" / "p0.mid", _scale(60, 20))
    argv = ["plateau", "--data-dir", str(tmp_path / "midi"), "--artists", "nobody"]
    assert main([*argv, "--out", str(tmp_path / "runs")]) == 2
    assert not (tmp_path / "runs").exists()


def test_the_smallest_artist_is_studied_by_default(tmp_path):
    for i in range(4):
        write_midi_file(tmp_path / "big" / f"p{i}.mid", _scale(60, 200))
    write_midi_file(tmp_path / "small" / "p0.mid", _scale(60, 20))
    assert study_artists(tmp_path) == ["small"]
    assert study_artists(tmp_path, PLATEAU.replace(artists=2)) == ["small", "big"]


@pytest.mark.slow
def test_pianogen_plateau_trains_both_splits_and_prints_the_verdict(tmp_path, capsys):
    data = tmp_path / "midi"
    for i in range(5):
        write_midi_file(data / "bach" / f"piece{i}.mid", _scale(60 + i % 2, n=120))
    argv = ["plateau", "--data-dir", str(data), "--preset", "quick-gru", "--epochs", "3"]
    argv += ["--plateau", "1", "--out", str(tmp_path / "runs")]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "plateau study: bach · quick-gru · window split" in out
    assert "Trained until its training accuracy plateaued" in out.splitlines()[-1]
    root = tmp_path / "runs" / "_plateau"
    assert json.loads((root / "study.json").read_text())["artists"] == ["bach"]
    table = plateau_table(tmp_path / "runs")
    assert sorted(table["split"]) == ["piece", "window"]
    assert (table["epochs"] <= 3).all()
    for folder in (root / "bach" / "quick-gru", root / WINDOW_SPLIT_DIR / "bach" / "quick-gru"):
        config = json.loads((folder / "config.json").read_text())
        assert config["train"]["patience"] == 0 and config["train"]["plateau"] == 1
    # A second call finds the runs finished and trains nothing.
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "epoch 1/3" not in capsys.readouterr().out
