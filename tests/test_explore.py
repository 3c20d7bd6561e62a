"""Exploration statistics: hand-checkable numbers on tiny pieces, tables, paths, notebook."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pianogen import explore as ex
from pianogen.config import PAPER_UNIQUE_TOKENS, TokenConfig
from pianogen.notes import Note, Piece
from pianogen.tokens import write_midi
from pianogen.vocab import vocab_at_thresholds

REPO = Path(__file__).resolve().parent.parent


@dataclass
class FakeSkipped:
    file: str
    reason: str


def n(onset, duration, pitch):
    return Note(onset, duration, pitch)


# piece a (paper tokens): C4 E4 C4 R 0.4.7       piece b: C4 E4 G4 0.4.7 C4
PIECE_A = Piece(
    "a",
    (n(0, 6, 60), n(6, 6, 64), n(12, 3, 60), n(24, 12, 48), n(24, 12, 52), n(24, 12, 55)),
)
PIECE_B = Piece(
    "b",
    (
        *(n(0, 3, 60), n(3, 3, 64), n(6, 4, 67)),
        *(n(10, 12, 60), n(10, 12, 64), n(10, 12, 67)),
        n(22, 12, 60),
    ),
)


def result(vocabulary="merged", seq_len=2, thresholds=(1, 2, 3)):
    return ex.explore_pieces(
        "tiny",
        [PIECE_A, PIECE_B],
        [FakeSkipped("bad.mid", "not a MIDI file"), {"file": "d.mid", "reason": "drums only"}],
        TokenConfig(vocabulary=vocabulary, seq_len=seq_len),
        thresholds=thresholds,
        top=2,
    )


def test_explore_pieces_merged_numbers():
    r = result()
    assert r["artist"] == "tiny" and r["files"] == 2
    assert r["skipped"] == [
        {"file": "bad.mid", "reason": "not a MIDI file"},
        {"file": "d.mid", "reason": "drums only"},
    ]
    assert r["vocabulary"] == "merged" and r["engine"] == "fast"
    assert r["notes"] == 13 and r["tokens"] == 10 and r["unique_tokens"] == 5
    assert r["token_counts"] == {"C4": 4, "0.4.7": 2, "E4": 2, "G4": 1, "R": 1}
    assert list(r["token_counts"]) == ["C4", "0.4.7", "E4", "G4", "R"]
    assert r["vocab_at_threshold"] == {"1": 5, "2": 3, "3": 1}
    assert r["threshold_curve"] == [[1, 5], [2, 3], [4, 1]]
    assert r["top_tokens"] == [["C4", 4], ["0.4.7", 2]]
    assert r["token_kinds"] == {"chord": 2, "note": 7, "rest": 1}
    assert r["top_notes"] == [["C4", 4], ["E4", 2]]
    assert r["top_chords"] == [["0.4.7", 2]]
    assert r["pieces"] == [
        {"piece": "a", "notes": 6, "tokens": 5, "windows": 3},
        {"piece": "b", "notes": 7, "tokens": 5, "windows": 3},
    ]
    assert r["windows"] == 6 and r["seq_len"] == 2
    assert r["pitch_histogram"] == {
        "48": 1,
        "52": 1,
        "55": 1,
        "60": 5,
        "64": 3,
        "67": 2,
    }
    assert r["duration_histogram"] == {"1/4": 3, "1/3": 1, "1/2": 2, "1": 7}
    assert r["paper"]["unique_tokens"] == PAPER_UNIQUE_TOKENS
    assert r["paper"]["vocab_at_threshold"]["50"] == 225
    assert json.loads(json.dumps(r)) == r  # JSON-serialisable, keys already strings


def test_explore_pieces_timed_keeps_paper_spelling_for_notes_and_chords():
    r = result("timed")
    assert r["vocabulary"] == "timed"
    # piece a: C4:d6 a6 E4:d6 a6 C4:d3 a12 C3:d12 E3:d12 G3:d12 -> 9 tokens, 3 shifts
    assert r["pieces"][0]["tokens"] == 9
    assert r["token_kinds"]["shift"] == 3 + 4
    assert r["token_kinds"]["note"] == 13
    assert r["top_chords"] == [["0.4.7", 2]]
    assert r["top_notes"][0] == ["C4", 4]


def test_explore_pieces_threshold_validation_and_empty():
    with pytest.raises(ValueError, match="thresholds"):
        result(thresholds=(0, 5))
    empty = ex.explore_pieces("none", [], [], TokenConfig())
    assert empty["tokens"] == 0 and empty["threshold_curve"] == []
    assert empty["vocab_at_threshold"] == {"30": 0, "50": 0, "70": 0, "90": 0}


def test_threshold_curve_table_expands_the_step_function_exactly():
    r = result()
    table = ex.threshold_curve_table(r)
    assert table["threshold"].tolist() == [1, 2, 3, 4]
    expected = vocab_at_thresholds(r["token_counts"], range(1, 5))
    assert table["vocab_size"].tolist() == [expected[t] for t in range(1, 5)] == [5, 3, 1, 1]
    assert ex.threshold_curve_table(r, max_threshold=6)["vocab_size"].tolist()[-2:] == [0, 0]
    # reaches the largest requested threshold even when no token is that frequent
    wide = ex.threshold_curve_table(result(thresholds=(2, 7)))
    assert wide["threshold"].max() == 7 and wide["vocab_size"].iloc[-1] == 0


def test_tables():
    r = result(thresholds=(2, 50))
    t = ex.threshold_table(r)
    assert t.index.tolist() == [1, 2, 50]
    assert t.loc[1, "ours"] == 5 and t.loc[1, "paper"] == PAPER_UNIQUE_TOKENS
    assert t.loc[50, "paper"] == 225 and t.loc[50, "ours"] == 0
    assert t["paper"].isna().tolist() == [False, True, False]

    rf = ex.rank_frequency_table(r)
    assert rf["rank"].tolist() == [1, 2, 3, 4, 5]
    assert rf["count"].tolist() == [4, 2, 2, 1, 1]
    assert abs(rf["share"].sum() - 1.0) < 1e-12

    assert ex.top_table(r, "top_chords").to_dict("records") == [{"token": "0.4.7", "count": 2}]
    with pytest.raises(ValueError):
        ex.top_table(r, "pitch_histogram")
    assert ex.skipped_table(r)["reason"].tolist() == ["not a MIDI file", "drums only"]
    assert ex.pieces_table(r)["piece"].tolist() == ["a", "b"]
    pt = ex.pitch_table(r)
    assert pt.loc[pt["pitch"] == 60, "name"].item() == "C4"
    dt = ex.duration_table(r)
    assert dt["label"].tolist() == ["1/4", "1/3", "1/2", "1"]
    assert dt["quarter_length"].tolist() == [0.25, 1 / 3, 0.5, 1.0]
    summary = ex.summary_table(r)
    assert summary.loc["unique tokens", "value"] == 5


def test_resolve_path_and_repo_root(tmp_path: Path):
    assert ex.repo_root() == REPO
    assert ex.resolve_path(tmp_path) == tmp_path
    assert ex.resolve_path("../data/midi") == REPO / "data" / "midi"
    assert ex.resolve_path("x", base=".") == REPO / "x"


def _tiny_dataset(root: Path) -> Path:
    """Two short pieces and one broken file for artist 'bach' under ``root``."""
    folder = root / "bach"
    scale = [Note(6 * i, 6, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 4)]
    chords = [Note(12 * i, 12, p + i % 5) for i in range(40) for p in (48, 52, 55)]
    write_midi(scale, folder / "scale.mid")
    write_midi(chords, folder / "chords.mid", qpm=100)
    (folder / "broken.mid").write_bytes(b"not a midi file")
    return root


def test_explore_end_to_end_on_tiny_midi(tmp_path: Path):
    pytest.importorskip("pianogen.data", reason="data.py is not there yet")
    data_dir = _tiny_dataset(tmp_path / "midi")
    r = ex.explore(
        data_dir, "bach", TokenConfig(seq_len=10), cache_dir=tmp_path / "cache", progress=False
    )
    assert r["files"] == 2
    assert [s["file"] for s in r["skipped"]] and "broken" in r["skipped"][0]["file"]
    assert r["tokens"] == 32 + 40
    assert r["data_hash"]
    json.dumps(r)


@pytest.mark.slow
def test_notebook_runs_under_papermill(tmp_path: Path):
    pytest.importorskip("pianogen.data", reason="data.py is not there yet")
    papermill = pytest.importorskip("papermill")
    data_dir = _tiny_dataset(tmp_path / "midi")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "01_explore.ipynb"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "01_explore.ipynb"),
        str(out),
        parameters={
            "artist": "bach",
            "data_dir": str(data_dir),
            "cache_dir": str(tmp_path / "cache"),
            "seq_len": 10,
        },
        cwd=str(out_dir),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = json.loads(out.read_text())
    errors = [
        o
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    images = sum(
        "image/png" in o.get("data", {})
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )
    assert images >= 5


def test_notebook_path_is_what_resolve_path_reads_back(tmp_path):
    from pianogen.explore import notebook_path, repo_root, resolve_path

    inside = repo_root() / "data" / "midi"
    assert notebook_path(inside) == "../data/midi"
    assert notebook_path(repo_root() / "runs" / "x") == "../runs/x"
    assert resolve_path(notebook_path(inside)) == inside.resolve()
    assert notebook_path(tmp_path / "mine") == str((tmp_path / "mine").resolve())
    assert resolve_path(notebook_path(tmp_path / "mine")) == (tmp_path / "mine").resolve()
