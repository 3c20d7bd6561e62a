"""Transposition augmentation: hand-checked shifts and copies, and what it changes in a
prepared run (training windows and vocabulary) and what it leaves alone (held-out pieces)."""

from __future__ import annotations

import pytest
from synthetic_runs import synthetic_config

from pianogen.config import RunConfig, TokenConfig
from pianogen.presets import PROFILES, model_preset, optimizer_for
from pianogen.tokens import augment_shifts, transpose_token, transpose_tokens
from pianogen.windows import prepare_tokens, transposed_copies


def test_augment_shifts_nearest_first_every_key_once():
    assert augment_shifts(1) == (0,)
    assert augment_shifts(2) == (0, 1)
    assert augment_shifts(3) == (0, 1, -1)
    every = augment_shifts(12)
    assert every == (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6)
    assert sorted(k % 12 for k in every) == list(range(12))
    for bad in (0, 13):
        with pytest.raises(ValueError, match=r"1\.\.12"):
            augment_shifts(bad)


@pytest.mark.parametrize(
    ("token", "k", "vocabulary", "expected"),
    [
        ("B3", 1, "paper", "C4"),
        ("0.4.7", 2, "paper", "2.6.9"),
        ("0.4.7", -1, "paper", "11.3.6"),  # B major: normal order starts on B
        ("R", 5, "paper", "R"),
        ("F#9", 1, "paper", "G9"),  # MIDI 127, the top of the range
        ("G9", 1, "paper", None),  # MIDI 128
        ("C4:d6", 2, "timed", "D4:d6"),
        ("a12", 7, "timed", "a12"),
        ("C:d3", -1, "timed", None),  # MIDI -1
    ],
)
def test_transpose_token_by_hand(token, k, vocabulary, expected):
    assert transpose_token(token, k, vocabulary) == expected


def test_transpose_tokens_is_all_or_nothing_and_inverts():
    seq = ["C4", "0.4.7", "R", "F#9"]
    assert transpose_tokens(seq, 1) == ["C#4", "1.5.8", "R", "G9"]
    assert transpose_tokens(seq, 2) is None  # F#9 would leave the keyboard: no partial copy
    for k in range(-11, 12):
        moved = transpose_tokens(seq[:3], k)
        assert transpose_tokens(moved, -k) == seq[:3]


def test_transposed_copies_skip_out_of_range_pieces():
    low, mid = ["C#", "D"], ["C4", "E4"]  # C# is MIDI 1: two semitones down leaves the range
    copies = transposed_copies([low, mid], keys=3, vocabulary="paper")  # shifts +1, -1
    assert copies == [["D", "E-"], ["C#4", "F4"], ["C", "C#"], ["B3", "E-4"]]
    assert transposed_copies([low], keys=5, vocabulary="paper") == [
        ["D", "E-"],
        ["C", "C#"],
        ["E-", "E"],  # +2; -2 would reach MIDI -1 and is left out
    ]
    assert transposed_copies([mid], keys=1, vocabulary="paper") == []


def _pieces() -> list[list[str]]:
    # Five pieces of one repeated 12-token figure, each in its own key area.
    figure = ["C4", "E4", "G4", "0.4.7", "R", "D4", "F4", "A4", "2.5.9", "R", "B3", "G3"]
    return [transpose_tokens(figure * 4, k) for k in range(5)]


def test_prepare_with_augmentation_adds_training_windows_only():
    names = [f"p{i}" for i in range(5)]
    plain = prepare_tokens(_pieces(), names, synthetic_config(seq_len=8))
    config = synthetic_config(seq_len=8)
    config = config.replace(tokens=config.tokens.replace(augment_keys=3))
    augmented = prepare_tokens(_pieces(), names, config)
    assert augmented.names == plain.names  # same pieces in the same splits
    n_train = len(plain.splits["train"])
    assert len(augmented.augmented) == 2 * n_train  # every piece +1 and -1 semitone
    assert len(augmented.windows("train")) == 3 * len(plain.windows("train"))
    # Held-out pieces are the pieces as written, encoded with the (larger) vocabulary; the
    # vocabulary of the pieces as written drops the tokens their own key area adds.
    raw = dict(zip(names, _pieces(), strict=True))
    for split in ("validation", "test"):
        decoded = [augmented.vocab.decode(s) for s in augmented.splits[split]]
        assert decoded == [[t for t in raw[n] if t in augmented.vocab] for n in plain.names[split]]
        assert len(augmented.windows(split)) >= len(plain.windows(split))
    # The vocabulary is counted on the augmented training pieces: it holds the shifted
    # tokens, and a token's count is its count over all copies.
    assert len(augmented.vocab) > len(plain.vocab)
    train_tokens = [plain.vocab.decode(s) for s in plain.splits["train"]]
    copies = transposed_copies(train_tokens, 3, "paper")
    expected = sum(seq.count("R") for seq in train_tokens + copies)
    assert augmented.vocab.counts["R"] == expected
    # splits["train"] keeps only the pieces as written: audits never see the copies.
    assert len(augmented.splits["train"]) == n_train


