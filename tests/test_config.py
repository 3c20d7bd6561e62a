"""Configs validate themselves and round-trip through JSON."""

import json

import pytest

from pianogen.config import (
    POOLED,
    GenerateConfig,
    ModelConfig,
    RunConfig,
    SplitConfig,
    TokenConfig,
    TrainConfig,
    parse_run_name,
    run_name,
    run_seed,
)
from pianogen.presets import MODEL_PRESETS, PROFILES, make_run_config, model_preset, profile


def test_run_config_round_trips_through_json(tmp_path):
    config = RunConfig(
        artist="bach",
        model=model_preset("paper-gru"),
        tokens=TokenConfig(vocabulary="timed", min_count=3),
        split=SplitConfig(kind="window", seed=7),
        train=TrainConfig(epochs=3, batch_size=16),
    )
    path = tmp_path / "config.json"
    config.save(path)
    assert RunConfig.load(path) == config
    assert json.loads(path.read_text())["model"]["units"] == [256, 256, 128]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: TokenConfig(vocabulary="midi"), "vocabulary"),
        (lambda: TokenConfig(min_count=0), "min_count"),
        (lambda: SplitConfig(val_fraction=0.6, test_fraction=0.5), "leave some training"),
        (lambda: ModelConfig(name="x", units=()), "at least one"),
        (lambda: ModelConfig(name="x", dropout=1.0), "dropout"),
        (lambda: ModelConfig(name="x", cell="transformer"), "cell"),
        (lambda: TrainConfig(learning_rate=0), "learning_rate"),
        (lambda: TrainConfig(epochs=0), "epochs"),
        (lambda: GenerateConfig(temperature=0), "temperature"),
        (lambda: GenerateConfig(top_k=-1), "top_k"),
        (lambda: GenerateConfig(top_p=1.5), "top_p"),
    ],
)
def test_nonsense_is_rejected_with_a_clear_message(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_unknown_fields_and_presets_are_errors():
    with pytest.raises(ValueError, match="unknown field"):
        TrainConfig.from_dict({"epochs": 2, "epoch": 3})
    with pytest.raises(ValueError, match="unknown model preset"):
        model_preset("paper-transformer")
    with pytest.raises(ValueError, match="unknown profile"):
        profile("huge")


def test_paper_defaults():
    train = TrainConfig()
    assert (train.optimizer, train.learning_rate) == ("adamax", 0.001)
    assert TokenConfig().seq_len == 50
    assert TokenConfig().vocabulary == "paper"
    assert SplitConfig().kind == "piece"


def test_profiles_name_existing_presets():
    for prof in PROFILES.values():
        assert set(prof.presets) <= set(MODEL_PRESETS)
    assert set(PROFILES["paper"].presets) == {"paper-lstm-table", "paper-lstm-text", "paper-gru"}


def test_run_names_pair_with_their_parse():
    assert run_name("pianogen-gru") == "pianogen-gru"
    assert run_name("pianogen-gru", "timed") == "pianogen-gru-timed"
    for preset in MODEL_PRESETS:
        for vocabulary in ("paper", "timed"):
            assert parse_run_name(run_name(preset, vocabulary)) == (preset, vocabulary)
    config = RunConfig(artist="bach", model=model_preset("quick-gru"))
    assert config.run_name == "quick-gru"
    assert config.replace(tokens=TokenConfig(vocabulary="timed")).run_name == "quick-gru-timed"
    with pytest.raises(ValueError, match="vocabulary"):
        run_name("quick-gru", "midi")
    # a training seed other than 0 is part of the name (a seed replicate's folder)
    assert run_name("pianogen-gru", "timed", 3) == "pianogen-gru-timed-seed3"
    assert parse_run_name("pianogen-gru-timed-seed3") == ("pianogen-gru", "timed")
    assert [run_seed(n) for n in ("pianogen-gru-seed12", "pianogen-gru")] == [12, 0]
    seeded = config.replace(train=config.train.replace(seed=2))
    assert seeded.run_name == "quick-gru-seed2"


def test_a_profile_lists_its_runs_and_seed_replicates():
    quick = profile("quick")
    assert quick.runs() == [
        ("pianogen-lstm", "piece", "paper", 0),
        ("pianogen-gru", "piece", "paper", 0),
        ("paper-gru", "piece", "paper", 0),
        ("paper-gru", "window", "paper", 0),
    ]
    # the conditioned GRU on both vocabularies: trained once for every artist
    assert quick.conditioned_runs() == [
        ("conditioned-gru", "paper", 0),
        ("conditioned-gru", "timed", 0),
    ]
    # ... and again for each seed on the profile's vocabulary (the third comparison's seeds)
    assert quick.conditioned_runs(replicates=True)[2:] == [
        ("conditioned-gru", "paper", seed) for seed in quick.seeds
    ]
    assert quick.replace(seeded=("pianogen-gru",)).conditioned_runs(replicates=True) == (
        quick.conditioned_runs()
    )
    assert "conditioned-gru-timed" in quick.evaluated_runs
    replicates = quick.runs(replicates=True)[len(quick.runs()) :]
    assert {seed for *_, seed in replicates} == set(quick.seeds)
    assert len(quick.seeds) >= 2  # at least 3 seeds with the seed-0 run
    assert all(v == "paper" and p in quick.seeded for p, _, v, _ in replicates)
    for bad, match in (
        ({"seeds": (1, 1), "seeded": ("pianogen-gru",)}, "differ"),
        ({"seeds": (0,), "seeded": ("pianogen-gru",)}, "differ"),
        ({"seeds": (1,), "seeded": ("quick-gru",)}, "not trained"),
        ({"seeded": ("conditioned-gru",), "conditioned": (), "timed": ()}, "not trained"),
        ({"seed_artists": -1}, "seed_artists"),
    ):
        with pytest.raises(ValueError, match=match):
            quick.replace(**bad)


def test_profiles_name_their_evaluated_runs():
    quick = profile("quick")
    timed = (f"{p}-timed" for p in quick.timed)
    assert quick.evaluated_runs == (*quick.presets, *quick.conditioned, *timed)
    assert {"conditioned-gru-timed", "conditioned-gru"} <= set(quick.evaluated_runs)
    with pytest.raises(ValueError, match="unknown preset"):
        quick.replace(timed=("no-such-preset",))


def test_conditioned_presets_and_configs_check_themselves():
    quick = profile("quick")
    # A conditioned preset trains once for all artists, never as an artist's own run.
    for bad in ({"presets": ("conditioned-gru",)}, {"conditioned": ("pianogen-gru",)}):
        with pytest.raises(ValueError, match="conditioned presets belong"):
            quick.replace(**bad)
    assert quick.train_for("paper", "conditioned-gru").max_train_windows == 10_000
    assert quick.train_for("paper", "pianogen-gru").max_train_windows == 5_000
    pooled = make_run_config(POOLED, "conditioned-gru", artists=["b", "a", "a"], profile=quick)
    assert pooled.artists == ("a", "b") and pooled.pooled  # sorted, once each
    assert pooled.run_name == "conditioned-gru"
    view = pooled.for_artist("b")
    assert not view.pooled and view.artists == ("a", "b")
    assert RunConfig.from_dict(json.loads(pooled.to_json())) == pooled
    for artist, artists, preset, match in (
        (POOLED, ["a"], "conditioned-gru", "at least 2"),
        ("c", ["a", "b"], "conditioned-gru", "not one of"),
        ("a", ["a", "b"], "pianogen-gru", "need a conditioned"),
        (POOLED, [], "pianogen-gru", "needs a conditioned"),
    ):
        with pytest.raises(ValueError, match=match):
            make_run_config(artist, preset, artists=artists)
    with pytest.raises(ValueError, match="input 'embedding'"):
        model_preset("paper-gru").replace(conditioned=True)
    with pytest.raises(ValueError, match="piece split"):
        make_run_config(POOLED, "conditioned-gru", artists=["a", "b"], split="window")
    assert quick.train_for("paper") == quick.train
    assert quick.timed_train is None and quick.train_for("timed") == quick.train
    longer = quick.replace(timed_train=quick.train.replace(epochs=quick.train.epochs + 4))
    assert longer.train_for("timed") == longer.timed_train != longer.train
    assert longer.train_for("paper") == longer.train
    assert profile("ci").train_for("timed") == profile("ci").train  # no timed_train: the same


def test_a_profile_chooses_the_vocabulary_of_its_presets():
    quick = profile("quick")
    assert quick.vocabulary == "paper"  # the paper's part-wise tokens
    merged = quick.replace(vocabulary="merged")
    assert merged.evaluated_runs[: len(quick.presets)] == tuple(
        f"{p}-merged" for p in quick.presets
    )
    assert merged.tokens_for("piece", merged.vocabulary).vocabulary == "merged"
    with pytest.raises(ValueError, match="vocabulary must be one of"):
        quick.replace(vocabulary="nope")
    with pytest.raises(ValueError, match="timed"):
        quick.replace(vocabulary="timed")


# --------------------------------------------------------------------------- make_run_config
def test_make_run_config_without_a_profile_uses_the_presets_optimizer():
    from pianogen.presets import make_run_config

    ours = make_run_config("bach", "pianogen-gru")
    assert (ours.train.optimizer, ours.train.learning_rate) == ("adam", 0.002)
    assert ours.train.epochs == 50 and ours.tokens.augment_keys == 1  # the dataclass defaults
    paper = make_run_config("bach", "paper-gru", split="window", vocabulary="timed")
    assert (paper.train.optimizer, paper.train.learning_rate) == ("adamax", 0.001)
    assert (paper.split.kind, paper.tokens.vocabulary) == ("window", "timed")
    assert paper.model == MODEL_PRESETS["paper-gru"]


def test_make_run_config_from_a_profile_is_the_profiles_run():
    from pianogen.presets import PROFILES, make_run_config

    quick = PROFILES["quick"]
    config = make_run_config("bach", "paper-gru", profile="quick")
    assert config.train == quick.train_for("paper", "paper-gru")  # 4 x 1,500, Adamax
    assert (config.train.epochs, config.train.max_train_windows) == (4, 1500)
    assert config.tokens.augment_keys == 12
    window = make_run_config("bach", "paper-gru", split="window", profile=quick)
    assert window.tokens.augment_keys == 1  # augmentation is for the piece split only
    timed = make_run_config("bach", "pianogen-gru", vocabulary="timed", profile="quick")
    assert timed.run_name == "pianogen-gru-timed"


def test_make_run_config_settings_change_single_fields():
    from pianogen.presets import make_run_config

    config = make_run_config(
        "bach", "quick-gru", epochs=3, seed=7, unroll=True, min_count=2, optimizer=None
    )
    assert config.train.epochs == 3 and config.train.optimizer == "adam"  # None: unchanged
    assert config.train.seed == config.split.seed == 7  # one seed for split and training
    assert config.model.unroll is True and config.tokens.min_count == 2
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['epoch'\]; known: .*'epochs'"):
        make_run_config("bach", "quick-gru", epoch=3)
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        make_run_config("bach", "quick-gru", profile="fast")
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        make_run_config("bach", "quick-gru", epochs=0)


def test_notebooks_take_a_whole_config_or_readable_values():
    from pianogen.config import GenerateConfig
    from pianogen.presets import make_run_config, notebook_generate_config, notebook_run_config

    given = make_run_config("mozart", "pianogen-lstm", profile="quick")
    readable = {"artist": "bach", "preset": "quick-gru", "epochs": 3}
    assert notebook_run_config(given.to_dict(), **readable) == given
    assert notebook_run_config(None, **readable) == make_run_config("bach", "quick-gru", epochs=3)
    sampling = GenerateConfig(count=3, tokens=160, seed=5)
    assert notebook_generate_config(sampling.to_dict(), count=1) == sampling
    assert notebook_generate_config(None, count=1, tokens=9) == GenerateConfig(count=1, tokens=9)
