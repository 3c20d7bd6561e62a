"""Per-artist statistics: what the data holds before any model sees it.

:func:`explore` loads an artist's pieces (``data.load_artist``) and :func:`explore_pieces`
turns them into one JSON-serialisable dict — the numbers behind notebook ``01_explore`` and
``pianogen explore --json``: files used and skipped, token counts, the vocabulary left at
each frequency threshold next to the paper's figures, pitch and duration histograms, the
most common notes and chords. The ``*_table`` helpers turn that dict into pandas DataFrames
ready for seaborn, so the notebook only calls and plots.

Keys of the result (JSON object keys are strings, so numeric keys are written as strings):

==================  ===================================================================
artist, files       the artist and how many pieces were used
skipped             ``[{"file", "reason"}]`` for files that could not be used
vocabulary, engine  the token vocabulary (a registered name) and the MIDI parser
notes, tokens       total notes and tokens over all pieces
unique_tokens       distinct tokens
token_counts        ``{token: count}``, most frequent first
vocab_at_threshold  ``{"30": n, ...}``: tokens with ``count >= threshold``
threshold_curve     ``[[t, n], ...]``: the vocabulary size ``n`` at threshold ``t`` for each
                    distinct count ``t``; between two points the size is that of the larger
                    ``t`` (a step function, expanded by :func:`threshold_curve_table`)
top_tokens          ``[[token, count], ...]``, the ``top`` most frequent
token_kinds         ``{kind: count}`` (the vocabulary's ``kinds``: note/chord/rest, ...)
top_notes           most common single notes and chords, always of what sounds together
top_chords          across hands (merged-onset tokens, the paper's spelling: ``C4``;
                    ``0.4.7``), whatever the vocabulary: they describe the music
pieces              ``[{"piece", "notes", "tokens", "windows"}]`` per piece
pitch_histogram     ``{"60": count}`` (MIDI pitch)
duration_histogram  ``{"1/4": count}`` (quarter lengths, exact fractions)
seq_len, windows    training windows available: ``sum(max(0, tokens - seq_len))`` over the
                    pieces (windows never cross pieces; counted before rare tokens go)
paper               the paper's quoted figures, for comparison (never our results)
==================  ===================================================================
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pianogen.config import (
    PAPER_THRESHOLDS,
    PAPER_UNIQUE_TOKENS,
    PAPER_VOCAB_AT_THRESHOLD,
    TokenConfig,
)
from pianogen.notes import TICKS_PER_QUARTER, Piece
from pianogen.tokens import encode, encode_piece, pitch_name, token_kind
from pianogen.vocab import count_tokens, vocab_at_thresholds

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "duration_table",
    "explore",
    "explore_pieces",
    "pieces_table",
    "pitch_table",
    "rank_frequency_table",
    "repo_root",
    "resolve_path",
    "skipped_table",
    "summary_table",
    "threshold_curve_table",
    "threshold_table",
    "top_table",
]


# --------------------------------------------------------------------------- paths
def repo_root() -> Path:
    """The checkout that holds the ``pianogen`` package (an editable install)."""
    return Path(__file__).resolve().parent.parent


def resolve_path(path: str | Path, base: str | Path = "notebooks") -> Path:
    """An absolute path: ``path`` itself if absolute, else relative to ``repo_root()/base``.

    Notebooks use this so their default ``data_dir="../data/midi"`` means the repository's
    ``data/midi`` whatever folder papermill runs them in.
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    return (repo_root() / base / path).resolve()


def notebook_path(path: str | Path, base: str | Path = "notebooks") -> str:
    """The inverse of :func:`resolve_path`: the string a notebook parameter gets for
    ``path`` — relative to ``repo_root()/base`` when ``path`` is inside the checkout (so
    executed pages show ``../data/midi``, not the folder the book was built in), else
    absolute."""
    path, root = Path(path).expanduser().resolve(), repo_root()
    if not path.is_relative_to(root):
        return str(path)
    return os.path.relpath(path, (root / base).resolve())


# --------------------------------------------------------------------------- statistics
def _skipped_json(item: Any) -> dict[str, str]:
    if isinstance(item, dict):
        return {"file": str(item.get("file", "")), "reason": str(item.get("reason", ""))}
    return {"file": str(item.file), "reason": str(item.reason)}


def _duration_label(ticks: int) -> str:
    return str(Fraction(ticks, TICKS_PER_QUARTER))


