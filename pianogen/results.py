"""The study's findings across runs: tables the results, dataset and performance chapters show.

Each function reads run folders (``metrics.json``, ``evaluation.json``, ``history.csv``) or
benchmark results and returns a ``pandas`` frame or a dict of glued strings; the chapters
only plot and display them, so every figure in the book is computed here and tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pianogen.config import PAPER_RESULTS, parse_run_name, run_name, run_seed
from pianogen.evaluate import reference_check
from pianogen.io import read_json_or_none
from pianogen.memorization import ORIGINALITY_MEASURES, originality
from pianogen.presets import MODEL_PRESETS
from pianogen.runs import CLASSIFIER_DIR, CONDITIONED_DIR, run_folders

__all__ = [
    "OVERVIEW_COLUMNS",
    "PAPER_VOCAB_FOR_COUNTS",
    "artist_headlines",
    "artist_overview",
    "baseline_gains",
    "benchmark_frames",
    "benchmark_provenance",
    "benchmark_table",
    "best_networks",
    "classifier_confusion",
    "classifier_results",
    "classifier_table",
    "convergence_table",
    "headline_figures",
    "model_table",
    "originality_table",
    "paper_table",
    "preset_cell",
    "results_overview",
    "style_matrix",
    "summary_table",
    "time_to_quality",
]


def summary_table(runs_root: Path, *, replicates: bool = False) -> pd.DataFrame:
    """One row per (artist, preset, split): test loss/accuracy of the model and baselines.

    ``preset`` is the run name without its seed (``pianogen-gru-timed``); with
    ``replicates`` the seed replicates are rows too (``seed`` tells them apart,
    :func:`pianogen.runs.run_folders`), else every row is a seed-0 run.
    """
    rows = []
    for artist, name, split, folder in run_folders(runs_root, replicates=replicates):
        metrics = read_json_or_none(folder / "metrics.json") or {}
        model = metrics.get("model", {})
        preset = run_name(*parse_run_name(name))
        row: dict[str, Any] = {
            "artist": artist,
            "preset": preset,
            "seed": run_seed(name),
            "split": metrics.get("split", split),
            "vocabulary": metrics.get("vocabulary", parse_run_name(preset)[1]),
            "test loss": model.get("loss"),
            "test accuracy": model.get("accuracy"),
            "top-5 accuracy": model.get("top_5_accuracy"),
            "perplexity": model.get("perplexity"),
            "test tokens": model.get("tokens"),
            "training windows": (metrics.get("windows") or {}).get("train"),
            "epochs": metrics.get("epochs"),
            "validation loss": metrics.get("best_val_loss"),
        }
        for name, values in (metrics.get("baselines") or {}).items():
            row[f"{name} loss"] = values.get("loss")
            row[f"{name} accuracy"] = values.get("accuracy")
        evaluation = read_json_or_none(folder / "evaluation.json") or {}
        memo = (evaluation.get("memorization") or {}).get("summary") or {}
        for key, value in memo.items():
            if isinstance(value, int | float):
                row[f"memorization {key}"] = value
        judged = read_json_or_none(folder / "style.json") or {}
        if judged:
            row["style fidelity"] = judged.get("fidelity")
            row["chance"] = judged.get("chance")
            row["classifier on real"] = judged.get("real_accuracy")
            noise = [r.get("fidelity") for r in (judged.get("references") or {}).values()]
            noise = [v for v in noise if v is not None]
            row["noise fidelity"] = max(noise) if noise else None
        if evaluation.get("memorization", {}).get("heldout"):
            checked = originality(evaluation["memorization"])["measures"]
            for measure, found in checked.items():
                for flag, count in found["counts"].items():
                    row[f"{measure} {flag}"] = count
        closer = reference_check(evaluation)["closer"] if evaluation else None
        for kind, verdict in (closer or {}).items():
            row[f"nearer than {kind}"] = verdict
        rows.append(row)
    return pd.DataFrame(rows)


def paper_table() -> pd.DataFrame:
    """The paper's reported figures (quoted, not reproduced) for the comparison tables."""
    return pd.DataFrame(
        [
            {
                "model": cell.upper(),
                "paper test accuracy": v["accuracy"],
                "paper test loss": v["loss"],
            }
            for cell, v in PAPER_RESULTS.items()
        ]
    )


