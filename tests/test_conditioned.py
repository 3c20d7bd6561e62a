"""One model for every artist (pianogen.conditioned): pooled data, views, choosing an artist.

Tiny token data built in code: three "artists" walk over different (overlapping) sets of
note tokens, so the pooled vocabulary is their union and each view predicts its own tokens.
"""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from synthetic_runs import NOTES, token_walk

from pianogen import conditioned
from pianogen.baselines import baseline_metrics
from pianogen.cli import main
from pianogen.compare import COMPARISONS, conditioned_table
from pianogen.config import POOLED
from pianogen.io import file_lock
from pianogen.models import build_model
from pianogen.presets import make_run_config, model_preset
from pianogen.runs import RunError, open_run, run_dir_for, run_folders
from pianogen.vocab import Vocab
from pianogen.windows import NotEnoughData, Windows, prepare_tokens

ARTISTS = ("a", "b", "c")


def pooled_config(**settings):
    settings = {"epochs": 2, "seq_len": 8, "batch_size": 32, "patience": 0, "min_count": 1}
    return make_run_config(POOLED, "quick-conditioned", artists=ARTISTS, **settings)


def artist_data(config, n_pieces: int = 6):
    """Artist ``i`` walks over NOTES[2i : 2i + 6]: a and b share C-major notes, c has the
    chords."""
    return {
        artist: prepare_tokens(
            token_walk(NOTES[2 * i : 2 * i + 6], [1, 2], n_pieces, 60, seed=i),
            [f"piece{j}" for j in range(n_pieces)],
            config.for_artist(artist),
        )
        for i, artist in enumerate(ARTISTS)
    }


def test_pooled_vocabulary_is_the_union_with_summed_counts():
    one = Vocab(["C4", "D4"], {"C4": 5, "D4": 3})
    two = Vocab(["D4", "E4"], {"D4": 4, "E4": 9})
    pooled = conditioned.pool_vocab([one, two])
    assert pooled.tokens == ["E4", "D4", "C4"]  # 9, 3 + 4, 5: most frequent first
    assert pooled.counts == {"E4": 9, "D4": 7, "C4": 5}
    assert conditioned.token_index(one, pooled).tolist() == [2, 1]
    assert conditioned.token_index(two, pooled).tolist() == [1, 0]


def test_pooled_data_is_each_artists_own_data_re_encoded():
    config = pooled_config()
    parts = artist_data(config)
    pooled = conditioned.prepare_pooled(config, Path(), by_artist=parts)
    assert set(pooled.vocab.tokens) == set().union(*(p.vocab.tokens for p in parts.values()))
    for name in ("train", "validation", "test"):
        assert pooled.labels[name] == [
            i for i, a in enumerate(ARTISTS) for _ in parts[a].splits[name]
        ]
        # the same pieces, the same tokens: only the ids differ
        decoded = [pooled.vocab.decode(s) for s in pooled.splits[name]]
        own = [parts[a].vocab.decode(s) for a in ARTISTS for s in parts[a].splits[name]]
        assert decoded == own
        windows = pooled.windows(name)
        assert len(windows) == sum(len(p.windows(name)) for p in parts.values())
        counts = np.bincount(windows.artists(), minlength=3).tolist()
        assert counts == [len(parts[a].windows(name)) for a in ARTISTS]
    assert pooled.names["test"][0].startswith("a/piece")


def test_an_artist_too_small_for_a_piece_split_is_named(tmp_path):
    from midi_factory import write_midi_file

    config = pooled_config()
    parts = artist_data(config)
    del parts["c"]
    for i in range(2):  # c: 2 pieces, one short of a piece split
        write_midi_file(
            tmp_path / "c" / f"p{i}.mid", [(j * 0.5, 0.5, 60 + j % 7) for j in range(80)]
        )
    with pytest.raises(NotEnoughData, match=r"cannot use 'c' .*at least 3 pieces.*--artist a,b"):
        conditioned.prepare_pooled(config, tmp_path, tmp_path / "cache", False, by_artist=parts)