def test_augmentation_is_refused_on_the_window_split_and_out_of_range():
    config = synthetic_config(seq_len=8, split="window")
    with pytest.raises(ValueError, match="needs the piece split"):
        config.replace(tokens=config.tokens.replace(augment_keys=2))
    for bad in (0, 13, 2.5):
        with pytest.raises(ValueError, match="augment_keys"):
            TokenConfig(augment_keys=bad)


def test_old_run_configs_load_without_the_field():
    config = synthetic_config(seq_len=8)
    data = config.to_dict()
    del data["tokens"]["augment_keys"]
    assert RunConfig.from_dict(data).tokens.augment_keys == 1


def test_paper_presets_keep_the_paper_optimizer_in_every_profile():
    assert optimizer_for("paper-gru") == ("adamax", 0.001)
    assert optimizer_for("pianogen-gru") == ("adam", 0.002)
    for prof in PROFILES.values():
        for preset in (*prof.presets, *prof.window_split):
            for vocabulary in ("paper", "timed"):
                tc = prof.train_for(vocabulary, preset)
                if preset.startswith("paper-"):
                    assert (tc.optimizer, tc.learning_rate) == ("adamax", 0.001)
        assert prof.tokens_for("window", "paper").augment_keys == 1
        assert prof.tokens_for("piece", "timed").augment_keys == prof.augment_keys
    assert model_preset("pianogen-gru").batchnorm is False


def test_the_batch_hands_each_run_its_augmentation_and_optimizer(tmp_path):
    from pianogen import batch
    from pianogen.config import RunConfig

    declared = {
        "01_explore": {"artist"},
        "02_train": {"run_config"},
        "03_evaluate": {"artist"},
    }
    paths = {k: tmp_path / k for k in ("notebooks_dir", "out_dir", "data_dir", "runs_root")}
    tasks = batch.plan_tasks(
        "a", PROFILES["quick"], declared=declared, cache_dir=tmp_path / "c", **paths
    )
    runs = {
        t.name: RunConfig.from_dict(t.parameters["run_config"])
        for t in tasks
        if t.name.startswith("02_train")
    }
    assert runs["02_train_pianogen-gru"].tokens.augment_keys == 12
    assert runs["02_train_pianogen-gru"].train.optimizer == "adam"
    paper = runs["02_train_paper-gru"]
    assert (paper.model.name, paper.split.kind, paper.tokens.vocabulary) == (
        "paper-gru",
        "piece",
        "paper",
    )
    assert (paper.tokens.augment_keys, paper.train.optimizer, paper.train.epochs) == (
        12,
        "adamax",
        4,
    )
    assert runs["02_train_paper-gru_window"].tokens.augment_keys == 1  # never on the window split
    assert "02_train_pianogen-gru-timed" not in runs  # the timed tokens: the conditioned GRU
    pooled = batch.plan_conditioned(
        ["a", "b"], PROFILES["quick"], declared=declared, cache_dir=tmp_path / "c", **paths
    )
    conditioned = {t.name: RunConfig.from_dict(t.parameters["run_config"]) for t in pooled}
    assert list(conditioned) == [
        "02_train_conditioned-gru",
        "02_train_conditioned-gru-timed",
        "02_train_conditioned-gru-seed1",  # the seeds of the conditioned-vs-own comparison
        "02_train_conditioned-gru-seed2",
    ]
    for config in conditioned.values():
        assert config.tokens.augment_keys == 12 and config.artists == ("a", "b")
        assert (config.train.optimizer, config.train.max_train_windows) == ("adam", 10_000)
    assert conditioned["02_train_conditioned-gru-timed"].tokens.vocabulary == "timed"
