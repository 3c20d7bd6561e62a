"""The book's generated pieces: table of contents, artist pages, summary tables."""

import json

import nbformat
import numpy as np
import yaml

from pianogen.book import (
    copy_media,
    executed_artists,
    page_title,
    tidy_cells_for_readers,
    write_artist_index,
    write_execution_page,
    write_toc,
)
from pianogen.results import (
    baseline_gains,
    benchmark_frames,
    best_networks,
    headline_figures,
    preset_cell,
    results_overview,
    summary_table,
)
from pianogen.runs import WINDOW_SPLIT_DIR


def _fake_executed_artist(root, artist, presets=("quick-gru",)):
    folder = root / "book" / "artists" / artist
    folder.mkdir(parents=True)
    for name in ["01_explore", *[f"02_train_{p}" for p in presets], "03_evaluate"]:
        nbformat.write(nbformat.v4.new_notebook(), folder / f"{name}.ipynb")
    return folder


def test_toc_lists_artists_in_reading_order(tmp_path):
    _fake_executed_artist(tmp_path, "bach", presets=("quick-lstm", "quick-gru-seed1", "quick-gru"))
    _fake_executed_artist(tmp_path, "chopin")
    (tmp_path / "book" / "artists" / "empty").mkdir()  # never executed: not in the book
    artists = executed_artists(tmp_path / "book")
    assert artists == ["bach", "chopin"]
    toc = yaml.safe_load(
        write_toc(tmp_path, artists, {"dataset": True, "results": True}).read_text()
    )
    assert toc["root"] == "book/intro"
    captions = [part["caption"] for part in toc["parts"]]
    assert captions == ["The study", "Artist: bach", "Artist: chopin", "Results", "Back matter"]
    bach = [c["file"] for c in toc["parts"][1]["chapters"]]
    titles = [c.get("title") for c in toc["parts"][1]["chapters"]]
    assert titles == [
        None,
        "Exploring the data",
        "Training quick-gru",
        "Training quick-lstm",
        "Training quick-gru (seed 1)",  # seed replicates after the other runs
        "Listening and evaluation",
    ]
    assert bach == [
        "book/artists/bach/index",
        "book/artists/bach/01_explore",
        "book/artists/bach/02_train_quick-gru",
        "book/artists/bach/02_train_quick-lstm",
        "book/artists/bach/02_train_quick-gru-seed1",
        "book/artists/bach/03_evaluate",
    ]
    assert toc["parts"][0]["chapters"][-1]["file"] == "book/generated/dataset"
    assert [c["file"] for c in toc["parts"][-2]["chapters"]] == ["book/generated/results"]
    assert [c["file"] for c in toc["parts"][-1]["chapters"]] == ["book/references"]


def test_toc_has_a_part_for_the_model_of_every_artist(tmp_path):
    _fake_executed_artist(tmp_path, "bach", presets=("quick-gru",))
    pooled = tmp_path / "book" / "artists" / "_conditioned"  # no 01_explore: not an artist
    pooled.mkdir()
    for name in ("02_train_conditioned-gru-timed", "02_train_conditioned-gru"):
        nbformat.write(nbformat.v4.new_notebook(), pooled / f"{name}.ipynb")
    artists = executed_artists(tmp_path / "book")
    assert artists == ["bach"]
    toc = yaml.safe_load(write_toc(tmp_path, artists, {"results": True}).read_text())
    captions = [part["caption"] for part in toc["parts"]]
    assert captions == [
        "The study",
        "Artist: bach",
        "All artists at once",
        "Results",
        "Back matter",
    ]
    assert toc["parts"][2]["chapters"] == [  # the paper's tokens first
        {
            "file": "book/artists/_conditioned/02_train_conditioned-gru",
            "title": "Training conditioned-gru",
        },
        {
            "file": "book/artists/_conditioned/02_train_conditioned-gru-timed",
            "title": "Training conditioned-gru (timed tokens)",
        },
    ]