def _threshold_curve(counts: Counter) -> list[list[int]]:
    distinct = sorted(set(counts.values()))
    sizes = vocab_at_thresholds(counts, distinct)
    return [[t, sizes[t]] for t in distinct]


def explore_pieces(
    artist: str,
    pieces: Sequence[Piece],
    skipped: Iterable[Any],
    token_config: TokenConfig,
    thresholds: Iterable[int] = PAPER_THRESHOLDS,
    top: int = 20,
) -> dict[str, Any]:
    """The statistics dict (see the module docstring) for already-parsed pieces."""
    thresholds = [int(t) for t in thresholds]
    if any(t < 1 for t in thresholds):
        raise ValueError(f"thresholds must be >= 1, got {thresholds}")
    vocabulary, seq_len = token_config.vocabulary, int(token_config.seq_len)
    seqs = [encode_piece(p, vocabulary) for p in pieces]
    counts = count_tokens(seqs)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    kinds: Counter = Counter()
    for token, count in counts.items():
        kinds[token_kind(token, vocabulary)] += count

    # The most common notes and chords are always what sounds together, across hands, in the
    # paper's spelling (merged-onset tokens): they describe the music, not the vocabulary.
    merged = (
        counts
        if vocabulary == "merged"
        else count_tokens(encode(p.notes, "merged") for p in pieces)
    )
    by_kind: dict[str, list[list[Any]]] = {"note": [], "chord": []}
    for token, count in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])):
        kind = token_kind(token, "merged")
        if kind in by_kind and len(by_kind[kind]) < top:
            by_kind[kind].append([token, count])

    pitches: Counter = Counter()
    durations: Counter = Counter()
    for p in pieces:
        for n in p.notes:
            pitches[n.pitch] += 1
            durations[n.duration] += 1

    at = vocab_at_thresholds(counts, thresholds)
    per_piece = [
        {
            "piece": p.name,
            "notes": len(p.notes),
            "tokens": len(s),
            "windows": max(0, len(s) - seq_len),
        }
        for p, s in zip(pieces, seqs, strict=True)
    ]
    return {
        "artist": artist,
        "files": len(pieces),
        "skipped": [_skipped_json(s) for s in skipped],
        "vocabulary": vocabulary,
        "engine": token_config.engine,
        "notes": sum(len(p.notes) for p in pieces),
        "tokens": sum(len(s) for s in seqs),
        "unique_tokens": len(counts),
        "token_counts": dict(ordered),
        "thresholds": thresholds,
        "vocab_at_threshold": {str(t): at[t] for t in thresholds},
        "threshold_curve": _threshold_curve(counts),
        "top_tokens": [[t, c] for t, c in ordered[:top]],
        "token_kinds": dict(sorted(kinds.items())),
        "top_notes": by_kind["note"],
        "top_chords": by_kind["chord"],
        "pieces": per_piece,
        "pitch_histogram": {str(k): pitches[k] for k in sorted(pitches)},
        "duration_histogram": {_duration_label(k): durations[k] for k in sorted(durations)},
        "seq_len": seq_len,
        "windows": sum(row["windows"] for row in per_piece),
        "paper": {
            "unique_tokens": PAPER_UNIQUE_TOKENS,
            "vocab_at_threshold": {str(t): n for t, n in PAPER_VOCAB_AT_THRESHOLD.items()},
        },
    }


def explore(
    data_dir: str | Path,
    artist: str,
    token_config: TokenConfig | None = None,
    thresholds: Iterable[int] = PAPER_THRESHOLDS,
    cache_dir: str | Path = Path(".cache"),
    progress: bool = True,
    top: int = 20,
) -> dict[str, Any]:
    """Load one artist's MIDI (``"all"`` pools every artist) and return its statistics.

    Adds ``data_dir`` and ``data_hash`` (the content hash of the files used) to the dict of
    :func:`explore_pieces`. Raises ``data.NoUsableData`` when no file is usable.
    """
    from pianogen import data

    token_config = token_config or TokenConfig()
    loaded = data.load_artist(
        Path(data_dir),
        artist,
        engine=token_config.engine,
        cache_dir=Path(cache_dir),
        progress=progress,
        max_notes=token_config.max_notes_per_file,
    )
    result = explore_pieces(
        loaded.artist, loaded.pieces, loaded.skipped, token_config, thresholds, top
    )
    result["data_dir"] = str(data_dir)
    result["data_hash"] = loaded.data_hash
    return result


