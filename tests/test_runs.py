"""Run folders: layout, page names, opening a run and preparing its data once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import make_run

from pianogen import runs
from pianogen.errors import DataFolderMissing, GenerateError, NoTrainedModel, RunError
from pianogen.presets import make_run_config


def test_run_dir_for_puts_each_split_in_its_own_tree(tmp_path):
    piece = make_run_config("bach", "pianogen-gru")
    window = make_run_config("bach", "paper-gru", split="window")
    timed = make_run_config("bach", "pianogen-gru", vocabulary="timed")
    assert runs.run_dir_for(tmp_path, piece) == tmp_path / "bach" / "pianogen-gru"
    assert runs.run_dir_for(tmp_path, window) == tmp_path / "_window-split" / "bach" / "paper-gru"
    assert runs.run_dir_for(tmp_path, timed) == tmp_path / "bach" / "pianogen-gru-timed"


@pytest.mark.parametrize(
    ("run", "name"),
    [
        (("pianogen-gru", "paper", "piece", 0), "02_train_pianogen-gru"),
        (("pianogen-gru", "timed", "piece", 0), "02_train_pianogen-gru-timed"),
        (("paper-gru", "paper", "window", 0), "02_train_paper-gru_window"),
        (("pianogen-gru", "paper", "piece", 2), "02_train_pianogen-gru-seed2"),
        (("paper-gru", "paper", "window", 12), "02_train_paper-gru-seed12_window"),
        (("pianogen-gru", "timed", "piece", 1), "02_train_pianogen-gru-timed-seed1"),
    ],
)
def test_train_page_names_round_trip(run, name):
    assert runs.train_page_name(*run) == name
    assert runs.parse_train_page_name(name) == run


def test_other_pages_are_not_training_pages():
    assert runs.parse_train_page_name("01_explore") is None
    assert runs.parse_train_page_name("03_evaluate") is None


def test_run_folders_lists_finished_runs_of_artists_only(tmp_path):
    for folder in (
        tmp_path / "bach" / "pianogen-gru",
        tmp_path / "bach" / "pianogen-gru-seed1",  # a seed replicate
        tmp_path / "_window-split" / "bach" / "paper-gru",
        tmp_path / "_scratch" / "x",  # not an artist
        tmp_path / ".hidden" / "y",
    ):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text("{}")
    (tmp_path / "bach" / "unfinished").mkdir()
    assert [r[:3] for r in runs.run_folders(tmp_path)] == [
        ("bach", "pianogen-gru", "piece"),
        ("bach", "paper-gru", "window"),
    ]
    assert [r[1] for r in runs.run_folders(tmp_path, replicates=True)] == [
        "pianogen-gru",
        "pianogen-gru-seed1",
        "paper-gru",
    ]
    assert runs.run_folders(tmp_path / "nowhere") == []


def test_opening_a_folder_without_a_model_says_so(tmp_path):
    with pytest.raises(NoTrainedModel, match=r"model\.keras") as caught:
        runs.open_run(tmp_path)
    # generation's callers and run-folder callers can catch it as theirs
    assert isinstance(caught.value, RunError) and isinstance(caught.value, GenerateError)


def test_an_opened_run_prepares_its_recorded_data_once(tmp_path, monkeypatch):
    run_dir, prepared = make_run(tmp_path / "runs")
    data = tmp_path / "data"
    data.mkdir()
    (run_dir / runs.DATA_RECORD).write_text(json.dumps({"data_dir": str(data)}))
    calls = []

    def fake_prepare(config, data_dir, cache_dir, progress):
        calls.append((config.artist, Path(data_dir), Path(cache_dir)))
        return prepared

    monkeypatch.setattr("pianogen.windows.prepare", fake_prepare)
    run = runs.open_run(run_dir, cache_dir=tmp_path / "cache")
    assert calls == []  # nothing read until the data is needed
    assert run.prepared is run.prepared is prepared
    assert calls == [("synthetic", data, tmp_path / "cache")]
    assert [list(s) for s in run.ids("test")] == [list(s) for s in prepared.splits["test"]]
    assert run.seq_len == 8 and run.vocabulary == "paper"


def test_a_run_whose_data_folder_is_gone_names_it(tmp_path):
    run_dir, _ = make_run(tmp_path / "runs")
    gone = tmp_path / "moved-away"
    (run_dir / runs.DATA_RECORD).write_text(json.dumps({"data_dir": str(gone)}))
    run = runs.open_run(run_dir)
    with pytest.raises(DataFolderMissing, match=r"moved-away, which no longer exists"):
        _ = run.prepared
    with pytest.raises(DataFolderMissing, match=r"data folder \S*elsewhere does not exist"):
        _ = runs.open_run(run_dir, data_dir=tmp_path / "elsewhere").prepared