def test_artist_page_escapes_names_and_provenance(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "provenance.json").write_text(json.dumps({"note": "<script>alert(1)</script>"}))
    text = write_artist_index(folder, "<b>evil</b>").read_text()
    # Markdown outside the code block (inside it the name is literal text, shell-quoted).
    prose = text.split("```bash")[0] + text.split("```\n:::")[-1]
    assert "--artists '<b>evil</b>'" in text
    assert "<script>" not in prose and "<b>" not in prose
    assert "&lt;script&gt;" in text and "&lt;b&gt;evil" in text


def test_summary_table_reads_both_splits(tmp_path):
    def run(base, artist, preset, loss, acc):
        folder = base / artist / preset
        folder.mkdir(parents=True)
        metrics = {
            "model": {"loss": loss, "accuracy": acc, "top_5_accuracy": 0.9},
            "baselines": {"majority": {"loss": 3.0, "accuracy": 0.1}},
        }
        (folder / "metrics.json").write_text(json.dumps(metrics))

    run(tmp_path, "bach", "paper-gru", 2.5, 0.3)
    run(tmp_path / WINDOW_SPLIT_DIR, "bach", "paper-gru", 1.5, 0.6)
    (tmp_path / "bach" / "half-trained").mkdir()  # no metrics.json: not a finished run
    table = summary_table(tmp_path).set_index("split")
    assert sorted(table.index) == ["piece", "window"]
    assert table.loc["piece", "test accuracy"] == 0.3
    assert table.loc["window", "test loss"] == 1.5
    assert table.loc["piece", "majority accuracy"] == 0.1
    assert set(table["vocabulary"]) == {"paper"}


def test_summary_table_tells_vocabularies_apart(tmp_path):
    for name, vocabulary in (("pianogen-gru", "paper"), ("pianogen-gru-timed", "timed")):
        folder = tmp_path / "bach" / name
        folder.mkdir(parents=True)
        metrics = {"model": {"loss": 1.0}, "vocabulary": vocabulary}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "bach" / "old-run-timed").mkdir()
    (tmp_path / "bach" / "old-run-timed" / "metrics.json").write_text("{}")  # no field: by name
    table = summary_table(tmp_path).set_index("preset")
    assert table["vocabulary"].to_dict() == {
        "old-run-timed": "timed",
        "pianogen-gru": "paper",
        "pianogen-gru-timed": "timed",
    }


def test_media_is_copied_beside_the_pages(tmp_path):
    media = tmp_path / "book" / "artists" / "bach" / "media" / "quick-gru"
    media.mkdir(parents=True)
    (media / "sample.ogg").write_bytes(b"OggS")
    html = tmp_path / "book" / "_build" / "html"
    assert copy_media(tmp_path, html) == 1
    assert (html / "book" / "artists" / "bach" / "media" / "quick-gru" / "sample.ogg").exists()


