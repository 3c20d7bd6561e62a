"""Metrics on hand-checkable pieces, distribution distances, the memorization audit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tiny_models import make_run

from pianogen import tokens as tok
from pianogen.config import GenerateConfig
from pianogen.evaluate import (
    FEATURES,
    TrainingIndex,
    compare_sets,
    evaluate_run,
    gaussian_kde,
    heldout_excerpts,
    kl_divergence,
    memorization,
    metric_frame,
    metric_summary,
    ngram_repetition,
    overlap_area,
    piece_metrics,
    reference_check,
    reference_row,
    reference_tokens,
    temperature_sweep,
    transpose_token,
)
from pianogen.memorization import _SuffixAutomaton
from pianogen.notes import Note
from pianogen.runs import open_run


# --------------------------------------------------------------------------- piece metrics
def test_metrics_of_a_triad_a_silent_beat_and_a_note():
    # C4 E4 G4 for one beat at tick 0, a silent beat, D4 for one beat (12 ticks = 1 beat).
    notes = [Note(0, 12, 60), Note(0, 12, 64), Note(0, 12, 67), Note(24, 12, 62)]
    m = piece_metrics(notes, tokens=["0.4.7", "R", "D4"])
    assert m["n_notes"] == 4 and m["n_tokens"] == 3
    assert m["pitch_range"] == 7
    assert m["n_pitches"] == 4 and m["n_pitch_classes"] == 4
    assert m["pitch_class_entropy"] == pytest.approx(2.0)  # 4 classes, once each
    assert m["scale_consistency"] == 1.0  # all in C major
    assert m["polyphony"] == pytest.approx((3 * 12 + 1 * 12) / 24)  # silent ticks excluded
    assert m["note_density"] == pytest.approx(4 / 3)  # 4 notes over 3 beats
    assert m["mean_ioi"] == pytest.approx(2.0)  # onsets at beats 0 and 2
    assert m["empty_beat_rate"] == pytest.approx(1 / 3)
    assert m["repetition_4"] is None  # fewer than 4 tokens


def test_scale_consistency_and_entropy_extremes():
    chromatic3 = [Note(i * 12, 12, 60 + i) for i in range(3)]  # C C# D: no scale holds all
    assert piece_metrics(chromatic3)["scale_consistency"] == pytest.approx(2 / 3)
    semis = [Note(i * 12, 12, 60 + i) for i in range(12)]
    m = piece_metrics(semis)
    assert m["pitch_class_entropy"] == pytest.approx(math.log2(12))
    assert m["scale_consistency"] == pytest.approx(7 / 12)
    assert m["polyphony"] == 1.0 and m["empty_beat_rate"] == 0.0
    one = piece_metrics([Note(0, 6, 60), Note(6, 6, 60)])
    assert one["pitch_class_entropy"] == 0.0 and one["pitch_range"] == 0
    assert one["mean_ioi"] == pytest.approx(0.5)


def test_metrics_encode_tokens_when_not_given_and_handle_empty():
    notes = [Note(i * 6, 6, p) for i, p in enumerate([60, 62, 60, 62, 60, 62])]
    m = piece_metrics(notes)  # merged tokens C4 D4 C4 D4 C4 D4
    assert m["repetition_4"] == pytest.approx(1 - 2 / 3)
    empty = piece_metrics([])
    assert empty["n_notes"] == 0 and all(empty[f] is None for f in FEATURES)


def test_ngram_repetition():
    assert ngram_repetition(list("ABABAB"), 4) == pytest.approx(1 / 3)  # ABAB BABA ABAB
    assert ngram_repetition(list("ABCDEFG"), 4) == 0.0
    assert ngram_repetition(list("AAAAAAAA"), 4) == pytest.approx(1 - 1 / 5)
    assert ngram_repetition(list("ABC"), 4) is None


# ------------------------------------------------------------------------ distributions
def test_density_overlap_and_kl_against_closed_forms():
    grid = np.linspace(-10, 11, 4001)
    p = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    q = np.exp(-0.5 * (grid - 1) ** 2) / math.sqrt(2 * math.pi)
    assert kl_divergence(p, q, grid) == pytest.approx(0.5, abs=1e-4)  # (mu1 - mu2)^2 / 2
    assert kl_divergence(p, p, grid) == pytest.approx(0.0, abs=1e-9)
    assert overlap_area(p, p, grid) == pytest.approx(1.0, abs=1e-6)
    # Two unit normals one apart overlap by 2 * Phi(-1/2) = 0.6171.
    assert overlap_area(p, q, grid) == pytest.approx(0.6171, abs=1e-3)
    kde = gaussian_kde([0.0, 1.0, 5.0], grid, 0.7)
    assert np.trapezoid(kde, grid) == pytest.approx(1.0)
    assert grid[kde.argmax()] == pytest.approx(0.5, abs=0.05)


def test_compare_sets_distances_by_hand():
    gen = [{"pitch_range": v} for v in (0, 1, 2)]
    real = [{"pitch_range": v} for v in (10, 12)]
    out = compare_sets(gen, real, features=["pitch_range"])["pitch_range"]
    assert out["intra_generated"] == pytest.approx(4 / 3)  # |0-1|, |0-2|, |1-2|
    assert out["intra_real"] == pytest.approx(2.0)
    assert out["inter"] == pytest.approx(10.0)  # mean of 10, 12, 9, 11, 8, 10
    assert out["oa_values"] < 0.01  # the values do not overlap
    assert out["oa_real"] < 0.05 and out["kl_real"] > 1.0


def test_compare_sets_identical_sets_agree_and_small_sets_say_none():
    rng = np.random.default_rng(0)
    values = [{"polyphony": float(v)} for v in rng.normal(2, 0.5, 40)]
    out = compare_sets(values, values, features=["polyphony"])["polyphony"]
    assert out["oa_values"] == pytest.approx(1.0)
    assert out["oa_real"] > 0.85 and out["kl_real"] < 0.1  # inter ~ intra for equal sets
    tiny = compare_sets([{"polyphony": 1.0}], values, features=["polyphony"])["polyphony"]
    assert tiny["oa_real"] is None and tiny["n_generated"] == 1
    same = [{"polyphony": 1.0}] * 3  # zero spread: the fallback bandwidth keeps it finite
    flat = compare_sets(same, same, features=["polyphony"])["polyphony"]
    assert flat["oa_values"] == pytest.approx(1.0) and flat["kl_real"] == pytest.approx(0.0)


# ------------------------------------------------------------------------ transposition
@pytest.mark.parametrize(
    ("token", "k", "vocabulary", "expected"),
    [
        ("B3", 1, "paper", "C4"),
        ("C4", -1, "paper", "B3"),
        ("E-4", 2, "paper", "F4"),
        ("0.4.7", 2, "paper", "2.6.9"),
        ("7.11.2", 5, "paper", "0.4.7"),
        ("0", 3, "paper", "3"),
        ("R", 4, "paper", "R"),
        ("G9", 1, "paper", None),  # MIDI 127 + 1
        ("C4:d6", 2, "timed", "D4:d6"),
        ("B-3:d12", 1, "timed", "B3:d12"),
        ("a12", 3, "timed", "a12"),
        ("C4", 0, "paper", "C4"),
    ],
)
def test_transpose_token(token, k, vocabulary, expected):
    assert transpose_token(token, k, vocabulary) == expected


def test_transposition_round_trips_and_matches_transposed_notes():
    rng = np.random.default_rng(1)
    for _ in range(200):
        pitches = sorted(set(rng.integers(40, 80, size=int(rng.integers(1, 5))).tolist()))
        notes = [Note(0, 6, p) for p in pitches]
        k = int(rng.integers(-11, 12))
        shifted = [Note(0, 6, p + k) for p in pitches]
        for vocabulary in ("paper", "timed"):
            seq = tok.encode(notes, vocabulary)
            moved = [transpose_token(t, k, vocabulary) for t in seq]
            assert [transpose_token(t, -k, vocabulary) for t in moved] == seq
            assert moved == tok.encode(shifted, vocabulary)


# ------------------------------------------------------------------------ memorization
def _longest_common_substring(a: list, pieces: list[list]) -> int:
    best = 0
    for p in pieces:
        for i in range(len(a)):
            for j in range(len(p)):
                n = 0
                while i + n < len(a) and j + n < len(p) and a[i + n] == p[j + n]:
                    n += 1
                best = max(best, n)
    return best


def test_suffix_automaton_matches_brute_force():
    rng = np.random.default_rng(2)
    for _ in range(60):
        pieces = [list(rng.integers(0, 3, size=int(rng.integers(1, 25)))) for _ in range(3)]
        query = list(rng.integers(0, 3, size=int(rng.integers(1, 20))))
        index = TrainingIndex([[str(x) for x in p] for p in pieces], vocabulary="paper")
        lengths, _ = index.matches([str(x) for x in query])
        assert lengths.max() == _longest_common_substring(query, pieces)


def test_matches_never_cross_piece_boundaries():
    index = TrainingIndex([["C4", "D4"], ["E4", "F4"]])
    assert index.audit(["D4", "E4"])["longest_exact"] == 1
    text = [1, 2, 3, 1, 2, 4]
    lengths, ends = _SuffixAutomaton(text).matching([1, 2, 4])
    assert lengths.tolist() == [1, 2, 3] and ends[-1] == 5


def _training(seed: int = 3) -> tuple[list[list[str]], list[str]]:
    rng = np.random.default_rng(seed)
    vocab = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "0.4.7", "2.7", "R", "5.9.0"]
    pieces = [[vocab[i] for i in rng.integers(0, len(vocab), 400)] for _ in range(6)]
    return pieces, [f"bach/piece{i}.mid" for i in range(6)]


def test_a_planted_copy_is_found_and_located():
    pieces, names = _training()
    novel = ["C#1"] * 40  # a token the training data never has: no accidental matches
    excerpt = pieces[2][17:47]
    generated = novel[:20] + excerpt + novel[20:]
    index = TrainingIndex(pieces, names, "paper")
    audit = index.audit(generated)
    assert audit["longest_exact"] == 30 and audit["longest_transposed"] == 30
    nearest = audit["nearest"]
    assert (nearest["piece"], nearest["start"], nearest["query_start"]) == (names[2], 17, 20)
    assert nearest["training_tokens"] == excerpt and nearest["tokens"] == excerpt
    assert nearest["transposition"] == 0
    # 4-grams: 67 in all, the 27 inside the copy are found; 16-grams: 15 of 55.
    assert audit["ngram_share"]["4"] == pytest.approx(27 / 67)
    assert audit["ngram_share"]["16"] == pytest.approx(15 / 55)


def test_a_transposed_copy_is_found_with_its_interval():
    pieces, names = _training()
    excerpt = pieces[4][100:130]
    moved = [transpose_token(t, 5, "paper") for t in excerpt]
    generated = ["C#1"] * 10 + moved + ["C#1"] * 10
    audit = TrainingIndex(pieces, names, "paper").audit(generated)
    assert audit["longest_exact"] < 30
    assert audit["longest_transposed"] >= 30
    assert audit["transposition"] == -5  # moving the generated span down 5 finds it
    assert audit["nearest"]["piece"] == names[4]
    assert audit["nearest"]["training_tokens"][:30] == excerpt[: audit["longest_transposed"]]
    assert audit["ngram_share_transposed"]["8"] > audit["ngram_share"]["8"]


def test_memorization_summary_has_the_heldout_baseline():
    pieces, names = _training()
    index = TrainingIndex(pieces, names)
    generated = [pieces[0][:50], ["C#1"] * 50]
    heldout = [pieces[1][10:60]]
    out = memorization(generated, index, heldout)
    s = out["summary"]
    assert s["longest_copy_max"] == 50 and s["longest_copy_median"] == pytest.approx(25)
    assert s["heldout_longest_copy_max"] == 50
    assert s["ngram8_copied"] == pytest.approx(0.5)
    assert len(out["generated"]) == 2 and len(out["heldout"]) == 1


def test_heldout_excerpts_cut_equal_lengths():
    seqs = [list("ABCDEFGHIJ"), list("XY"), list("KLMNOP")]
    found = heldout_excerpts(seqs, ["a", "b", "c"], 4, max_excerpts=10)
    assert [(n, s, "".join(t)) for n, s, t in found] == [
        ("a", 0, "ABCD"),
        ("a", 4, "EFGH"),
        ("b", 0, "XY"),
        ("c", 0, "KLMN"),
    ]
    assert len(heldout_excerpts(seqs, ["a", "b", "c"], 4, max_excerpts=2)) == 2


# ------------------------------------------------------------------------ run level
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs"))


def test_temperature_sweep_rows(run):
    from pianogen.runs import load_run

    run_dir, prepared = run
    loaded = load_run(run_dir)
    index = TrainingIndex([loaded.vocab.decode(s) for s in prepared.splits["train"]])
    primers = np.stack([prepared.splits["test"][0][:8]] * 2)
    frame = temperature_sweep(
        loaded, primers, index, GenerateConfig(tokens=30), temperatures=(0.3, 2.0)
    )
    assert list(frame["temperature"]) == [0.3, 0.3, 2.0, 2.0]
    for column in ("repetition_4", "distinct_tokens", "distinct_4grams", "longest_copy"):
        assert column in frame
    assert (frame["longest_copy_transposed"] >= frame["longest_copy"]).all()


def test_evaluate_run_writes_evaluation_json(run):
    run_dir, prepared = run
    config = GenerateConfig(count=2, tokens=20, seed=1)
    result = evaluate_run(
        open_run(run_dir, prepared=prepared), gen_config=config, sweep_temperatures=(0.5, 1.5)
    )
    on_disk = json.loads((run_dir / "evaluation.json").read_text())
    assert on_disk == result
    assert result["model"] == "tiny-gru-embedding" and result["vocabulary"] == "paper"
    assert len(result["metrics"]["generated"]) == 2
    assert len(result["metrics"]["heldout"]) == len(result["heldout_excerpts"]) > 0
    assert all(e["length"] <= 20 for e in result["heldout_excerpts"])
    assert set(result["distances"]) == set(FEATURES)
    summary = result["memorization"]["summary"]
    assert all(isinstance(v, int | float) for v in summary.values())
    assert "heldout_longest_copy_median" in summary
    assert len(result["sweep"]) == 4
    # The samples are the ones generate_run writes for the same config.
    from pianogen.generate import generate_run

    paths = generate_run(open_run(run_dir, prepared=prepared), config, run_dir / "check")
    first = json.loads(paths[2].read_text())
    assert first["continuation"]["tokens"] == result["samples"][0]["tokens"]
    frame = metric_frame(result)
    assert set(frame["set"]) == {"generated", "heldout", "uniform", "unigram"}
    for kind in ("uniform", "unigram"):  # one reference sequence per sample, as long
        assert len(result["references"][kind]["metrics"]) == 2
        assert set(result["references"][kind]["distances"]) == set(FEATURES)
    assert set(reference_check(result)["closer"]) == {"uniform", "unigram"}


def test_timed_vocabulary_end_to_end(tmp_path):
    """A timed run: MIDI with real durations, metrics and a transposition-aware audit."""
    from pianogen.generate import generate_run, load_sample, sample_notes

    run_dir, prepared = make_run(tmp_path, vocabulary="timed")
    config = GenerateConfig(count=2, tokens=24, seed=3)
    opened = open_run(run_dir, prepared=prepared)
    paths = generate_run(opened, config, tmp_path / "out")
    record = load_sample(paths[2])
    assert record["vocabulary"] == "timed"
    full, primer, continuation, end = sample_notes(record)
    assert {n.duration for n in full} <= {3, 6, 12}  # the tokens' own durations
    assert all(n.onset >= end for n in full[len(primer) :])
    assert len(continuation) == len(full) - len(primer)
    result = evaluate_run(opened, gen_config=config, sweep_temperatures=(1.0,))
    assert result["vocabulary"] == "timed"
    audits = result["memorization"]["generated"]
    assert all(a["longest_transposed"] >= a["longest_exact"] >= 1 for a in audits)


# ------------------------------------------------------------------------ notebook 03
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_evaluate.ipynb"


def test_notebook_is_committed_clean_with_its_parameters():
    import ast

    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = {t.id for node in ast.parse(params[0].source).body for t in node.targets}
    wanted = {"artist", "runs_root", "data_dir", "cache_dir", "presets", "n_samples", "tokens"}
    wanted |= {"temperature", "top_k", "top_p", "seed", "media_dir", "generate_config"}
    assert wanted <= names


@pytest.mark.slow
def test_notebook_runs_on_a_tiny_artist(tmp_path):
    """Papermill runs the notebook like `pianogen batch` does (cwd = its output folder)."""
    import nbformat
    import papermill
    from midi_factory import write_midi_file

    from pianogen.config import ModelConfig, RunConfig, SplitConfig, TokenConfig
    from pianogen.models import build_model
    from pianogen.windows import prepare

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for i in range(5):  # melodies with a few rests and chords
        notes, t = [], 0.0
        for _ in range(40):
            notes.append((t, 0.5, int(rng.integers(55, 75))))
            if rng.random() < 0.2:
                notes.append((t, 0.5, notes[-1][2] + 4))
            t += 0.5 if rng.random() < 0.85 else 1.5
        write_midi_file(data / "tiny" / f"piece{i}.mid", notes)
    config = RunConfig(
        artist="tiny",
        model=ModelConfig(
            name="quick-gru",
            cell="gru",
            input="embedding",
            units=(8,),
            dense_units=0,
            embedding_dim=4,
        ),
        tokens=TokenConfig(seq_len=8, min_count=1),
        split=SplitConfig(val_fraction=0.2, test_fraction=0.2),
    )
    prepared = prepare(config, data, tmp_path / "cache", progress=False)
    run_dir = tmp_path / "runs" / "tiny" / "quick-gru"
    config.save(run_dir / "config.json")
    prepared.vocab.save(run_dir / "vocab.json")
    build_model(config.model, len(prepared.vocab), 8).save(run_dir / "model.keras")
    (run_dir / "history.csv").write_text(
        "epoch,loss,accuracy,val_loss,val_accuracy\n1,2,0.1,2.1,0.1\n"
    )

    out = tmp_path / "book" / "tiny"
    out.mkdir(parents=True)
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out / "03_evaluate.ipynb"),
        parameters={
            "artist": "tiny",
            "presets": ["quick-gru", "not-trained"],
            "runs_root": str(tmp_path / "runs"),
            "data_dir": str(data),
            "cache_dir": str(tmp_path / "cache"),
            "media_dir": str(out / "media"),
            "n_samples": 1,
            "listen": 1,
            "n_eval": 2,
            "tokens": 12,
            "sweep_temperatures": [1.0],
        },
        cwd=str(out),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = nbformat.read(out / "03_evaluate.ipynb", as_version=4)
    html_out = "".join(
        o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", [])
    )
    assert 'src="media/quick-gru/sample_00_continuation.ogg"' in html_out  # relative to the page
    assert (out / "media" / "quick-gru" / "sample_00_continuation.ogg").is_file()
    assert "No trained model for not-trained" in html_out  # a visible note, not a crash
    assert (run_dir / "evaluation.json").is_file()
    assert (run_dir / "samples" / "sample_00.mid").is_file()


def test_metric_summary_is_mean_and_population_std_per_feature():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "set": ["generated"] * 3,
            "pitch_range": [10, 12, 14],  # mean 12, std sqrt(8/3) = 1.633
            "polyphony": [1.0, None, 3.0],  # undefined values are skipped: mean 2, std 1
            "note_density": [None, None, None],  # defined for no piece
        }
    )
    row = metric_summary(frame, "gru")
    assert row["set"] == "gru" and row["pieces"] == 3
    assert row["pitch_range"] == "12.00 ± 1.63"
    assert row["polyphony"] == "2.00 ± 1.00"
    assert row["note_density"] == "–"
    assert row["mean_ioi"] == "–"  # a feature missing from the frame
    assert list(row)[2:] == list(FEATURES)
    assert metric_summary(frame.iloc[:0], "empty")["pieces"] == 0


def test_reference_tokens_follow_their_distributions():
    tokens, counts = ["C4", "E4", "0.4.7"], [8, 2, 0]
    uniform = reference_tokens(tokens, counts, "uniform", count=40, length=50, seed=1)
    unigram = reference_tokens(tokens, counts, "unigram", count=40, length=50, seed=1)
    assert [len(s) for s in uniform] == [50] * 40 and len(unigram) == 40
    flat_u = [t for s in uniform for t in s]
    flat_g = [t for s in unigram for t in s]
    assert abs(flat_u.count("0.4.7") / 2000 - 1 / 3) < 0.05
    assert "0.4.7" not in flat_g  # count 0: never drawn
    assert abs(flat_g.count("C4") / 2000 - 0.8) < 0.05
    assert reference_tokens(tokens, counts, "unigram", 40, 50, seed=1) == unigram  # seeded
    with pytest.raises(ValueError, match="reference kind"):
        reference_tokens(tokens, counts, "markov", 1, 5)


def _evaluation(gen_pce, ref_pce, gen_oa, ref_oa):
    def metrics(values, scale):
        return [{"pitch_class_entropy": v, "scale_consistency": scale} for v in values]

    def distances(oa):
        return {"pitch_class_entropy": {"oa_real": oa}, "scale_consistency": {"oa_real": oa}}

    return {
        "metrics": {"heldout": metrics([2.8, 3.0], 0.95), "generated": metrics(gen_pce, 0.93)},
        "distances": distances(gen_oa),
        "references": {
            "uniform": {"metrics": metrics(ref_pce, 0.75), "distances": distances(ref_oa)}
        },
    }


def test_reference_check_by_hand():
    # Held-out entropy mean 2.9. Model 3.0 (0.1 away) vs uniform 3.5 (0.6 away); OA 0.8 > 0.3.
    check = reference_check(_evaluation([2.9, 3.1], [3.5, 3.5], 0.8, 0.3))
    assert check["closer"] == {"uniform": True}
    rows = {r["measure"]: r for r in check["rows"]}
    assert rows["pitch_class_entropy: distance of the mean"]["model"] == pytest.approx(0.1)
    assert rows["pitch_class_entropy: distance of the mean"]["uniform"] == pytest.approx(0.6)
    assert rows["MGEval overlap (mean over features)"]["model"] == pytest.approx(0.8)
    # Nearer in entropy but a smaller overlap: not closer on every measure.
    assert reference_check(_evaluation([2.9, 3.1], [3.5, 3.5], 0.2, 0.3))["closer"] == {
        "uniform": False
    }
    # Farther in entropy than the reference: not closer.
    assert reference_check(_evaluation([3.6, 3.6], [3.5, 3.5], 0.8, 0.3))["closer"] == {
        "uniform": False
    }
    assert reference_check({"metrics": {}, "distances": {}})["closer"] is None


def test_reference_row_flattens_the_check():
    row = reference_row(_evaluation([2.9, 3.1], [3.5, 3.5], 0.8, 0.3))
    assert row["nearer than uniform"] == "yes"
    assert row["pitch_class_entropy: distance of the mean [model]"] == pytest.approx(0.1)
    assert row["pitch_class_entropy: distance of the mean [uniform]"] == pytest.approx(0.6)
    assert row["MGEval overlap (mean over features) [uniform]"] == pytest.approx(0.3)
    assert not any("unigram" in key for key in row)  # only the references present
    assert reference_row({"metrics": {}, "distances": {}}) is None


def test_memorization_table_reads_the_audit_summaries():
    from pianogen.evaluate import memorization_table

    scale = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"]  # the one training piece
    index = TrainingIndex([scale])

    def evaluation(gen, held):
        return {"memorization": memorization(gen, index, held)}

    # continuations copying 3 tokens and the whole piece; the held-out excerpt copies 2
    gru = evaluation([["C4", "D4", "E4", "R", "R", "R"], scale], [["R", "R", "C4", "D4"]])
    lstm = evaluation([["R", "R", "R"]], [["R", "R", "C4", "D4"]])
    table = memorization_table({"gru": gru, "lstm": lstm})
    assert list(table.index) == ["gru", "held-out excerpts", "lstm"]  # held-out shown once
    row = table.loc["gru"]
    assert row["pieces"] == 2
    assert row["longest verbatim (median)"] == 5.5 and row["longest verbatim (max)"] == 8
    assert row["8-grams copied (mean)"] == 1.0  # only the second has an 8-gram: copied
    assert table.loc["held-out excerpts", "longest verbatim (max)"] == 2
    assert table.loc["lstm", "longest verbatim (max)"] == 0
    assert memorization_table({}).empty
