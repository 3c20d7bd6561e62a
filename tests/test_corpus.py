"""The default dataset exported from music21's corpus: content, determinism, reuse."""

from __future__ import annotations

from pathlib import Path

import pytest
import symusic

from pianogen import corpus
from pianogen.io import read_json
from pianogen.parse import parse_midi


def test_corpus_works_skip_analyses_and_duplicates() -> None:
    works = corpus.corpus_works("beethoven")
    assert works and all(not w.endswith(".rntxt") for w in works)
    stems = [Path(w).with_suffix("").as_posix() for w in works]
    assert len(stems) == len(set(stems))  # .krn and .mxl copies of op. 18 no. 1: one each
    assert "beethoven/opus18no1/movement1.mxl" in works  # MusicXML preferred
    assert "beethoven/opus18no1/movement1.krn" not in works
    monteverdi = corpus.corpus_works("monteverdi")
    assert monteverdi and not any(w.endswith(".rntxt") for w in monteverdi)
    assert corpus.corpus_works("bach") == corpus.corpus_works("bach")  # deterministic


def test_spread_visits_every_index_once() -> None:
    assert corpus._spread(8) == [0, 4, 2, 6, 1, 5, 3, 7]
    for n in (0, 1, 2, 5, 13, 100):
        assert sorted(corpus._spread(n)) == list(range(n))


def test_export_one_work_keeps_voices_at_sounding_pitch() -> None:
    data, info = corpus.export_work("bach/bwv1.6.mxl")
    score = symusic.Score.from_midi(data)
    assert score.ticks_per_quarter == 480
    assert [(t.program, t.is_drum) for t in score.tracks] == [(0, False)]
    pitches = score.tracks[0].notes.numpy()["pitch"]
    # soprano to bass of a chorale: no octave folding, a wide range
    assert pitches.max() - pitches.min() >= 24
    assert info["notes"] == len(score.tracks[0].notes)
    assert corpus.export_work("bach/bwv1.6.mxl")[0] == data  # same bytes every time


@pytest.mark.slow
def test_build_small_dataset_is_deterministic_and_reused(tmp_path: Path) -> None:
    out = tmp_path / "midi"
    manifest = corpus.build_default_dataset(
        out,
        works_per_composer=1,
        works_scale={},
        composers=["bach", "palestrina"],
        jobs=1,
        progress=False,
    )
    files = manifest["files"]
    assert [f["composer"] for f in files] == ["bach", "palestrina"]
    assert manifest["composers"] == {"bach": 1, "palestrina": 1}
    assert read_json(out / "MANIFEST.json") == manifest
    for item in files:
        path = out / item["file"]
        assert item["source"].startswith(item["composer"] + "/")
        assert item["title"]
        piece = parse_midi(path)  # the study's own parser reads every exported file
        assert len(piece.notes) >= 0.5 * item["notes"]
    first = {f["file"]: (out / f["file"]).read_bytes() for f in files}
    # idempotent: a complete dataset is reused without touching the files
    mtimes = {f["file"]: (out / f["file"]).stat().st_mtime_ns for f in files}
    assert (
        corpus.build_default_dataset(
            out,
            works_per_composer=1,
            works_scale={},
            composers=["bach", "palestrina"],
            progress=False,
        )
        == manifest
    )
    assert {f["file"]: (out / f["file"]).stat().st_mtime_ns for f in files} == mtimes
    # a damaged file makes it rebuild, with the same bytes (and 2 workers: same choice)
    (out / files[0]["file"]).write_bytes(b"damaged")
    again = corpus.build_default_dataset(
        out,
        works_per_composer=1,
        works_scale={},
        composers=["bach", "palestrina"],
        jobs=2,
        progress=False,
    )
    assert again == manifest
    assert {f["file"]: (out / f["file"]).read_bytes() for f in files} == first
    # a smaller build removes the files the earlier one wrote and this one does not
    smaller = corpus.build_default_dataset(
        out, works_per_composer=1, works_scale={}, composers=["bach"], jobs=1, progress=False
    )  # bach's export is cached by nothing: it is simply redone (1 s)
    assert [f["file"] for f in smaller["files"]] == [files[0]["file"]]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mid")) == [files[0]["file"]]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["bach"]  # no empty artist


def test_failing_works_are_reported_and_replaced(tmp_path: Path, monkeypatch) -> None:
    """A work that raises (or runs out of time) is listed in ``skipped``; the next
    candidate takes its place."""
    real = corpus.export_work

    def flaky(source: str):
        if source == corpus.corpus_works("bach")[0]:
            raise ValueError("badly formed repeats")
        return real(source)

    monkeypatch.setattr(corpus, "export_work", flaky)  # jobs=1: exported in this process
    manifest = corpus.build_default_dataset(
        tmp_path, works_per_composer=1, works_scale={}, composers=["bach"], jobs=1, progress=False
    )
    assert [f["source"] for f in manifest["files"]] == [corpus.corpus_works("bach")[1]]
    [skip] = manifest["skipped"]
    assert skip["source"] == corpus.corpus_works("bach")[0]
    assert skip["reason"].startswith("ValueError: badly formed repeats")


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="works_per_composer"):
        corpus.build_default_dataset(tmp_path, works_per_composer=0)
    with pytest.raises(ValueError, match="no scores for composer 'nobody'"):
        corpus.build_default_dataset(
            tmp_path, works_per_composer=1, works_scale={}, composers=["nobody"]
        )
