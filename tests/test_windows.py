"""Splits and on-the-fly windows: hand-checked windows, disjoint covering splits, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_runs import synthetic_config, synthetic_pieces

from pianogen.config import SplitConfig
from pianogen.windows import (
    NotEnoughData,
    Windows,
    count_windows,
    make_dataset,
    prepare_tokens,
    split_pieces,
    split_windows,
)


def _batches(ds) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_count_windows_by_hand():
    assert count_windows([[0] * 10, [0] * 3, []], seq_len=5) == 5
    assert count_windows([[0] * 6], seq_len=5) == 1
    assert count_windows([[0] * 5], seq_len=5) == 0


def test_windows_never_cross_pieces():
    w = Windows.from_seqs([np.array([0, 1, 2, 3]), np.array([10, 11, 12])], seq_len=2)
    assert w.starts.tolist() == [0, 1, 4]
    x, y = w.arrays()
    assert x.tolist() == [[0, 1], [1, 2], [10, 11]]
    assert y.tolist() == [2, 3, 12]
    assert w.contexts(1).tolist() == [[1], [2], [11]]
    assert len(w) == count_windows([[0, 1, 2, 3], [10, 11, 12]], 2)


def test_dataset_matches_materialised_windows():
    seqs = [np.arange(7, dtype=np.int32), np.arange(100, 105, dtype=np.int32)]
    x, y = _batches(make_dataset(seqs, 3, batch_size=2, shuffle=False, seed=0, vocab_size=200))
    assert x.dtype == np.int32 and x.shape == (4 + 2, 3)
    assert x[0].tolist() == [0, 1, 2] and y[0] == 3
    assert x[-1].tolist() == [101, 102, 103] and y[-1] == 104
    assert (y == x[:, -1] + 1).all()  # consecutive ids: the target follows the window


def test_shuffle_is_seeded_per_epoch_and_a_permutation():
    seqs = [np.arange(40, dtype=np.int32)]
    plain = _batches(make_dataset(seqs, 4, 5, shuffle=False, seed=0))[1]
    a = _batches(make_dataset(seqs, 4, 5, shuffle=True, seed=3, epoch=0))[1]
    b = _batches(make_dataset(seqs, 4, 5, shuffle=True, seed=3, epoch=0))[1]
    c = _batches(make_dataset(seqs, 4, 5, shuffle=True, seed=3, epoch=1))[1]
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist() and a.tolist() != plain.tolist()
    assert sorted(a.tolist()) == sorted(c.tolist()) == plain.tolist()


def test_make_dataset_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match=r"0\.\.4"):
        make_dataset([np.array([0, 1, 9, 2])], 2, 2, shuffle=False, seed=0, vocab_size=5)
    with pytest.raises(ValueError, match="input_kind"):
        make_dataset([np.array([0, 1, 2])], 2, 2, shuffle=False, seed=0, input_kind="onehot")


def test_sample_is_seeded_subset():
    w = Windows.from_seqs([np.arange(100)], seq_len=5)
    a, b = w.sample(10, [1, 2]), w.sample(10, [1, 2])
    assert a.starts.tolist() == b.starts.tolist() and len(a) == 10
    assert set(a.starts) <= set(w.starts)
    assert w.sample(0, 1) is w and w.sample(1000, 1) is w


def test_split_pieces_by_count():
    parts = split_pieces(10, SplitConfig(seed=1))
    assert [len(parts[k]) for k in ("train", "validation", "test")] == [8, 1, 1]
    assert sorted(parts["train"] + parts["validation"] + parts["test"]) == list(range(10))
    assert parts == split_pieces(10, SplitConfig(seed=1))
    others = [split_pieces(10, SplitConfig(seed=s))["test"] for s in range(2, 8)]
    assert any(o != parts["test"] for o in others)


def test_split_pieces_weighted_by_tokens():
    lengths = [10_000] + [100] * 9
    total = sum(lengths)
    for seed in range(10):
        parts = split_pieces(10, SplitConfig(seed=seed), lengths)
        tokens = {k: sum(lengths[i] for i in v) for k, v in parts.items()}
        assert all(parts[k] for k in parts)
        # Each held-out split reaches its 10% of the tokens, or took all it could.
        assert tokens["test"] >= 0.1 * total or len(parts["test"]) == 8
        n_held = len(parts["test"]) + len(parts["validation"])
        assert tokens["validation"] >= 0.1 * total or n_held == 9
    # Equal lengths: the same sizes as the count split.
    equal = split_pieces(10, SplitConfig(seed=4), [50] * 10)
    assert {k: len(v) for k, v in equal.items()} == {"train": 8, "validation": 1, "test": 1}


@pytest.mark.parametrize("n", [0, 1, 2])
def test_split_pieces_needs_three(n):
    with pytest.raises(NotEnoughData, match=r"at least 3 pieces.*--split window"):
        split_pieces(n, SplitConfig())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 300),
    val=st.floats(0.01, 0.45),
    test=st.floats(0.01, 0.45),
    seed=st.integers(0, 10),
    weighted=st.booleans(),
)
def test_split_pieces_disjoint_covering_nonempty(n, val, test, seed, weighted):
    config = SplitConfig(val_fraction=val, test_fraction=test, seed=seed)
    lengths = list(np.random.default_rng(seed).integers(1, 500, n)) if weighted else None
    parts = split_pieces(n, config, lengths)
    assert all(len(parts[k]) >= 1 for k in ("train", "validation", "test"))
    assert sorted(parts["train"] + parts["validation"] + parts["test"]) == list(range(n))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 5000), seed=st.integers(0, 5))
def test_split_windows_disjoint_covering(n, seed):
    parts = split_windows(n, SplitConfig(seed=seed))
    together = np.concatenate([parts["train"], parts["validation"], parts["test"]])
    assert np.array_equal(np.sort(together), np.arange(n))
    assert min(len(p) for p in parts.values()) >= 1
    if n >= 100:
        assert abs(len(parts["test"]) - round(0.1 * n)) <= 1


def test_prepare_piece_split_vocab_from_training_pieces_only():
    pieces = synthetic_pieces(6, 40)
    for i, piece in enumerate(pieces):  # one token unique to each piece
        piece[5] = f"C{i}"
    config = synthetic_config(seq_len=8)
    prepared = prepare_tokens(pieces, [f"p{i}" for i in range(6)], config)
    names = prepared.names
    assert sorted(names["train"] + names["validation"] + names["test"]) == sorted(
        f"p{i}" for i in range(6)
    )
    assert not set(names["train"]) & set(names["test"])
    tokens = set(prepared.vocab.tokens)
    for name in names["train"]:
        assert f"C{name[1:]}" in tokens
    for name in names["test"] + names["validation"]:
        assert f"C{name[1:]}" not in tokens  # held-out-only tokens are not in the vocabulary
    # Held-out pieces lose their unknown token: 39 ids remain.
    assert [len(s) for s in prepared.splits["test"]] == [39]
    assert prepared.counts()["test"] == 39 - 8


def test_prepare_window_split_assignment():
    config = synthetic_config(seq_len=8, split="window")
    prepared = prepare_tokens(synthetic_pieces(4, 30), list("abcd"), config)
    index = prepared.window_index
    total = count_windows(prepared.pieces, 8)
    assert total == 4 * 22
    together = np.concatenate([index[k] for k in ("train", "validation", "test")])
    assert np.array_equal(np.sort(together), np.arange(total))
    test = prepared.windows("test")
    x, y = test.arrays()
    held = np.stack(prepared.splits["test"])  # the held-out windows, target last
    assert np.array_equal(held[:, :-1], x) and np.array_equal(held[:, -1], y)
    assert len(prepared.windows("train")) == len(index["train"])


def test_prepare_too_few_tokens_names_artist_and_counts():
    config = synthetic_config(seq_len=50)
    with pytest.raises(
        NotEnoughData, match=r"'synthetic' has 3 usable piece\(s\) with 90 tokens.*51"
    ):
        prepare_tokens(synthetic_pieces(3, 30), ["a", "b", "c"], config)


def test_prepare_piece_split_with_two_pieces_says_what_to_do():
    config = synthetic_config(seq_len=8)
    with pytest.raises(NotEnoughData, match="at least 3 pieces"):
        prepare_tokens(synthetic_pieces(2, 30), ["a", "b"], config)


def test_prepare_empty_split_is_explained():
    pieces = synthetic_pieces(3, 30)
    pieces[1] = pieces[1][:5]
    pieces[2] = pieces[2][:5]
    config = synthetic_config(seq_len=8)
    with pytest.raises(NotEnoughData, match="split has no window"):
        prepare_tokens(pieces, ["a", "b", "c"], config)


@pytest.mark.parametrize("n_windows", [0, 3, 16, 64 * 8, 64 * 8 * 2 + 64 * 3 + 5])
def test_dataset_batches_in_order_for_every_size(n_windows):
    """Chunked gathering (8 batches per call), leftover batches, partial batch, empty."""
    w = Windows.from_seqs([np.arange(n_windows + 4, dtype=np.int32)], seq_len=4)
    batches = [(x.numpy(), y.numpy()) for x, y in w.dataset(64)]
    sizes = [len(y) for _, y in batches]
    assert sizes == [64] * (n_windows // 64) + ([n_windows % 64] if n_windows % 64 else [])
    if n_windows:
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        assert np.array_equal(y, np.arange(4, n_windows + 4))
        assert np.array_equal(x[:, 0], np.arange(n_windows)) and (x[:, -1] + 1 == y).all()


def test_every_step_targets_are_the_window_shifted_by_one():
    w = Windows.from_seqs([np.arange(6, dtype=np.int32), np.arange(10, 14, dtype=np.int32)], 3)
    x, y = _batches(w.dataset(2, every_step=True))
    _, last = _batches(w.dataset(2))
    # Windows [0 1 2] [1 2 3] [2 3 4] [10 11 12]: targets [1 2 3] ... [11 12 13].
    assert x.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [10, 11, 12]]
    assert y.tolist() == [[1, 2, 3], [2, 3, 4], [3, 4, 5], [11, 12, 13]]
    assert (y[:, -1] == last).all()  # the last column is the usual next-token target
    shuffled = _batches(w.dataset(2, every_step=True, shuffle=True, seed=1))
    assert (shuffled[1][:, :-1] == shuffled[0][:, 1:]).all()  # pairs stay together
