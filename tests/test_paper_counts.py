"""The paper's vocabulary figures under readings of its method: hand-checked counts."""

from __future__ import annotations

import math

import pytest

from pianogen.config import PAPER_UNIQUE_TOKENS
from pianogen.notes import Note, Piece
from pianogen.paper_counts import (
    PAPER_FIGURES,
    Reading,
    figure_distance,
    figures,
    side_by_side,
    variants_table,
)


def piece(name: str, streams, notes) -> Piece:
    return Piece(
        name=name,
        notes=tuple(Note(o, d, p, 80) for o, d, p in notes),
        qpm=120.0,
        source=name,
        streams=streams,
    )


# Two hands: right C5 then D5, left a C3+E3 third, both starting at 0 (offsets in 12-tick
# units). Part-wise tokens: C5 D5 R 0.4 R (the right hand's part first, then the left's,
# as two instruments); merged: one chord C3 E3 C5 at 0 (pitch classes 0.4), then D5.
TWO_PARTS = ((((0, (72,)), (12, (74,)), (24, ()))), (((0, (48, 52)), (24, ()))))
PIECE = piece("a", TWO_PARTS, [(0, 12, 72), (12, 12, 74), (0, 24, 48), (0, 24, 52)])
OTHER = piece("b", (((0, (72,)), (12, ())),), [(0, 12, 72)])


def test_readings_tokens_by_hand():
    assert Reading("paper").tokens(PIECE) == ["C5", "D5", "R", "0.4", "R"]
    assert Reading("paper", first_part_only=True).tokens(PIECE) == ["C5", "D5", "R"]
    assert Reading("paper", rests=False).tokens(PIECE) == ["C5", "D5", "0.4"]
    assert Reading("merged").tokens(PIECE) == ["0.4", "D5"]
    with pytest.raises(ValueError, match="part-wise"):
        Reading("merged", first_part_only=True)
    with pytest.raises(ValueError, match="extraction"):
        Reading("timed")


def test_figures_use_count_at_least_threshold():
    counts = {"a": 90, "b": 89, "c": 30, "d": 29}
    assert figures(counts) == {"unique": 4, "at 30": 3, "at 50": 2, "at 70": 2, "at 90": 1}


def test_distance_is_mean_absolute_log_ratio():
    assert figure_distance(PAPER_FIGURES) == 0
    doubled = {k: 2 * v for k, v in PAPER_FIGURES.items()}
    assert figure_distance(doubled) == pytest.approx(math.log(2))
    halved = {k: v / 2 for k, v in PAPER_FIGURES.items()}
    assert figure_distance(halved) == pytest.approx(figure_distance(doubled))
    zero = dict(PAPER_FIGURES, unique=0)
    assert math.isfinite(figure_distance(zero))


def test_variants_table_scopes_readings_and_order():
    table = variants_table({"a": [PIECE], "b": [OTHER], "christmas": [OTHER]})
    head = table.iloc[0]
    assert head["scope"] == "the paper (reported)" and head["unique"] == PAPER_UNIQUE_TOKENS
    rows = table.iloc[1:]
    # 4 readings of the paper's extraction + 2 merged, on 5 scopes (all, all but
    # christmas, and each of the three folders)
    assert len(rows) == 6 * 5
    assert set(rows["scope"]) == {
        "every artist",
        "every artist but christmas",
        "a",
        "b",
        "christmas",
    }
    assert rows["distance"].is_monotonic_increasing
    every = rows[
        (rows["scope"] == "every artist but christmas")
        & (rows["extraction"] == "paper")
        & (rows["parts"] == "every part")
        & (rows["rests"] == "rests kept")
    ].iloc[0]
    # a: C5 D5 R 0.4 R, b: C5 R -> C5 x2, R x3, D5, 0.4
    assert (every["files"], every["tokens"], every["unique"]) == (2, 7, 4)
    assert every["at 30"] == 0


def test_side_by_side_columns():
    table = variants_table({"a": [PIECE]})
    frame = side_by_side(table)
    assert list(frame.index) == list(PAPER_FIGURES)
    assert frame.columns[0] == "the paper"
    assert frame.columns[1] == "the paper's extraction (every artist)"
    assert frame.iloc[0, 1] == 4  # C5 D5 R 0.4
    assert frame.columns[2].startswith("nearest: ")
    assert table.iloc[1]["reading"] in frame.columns[2]
