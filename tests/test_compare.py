"""Seed intervals and paired tests (pianogen.compare) on hand-checkable numbers."""

import math

import pandas as pd
import pytest

from pianogen import compare


@pytest.mark.parametrize(("df", "expected"), [(1, 12.706), (2, 4.303), (4, 2.776), (30, 2.042)])
def test_t_quantiles_match_the_tables(df, expected):
    assert compare.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)
    assert compare.t_quantile(0.025, df) == pytest.approx(-expected, abs=1e-3)


def test_t_tail_probabilities():
    assert compare.t_sf(0.0, 3) == pytest.approx(0.5)
    assert compare.t_sf(1.0, 1) == pytest.approx(0.25)  # Cauchy: atan(1) / pi from the top
    assert compare.t_sf(-1.0, 1) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="df"):
        compare.t_sf(1.0, 0)


def test_a_t_interval_of_three_values():
    mean, low, high = compare.t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert (high - mean) == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)  # sd 1, n 3
    assert low == pytest.approx(2 * mean - high)
    one = compare.t_interval([0.4])
    assert one[0] == 0.4 and math.isnan(one[1]) and math.isnan(one[2])


def test_a_paired_test_by_hand():
    test = compare.paired_test([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])  # differences 1, 2, 3
    assert test["n"] == 3 and test["wins"] == 3 and test["losses"] == 0 and test["mean"] == 2.0
    assert test["t"] == pytest.approx(2 * math.sqrt(3))
    assert test["p_t"] == pytest.approx(0.0742, abs=1e-4)
    # of the 8 sign patterns only +++ and --- reach a mean of 2 in size
    assert test["p_sign_flip"] == 0.25
    tie = compare.paired_test([1.0, 1.0], [2.0, 0.0])
    assert tie["mean"] == 0.0 and tie["p_sign_flip"] == 1.0
    assert tie["wins"] == 1 and tie["losses"] == 1


def _summary() -> pd.DataFrame:
    rows = []

    def add(artist, preset, split, seed, accuracy):
        rows.append(
            {"artist": artist, "preset": preset, "split": split, "seed": seed,
             "test accuracy": accuracy, "test loss": 4.0 - accuracy}
        )  # fmt: skip

    for seed, (lstm, gru) in enumerate([(0.10, 0.13), (0.11, 0.13), (0.12, 0.16)]):
        add("haydn", "pianogen-lstm", "piece", seed, lstm)
        add("haydn", "pianogen-gru", "piece", seed, gru)
    add("bach", "pianogen-lstm", "piece", 0, 0.20)
    add("bach", "pianogen-gru", "piece", 0, 0.22)
    add("mozart", "pianogen-lstm", "piece", 0, 0.15)  # no GRU: left out of the pairs
    add("mozart", "paper-gru", "piece", 0, 0.05)
    add("mozart", "paper-gru", "window", 0, 0.25)
    return pd.DataFrame(rows)


def test_seed_and_comparison_tables_pair_the_right_runs():
    summary = _summary()
    seeds = compare.seed_table(summary)
    haydn = seeds.loc[("haydn", "pianogen-gru", "piece")]
    assert haydn["seeds"] == 3 and haydn["values"] == [0.13, 0.13, 0.16]
    assert haydn["mean"] == pytest.approx(0.14)
    table = compare.comparison_table(summary, compare.COMPARISONS[0])
    assert list(table.index) == ["bach", "haydn"]
    assert table.loc["bach", "difference"] == pytest.approx(0.02)
    assert math.isnan(table.loc["bach", "low"])  # one seed: no interval
    assert table.loc["haydn", "seeds"] == 3
    assert table.loc["haydn", "difference"] == pytest.approx(0.03)  # 0.14 - 0.11
    assert table.loc["haydn", "low"] < 0.03 < table.loc["haydn", "high"]
    window = compare.comparison_table(summary, compare.COMPARISONS[1])
    assert window.loc["mozart", "difference"] == pytest.approx(0.20)
    tests = compare.comparison_tests(summary)
    row = tests.loc[("GRU vs LSTM", "test accuracy")]
    assert row["n"] == 2 and row["wins"] == 2 and row["seeds"] == 3
    assert row["mean"] == pytest.approx(0.025)
    assert tests.loc[("GRU vs LSTM", "test loss"), "mean"] == pytest.approx(-0.025)


def test_the_sentence_gives_the_verdict_with_its_numbers():
    summary = _summary()
    text = compare.comparison_sentence(summary)
    assert text.startswith(
        "GRU vs LSTM: no difference beyond noise in test accuracy"
    )  # 2 artists, wide interval
    assert "+2.5 points" in text and "GRU ahead on 2 of 2" in text
    assert "over 3 seeds on haydn the accuracy difference is +3.0 points" in text
    # the loss (4 - accuracy here) is lower with the GRU on both artists
    assert "test loss -0.025 nats" in text and "lower with the GRU on 2 of 2" in text
    window = compare.comparison_sentence(summary, compare.COMPARISONS[1])
    assert "test loss" not in window  # one artist: no loss test
    # the same gain on five artists is significant
    more = pd.concat(
        [summary]
        + [
            summary[summary["artist"] == "bach"].assign(
                artist=name, **{"test accuracy": summary.loc[summary["artist"] == "bach",
                                "test accuracy"] + shift}
            )
            for name, shift in (("chopin", 0.01), ("liszt", 0.02), ("grieg", 0.03))
        ]
    )  # fmt: skip
    assert compare.comparison_sentence(more).startswith("GRU vs LSTM: the GRU is ahead beyond")
    assert "not measured" in compare.comparison_sentence(summary.iloc[:0])


def test_the_summary_reads_seed_replicates_only_when_asked(tmp_path):
    import json

    from pianogen.results import summary_table

    for name, accuracy in (("pianogen-gru", 0.2), ("pianogen-gru-seed1", 0.3)):
        folder = tmp_path / "bach" / name
        folder.mkdir(parents=True)
        metrics = {"split": "piece", "vocabulary": "paper", "model": {"accuracy": accuracy}}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    main = summary_table(tmp_path)
    assert list(main["seed"]) == [0] and list(main["test accuracy"]) == [0.2]
    every = summary_table(tmp_path, replicates=True)
    assert list(every["preset"]) == ["pianogen-gru", "pianogen-gru"]
    assert list(every["seed"]) == [0, 1]
    assert compare.seed_table(every).loc[("bach", "pianogen-gru", "piece"), "seeds"] == 2


def test_an_interval_of_identical_seeds_says_so():
    assert compare._interval(0.05, 0.05, 100, 1) == "the same on every seed"
    assert compare._interval(math.nan, math.nan, 100, 1) == "no interval"
    assert compare._interval(-0.01, 0.02, 100, 1) == "-1.0 to +2.0"
