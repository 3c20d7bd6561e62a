"""The book's generated pieces: table of contents, artist pages, summary tables."""

import json

import nbformat
import yaml

from pianogen.book import (
    WINDOW_SPLIT_DIR,
    copy_media,
    executed_artists,
    page_title,
    preset_cell,
    summary_table,
    tidy_cells_for_readers,
    write_artist_index,
    write_toc,
)


def _fake_executed_artist(root, artist, presets=("quick-gru",)):
    folder = root / "book" / "artists" / artist
    folder.mkdir(parents=True)
    for name in ["01_explore", *[f"02_train_{p}" for p in presets], "03_evaluate"]:
        nbformat.write(nbformat.v4.new_notebook(), folder / f"{name}.ipynb")
    return folder


def test_toc_lists_artists_in_reading_order(tmp_path):
    _fake_executed_artist(tmp_path, "bach", presets=("quick-lstm", "quick-gru"))
    _fake_executed_artist(tmp_path, "chopin")
    (tmp_path / "book" / "artists" / "empty").mkdir()  # never executed: not in the book
    artists = executed_artists(tmp_path / "book")
    assert artists == ["bach", "chopin"]
    toc = yaml.safe_load(
        write_toc(tmp_path, artists, {"dataset": True, "results": True}).read_text()
    )
    assert toc["root"] == "book/intro"
    captions = [part["caption"] for part in toc["parts"]]
    assert captions == ["The study", "Artist: bach", "Artist: chopin", "Results"]
    bach = [c["file"] for c in toc["parts"][1]["chapters"]]
    titles = [c.get("title") for c in toc["parts"][1]["chapters"]]
    assert titles == [
        None,
        "Exploring the data",
        "Training quick-gru",
        "Training quick-lstm",
        "Listening and evaluation",
    ]
    assert bach == [
        "book/artists/bach/index",
        "book/artists/bach/01_explore",
        "book/artists/bach/02_train_quick-gru",
        "book/artists/bach/02_train_quick-lstm",
        "book/artists/bach/03_evaluate",
    ]
    assert toc["parts"][0]["chapters"][-1]["file"] == "book/generated/dataset"
    assert [c["file"] for c in toc["parts"][-1]["chapters"]] == ["book/generated/results"]


def test_artist_page_escapes_names_and_provenance(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "provenance.json").write_text(json.dumps({"note": "<script>alert(1)</script>"}))
    text = write_artist_index(folder, "<b>evil</b>").read_text()
    assert "<script>" not in text and "<b>" not in text
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
