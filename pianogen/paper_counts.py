"""How near the paper's vocabulary figures can be come: its counts under readings of its method.

The paper reports 723 unique tokens, and 249 / 225 / 209 / 202 tokens left at the thresholds
30 / 50 / 70 / 90 (:data:`pianogen.config.PAPER_UNIQUE_TOKENS`,
:data:`~pianogen.config.PAPER_VOCAB_AT_THRESHOLD`), without saying exactly which files it
counted. This module counts the same five figures under each plausible reading and ranks the
readings by their distance to the paper's:

- **extraction**: ``paper`` (music21's elements part by part, the paper's loop: the
  ``"paper"`` vocabulary, :class:`pianogen.tokens.PaperVocabulary`) or ``merged`` (one
  chord per onset across hands and tracks: the ``"merged"`` vocabulary);
- **parts**: every piano part, or the first part only (a loop that reads ``parts[0]``;
  part-wise extraction only: the merged notes no longer know their part);
- **rests**: kept as tokens, or dropped;
- **scope**: every artist pooled, every artist but a seasonal folder (``christmas``, which
  piano-midi.de lists beside its composers), or one artist at a time (a single composer's
  folder may be what the paper counted).

A token is kept at threshold ``t`` when it occurs at least ``t`` times (``count >= t``, the
paper's rule and :func:`pianogen.vocab.vocab_at_thresholds`). The distance of a reading is
the mean absolute log ratio of its five figures to the paper's (0: equal; 0.1: about 10 %
off on average), so a reading cannot come near by matching one figure only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pianogen.config import PAPER_THRESHOLDS, PAPER_UNIQUE_TOKENS, PAPER_VOCAB_AT_THRESHOLD
from pianogen.notes import Piece
from pianogen.tokens import REST, encode_piece
from pianogen.vocab import vocab_at_thresholds

__all__ = [
    "PAPER_FIGURES",
    "SEASONAL_FOLDERS",
    "Reading",
    "figure_distance",
    "figures",
    "load_by_artist",
    "reading_counts",
    "side_by_side",
    "variants_table",
]

#: The paper's five figures: unique tokens, then tokens kept at each threshold.
PAPER_FIGURES: dict[str, int] = {
    "unique": PAPER_UNIQUE_TOKENS,
    **{f"at {t}": n for t, n in PAPER_VOCAB_AT_THRESHOLD.items()},
}
#: Folders that are a collection, not a composer (piano-midi.de's "christmas").
SEASONAL_FOLDERS = ("christmas",)


@dataclass(frozen=True)
class Reading:
    """One reading of the paper's extraction (see the module docstring)."""

    extraction: str = "paper"  # a vocabulary name: "paper" (part-wise) | "merged"
    first_part_only: bool = False
    rests: bool = True

    def __post_init__(self) -> None:
        if self.extraction not in ("paper", "merged"):
            raise ValueError(f"extraction must be 'paper' or 'merged', got {self.extraction!r}")
        if self.first_part_only and self.extraction != "paper":
            raise ValueError("first_part_only needs the part-wise 'paper' extraction")

    def tokens(self, piece: Piece) -> list[str]:
        """The piece's tokens under this reading."""
        if self.first_part_only and piece.streams:
            piece = _first_part(piece)
        out = encode_piece(piece, self.extraction)
        return out if self.rests else [t for t in out if t != REST]

    def describe(self) -> dict[str, str]:
        return {
            "extraction": self.extraction,
            "parts": "first part" if self.first_part_only else "every part",
            "rests": "rests kept" if self.rests else "rests dropped",
        }


def _first_part(piece: Piece) -> Piece:
    return replace(piece, streams=piece.streams[:1])


READINGS = tuple(
    Reading(extraction, first, rests)
    for extraction in ("paper", "merged")
    for first in ((False, True) if extraction == "paper" else (False,))
    for rests in (True, False)
)


def figures(counts: Mapping[str, int], thresholds: Sequence[int] = PAPER_THRESHOLDS) -> dict:
    """The five figures of a token count: unique tokens and tokens kept at each threshold."""
    at = vocab_at_thresholds(counts, thresholds)
    return {"unique": len(counts), **{f"at {t}": at[t] for t in thresholds}}


def figure_distance(ours: Mapping[str, int], paper: Mapping[str, int] = PAPER_FIGURES) -> float:
    """Mean absolute log ratio of ``ours`` to ``paper`` over the paper's figures (a figure of
    0 counts as 0.5 so that the distance stays finite)."""
    logs = [abs(math.log(max(ours[k], 0.5) / paper[k])) for k in paper]
    return sum(logs) / len(logs)