def test_windows_carry_their_artist_into_batches():
    windows = Windows.from_seqs([np.arange(5), np.arange(10, 14)], seq_len=2, labels=[7, 3])
    assert windows.artists().tolist() == [7, 7, 7, 3, 3]
    assert windows.subset([1, 4]).artists().tolist() == [7, 3]
    (x, y), *_ = list(windows.dataset(batch_size=8))
    assert x["tokens"].numpy().tolist() == [[0, 1], [1, 2], [2, 3], [10, 11], [11, 12]]
    assert x["artist"].numpy().tolist() == [[7], [7], [7], [3], [3]]
    assert y.numpy().tolist() == [2, 3, 4, 12, 13]
    with pytest.raises(ValueError, match="labels"):
        Windows.from_seqs([np.arange(5)], seq_len=2, labels=[1, 2])


def test_a_view_is_the_conditioned_model_restricted_to_the_artists_tokens():
    config = model_preset("quick-conditioned")
    model = build_model(config, 9, 6, artists=3)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # random weights, the artist vectors included
        if layer.weights and not layer.name.startswith("bn_"):  # BatchNorm left as built
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    tokens = np.array([4, 0, 7, 2])  # the artist's vocabulary in the pooled ids
    plain = conditioned.specialise(model, config, 2, tokens)
    assert [i.name for i in plain.inputs] == ["tokens"] and plain.output_shape == (None, 4)
    x = rng.integers(0, 4, (5, 6)).astype("int32")
    full = model.predict({"tokens": tokens[x], "artist": np.full((5, 1), 2)}, verbose=0)
    restricted = full[:, tokens] / full[:, tokens].sum(axis=1, keepdims=True)
    assert np.isfinite(restricted).all() and restricted.std() > 0.01
    np.testing.assert_allclose(plain.predict(x, verbose=0), restricted, atol=1e-5)
    other = conditioned.specialise(model, config, 0, tokens)  # another artist: another distribution
    assert np.abs(other.predict(x, verbose=0) - restricted).max() > 1e-3
    with pytest.raises(ValueError, match="no artist input"):
        build_model(model_preset("quick-gru"), 9, 6, artists=3)
    with pytest.raises(ValueError, match="no artist input"):
        conditioned.specialise(model, model_preset("quick-gru"), 0, tokens)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from pianogen.train import train_prepared

    root = tmp_path_factory.mktemp("runs")
    config = pooled_config()
    parts = artist_data(config)
    pooled = conditioned.prepare_pooled(config, Path(), by_artist=parts)
    run_dir = train_prepared(config, pooled, run_dir_for(root, config), progress=False)
    return root, config, parts, pooled, run_dir


def test_training_writes_one_ordinary_run_folder_per_artist(trained):
    root, config, parts, pooled, run_dir = trained
    assert run_dir == root / "_conditioned" / "quick-conditioned"
    pooled_metrics = json.loads((run_dir / "metrics.json").read_text())
    assert pooled_metrics["artist"] == POOLED
    assert pooled_metrics["windows"]["test"] == len(pooled.windows("test"))
    # the views are runs of their artists; the pooled folder is no artist's
    assert [(a, n) for a, n, _, _ in run_folders(root)] == [(a, config.run_name) for a in ARTISTS]
    for artist in ARTISTS:
        view = root / artist / config.run_name
        metrics = json.loads((view / "metrics.json").read_text())
        part = parts[artist]
        # the same test windows and the same baselines as the artist's own runs
        assert metrics["model"]["tokens"] == len(part.windows("test"))
        own = baseline_metrics(part.windows("train"), part.windows("test"), len(part.vocab))
        assert metrics["baselines"]["ngram"]["accuracy"] == own["ngram"]["accuracy"]
        assert metrics["artist"] == artist and metrics["vocab_size"] == len(part.vocab)
        assert metrics["conditioned"]["artists"] == list(ARTISTS)
        assert metrics["conditioned"]["run"] == "_conditioned/quick-conditioned"
        run = open_run(view, prepared=part)  # an ordinary run: its own vocabulary
        assert run.vocab.tokens == part.vocab.tokens
        assert run.model.output_shape == (None, len(part.vocab))
        assert run.config.artist == artist and run.config.artists == ARTISTS
        assert (view / "history.csv").read_text() == (run_dir / "history.csv").read_text()