def preset_cell(preset: str) -> str:
    """``"gru"``/``"lstm"`` for a preset or run name (``pianogen-gru-timed``), else ``"?"``."""
    preset = parse_run_name(preset)[0]
    return MODEL_PRESETS[preset].cell if preset in MODEL_PRESETS else "?"


def artist_overview(
    data_dir: Path, artists: list[str], token_config=None, cache_dir: Path = Path(".cache")
) -> pd.DataFrame:
    """One row per artist: files used/skipped, tokens, unique tokens, vocabulary at 50."""
    from pianogen.explore import explore

    rows = []
    for artist in artists:
        result = explore(data_dir, artist, token_config, cache_dir=cache_dir, progress=False)
        rows.append(
            {
                "artist": artist,
                "files": result["files"],
                "skipped": len(result["skipped"]),
                "notes": result["notes"],
                "tokens": result["tokens"],
                "unique tokens": result["unique_tokens"],
                "vocabulary at 50": result["vocab_at_threshold"].get("50"),
                "windows": result["windows"],
            }
        )
    return pd.DataFrame(rows).set_index("artist") if rows else pd.DataFrame()


OVERVIEW_COLUMNS = {
    "test loss": "loss",
    "test accuracy": "accuracy",
    "top-5 accuracy": "top-5",
    "ngram accuracy": "3-gram accuracy",
    "unigram loss": "unigram loss",
}


def results_overview(table: pd.DataFrame) -> pd.DataFrame:
    """Mean test figures per (preset, split) over artists, with the paper's beside them.

    Only the columns a reader compares (the model's loss, accuracy and top-5 accuracy, the
    3-gram's accuracy and the unigram's loss); every baseline figure of every run is in
    its training page and in :func:`summary_table`.
    """
    if table.empty:
        return pd.DataFrame()
    keys = ["preset", "split"]
    present = [c for c in OVERVIEW_COLUMNS if c in table.columns]
    grouped = table.groupby(keys)[present].mean().rename(columns=OVERVIEW_COLUMNS)
    grouped.insert(0, "artists", table.groupby(keys)["artist"].nunique())
    cells = [preset_cell(p) for p, _ in grouped.index]
    grouped["paper accuracy"] = [PAPER_RESULTS.get(c, {}).get("accuracy") for c in cells]
    grouped["paper loss"] = [PAPER_RESULTS.get(c, {}).get("loss") for c in cells]
    return grouped.round(3)


def baseline_gains(table: pd.DataFrame) -> pd.DataFrame:
    """Per run: accuracy above the 3-gram's and loss below the unigram's (positive = better).

    Index ``(artist, run)`` where the run is the preset, with `` (window)`` for the window
    split; columns ``accuracy gain`` and ``loss gain``.
    """
    if table.empty:
        return pd.DataFrame(columns=["accuracy gain", "loss gain"])
    frame = table.copy()
    frame["run"] = frame["preset"] + frame["split"].map({"piece": "", "window": " (window)"})
    frame["accuracy gain"] = frame["test accuracy"] - frame["ngram accuracy"]
    frame["loss gain"] = frame["unigram loss"] - frame["test loss"]
    return frame.set_index(["artist", "run"])[["accuracy gain", "loss gain"]].astype(float)


def best_networks(table: pd.DataFrame) -> pd.DataFrame:
    """Per artist and vocabulary, the held-out-piece run with the lowest *validation* loss
    (chosen without looking at the test pieces), its test figures beside the 3-gram's
    accuracy and the unigram's loss on the same test windows, and whether its samples sit
    nearer the held-out music than the reference sets (``None``: no evaluation).
    """
    columns = ["best run", "accuracy", "3-gram accuracy", "loss", "unigram loss"]
    columns += ["beats 3-gram", "beats unigram", "nearer than uniform", "nearer than unigram"]
    columns += ["style fidelity", "chance", "noise fidelity"]
    piece = table[table["split"] == "piece"] if not table.empty else table
    if piece.empty or piece["test accuracy"].isna().all():
        return pd.DataFrame(columns=columns)
    best = piece.dropna(subset=["test accuracy"])
    chosen = best["validation loss"] if "validation loss" in best else -best["test accuracy"]
    best = best.loc[chosen.groupby([best["artist"], best["vocabulary"]]).idxmin()]
    out = pd.DataFrame(
        {
            "best run": best["preset"].to_numpy(),
            "accuracy": best["test accuracy"].to_numpy(),
            "3-gram accuracy": best["ngram accuracy"].to_numpy(),
            "loss": best["test loss"].to_numpy(),
            "unigram loss": best["unigram loss"].to_numpy(),
        },
        index=pd.MultiIndex.from_frame(best[["artist", "vocabulary"]]),
    )
    out["beats 3-gram"] = out["accuracy"] > out["3-gram accuracy"]
    out["beats unigram"] = out["loss"] < out["unigram loss"]
    judged = ("style fidelity", "chance", "noise fidelity")
    for column in ("nearer than uniform", "nearer than unigram", *judged):
        out[column] = best[column].to_numpy() if column in best else None
    return out[columns]


