"""Vocabulary: counts, thresholds (count >= t), correct filtering, ids, JSON files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pianogen.vocab import Vocab, build_vocab, count_tokens, infer_vocabulary, vocab_at_thresholds

SEQS = [
    ["C4", "E4", "C4", "R", "0.4.7"],
    ["C4", "E4", "G4", "0.4.7", "C4"],
]


def test_count_tokens():
    assert count_tokens(SEQS) == Counter({"C4": 4, "E4": 2, "0.4.7": 2, "R": 1, "G4": 1})
    assert count_tokens([]) == Counter()


def test_vocab_at_thresholds_counts_tokens_at_or_above():
    counts = {"a": 1, "b": 2, "c": 2, "d": 5, "e": 30}
    assert vocab_at_thresholds(counts, [1, 2, 3, 5, 6, 30, 31]) == {
        1: 5,
        2: 4,
        3: 2,
        5: 2,
        6: 1,
        30: 1,
        31: 0,
    }
    assert vocab_at_thresholds({}, [1]) == {1: 0}


def test_build_vocab_orders_by_count_then_token():
    vocab = build_vocab(SEQS, min_count=2)
    assert vocab.tokens == ["C4", "0.4.7", "E4"]
    assert vocab.counts == {"C4": 4, "0.4.7": 2, "E4": 2}
    assert len(vocab) == 3 and vocab.min_count == 2 and vocab.vocabulary == "paper"
    assert [vocab.index(t) for t in vocab.tokens] == [0, 1, 2]
    assert vocab.token(2) == "E4"
    assert "C4" in vocab and "R" not in vocab


def _buggy_filter(counts: dict[str, int], min_count: int) -> list[str]:
    """The widespread notebook bug: removing from the list being iterated."""
    tokens = list(counts)
    for t in tokens:
        if counts[t] < min_count:
            tokens.remove(t)
    return tokens


def test_no_token_under_the_threshold_survives_even_when_rare_tokens_are_adjacent():
    # rare tokens next to each other in first-seen order: the buggy filter skips every
    # second one of them
    seq = ["x"] * 5 + ["r1", "r2", "r3", "r4"] + ["y"] * 5 + ["r5", "r6"]
    counts = count_tokens([seq])
    assert set(_buggy_filter(counts, 3)) != {"x", "y"}  # the case really trips the bug
    vocab = build_vocab([seq], min_count=3)
    assert set(vocab.tokens) == {"x", "y"}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=30), min_size=1, max_size=5),
    st.integers(1, 6),
)
def test_build_vocab_keeps_exactly_tokens_at_or_above_threshold(seqs, min_count):
    counts = count_tokens(seqs)
    expected = {t for t, c in counts.items() if c >= min_count}
    if not expected:
        with pytest.raises(ValueError, match=f"min_count={min_count} leaves no token; lower it"):
            build_vocab(seqs, min_count)
        return
    vocab = build_vocab(seqs, min_count)
    assert set(vocab.tokens) == expected
    assert len(vocab) == vocab_at_thresholds(counts, [min_count])[min_count]
    assert [vocab.counts[t] for t in vocab.tokens] == sorted(vocab.counts.values(), reverse=True)


def test_build_vocab_errors():
    with pytest.raises(ValueError, match="min_count=9 leaves no token; lower it"):
        build_vocab(SEQS, 9)
    with pytest.raises(ValueError, match="leaves no token"):
        build_vocab([], 1)
    with pytest.raises(ValueError, match=">= 1"):
        build_vocab(SEQS, 0)


def test_encode_drops_unknown_tokens_and_decodes():
    vocab = build_vocab(SEQS, min_count=2)
    ids = vocab.encode(["E4", "R", "C4", "G4", "0.4.7", "nope"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [2, 0, 1]
    assert vocab.decode(ids) == ["E4", "C4", "0.4.7"]
    assert vocab.decode(vocab.encode(SEQS[1])) == ["C4", "E4", "0.4.7", "C4"]
    assert vocab.encode([]).dtype == np.int32
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([3])
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vocab.index("R")
    with pytest.raises(IndexError):
        vocab.token(-1)


def test_vocab_constructor_checks():
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "a"], {"a": 1})
    with pytest.raises(ValueError, match="counts missing"):
        Vocab(["a", "b"], {"a": 1})
    with pytest.raises(ValueError, match="at least one"):
        Vocab([], {})
    with pytest.raises(ValueError, match="vocabulary must be"):
        Vocab(["a"], {"a": 1}, vocabulary="midi")


def test_vocabulary_kind_is_inferred_or_given():
    assert infer_vocabulary(["C4:d6", "a3", "B-2:d12"]) == "timed"
    assert infer_vocabulary(["C4", "a3"]) == "paper"
    assert build_vocab([["C4:d6", "a3", "a3"]], 1).vocabulary == "timed"
    assert build_vocab([["C4", "R"]], 1, vocabulary="paper").vocabulary == "paper"


def test_save_load_round_trip(tmp_path: Path):
    vocab = build_vocab([["C4:d6", "a3", "a3", "E4:d3"]], 1)
    path = vocab.save(tmp_path / "run" / "vocab.json")
    data = json.loads(path.read_text())
    assert data == {
        "tokens": ["a3", "C4:d6", "E4:d3"],
        "counts": {"a3": 2, "C4:d6": 1, "E4:d3": 1},
        "vocabulary": "timed",
        "min_count": 1,
    }
    loaded = Vocab.load(path)
    assert loaded == vocab
    assert loaded.encode(["E4:d3", "a3"]).tolist() == [2, 0]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"counts": {}}', "'tokens' must be a list"),
        ('{"tokens": ["a"], "counts": {"a": "1"}}', "'counts' must map"),
        ('{"tokens": ["a"], "counts": {"b": 1}}', "counts missing"),
        ('{"tokens": ["a", "a"], "counts": {"a": 1}}', "unique"),
        ('{"tokens": ["a"], "counts": {"a": 1}, "vocabulary": "x"}', "vocabulary must be"),
        ('{"tokens": ["a"], "counts": {"a": 1}, "min_count": "3"}', "'min_count'"),
    ],
)
def test_load_rejects_malformed_files(tmp_path: Path, content: str, why: str):
    path = tmp_path / "vocab.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=why):
        Vocab.load(path)


def test_load_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no vocabulary file"):
        Vocab.load(tmp_path / "nothing.json")
