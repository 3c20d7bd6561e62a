"""The book's listening blocks: escaped text, page-relative audio, visible failure notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pianogen import tokens as tok
from pianogen.listening import (
    audio_player,
    excerpt_html,
    listening_block,
    sample_header_html,
    score_svg,
)
from pianogen.notes import TICKS_PER_QUARTER, Note

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _midi(path: Path) -> Path:
    """Two quarter notes (C4, E4) at 120 qpm: one second of music."""
    q = TICKS_PER_QUARTER
    return tok.write_midi([Note(0, q, 60), Note(q, q, 64)], path, qpm=120)


def test_audio_player_src_is_relative_and_label_escaped(tmp_path):
    midi = _midi(tmp_path / "in.mid")
    out = tmp_path / "book" / "media" / "p" / "a.ogg"
    page = audio_player(midi, out, EVIL, relative_to=tmp_path / "book")
    assert out.is_file()
    assert 'src="media/p/a.ogg"' in page
    assert "<audio controls" in page
    assert ESCAPED in page and "<script>" not in page


def test_audio_player_src_defaults_to_the_working_directory(tmp_path, monkeypatch):
    midi = _midi(tmp_path / "in.mid")
    monkeypatch.chdir(tmp_path)
    page = audio_player(midi, tmp_path / "m" / "a.ogg", "Primer")
    assert 'src="m/a.ogg"' in page


def test_audio_player_failure_is_a_visible_escaped_note(tmp_path):
    missing = tmp_path / f"{EVIL}.mid"  # the error message names the file: escaped too
    page = audio_player(missing, tmp_path / "a.ogg", EVIL, relative_to=tmp_path)
    assert "<audio" not in page
    assert "no audio" in page and "does not exist" in page
    assert "<script>" not in page and ESCAPED in page
    assert not (tmp_path / "a.ogg").exists()


def _record(tmp_path: Path, piece: str = EVIL) -> dict:
    primer = ["C4", "E4", "G4", "4.7.11"]
    continuation = ["D4", "F4", "A4", "C5"]
    path = tok.write_midi(tok.decode(continuation, "paper"), tmp_path / "cont.mid", qpm=100)
    return {
        "index": 2,
        "qpm": 100.0,
        "vocabulary": "paper",
        "primer": {"tokens": primer, "start": 40, "piece": piece, "split": "test"},
        "tokens": primer + continuation,
        "continuation": {"tokens": continuation},
        "paths": {"continuation": path},
    }


def test_sample_header_escapes_the_piece_and_counts_from_one(tmp_path):
    page = sample_header_html(_record(tmp_path))
    assert "<h4>Sample 3</h4>" in page
    assert "tokens 40–44 of" in page  # 4 primer tokens from token 40
    assert f"<code>{ESCAPED}</code>" in page and "<script>" not in page
    assert "(test split)" in page


def test_listening_block_writes_media_and_links_them_from_the_page(tmp_path):
    book = tmp_path / "book"
    block = listening_block(_record(tmp_path), EVIL, book / "media" / "x", relative_to=book)
    media = book / "media" / "x"
    assert (media / "sample_02_primer.ogg").is_file()
    assert (media / "sample_02_continuation.ogg").is_file()
    assert 'src="media/x/sample_02_primer.ogg"' in block.html
    assert 'src="media/x/sample_02_continuation.ogg"' in block.html
    assert block.html.index("Primer") < block.html.index("Continuation (generated)")
    assert "<script>" not in block.html
    assert block.score == media / "sample_02_continuation.svg" and block.score.is_file()
    assert "<script>" not in block.score.read_text()  # the preset in the SVG title, escaped
    assert block.score_note == ""
    # Primer and continuation decoded together: 4 primer steps of an eighth note each.
    assert block.primer_end == 4 * TICKS_PER_QUARTER // 2
    assert [n.pitch for n in block.notes if n.onset >= block.primer_end] == [62, 65, 69, 72]
    assert block.qpm == 100.0 and block.title == f"{EVIL}, sample 3"


def test_score_failure_is_a_visible_escaped_note(tmp_path):
    path, note = score_svg([], tmp_path / "s.svg", qpm=120, title="t")
    assert path is None
    assert note.startswith('<div class="admonition note">') and "No score" in note
    assert not (tmp_path / "s.svg").exists()


@pytest.mark.parametrize(("k", "moved"), [(0, "verbatim"), (-3, "transposed by -3 semitones")])
def test_excerpt_html(k, moved):
    nearest = {
        "transposition": k,
        "length": 3,
        "piece": EVIL,
        "start": 10,
        "tokens": ["C4", "<b>", "E4"],
        "training_tokens": ["A3", "rest", "C#4"],
    }
    page = excerpt_html(nearest, preset="<i>gru</i>")
    assert f"3 tokens ({moved}) from <code>{ESCAPED}</code>, tokens 10–13." in page
    assert "<strong>&lt;i&gt;gru&lt;/i&gt;</strong>" in page
    assert "generated: <code>C4 &lt;b&gt; E4</code>" in page
    assert "training: <code>A3 rest C#4</code>" in page
    assert "<script>" not in page
