"""The composer classifier (the study's judge of style) and style fidelity of generated music.

A softmax regression on 45 features a reader can check by hand — pitch classes relative to
the excerpt's commonest one (so the 12-key augmentation of the networks' training cannot
decide it), chord sizes, the motion between successive lowest pitch classes, melodic
intervals of single notes, register, inter-onset intervals and notes per onset, token
variety and repetition — computed on token excerpts of a fixed length (the length of the
generated samples), so real and generated music are judged alike.

It is trained on the **real** pieces of every artist of a data folder, split by piece with
the same split (seed and fractions, cut by token count) as the runs, so its test pieces are
the runs' test pieces: excerpts of held-out music it never saw. Training excerpts overlap
by half, and a training or validation piece shorter than one excerpt but at least half as
long counts whole (the shares cancel its length); validation excerpts choose the L2
strength (balanced accuracy), then the model is refitted on training and validation
excerpts and scored on the test excerpts, all of full length. An artist
with fewer than ``min_pieces`` pieces (or no excerpt of full length) is left out, with the
reason in ``metrics.json``.

The classifier is saved like a run (``config.json``, ``model.json``, ``metrics.json`` in
``RUNS_ROOT/_classifier/<vocabulary>-<length>``, see :func:`pianogen.runs.classifier_dir_for`)
and :func:`ensure_classifier` re-uses it while its configuration and data are unchanged.
**Style fidelity** of a run (:func:`judge_run`) is the share of its samples the classifier
attributes to the run's artist, beside chance and the classifier's accuracy on the artist's
real held-out excerpts of the same length.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianogen.config import RunConfig, SplitConfig, _JsonConfig
from pianogen.errors import PianogenError
from pianogen.features import FEATURE_NAMES, cut_excerpts, excerpt_features
from pianogen.io import atomic_write_json, file_lock, read_json_or_none
from pianogen.runs import classifier_dir_for

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CLASSIFIER_FORMAT",
    "ClassifierConfig",
    "NoSamples",
    "StyleClassifier",
    "StyleError",
    "attribution",
    "attribution_shares",
    "classifier_config_for",
    "ensure_classifier",
    "fidelity_frame",
    "fit_softmax",
    "judge_run",
    "judge_sentence",
    "load_classifier",
    "style_fidelity",
    "train_classifier",
]

CLASSIFIER_FORMAT = "pianogen-classifier/1"
STYLE_FORMAT = "pianogen-style/1"
REFERENCE_SAMPLES = 32  # noise sequences judged per reference kind (uniform, unigram)


class StyleError(PianogenError, ValueError):
    """The classifier cannot be trained or used as asked."""


class NoSamples(StyleError):
    """A run folder holds no generated samples to judge."""


@dataclass(frozen=True)
class ClassifierConfig(_JsonConfig):
    """How the composer classifier is trained (saved as its ``config.json``)."""

    vocabulary: str = "paper"
    excerpt_tokens: int = 160  # the generated samples' length
    train_hop: int = 80  # training excerpts start every train_hop tokens (overlap by half)
    min_pieces: int = 3  # fewer pieces: no piece split; the artist is left out
    # The runs' piece split (SplitConfig): same seed and fractions, cut by token count.
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    l2_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    steps: int = 600  # accelerated gradient steps of the (convex) softmax regression
    engine: str = "fast"

    def __post_init__(self) -> None:
        from pianogen.tokens import get_vocabulary

        get_vocabulary(self.vocabulary)
        if self.excerpt_tokens < 8:
            raise StyleError(f"excerpt_tokens must be >= 8, got {self.excerpt_tokens}")
        if not 1 <= self.train_hop <= self.excerpt_tokens:
            raise StyleError("train_hop must be in 1..excerpt_tokens")
        if self.min_pieces < 3:
            raise StyleError("min_pieces must be >= 3 (train, validation and test pieces)")
        if not self.l2_grid or min(self.l2_grid) <= 0:
            raise StyleError("l2_grid needs at least one positive value")
        _ = self.split  # validates the fractions

    @property
    def split(self) -> SplitConfig:
        return SplitConfig(
            kind="piece",
            seed=self.seed,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
        )


def classifier_config_for(run_config: RunConfig, excerpt_tokens: int) -> ClassifierConfig:
    """The classifier that judges ``run_config``'s samples of ``excerpt_tokens`` tokens: its
    vocabulary, engine and piece split (seed, fractions), so the classifier's test pieces
    are the run's."""
    split = run_config.split
    return ClassifierConfig(
        vocabulary=run_config.tokens.vocabulary,
        excerpt_tokens=int(excerpt_tokens),
        train_hop=max(1, int(excerpt_tokens) // 2),
        seed=split.seed,
        val_fraction=split.val_fraction,
        test_fraction=split.test_fraction,
        engine=run_config.tokens.engine,
    )


# ---------------------------------------------------------------------------- the model
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax(
    x: np.ndarray, y: np.ndarray, n_classes: int, l2: float, steps: int = 600
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of an L2-regularised softmax regression with balanced class weights
    (each class weighs the same in the loss), by Nesterov-accelerated gradient descent with
    step 1/L (the loss is convex and L-smooth). Deterministic."""
    n, d = x.shape
    counts = np.bincount(y, minlength=n_classes).astype(float)
    sample_w = (n / (n_classes * np.maximum(counts, 1.0)))[y] / n
    onehot = np.eye(n_classes)[y]
    xb = np.hstack([x, np.ones((n, 1))])
    smooth = 0.5 * float(np.linalg.norm(xb * np.sqrt(sample_w)[:, None], 2)) ** 2 + l2
    theta = np.zeros((d + 1, n_classes))
    prev = theta
    for t in range(1, steps + 1):
        look = theta + (t - 1) / (t + 2) * (theta - prev)
        grad = xb.T @ ((_softmax(xb @ look) - onehot) * sample_w[:, None])
        grad[:d] += l2 * look[:d]
        prev, theta = theta, look - grad / smooth
    return theta[:d], theta[d]


@dataclass
class StyleClassifier:
    """A fitted composer classifier: standardisation, weights, and the artists it knows."""

    artists: list[str]
    vocabulary: str
    excerpt_tokens: int
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    path: Path | None = field(default=None, compare=False)

    def features(self, excerpts: Sequence[Sequence[str]]) -> np.ndarray:
        return np.array(
            [excerpt_features(t, self.vocabulary) for t in excerpts], dtype=float
        ).reshape(len(excerpts), len(FEATURE_NAMES))

    def probabilities(self, excerpts: Sequence[Sequence[str]]) -> np.ndarray:
        """Rows: excerpts; columns: :attr:`artists`."""
        return self._proba(self.features(excerpts))

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return _softmax(((x - self.mean) / self.scale) @ self.weights + self.bias)

    def predict(self, excerpts: Sequence[Sequence[str]]) -> list[str]:
        if not len(excerpts):
            return []
        return [self.artists[i] for i in self.probabilities(excerpts).argmax(axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CLASSIFIER_FORMAT,
            "artists": list(self.artists),
            "vocabulary": self.vocabulary,
            "excerpt_tokens": self.excerpt_tokens,
            "features": list(FEATURE_NAMES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> StyleClassifier:
        if data.get("format") != CLASSIFIER_FORMAT or data.get("features") != list(FEATURE_NAMES):
            raise StyleError(
                f"{path or 'model'}: not a {CLASSIFIER_FORMAT} classifier with this version's "
                "features; train it again"
            )
        return cls(
            artists=list(data["artists"]),
            vocabulary=data["vocabulary"],
            excerpt_tokens=int(data["excerpt_tokens"]),
            mean=np.array(data["mean"], dtype=float),
            scale=np.array(data["scale"], dtype=float),
            weights=np.array(data["weights"], dtype=float),
            bias=np.array(data["bias"], dtype=float),
            path=path,
        )


def _fit_classifier(
    x: np.ndarray, y: np.ndarray, artists: list[str], config: ClassifierConfig, l2: float
) -> StyleClassifier:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    weights, bias = fit_softmax((x - mean) / scale, y, len(artists), l2, config.steps)
    return StyleClassifier(
        artists, config.vocabulary, config.excerpt_tokens, mean, scale, weights, bias
    )


def _confusion(true: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, n), dtype=int)
    np.add.at(out, (true, pred), 1)
    return out


def _balanced(confusion: np.ndarray) -> float:
    rows = confusion.sum(axis=1)
    present = rows > 0
    return float(np.mean(np.diag(confusion)[present] / rows[present])) if present.any() else 0.0


# --------------------------------------------------------------------------- training
@dataclass
class _Excerpts:
    x: list[np.ndarray] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    piece: list[str] = field(default_factory=list)

    def add(self, features: np.ndarray, label: int, piece: str) -> None:
        self.x.append(features)
        self.y.append(label)
        self.piece.append(piece)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.x, dtype=float).reshape(-1, len(FEATURE_NAMES)), np.array(
            self.y, dtype=int
        )


def _artist_pieces(
    data_dir: Path, artist: str, config: ClassifierConfig, cache_dir: Path
) -> tuple[list[str], list[list[str]], str]:
    from pianogen import data
    from pianogen import tokens as tok

    loaded = data.load_artist(
        data_dir, artist, engine=config.engine, cache_dir=cache_dir, progress=False
    )
    seqs = [tok.encode_piece(p, config.vocabulary) for p in loaded.pieces]
    return [p.name for p in loaded.pieces], seqs, loaded.data_hash


def train_classifier(
    data_dir: Path | str,
    config: ClassifierConfig | None = None,
    *,
    out_dir: Path | str | None = None,
    cache_dir: Path | str = Path(".cache"),
    artists: Sequence[str] | None = None,
) -> tuple[StyleClassifier, dict[str, Any]]:
    """Train the classifier on the real pieces of ``artists`` (default: every artist folder
    of ``data_dir``); return it and its metrics, and save both (with the config) in
    ``out_dir`` when given. Raises :class:`StyleError` when fewer than two artists are
    left."""
    from pianogen.data import list_artists
    from pianogen.windows import split_pieces

    config = config or ClassifierConfig()
    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    names = sorted(artists) if artists is not None else list_artists(data_dir)
    kept: list[str] = []
    left_out: list[dict[str, Any]] = []
    hashes: dict[str, str] = {}
    sets = {s: _Excerpts() for s in ("train", "validation", "test")}
    counts: dict[str, dict[str, int]] = {}
    split_names: dict[str, dict[str, list[str]]] = {}
    length = config.excerpt_tokens
    for artist in names:
        pieces, seqs, hashes[artist] = _artist_pieces(data_dir, artist, config, cache_dir)
        if len(seqs) < config.min_pieces:
            reason = f"fewer than {config.min_pieces} pieces: no piece split"
            left_out.append({"artist": artist, "pieces": len(seqs), "reason": reason})
            continue
        parts = split_pieces(len(seqs), config.split, [len(s) for s in seqs])  # >= 3 pieces
        cut = {
            split: [
                (pieces[i], start, t)
                for i in parts[split]
                for start, t in cut_excerpts(
                    seqs[i],
                    length,
                    config.train_hop if split == "train" else length,
                    None if split == "test" else length // 2,
                )
            ]
            for split in sets
        }
        short = [s for s, found in cut.items() if not found]
        if short:
            left_out.append(
                {
                    "artist": artist,
                    "pieces": len(seqs),
                    "reason": f"no {length}-token excerpt in its {', '.join(short)} pieces",
                }
            )
            continue
        label = len(kept)
        kept.append(artist)
        counts[artist] = {"pieces": len(seqs)} | {s: len(found) for s, found in cut.items()}
        counts[artist] |= {f"{s} pieces": len(parts[s]) for s in sets}
        split_names[artist] = {s: [pieces[i] for i in parts[s]] for s in sets}
        for split, found in cut.items():
            for piece, _, t in found:
                sets[split].add(excerpt_features(t, config.vocabulary), label, piece)
    if len(kept) < 2:
        raise StyleError(
            f"the classifier needs at least two artists with {config.min_pieces}+ pieces and "
            f"{length}-token excerpts in every split; usable: {kept or 'none'}"
            + "".join(f"; {o['artist']}: {o['reason']}" for o in left_out)
        )
    (xt, yt), (xv, yv), (xs, ys) = (sets[s].arrays() for s in ("train", "validation", "test"))
    n = len(kept)
    scores = {}
    for l2 in config.l2_grid:
        model = _fit_classifier(xt, yt, kept, config, l2)
        pred = model._proba(xv).argmax(axis=1)
        scores[l2] = _balanced(_confusion(yv, pred, n))
    best_l2 = max(config.l2_grid, key=lambda v: (round(scores[v], 12), v))
    model = _fit_classifier(np.vstack([xt, xv]), np.concatenate([yt, yv]), kept, config, best_l2)
    proba = model._proba(xs)
    pred = proba.argmax(axis=1)
    confusion = _confusion(ys, pred, n)
    # Per piece: the artist with the highest mean log-probability over the piece's excerpts.
    piece_names = np.array(sets["test"].piece, dtype=object)
    piece_true, piece_pred = [], []
    for label in range(n):
        for piece in dict.fromkeys(piece_names[ys == label]):
            rows = (piece_names == piece) & (ys == label)
            piece_true.append(label)
            piece_pred.append(int(np.log(proba[rows] + 1e-12).mean(axis=0).argmax()))
    pieces_conf = _confusion(np.array(piece_true), np.array(piece_pred), n)
    metrics = {
        "format": CLASSIFIER_FORMAT,
        "artists": kept,
        "left_out": left_out,
        "data_hashes": hashes,
        "excerpts": counts,
        "pieces": split_names,
        "chance": 1.0 / n,
        "l2": best_l2,
        "validation_balanced_accuracy": {str(k): v for k, v in scores.items()},
        "test_excerpts": len(ys),
        "test_accuracy": float(np.mean(pred == ys)),
        "test_balanced_accuracy": _balanced(confusion),
        "per_artist_accuracy": {
            a: float(confusion[i, i] / confusion[i].sum()) for i, a in enumerate(kept)
        },
        "confusion": confusion.tolist(),
        "piece_accuracy": float(np.trace(pieces_conf) / max(pieces_conf.sum(), 1)),
        "test_pieces": int(pieces_conf.sum()),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "config.json", config.to_dict())
        atomic_write_json(out / "model.json", model.to_dict())
        atomic_write_json(out / "metrics.json", metrics)
        model.path = out
    return model, metrics


def load_classifier(path: Path | str) -> tuple[StyleClassifier, dict[str, Any]]:
    """A saved classifier and its metrics (``config.json``/``model.json``/``metrics.json``)."""
    path = Path(path)
    model, metrics = (
        read_json_or_none(path / "model.json"),
        read_json_or_none(path / "metrics.json"),
    )
    if model is None or metrics is None:
        raise StyleError(f"no trained classifier in {path}")
    return StyleClassifier.from_dict(model, path), metrics


def _current_hashes(data_dir: Path, artists: Sequence[str]) -> dict[str, str]:
    from pianogen.data import artist_data_hash

    return {a: artist_data_hash(data_dir, a)[0] for a in artists}


def ensure_classifier(
    runs_root: Path | str,
    data_dir: Path | str,
    config: ClassifierConfig | None = None,
    *,
    cache_dir: Path | str = Path(".cache"),
) -> tuple[StyleClassifier, dict[str, Any]]:
    """The saved classifier for ``config`` under ``runs_root``, trained first if it is
    missing or its config or any artist's data changed. Safe to call from several
    processes at once (a file lock: one trains, the others then load it)."""
    from pianogen.data import list_artists

    config = config or ClassifierConfig()
    folder = classifier_dir_for(Path(runs_root), config.vocabulary, config.excerpt_tokens)
    with file_lock(folder.with_name(folder.name + ".lock")):
        saved = read_json_or_none(folder / "config.json")
        metrics = read_json_or_none(folder / "metrics.json")
        with contextlib.suppress(TypeError, ValueError):  # an older or damaged config
            saved = ClassifierConfig.from_dict(saved) if saved else None
        if saved == config and metrics is not None:
            artists = list_artists(Path(data_dir))
            if metrics.get("data_hashes") == _current_hashes(Path(data_dir), artists):
                with contextlib.suppress(StyleError):
                    return load_classifier(folder)
        return train_classifier(data_dir, config, out_dir=folder, cache_dir=cache_dir)


# ---------------------------------------------------------------------------- judging
def attribution(predicted: Sequence[str], artists: Sequence[str]) -> dict[str, int]:
    """How many of ``predicted`` went to each of ``artists`` (zeros included)."""
    return {a: sum(1 for p in predicted if p == a) for a in artists}


def style_fidelity(predicted: Sequence[str], artist: str) -> float | None:
    """Share of ``predicted`` attributions that name ``artist`` (None for no samples)."""
    return sum(1 for p in predicted if p == artist) / len(predicted) if predicted else None


def judge_run(
    run_dir: Path | str, classifier: StyleClassifier, metrics: dict[str, Any]
) -> dict[str, Any]:
    """Classify the generated continuations of a run (its ``evaluation.json`` samples);
    write and return ``<run>/style.json``: attributions, style fidelity, chance and the
    classifier's accuracy on the artist's real held-out excerpts of the same length.
    Also judges :data:`REFERENCE_SAMPLES` sequences of uniform and of unigram-sampled
    tokens of the run's vocabulary (``references``): where noise is attributed to the
    artist as often, the model's fidelity says nothing. Raises :class:`NoSamples` when the
    run has no evaluated samples."""
    run_dir = Path(run_dir)
    evaluation = read_json_or_none(run_dir / "evaluation.json")
    samples = [s["tokens"] for s in (evaluation or {}).get("samples", []) if s.get("tokens")]
    if not samples:
        raise NoSamples(f"{run_dir}: no generated samples to judge (evaluate the run first)")
    artist = evaluation["artist"]
    if evaluation.get("vocabulary") != classifier.vocabulary:
        raise StyleError(
            f"{run_dir}: samples in {evaluation.get('vocabulary')!r} tokens, classifier "
            f"trained on {classifier.vocabulary!r} tokens"
        )
    predicted = classifier.predict(samples)
    known = artist in classifier.artists
    references = {}
    if (run_dir / "vocab.json").is_file():
        from pianogen.evaluate import REFERENCES, reference_tokens
        from pianogen.vocab import Vocab

        vocab = Vocab.load(run_dir / "vocab.json")
        vocab_tokens, counts = vocab.tokens, vocab.counts  # copies: take them once
        length = max(len(s) for s in samples)
        for kind in REFERENCES:
            noise = reference_tokens(
                vocab_tokens,
                [counts[t] for t in vocab_tokens],
                kind,
                REFERENCE_SAMPLES,
                length,
            )
            guessed = classifier.predict(noise)
            references[kind] = {
                "samples": len(noise),
                "attribution": attribution(guessed, classifier.artists),
                "fidelity": style_fidelity(guessed, artist) if known else None,
            }
    result = {
        "format": STYLE_FORMAT,
        "artist": artist,
        "run": run_dir.name,
        "vocabulary": classifier.vocabulary,
        "classifier": str(classifier.path.name) if classifier.path else None,
        "samples": len(samples),
        "lengths": sorted({len(s) for s in samples}),
        "predicted": predicted,
        "attribution": attribution(predicted, classifier.artists),
        "fidelity": style_fidelity(predicted, artist) if known else None,
        "chance": metrics["chance"],
        "real_accuracy": metrics["per_artist_accuracy"].get(artist),
        "artist_known": known,
        # What the judge makes of noise from the run's vocabulary: a model's fidelity means
        # something only where it beats these as well as chance.
        "references": references,
    }
    atomic_write_json(run_dir / "style.json", result)
    return result


# ------------------------------------------------------------------------- page tables
def judge_sentence(metrics: dict[str, Any], config: ClassifierConfig, artist: str) -> str:
    """One sentence on how well the classifier knows real music, overall and for ``artist``."""
    own = metrics["per_artist_accuracy"].get(artist)
    own_text = (
        f"for {artist}'s excerpts {own:.0%}"
        if own is not None
        else f"{artist} is not among its artists"
    )
    return (
        f"The judge on {config.vocabulary} tokens ({len(metrics['artists'])} artists, "
        f"{config.excerpt_tokens}-token excerpts): on {metrics['test_excerpts']} real held-out "
        f"excerpts it names the right artist {metrics['test_accuracy']:.0%} of the time "
        f"(balanced {metrics['test_balanced_accuracy']:.0%}; chance {metrics['chance']:.0%}), "
        f"{own_text}."
    )


def fidelity_frame(judged: dict[str, dict[str, Any]], artist: str) -> pd.DataFrame:
    """One row per judged run (:func:`judge_run` results by run name): samples, how many
    went to ``artist``, style fidelity, chance, the fidelity of uniform and unigram noise
    of the run's vocabulary, and the classifier's real-excerpt accuracy."""
    import pandas as pd

    return pd.DataFrame(
        {
            name: {
                "samples": j["samples"],
                f"attributed to {artist}": j["attribution"].get(artist, 0),
                "style fidelity": j["fidelity"],
                "chance": j["chance"],
                **{
                    f"{kind} noise": ref["fidelity"]
                    for kind, ref in (j.get("references") or {}).items()
                },
                "classifier on real held-out excerpts": j["real_accuracy"],
            }
            for name, j in judged.items()
        }
    ).T


def attribution_shares(
    judged: dict[str, dict[str, Any]],
    classifiers: Sequence[tuple[ClassifierConfig, dict[str, Any]]],
    artist: str,
) -> pd.DataFrame:
    """Whom the classifier hears: per judged run the share of its samples attributed to each
    artist, then the same for noise (uniform and unigram tokens, once per vocabulary) and,
    per classifier, for ``artist``'s real held-out excerpts (its confusion-matrix row)."""
    import pandas as pd

    shares = pd.DataFrame(
        {
            name: {a: n / j["samples"] for a, n in j["attribution"].items()}
            for name, j in judged.items()
        }
    ).T
    for j in judged.values():
        for kind, ref in (j.get("references") or {}).items():
            label = f"{kind} noise ({j['vocabulary']})"
            if label not in shares.index:
                row = {a: n / ref["samples"] for a, n in ref["attribution"].items()}
                shares = pd.concat([shares, pd.DataFrame(row, index=[label])])
    for config, metrics in classifiers:
        if artist in metrics["artists"]:
            row = metrics["confusion"][metrics["artists"].index(artist)]
            real = dict(zip(metrics["artists"], (n / max(sum(row), 1) for n in row), strict=True))
            shares = pd.concat(
                [shares, pd.DataFrame(real, index=[f"real held-out ({config.vocabulary})"])]
            )
    return shares.fillna(0.0)