# --------------------------------------------------------------------------- tables
def _pd():
    import pandas as pd

    return pd


def summary_table(result: dict) -> pd.DataFrame:
    """The headline numbers, one row each (for a compact notebook table)."""
    rows = [
        ("artist", result["artist"]),
        ("vocabulary", result["vocabulary"]),
        ("MIDI engine", result["engine"]),
        ("files used", result["files"]),
        ("files skipped", len(result["skipped"])),
        ("notes", result["notes"]),
        ("tokens", result["tokens"]),
        ("unique tokens", result["unique_tokens"]),
        (f"training windows (seq_len {result['seq_len']})", result["windows"]),
    ]
    return _pd().DataFrame(rows, columns=["quantity", "value"]).set_index("quantity")


def threshold_table(result: dict) -> pd.DataFrame:
    """Vocabulary size per threshold: ours next to the paper's (``count >= threshold``).

    The first row is the unique-token count (threshold 1); the paper's columns are empty
    where it quotes no figure.
    """
    paper = {int(k): v for k, v in result["paper"]["vocab_at_threshold"].items()}
    rows = [
        {
            "threshold": 1,
            "ours": result["unique_tokens"],
            "paper": result["paper"]["unique_tokens"],
        }
    ]
    for key, n in result["vocab_at_threshold"].items():
        t = int(key)
        rows.append({"threshold": t, "ours": n, "paper": paper.get(t)})
    frame = _pd().DataFrame(rows).drop_duplicates("threshold").set_index("threshold")
    frame["paper"] = frame["paper"].astype("Int64")
    frame["ours / paper"] = (frame["ours"] / frame["paper"]).astype("Float64").round(2)
    return frame


def threshold_curve_table(result: dict, max_threshold: int | None = None) -> pd.DataFrame:
    """``threshold, vocab_size`` for every threshold from 1 to ``max_threshold``.

    By default up to the largest token count or the largest requested threshold, whichever
    is larger (so the curve reaches every threshold the tables mention).
    """
    curve = result["threshold_curve"]
    top = max_threshold or max([curve[-1][0] if curve else 1, *result.get("thresholds", [])])
    rows, j = [], 0
    for t in range(1, top + 1):
        while j < len(curve) and curve[j][0] < t:
            j += 1
        rows.append((t, curve[j][1] if j < len(curve) else 0))
    return _pd().DataFrame(rows, columns=["threshold", "vocab_size"])


def rank_frequency_table(result: dict) -> pd.DataFrame:
    """Every token with its rank (1 = most frequent), count and share of all tokens."""
    frame = _pd().DataFrame(list(result["token_counts"].items()), columns=["token", "count"])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame["share"] = frame["count"] / max(1, result["tokens"])
    return frame


def top_table(result: dict, key: str = "top_tokens") -> pd.DataFrame:
    """``top_tokens``, ``top_notes`` or ``top_chords`` as ``token, count``."""
    if key not in ("top_tokens", "top_notes", "top_chords"):
        raise ValueError(f"key must be top_tokens, top_notes or top_chords, got {key!r}")
    return _pd().DataFrame(result[key], columns=["token", "count"])


def skipped_table(result: dict) -> pd.DataFrame:
    """Files that were not used and why."""
    return _pd().DataFrame(result["skipped"], columns=["file", "reason"])


def pieces_table(result: dict) -> pd.DataFrame:
    """Notes, tokens and windows per piece, longest first."""
    frame = _pd().DataFrame(result["pieces"], columns=["piece", "notes", "tokens", "windows"])
    return frame.sort_values(["tokens", "piece"], ascending=[False, True], ignore_index=True)


def pitch_table(result: dict) -> pd.DataFrame:
    """``pitch`` (MIDI), ``name`` (C4) and ``count`` for every pitch played."""
    rows = [(int(k), pitch_name(int(k)), v) for k, v in result["pitch_histogram"].items()]
    return _pd().DataFrame(rows, columns=["pitch", "name", "count"])


def duration_table(result: dict) -> pd.DataFrame:
    """``quarter_length`` (float), ``label`` ("1/4") and ``count``, shortest first."""
    rows = [(float(Fraction(k)), k, v) for k, v in result["duration_histogram"].items()]
    frame = _pd().DataFrame(rows, columns=["quarter_length", "label", "count"])
    return frame.sort_values("quarter_length", ignore_index=True)
