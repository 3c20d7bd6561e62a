"""The book's listening samples: audio players, sample headers, scores and copied excerpts.

Notebook 03 shows each generated sample as a block — which held-out piece the primer came
from, an audio player for the primer and for the continuation, the continuation's sheet
music and a piano roll. Building that HTML here (not in notebook cells) keeps it testable:
every piece of text that comes from data (piece names, preset names, labels, error
messages) is HTML-escaped, audio ``src`` attributes are relative to the page so the book
can be moved, and a rendering failure becomes a visible note instead of a traceback.

Plotting (the piano roll) stays with the caller, which owns the figure; :class:`ListeningBlock`
carries what it needs.
"""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pianogen import render
from pianogen import tokens as tok
from pianogen.errors import PianogenError
from pianogen.generate import sample_notes
from pianogen.notes import Note

__all__ = [
    "ListeningBlock",
    "audio_player",
    "excerpt_html",
    "listening_block",
    "sample_header_html",
    "score_svg",
]

SCORE_BARS = 8

# What rendering audio or a score can raise for one bad sample: shown as a note, not raised.
_RENDER_ERRORS = (PianogenError, OSError, ValueError)


def audio_player(
    midi_path: Path, out_path: Path, label: str, relative_to: Path | None = None
) -> str:
    """Render ``midi_path`` to ``out_path`` and return an HTML ``<audio>`` player for it.

    The ``src`` is ``out_path`` relative to ``relative_to`` (default: the working directory,
    which is where papermill writes the executed notebook), so the page keeps working when
    the book folder moves. If rendering fails, a visible escaped note says why instead.
    """
    try:
        info = render.render_audio_info(midi_path, out_path)
    except _RENDER_ERRORS as exc:
        return f"<p><em>{html.escape(label)}: no audio ({html.escape(str(exc))})</em></p>"
    base = Path.cwd() if relative_to is None else Path(relative_to)
    src = Path(os.path.relpath(Path(out_path).resolve(), base.resolve())).as_posix()
    how = "FluidSynth" if info.renderer == "fluidsynth" else "pianogen's numpy synthesizer"
    return (
        f"<p>{html.escape(label)} <small>({info.duration_s:.0f} s, {how})</small><br>"
        f'<audio controls preload="none" src="{html.escape(src)}">'
        "your browser cannot play audio</audio></p>"
    )


def sample_header_html(record: dict[str, Any]) -> str:
    """``Sample k`` and where its primer came from (token span, piece, split), escaped."""
    origin = record["primer"]
    start = int(origin["start"])
    end = start + len(origin["tokens"])
    return (
        f"<h4>Sample {int(record['index']) + 1}</h4><p>Primer: tokens {start}–{end} of "
        f"<code>{html.escape(str(origin['piece']))}</code> "
        f"({html.escape(str(origin['split']))} split).</p>"
    )


def score_svg(notes: list[Note], out_path: Path, qpm: float, title: str) -> tuple[Path | None, str]:
    """Engrave the first :data:`SCORE_BARS` bars of ``notes``: ``(svg path, "")``, or
    ``(None, escaped note HTML)`` when there is nothing to engrave or engraving fails."""
    try:
        path = render.render_score_svg(notes, out_path, qpm=qpm, bars=SCORE_BARS, title=title)
    except _RENDER_ERRORS as exc:
        return None, render.note_html(f"No score for this sample: {exc}")
    return path, ""


@dataclass(frozen=True)
class ListeningBlock:
    """One sample's presentation: HTML to display, the score, and the piano-roll inputs."""

    header: str  # HTML: sample number and primer origin
    players: str  # HTML: primer and continuation audio players (or notes why not)
    score: Path | None  # SVG of the continuation's first bars, None if it failed
    score_note: str  # HTML note when ``score`` is None, else ""
    notes: list[Note]  # primer + continuation, for the piano roll
    primer_end: int  # tick where the continuation starts in ``notes``
    qpm: float
    title: str  # plain text "<preset>, sample k", for the piano roll's title

    @property
    def html(self) -> str:
        """Header and players together, ready for ``display(HTML(...))``."""
        return self.header + self.players


def listening_block(
    record: dict[str, Any], preset: str, media_dir: Path, relative_to: Path | None = None
) -> ListeningBlock:
    """Render a sample record (:func:`pianogen.generate.load_sample`) for listening.

    Writes ``sample_kk_primer.ogg``, ``sample_kk_continuation.ogg`` and
    ``sample_kk_continuation.svg`` into ``media_dir``; audio ``src`` attributes are relative
    to ``relative_to`` (see :func:`audio_player`). Failures become visible notes.
    """
    media_dir = Path(media_dir)
    stem = f"sample_{int(record['index']):02d}"
    number = int(record["index"]) + 1
    qpm = float(record["qpm"])
    full, primer_notes, continuation, primer_end = sample_notes(record)
    players = []
    if primer_notes:
        with tempfile.TemporaryDirectory() as tmp:
            primer_midi = tok.write_midi(primer_notes, Path(tmp) / "primer.mid", qpm=qpm)
            players.append(
                audio_player(primer_midi, media_dir / f"{stem}_primer.ogg", "Primer", relative_to)
            )
    players.append(
        audio_player(
            record["paths"]["continuation"],
            media_dir / f"{stem}_continuation.ogg",
            "Continuation (generated)",
            relative_to,
        )
    )
    svg, svg_note = score_svg(
        continuation, media_dir / f"{stem}_continuation.svg", qpm, f"{preset} sample {number}"
    )
    return ListeningBlock(
        header=sample_header_html(record),
        players="".join(players),
        score=svg,
        score_note=svg_note,
        notes=full,
        primer_end=primer_end,
        qpm=qpm,
        title=f"{preset}, sample {number}",
    )


def excerpt_html(nearest: dict[str, Any], preset: str) -> str:
    """A memorization audit's nearest training excerpt (:func:`pianogen.evaluate.memorization`
    ``["nearest"]``) as HTML: length, transposition, source piece and both token runs."""
    k = int(nearest["transposition"])
    moved = "verbatim" if k == 0 else f"transposed by {k:+d} semitones"
    start, length = int(nearest["start"]), int(nearest["length"])
    return (
        f"<p><strong>{html.escape(preset)}</strong>: {length} tokens ({moved}) from "
        f"<code>{html.escape(str(nearest['piece']))}</code>, tokens {start}–"
        f"{start + length}.</p>"
        f"<p>generated: <code>{html.escape(' '.join(nearest['tokens']))}</code><br>"
        f"training: <code>{html.escape(' '.join(nearest['training_tokens']))}</code></p>"
    )