def test_a_finished_run_writes_its_missing_views_without_training_again(trained):
    from pianogen.train import train_prepared

    root, config, _, pooled, run_dir = trained
    (root / "b" / config.run_name / "metrics.json").unlink()
    assert conditioned.views_missing(run_dir, config) == ["b"]
    train_prepared(config, pooled, run_dir, progress=False)
    assert conditioned.views_missing(run_dir, config) == []
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + config.train.epochs  # nothing trained again


def test_choosing_an_artist_of_a_conditioned_run(trained, tmp_path):
    root, config, *_, run_dir = trained
    view = root / "c" / config.run_name
    assert conditioned.view_for(run_dir, "c") == view
    assert conditioned.view_for(root / "a" / config.run_name, "c") == view  # from a view too
    with pytest.raises(conditioned.UnknownArtist, match="it knows: a, b, c"):
        conditioned.view_for(run_dir, "mozart")
    with pytest.raises(RunError, match="choose one with --artist"):
        conditioned.view_for(run_dir, None)


def test_generate_cli_rejects_an_unknown_artist_in_one_line(trained, capsys):
    *_, run_dir = trained
    assert main(["generate", str(run_dir), "--artist", "mozart"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert "Traceback" not in err and len(lines) == 1
    assert "unknown artist 'mozart'" in lines[0] and "a, b, c" in lines[0]


def test_an_evaluation_waits_while_the_conditioned_run_trains(tmp_path):
    lock = tmp_path / "_conditioned" / "conditioned-gru" / conditioned.LOCK_FILE
    waited = []
    with file_lock(lock, wait=True):  # the trainer holds it
        waiter = threading.Thread(
            target=lambda: waited.extend(
                conditioned.wait_for_views(tmp_path, ["pianogen-gru", "conditioned-gru"])
            )
        )
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive()  # still waiting: the run is training
    waiter.join(timeout=10)
    assert not waiter.is_alive() and waited == ["conditioned-gru"]
    # nothing training: no wait, nothing reported
    assert conditioned.wait_for_views(tmp_path, ["conditioned-gru", "pianogen-gru"]) == []


def test_the_comparison_table_pairs_each_artist_with_its_own_gru():
    import pandas as pd

    rows = []
    for artist, windows, own, pooled in (("big", 900, 0.20, 0.18), ("small", 100, 0.10, 0.14)):
        for preset, acc in (("pianogen-gru", own), ("conditioned-gru", pooled)):
            rows.append(
                {
                    "artist": artist,
                    "preset": preset,
                    "split": "piece",
                    "seed": 0,
                    "training windows": windows,
                    "test accuracy": acc,
                    "test loss": 4 - 10 * acc,
                    "ngram accuracy": 0.12,
                    "unigram loss": 4.5,
                    "style fidelity": 0.5,
                }
            )
    rows.append({**rows[0], "preset": "pianogen-lstm"})
    table = conditioned_table(pd.DataFrame(rows), COMPARISONS[2])
    assert list(table.index) == ["small", "big"]  # least data first
    assert table.loc["small", "conditioned GRU accuracy"] == 0.14
    assert table.loc["small", "per-artist GRU accuracy"] == 0.10
    assert table.loc["big", "conditioned GRU loss"] == pytest.approx(2.2)
    assert conditioned_table(pd.DataFrame(rows[:1]), COMPARISONS[2]).empty