def test_cells_are_tidied_for_readers(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("artist = 'bach'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("artist = 'x'", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("print(artist)"),
        nbformat.v4.new_markdown_cell("Some narrative."),
    ]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert tidy_cells_for_readers(path) is True
    assert tidy_cells_for_readers(path) is False  # idempotent
    tags = [c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells]
    assert tags == [
        ["parameters", "remove-cell"],
        ["injected-parameters", "hide-input"],
        ["hide-input"],
        [],
    ]


def test_window_split_pages_get_distinct_titles():
    assert page_title("02_train_paper-gru") == "Training paper-gru"
    assert page_title("02_train_paper-gru_window") == "Training paper-gru (window split)"
    assert page_title("02_train_pianogen-gru-timed") == "Training pianogen-gru (timed tokens)"
    assert preset_cell("pianogen-gru-timed") == "gru"


def _table(rows):
    import pandas as pd

    columns = ["artist", "preset", "split", "vocabulary", "test loss", "test accuracy"]
    columns += ["ngram accuracy", "unigram loss"]
    return pd.DataFrame(rows, columns=columns)


def test_headline_figures_and_gains_by_hand():
    table = _table(
        [
            ("bach", "pianogen-gru", "piece", "paper", 3.0, 0.20, 0.10, 3.5),
            ("bach", "paper-gru", "piece", "paper", 4.0, 0.05, 0.10, 3.5),
            ("bach", "paper-gru", "window", "paper", 3.9, 0.08, 0.12, 3.6),
            ("bach", "pianogen-gru-timed", "piece", "timed", 2.0, 0.40, 0.30, 3.0),
            ("haydn", "pianogen-gru", "piece", "paper", 3.2, 0.10, 0.12, 3.4),
        ]
    )
    gains = baseline_gains(table)
    assert gains.loc[("bach", "pianogen-gru"), "accuracy gain"] == 0.20 - 0.10
    assert gains.loc[("bach", "paper-gru"), "loss gain"] == 3.5 - 4.0
    assert ("bach", "paper-gru (window)") in gains.index
    figures = headline_figures(table)
    assert figures["runs"] == "5"
    assert figures["beats_ngram"] == "2 of 4"  # bach pianogen-gru and timed, piece split only
    assert figures["beats_unigram"] == "3 of 4"
    assert figures["best_paper"] == "15.0% (pianogen-gru)"  # mean of 20% and 10%
    assert figures["timed"] == "40.0% against the 3-gram's 30.0%"
    assert figures["window_gap"] == "+3.0 percentage points"
    # Best per artist and vocabulary: bach pianogen-gru (20% > 10%, 3.0 < 3.5) beats both,
    # haydn's only run does not (10% < 12%); timed: bach's run beats both.
    best = best_networks(table)
    assert best.loc[("bach", "paper"), "best run"] == "pianogen-gru"
    assert bool(best.loc[("bach", "paper"), "beats 3-gram"]) is True
    assert bool(best.loc[("haydn", "paper"), "beats 3-gram"]) is False
    assert bool(best.loc[("haydn", "paper"), "beats unigram"]) is True
    assert figures["best_beats_ngram"] == "1 of 2"
    assert figures["best_timed_beats_ngram"] == "1 of 1"
    assert figures["best_nearer"] == "n/a"  # no evaluation in this table
    with_refs = table.assign(**{"nearer than uniform": True, "nearer than unigram": False})
    assert headline_figures(with_refs)["best_nearer"] == "0 of 3"
    overview = results_overview(table)
    assert overview.loc[("pianogen-gru", "piece"), "artists"] == 2
    assert overview.loc[("pianogen-gru", "piece"), "accuracy"] == 0.15
    assert overview.loc[("paper-gru", "window"), "paper accuracy"] == 0.91


def test_headline_figures_without_runs_say_so():
    empty = headline_figures(_table([]))
    assert set(empty.values()) == {"n/a"}
    only_piece = headline_figures(
        _table([("bach", "quick-gru", "piece", "paper", 3.0, 0.2, 0.1, 3.5)])
    )
    assert only_piece["window_gap"] == "n/a" and only_piece["timed"] == "n/a"
    assert only_piece["beats_ngram"] == "1 of 1"


def test_benchmark_frames_shape_each_plot():
    results = {
        "benchmarks": {
            "generate": {
                "naive": {"tokens_per_second": 20.0},
                "incremental": {
                    "stream_batch_1": {"mode": "stream", "batch": 1, "tokens_per_second": 4000.0},
                    "window_batch_64": {"mode": "window", "batch": 64, "tokens_per_second": 1e3},
                },
            },
            "parse": {
                "cache_vs_music21": {"music21_cold_s": 10.0, "warm_cache_s": 0.01},
                "fast_vs_music21": {"fast_s": 0.02},
            },
            "train": {
                "presets": {
                    "paper-gru": {"sequences_per_s": 390.0, "fraction_of_matmul_rate": 0.49}
                },
                "memory": {
                    "ours": {"windows": 10, "peak_rss_growth_mb": 30.0},
                    "float32": {"windows": 10, "peak_rss_growth_mb": 600.0},
                    "memory_ratio_float32_vs_ours": 20.0,
                },
                "profile": {
                    "paper-gru": {
                        "op_share_by_category": {
                            "elementwise and other": 0.5,
                            "matmul": 0.4,
                            "tensor lists": 0.1,
                        },
                        "matmul_time_share": 0.5,
                        "matmul_rate_share": 0.4,
                        "achieved_share_of_matmul_rate": 0.2,
                    }
                },
            },
        }
    }
    frames = benchmark_frames(results)
    profile = frames["training_profile"]
    assert profile["category"].tolist() == ["matmul", "tensor lists", "elementwise and other"]
    assert profile["share of op time"].tolist() == [0.4, 0.1, 0.5]
    factors = frames["training_factors"].set_index("preset").loc["paper-gru"]
    assert factors["matmul running (share of time)"] == 0.5
    assert factors["achieved (share of matmul rate)"] == 0.2
    assert frames["generation"]["tokens/s"].tolist() == [20.0, 4000.0, 1000.0]
    assert frames["generation"]["method"].tolist() == ["naive loop", "stream mode", "window mode"]
    assert frames["parsing"].set_index("method")["seconds"].to_dict() == {
        "music21 (cold)": 10.0,
        "fast engine (cold)": 0.02,
        "warm cache": 0.01,
    }
    assert frames["training"].loc[0, "share of matmul rate"] == 0.49
    assert frames["memory"]["pipeline"].tolist() == [  # the ratio is not a row
        "pianogen (windows on the fly)",
        "float32 arrays (N, 50, 1)",
    ]
    skipped = {"benchmarks": {"parse": {"skipped": "no data"}, "train": {"error": "exit 1"}}}
    assert benchmark_frames(skipped) == {} and benchmark_frames({}) == {}


def test_the_best_network_is_chosen_on_validation_not_on_test():
    table = _table(
        [
            ("bach", "pianogen-gru", "piece", "paper", 3.0, 0.20, 0.10, 3.5),
            ("bach", "pianogen-lstm", "piece", "paper", 3.1, 0.25, 0.10, 3.5),
        ]
    ).assign(**{"validation loss": [2.9, 3.3]})
    best = best_networks(table)
    # The LSTM has the better test accuracy, the GRU the lower validation loss: the GRU.
    assert best.loc[("bach", "paper"), "best run"] == "pianogen-gru"
    assert best.loc[("bach", "paper"), "accuracy"] == 0.20


def _curve_run(base, artist, run, val_loss, val_acc, seconds, levels=True):
    folder = base / artist / run
    folder.mkdir(parents=True)
    lines = ["epoch,windows,loss,accuracy,top_5_accuracy,val_loss,val_accuracy,val_top_5_accuracy"]
    for i, (loss, acc) in enumerate(zip(val_loss, val_acc, strict=True), start=1):
        lines.append(f"{i},100,1,0.5,0.9,{loss},{acc},0.9")
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    metrics = {"model": {"loss": 1.0, "accuracy": 0.1}, "epoch_seconds": seconds}
    if levels:
        metrics["validation_baselines"] = {
            "unigram": {"loss": 4.0},
            "ngram": {"accuracy": 0.15},
        }
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_convergence_and_time_to_quality_by_hand(tmp_path):
    from pianogen.results import convergence_table, time_to_quality

    _curve_run(tmp_path, "bach", "pianogen-gru", [4.5, 3.9, 3.7], [0.1, 0.14, 0.2], [60, 30, 30])
    _curve_run(tmp_path, "bach", "paper-gru", [4.6, 4.5], [0.02, 0.03], [6, 6])
    _curve_run(tmp_path / WINDOW_SPLIT_DIR, "bach", "paper-gru", [4.0], [0.5], [6])
    _curve_run(tmp_path, "haydn", "old-run", [3.0], [0.5], None, levels=False)
    # a conditioned run: its pooled curve once, not the copies in its artists' views
    _curve_run(tmp_path / "_conditioned", "conditioned-gru", ".", [3.8], [0.2], [90])
    _curve_run(tmp_path / "_conditioned", "conditioned-gru-seed1", ".", [3.7], [0.2], [90])
    _curve_run(tmp_path, "bach", "conditioned-gru", [3.8], [0.2], [90])
    view = json.loads((tmp_path / "bach" / "conditioned-gru" / "metrics.json").read_text())
    view["conditioned"] = {"run": "_conditioned/conditioned-gru"}
    (tmp_path / "bach" / "conditioned-gru" / "metrics.json").write_text(json.dumps(view))
    curves = convergence_table(tmp_path)
    gru = curves[curves["run"] == "pianogen-gru"]
    assert gru["windows seen"].tolist() == [100, 200, 300]
    assert gru["minutes"].tolist() == [1.0, 1.5, 2.0]
    assert len(curves) == 3 + 2 + 1 + 1  # the window-split run is not a held-out-piece curve
    pooled = curves[curves["run"] == "conditioned-gru"]
    assert pooled["artist"].tolist() == ["all artists"] and pooled["minutes"].tolist() == [1.5]
    reached = time_to_quality(curves)
    # Validation loss below 4.0 at epoch 2 (200 windows, 1.5 min); accuracy above 0.15 at 3.
    assert reached.loc[("bach", "pianogen-gru"), "windows to unigram loss"] == 200
    assert reached.loc[("bach", "pianogen-gru"), "minutes to unigram loss"] == 1.5
    assert reached.loc[("bach", "pianogen-gru"), "minutes to 3-gram accuracy"] == 2.0
    assert np.isnan(reached.loc[("bach", "paper-gru"), "windows to 3-gram accuracy"])
    assert np.isnan(reached.loc[("haydn", "old-run"), "minutes to unigram loss"])  # no levels


def test_artist_page_says_how_to_reproduce_it(tmp_path):
    folder = tmp_path / "page"
    folder.mkdir()
    provenance = {"profile": "quick", "parameters": {"01_explore": {"data_dir": "../data/midi"}}}
    (folder / "provenance.json").write_text(json.dumps(provenance))
    text = write_artist_index(folder, "tiny `artist`").read_text()
    assert ":::{admonition} Reproduce this page" in text
    assert (
        "pianogen batch --data-dir data/midi --artists 'tiny `artist`' --profile quick --force"
        in text
    )
    assert "```bash" in text and "````" not in text
    text = write_artist_index(folder, "a```b").read_text()
    assert "````bash" in text  # a fence longer than the backticks in the name
    # A data folder outside the checkout is shown by its name, not the builder's path.
    provenance["parameters"]["01_explore"]["data_dir"] = "/home/someone/music/piano-midi"
    (folder / "provenance.json").write_text(json.dumps(provenance))
    text = write_artist_index(folder, "chopin").read_text()
    assert "--data-dir /path/to/piano-midi --artists chopin" in text
    assert "/home/someone/music" not in text.split("| | |")[0]


def test_artist_page_offers_notebooks_metrics_and_sample_midi(tmp_path):
    folder = _fake_executed_artist(tmp_path, "alice", presets=("pianogen-gru",))
    runs = tmp_path / "runs"
    for base, preset in ((runs, "pianogen-gru"), (runs / WINDOW_SPLIT_DIR, "paper-gru")):
        run = base / "alice" / preset
        (run / "samples").mkdir(parents=True)
        (run / "metrics.json").write_text('{"model": {}}')
        (run / "samples" / "sample_00.mid").write_bytes(b"MThd-0")
        (run / "samples" / "sample_00.json").write_text("{}")  # not offered: MIDI only
    (runs / "bob" / "pianogen-gru").mkdir(parents=True)
    (runs / "bob" / "pianogen-gru" / "metrics.json").write_text("{}")  # another artist's run
    text = write_artist_index(folder, "alice", runs).read_text()
    downloads = text.split("## Downloads")[1].split("## Provenance")[0]
    links = [line for line in downloads.splitlines() if line.startswith("- {download}")]
    assert links == [
        "- {download}`01_explore.ipynb (executed notebook) <01_explore.ipynb>`",
        "- {download}`02_train_pianogen-gru.ipynb (executed notebook) <02_train_pianogen-gru.ipynb>`",  # noqa: E501
        "- {download}`03_evaluate.ipynb (executed notebook) <03_evaluate.ipynb>`",
        "- {download}`pianogen-gru/metrics.json <downloads/pianogen-gru/metrics.json>`",
        "- {download}`pianogen-gru/sample_00.mid <downloads/pianogen-gru/sample_00.mid>`",
        "- {download}`paper-gru_window/metrics.json <downloads/paper-gru_window/metrics.json>`",
        "- {download}`paper-gru_window/sample_00.mid <downloads/paper-gru_window/sample_00.mid>`",
    ]
    assert (folder / "downloads" / "pianogen-gru" / "sample_00.mid").read_bytes() == b"MThd-0"
    assert not (folder / "downloads" / "bob").exists()
    # without runs: the notebooks only; a removed run's copies do not linger
    text = write_artist_index(folder, "alice", tmp_path / "no-runs").read_text()
    assert "downloads/" not in text and not (folder / "downloads").exists()


def test_execution_page_by_hand(tmp_path):
    folder = _fake_executed_artist(tmp_path, "<b>alice</b>", presets=())
    machine = {"system": "Linux", "processor": "EPYC", "cores": 2, "gpus": []}
    provenance = {
        "profile": "quick",
        "data_hash": "ab" * 32,
        "tasks": {"01_explore": "skipped", "03_evaluate": "failed"},
        "versions": {"music21": "10.5.1", "tensorflow": None},
        "python": "3.11.7",
        "machine": machine,
    }
    (folder / "provenance.json").write_text(json.dumps(provenance))
    stamp = {"tasks": {"01_explore": {"seconds": 90.0, "finished": "2026-12-02T10:00:00+00:00"}}}
    (folder / ".stamp.json").write_text(json.dumps(stamp))
    chapter = {"finished": "2026-12-02T11:00:00+00:00", "seconds": 30.0, "status": "ran"}
    chapter |= {"profile": "quick", "machine": machine}
    text = write_execution_page(tmp_path, ["<b>alice</b>"], {"results": chapter}).read_text()
    rows = [
        line for line in text.splitlines() if line.startswith("| &lt;b&gt;") or "results" in line
    ]
    assert rows[0] == (
        "| &lt;b&gt;alice&lt;/b&gt; / Exploring the data | 01_explore | 2026-12-02T10:00:00+00:00"
        " | 1.5 | ran earlier | quick | abababababab |"
    )
    assert rows[1].startswith("| &lt;b&gt;alice&lt;/b&gt; / Listening and evaluation |")
    assert "| failed |" in rows[1]
    assert rows[2] == "| results | 90_results | 2026-12-02T11:00:00+00:00 | 0.5 | ran | quick |  |"
    assert "3 notebooks, 2.0 minutes of execution" in text
    assert "Machine: EPYC (2 cores), no GPU." in text
    assert "music21 10.5.1" in text and "tensorflow not installed" in text
    # the vector extensions, where recorded, beside the cores
    provenance["machine"] = chapter["machine"] = machine | {"vector": "AVX2"}
    (folder / "provenance.json").write_text(json.dumps(provenance))
    text = write_execution_page(tmp_path, ["<b>alice</b>"], {"results": chapter}).read_text()
    assert "Machine: EPYC (2 cores, AVX2), no GPU." in text


def test_benchmark_provenance_says_when_and_which_run():
    from pianogen.results import benchmark_provenance

    machine = {"cpus": 2, "platform": "Linux-x"}
    quick = {"machine": machine, "measured": "2026-12-02T19:42:15+00:00", "quick": True}
    assert benchmark_provenance(quick) == (
        "Measured on 2 CPU cores, Linux-x, at 2026-12-02T19:42:15+00:00 (UTC) by the short run "
        "(`--quick`, smaller inputs) that `make book` makes when no results exist; `make bench` "
        "measures the full set."
    )
    full = {"machine": machine, "quick": False}  # written before the date was recorded
    assert benchmark_provenance(full).endswith("at an unrecorded date (UTC) by `make bench`.")