def style_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Style fidelity of every judged held-out-piece run: artists as rows, runs as columns,
    plus the classifier's accuracy on each artist's real held-out excerpts (per vocabulary),
    chance, and per vocabulary the larger share of noise (uniform or unigram tokens of the
    artist's vocabulary) it gives the artist."""
    if table.empty or "style fidelity" not in table:
        return pd.DataFrame()
    judged = table[(table["split"] == "piece") & table["style fidelity"].notna()]
    if judged.empty:
        return pd.DataFrame()
    out = judged.pivot_table(index="artist", columns="preset", values="style fidelity")
    real = judged.pivot_table(index="artist", columns="vocabulary", values="classifier on real")
    for vocabulary in real.columns:
        out[f"real excerpts ({vocabulary})"] = real[vocabulary]
    out["chance"] = judged.groupby("artist")["chance"].first()
    if "noise fidelity" in judged:
        noise = judged.pivot_table(
            index="artist", columns="vocabulary", values="noise fidelity", aggfunc="max"
        )
        for vocabulary in noise.columns:
            out[f"noise ({vocabulary})"] = noise[vocabulary]
    return out


def classifier_results(runs_root: Path) -> dict[str, dict[str, Any]]:
    """``metrics.json`` of every saved composer classifier, by its folder name
    (``paper-160``: vocabulary and excerpt length)."""
    base = Path(runs_root) / CLASSIFIER_DIR
    found = {}
    for path in sorted(base.glob("*/metrics.json")) if base.is_dir() else []:
        metrics = read_json_or_none(path)
        if metrics:
            found[path.parent.name] = metrics
    return found


def classifier_confusion(metrics: dict[str, Any]) -> pd.DataFrame:
    """A classifier's confusion matrix on real held-out excerpts as shares of each true
    artist's excerpts (rows: true artist; columns: attributed to)."""
    artists = metrics["artists"]
    counts = pd.DataFrame(metrics["confusion"], index=artists, columns=artists, dtype=float)
    return counts.div(counts.sum(axis=1).clip(lower=1), axis=0)


def classifier_table(classifiers: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per saved classifier (:func:`classifier_results`): accuracy per excerpt,
    balanced, per piece, test pieces and chance."""
    columns = ["excerpt accuracy", "balanced accuracy", "piece accuracy", "test pieces"]
    rows = {
        name: {
            "excerpt accuracy": m["test_accuracy"],
            "balanced accuracy": m["test_balanced_accuracy"],
            "piece accuracy": m["piece_accuracy"],
            "test pieces": m["test_pieces"],
            "chance": m["chance"],
        }
        for name, m in classifiers.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*columns, "chance"])


def originality_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per held-out-piece run and copy measure, how many samples fall below, within and
    above the composer's own band (:func:`pianogen.memorization.originality`)."""
    rows = []
    piece = table[table["split"] == "piece"] if not table.empty else table
    for _, run in piece.iterrows():
        for measure, label in ORIGINALITY_MEASURES.items():
            counts = {f: run.get(f"{measure} {f}") for f in ("below", "within", "above")}
            if all(v is None or pd.isna(v) for v in counts.values()):
                continue
            rows.append(
                {"artist": run["artist"], "run": run["preset"], "measure": label}
                | {k: int(v) for k, v in counts.items()}
            )
    return pd.DataFrame(rows, columns=["artist", "run", "measure", "below", "within", "above"])


def convergence_table(runs_root: Path) -> pd.DataFrame:
    """Every held-out-piece run's learning curve in long form, one row per epoch.

    Columns: artist, run, vocabulary, epoch, windows seen so far, minutes of training so far,
    validation loss and accuracy, and the run's unigram loss and 3-gram accuracy on the same
    validation windows (``validation_baselines`` in ``metrics.json``; ``NaN`` for runs made
    before it was recorded) and how many windows those were (a run with a smaller
    ``max_train_windows`` scores a seeded subset). A conditioned run's curve is its pooled
    training's, once, as artist ``"all artists"`` against the baselines on all artists'
    validation windows (its views' copies of it are left out). Seed replicates are left out
    as in every table of one run per preset.
    """
    columns = ["artist", "run", "vocabulary", "epoch", "windows seen", "minutes"]
    columns += ["validation loss", "validation accuracy", "unigram loss", "3-gram accuracy"]
    columns += ["validation windows"]
    frames = []
    pooled = sorted(Path(runs_root).glob(f"{CONDITIONED_DIR}/*/metrics.json"))
    pooled = [p for p in pooled if not run_seed(p.parent.name)]  # as run_folders: seed 0
    every = [
        *run_folders(runs_root),
        *(("all artists", p.parent.name, "piece", p.parent) for p in pooled),
    ]
    for artist, run, split, folder in every:
        history = folder / "history.csv"
        metrics = read_json_or_none(folder / "metrics.json") or {}
        if split != "piece" or not history.is_file() or "conditioned" in metrics:
            continue
        wide = pd.read_csv(history)
        seconds = metrics.get("epoch_seconds") or [float("nan")] * len(wide)
        levels = metrics.get("validation_baselines") or {}
        frames.append(
            pd.DataFrame(
                {
                    "artist": artist,
                    "run": run,
                    "vocabulary": metrics.get("vocabulary", parse_run_name(run)[1]),
                    "epoch": wide["epoch"],
                    "windows seen": wide["windows"].cumsum(),
                    "minutes": pd.Series(seconds[: len(wide)], dtype=float).cumsum() / 60,
                    "validation loss": wide["val_loss"],
                    "validation accuracy": wide["val_accuracy"],
                    "unigram loss": (levels.get("unigram") or {}).get("loss", float("nan")),
                    "3-gram accuracy": (levels.get("ngram") or {}).get("accuracy", float("nan")),
                    "validation windows": metrics.get("validation_windows_used"),
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    )


def time_to_quality(curves: pd.DataFrame) -> pd.DataFrame:
    """Per artist and run: windows and minutes of training until the validation loss first
    fell below the unigram's and the validation accuracy first rose above the 3-gram's, on
    the same validation windows (``NaN``: not within the run)."""
    columns = ["windows to unigram loss", "minutes to unigram loss"]
    columns += ["windows to 3-gram accuracy", "minutes to 3-gram accuracy"]
    rows = []
    for (artist, run), curve in curves.groupby(["artist", "run"], sort=True):
        row: dict[str, Any] = {"artist": artist, "run": run}
        passed = {
            "unigram loss": curve["validation loss"] < curve["unigram loss"],
            "3-gram accuracy": curve["validation accuracy"] > curve["3-gram accuracy"],
        }
        for level, mask in passed.items():
            first = curve[mask].head(1)
            row[f"windows to {level}"] = first["windows seen"].iloc[0] if len(first) else None
            row[f"minutes to {level}"] = first["minutes"].iloc[0] if len(first) else None
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).set_index(["artist", "run"])[columns].astype(float)


def _share(mask: pd.Series) -> str:
    return f"{int(mask.sum())} of {len(mask)}"


def headline_figures(table: pd.DataFrame) -> dict[str, str]:
    """The results chapter's prose figures, always every key ("n/a" where not measured)."""
    keys = ("runs", "beats_ngram", "beats_unigram", "best_paper", "timed", "window_gap")
    keys += ("best_beats_ngram", "best_timed_beats_ngram", "best_nearer", "best_fidelity")
    figures = dict.fromkeys(keys, "n/a")
    if table.empty:
        return figures
    best = best_networks(table)
    for key, vocabulary in (("best_beats_ngram", "paper"), ("best_timed_beats_ngram", "timed")):
        rows = best[best.index.get_level_values("vocabulary") == vocabulary]
        if len(rows):
            figures[key] = _share(rows["beats 3-gram"] & rows["beats unigram"])
    judged = best.dropna(subset=["nearer than uniform", "nearer than unigram"])
    if len(judged):
        nearer = judged[["nearer than uniform", "nearer than unigram"]].astype(bool).all(axis=1)
        figures["best_nearer"] = _share(nearer)
    fidelity = best.dropna(subset=["style fidelity"])
    if len(fidelity):
        bar = fidelity[["chance", "noise fidelity"]].astype(float).max(axis=1, skipna=True)
        figures["best_fidelity"] = _share(fidelity["style fidelity"] > bar)
    piece = table[table["split"] == "piece"]
    gains = baseline_gains(piece)
    figures["runs"] = str(len(table))
    if len(gains):
        figures["beats_ngram"] = _share(gains["accuracy gain"] > 0)
        figures["beats_unigram"] = _share(gains["loss gain"] > 0)
    paper_vocab = piece[piece["vocabulary"] == "paper"]
    if len(paper_vocab):
        means = paper_vocab.groupby("preset")["test accuracy"].mean()
        figures["best_paper"] = f"{means.max():.1%} ({means.idxmax()})"
    timed = piece[piece["vocabulary"] == "timed"]
    if len(timed):
        figures["timed"] = (
            f"{timed['test accuracy'].mean():.1%} against the 3-gram's "
            f"{timed['ngram accuracy'].mean():.1%}"
        )
    both = table.pivot_table(index=["artist", "preset"], columns="split", values="test accuracy")
    if {"piece", "window"} <= set(both.columns):
        gap = (both["window"] - both["piece"]).dropna()
        if len(gap):
            figures["window_gap"] = f"{gap.mean() * 100:+.1f} percentage points"
    return figures


def artist_headlines(runs_root: Path) -> dict[str, str]:
    """Per artist, one line for the end of a batch: the best held-out network's test
    accuracy beside the 3-gram's, per vocabulary (``paper 21.9% vs 3-gram 14.2%``)."""
    table = summary_table(runs_root)
    best = best_networks(table) if not table.empty else pd.DataFrame()
    lines: dict[str, list[str]] = {}
    for (artist, vocabulary), row in best.iterrows():
        text = f"{vocabulary} {row['accuracy']:.1%} vs 3-gram {row['3-gram accuracy']:.1%}"
        lines.setdefault(artist, []).append(text)
    return {artist: " · ".join(parts) for artist, parts in lines.items()}


PAPER_VOCAB_FOR_COUNTS = {"lstm": 65, "gru": 225}


def model_table(seq_len: int = 50, artists: int = 5) -> pd.DataFrame:
    """Every preset built at the paper's implied vocabulary size, with its parameter count;
    a conditioned preset with the vectors of ``artists`` artists (the default book's five;
    at least two, the fewest a conditioned model is built for)."""
    from pianogen.models import build_model

    rows = []
    for name, config in MODEL_PRESETS.items():
        vocab_size = PAPER_VOCAB_FOR_COUNTS[config.cell]
        n_artists = max(2, int(artists)) if config.conditioned else 0  # at least two
        model = build_model(config, vocab_size=vocab_size, seq_len=seq_len, artists=n_artists)
        trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
        rows.append(
            {
                "preset": name,
                "cell": config.cell.upper(),
                "input": config.input,
                "recurrent units": " → ".join(map(str, config.units)),
                "BatchNorm": config.batchnorm,
                "vocabulary": vocab_size,
                "artists": n_artists or None,
                "parameters": model.count_params(),
                "trainable": trainable,
            }
        )
    return pd.DataFrame(rows).set_index("preset")


def benchmark_provenance(results: dict) -> str:
    """One sentence for the performance chapter: where, when and by which run the
    benchmarks in ``results`` (``benchmarks/results.json``) were measured."""
    machine = results.get("machine", {})
    when = results.get("measured", "an unrecorded date")
    how = (
        "the short run (`--quick`, smaller inputs) that `make book` makes when no results "
        "exist; `make bench` measures the full set"
        if results.get("quick")
        else "`make bench`"
    )
    return (
        f"Measured on {machine.get('cpus')} CPU cores, {machine.get('platform')}, "
        f"at {when} (UTC) by {how}."
    )


def benchmark_table(results: dict) -> pd.DataFrame:
    """Flatten ``benchmarks/results.json``: one row per measured ratio with its target."""
    rows = []
    for bench, data in sorted((results or {}).get("benchmarks", {}).items()):
        for item in data.get("ratios", []):
            target = item.get("target")
            ratio = item.get("ratio")
            rows.append(
                {
                    "benchmark": bench,
                    "ratio name": item.get("name"),
                    "ratio": ratio,
                    "target": target,
                    "met": None if target is None else bool(ratio is not None and ratio >= target),
                    "note": item.get("note", ""),
                }
            )
    return pd.DataFrame(rows).set_index("ratio name") if rows else pd.DataFrame()


def benchmark_frames(results: dict) -> dict[str, pd.DataFrame]:
    """The performance chapter's plots, from ``benchmarks/results.json``.

    ``generation``: tokens/s of the naive loop and of each compiled mode and batch;
    ``parsing``: seconds for the same files by cold music21, the fast engine and a warm
    cache; ``training``: sequences/s and share of the matmul rate per preset; ``memory``:
    peak RSS growth per input pipeline; ``training_profile``: share of op time per op
    category and preset (long form); ``training_factors``: the achieved share of the matmul
    rate and its two factors per preset; ``quality``: per run, the training until its
    validation passed the baselines (``bench_quality.py``). A benchmark that did not run
    gives no frame.
    """
    benches = (results or {}).get("benchmarks", {})
    frames: dict[str, pd.DataFrame] = {}
    if (benches.get("quality") or {}).get("presets"):
        frames["quality"] = pd.DataFrame(benches["quality"]["presets"]).T.rename_axis("run")
    gen = benches.get("generate", {})
    if "naive" in gen:
        rows = [{"method": "naive loop", "batch": 1, "tokens/s": gen["naive"]["tokens_per_second"]}]
        for item in gen.get("incremental", {}).values():
            rows.append(
                {
                    "method": f"{item['mode']} mode",
                    "batch": item["batch"],
                    "tokens/s": item["tokens_per_second"],
                }
            )
        frames["generation"] = pd.DataFrame(rows)
    parse = benches.get("parse", {})
    if "cache_vs_music21" in parse:
        frames["parsing"] = pd.DataFrame(
            [
                {
                    "method": "music21 (cold)",
                    "seconds": parse["cache_vs_music21"]["music21_cold_s"],
                },
                {"method": "fast engine (cold)", "seconds": parse["fast_vs_music21"]["fast_s"]},
                {"method": "warm cache", "seconds": parse["cache_vs_music21"]["warm_cache_s"]},
            ]
        )
    train = benches.get("train", {})
    if train.get("presets"):
        frames["training"] = pd.DataFrame(
            [
                {
                    "preset": name,
                    "sequences/s": item["sequences_per_s"],
                    "share of matmul rate": item["fraction_of_matmul_rate"],
                }
                for name, item in train["presets"].items()
            ]
        )
    pipeline_names = {
        "ours": "pianogen (windows on the fly)",
        "float32": "float32 arrays (N, 50, 1)",
        "paper-code": "reference code (float64 lists)",
    }
    memory = train.get("memory", {})
    pipelines = [k for k, v in memory.items() if isinstance(v, dict) and "peak_rss_growth_mb" in v]
    if pipelines:
        frames["memory"] = pd.DataFrame(
            [
                {
                    "pipeline": pipeline_names.get(name, name),
                    "windows": memory[name]["windows"],
                    "peak RSS growth (MB)": memory[name]["peak_rss_growth_mb"],
                }
                for name in pipelines
            ]
        )
    profile = train.get("profile", {})
    if profile:
        # matmul first, the catch-all last (the JSON's keys come sorted)
        def order(category: str) -> tuple:
            return (category != "matmul", category.startswith("elementwise"), category)

        frames["training_profile"] = pd.DataFrame(
            [
                {"preset": name, "category": category, "share of op time": share}
                for name, item in profile.items()
                for category, share in sorted(
                    item["op_share_by_category"].items(), key=lambda kv: order(kv[0])
                )
            ]
        )
        frames["training_factors"] = pd.DataFrame(
            [
                {
                    "preset": name,
                    "matmul running (share of time)": item["matmul_time_share"],
                    "matmul speed (share of square rate)": item["matmul_rate_share"],
                    "achieved (share of matmul rate)": item["achieved_share_of_matmul_rate"],
                }
                for name, item in profile.items()
            ]
        )
    return frames