def reading_counts(
    pieces_by_artist: Mapping[str, Sequence[Piece]], readings: Iterable[Reading] = READINGS
) -> dict[tuple[Reading, str], Counter]:
    """``{(reading, artist): token counts}`` for every reading and artist (a reading that
    drops rests is counted from the one that keeps them, less the rest token)."""
    readings = tuple(readings)
    kept: dict[tuple[Reading, str], Counter] = {}
    for reading in readings:
        with_rests = replace(reading, rests=True)
        for artist, pieces in pieces_by_artist.items():
            if (with_rests, artist) not in kept:
                counts: Counter = Counter()
                for piece in pieces:
                    counts.update(with_rests.tokens(piece))
                kept[(with_rests, artist)] = counts
    out: dict[tuple[Reading, str], Counter] = {}
    for reading in readings:
        for artist in pieces_by_artist:
            counts = Counter(kept[(replace(reading, rests=True), artist)])
            if not reading.rests:
                counts.pop(REST, None)
            out[(reading, artist)] = counts
    return out


def _scopes(artists: Sequence[str]) -> list[tuple[str, list[str]]]:
    scopes = [("every artist", list(artists))]
    seasonal = [a for a in artists if a in SEASONAL_FOLDERS]
    if seasonal and len(seasonal) < len(artists):
        kept = [a for a in artists if a not in seasonal]
        scopes.append((f"every artist but {', '.join(seasonal)}", kept))
    if len(artists) > 1:
        scopes += [(artist, [artist]) for artist in artists]
    return scopes


def variants_table(
    pieces_by_artist: Mapping[str, Sequence[Piece]],
    readings: Iterable[Reading] = READINGS,
    paper: Mapping[str, int] = PAPER_FIGURES,
):
    """Every reading on every scope, nearest to the paper's figures first.

    A ``pandas.DataFrame``: ``reading`` (the four below in one label), ``scope, extraction,
    parts, rests, files, tokens, unique, at 30, ..., distance``; the first row is the paper
    itself (distance 0, counts it does not give left empty).
    """
    import pandas as pd

    artists = list(pieces_by_artist)
    counts = reading_counts(pieces_by_artist, readings)
    rows = []
    for reading in dict.fromkeys(r for r, _ in counts):
        for scope, members in _scopes(artists):
            pooled: Counter = Counter()
            for artist in members:
                pooled.update(counts[(reading, artist)])
            ours = figures(pooled)
            described = reading.describe()
            rows.append(
                {
                    "reading": " · ".join([scope, *described.values()]),
                    "scope": scope,
                    **described,
                    "files": sum(len(pieces_by_artist[a]) for a in members),
                    "tokens": sum(pooled.values()),
                    **ours,
                    "distance": round(figure_distance(ours, paper), 4),
                }
            )
    table = pd.DataFrame(rows).sort_values(
        ["distance", "scope", "extraction", "parts", "rests"], kind="stable"
    )
    head = {"reading": "the paper (reported)", "scope": "the paper (reported)"}
    head |= {"extraction": "", "parts": "", "rests": ""}
    head |= {k: paper[k] for k in paper} | {"distance": 0.0}
    return pd.concat([pd.DataFrame([head]), table], ignore_index=True).astype(
        {k: "Int64" for k in ("files", "tokens", *paper)}
    )


def side_by_side(table, exact_scope: str = "every artist"):
    """The paper's figures, its extraction's (part-wise, every part, rests kept, on
    ``exact_scope``) and the nearest reading's, as columns (rows: unique, at 30, ...)."""
    import pandas as pd

    figs = list(PAPER_FIGURES)
    rows = table.iloc[1:]
    exact = rows[
        (rows["scope"] == exact_scope)
        & (rows["extraction"] == "paper")
        & (rows["parts"] == "every part")
        & (rows["rests"] == "rests kept")
    ]
    nearest = rows.iloc[0]
    columns = {"the paper": table.iloc[0][figs]}
    if len(exact):
        columns[f"the paper's extraction ({exact_scope})"] = exact.iloc[0][figs]
    columns[f"nearest: {nearest['reading']}"] = nearest[figs]
    return pd.DataFrame(columns).astype("Int64")


def load_by_artist(
    data_dir: str | Path,
    artists: Sequence[str] = (),
    *,
    engine: str = "fast",
    cache_dir: str | Path = Path(".cache"),
    progress: bool = False,
) -> dict[str, list[Piece]]:
    """Every usable piece of each artist (all artist folders when ``artists`` is empty),
    parsed once through the cache; artists without a usable file are left out."""
    from pianogen import data

    names = list(artists) or data.list_artists(Path(data_dir))
    out: dict[str, list[Piece]] = {}
    for artist in names:
        try:
            loaded = data.load_artist(
                Path(data_dir), artist, engine=engine, cache_dir=Path(cache_dir), progress=progress
            )
        except data.NoUsableData:
            continue
        out[artist] = list(loaded.pieces)
    return out
