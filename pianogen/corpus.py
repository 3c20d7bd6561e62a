"""The default dataset: works from the corpus shipped inside music21, exported to MIDI.

``build_default_dataset(out_dir)`` writes ``out_dir/<composer>/<work>.mid`` for a few
composers of the music21 corpus, so the study runs anywhere without downloading data.

How a work becomes a file:

* **Which works.** Scores only (``.mxl``/``.xml``/``.musicxml``/``.krn``/``.abc``; never
  the ``.rntxt`` Roman-numeral analyses), one file per work when the corpus holds the same
  work in several formats (MusicXML preferred), in sorted order spread evenly over the
  composer's catalogue (``Agnus`` ... ``Sanctus``, not 15 Agnus Dei). The first
  ``works_per_composer`` works that export are used; the others are listed in the manifest
  with the reason (a music21 exception, or longer than ``time_budget`` seconds).
* **What is kept.** Every voice at its sounding pitch (``toSoundingPitch``; no octave
  folding), merged into one piano track (GM program 0, 480 ticks per quarter), velocities
  from the score or 80, ties joined, grace notes and chord symbols dropped, the work's
  first tempo (or 100 quarter notes per minute). Repeats are *not* expanded: each passage
  appears once, as notated, so repeated sections do not inflate memorization measures.
* **Deterministic.** Sorted sources, integer ticks, written with symusic: a re-run writes
  the same bytes. ``MANIFEST.json`` lists per file the corpus source, composer, title, note
  count and sha256.
* **Idempotent.** A complete dataset made with the same settings (every listed file present
  with its hash) is reused as it is.

Works are exported in parallel worker processes (``jobs``, default all cores), each with a
time budget: a few corpus works take minutes to parse.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from pianogen.io import atomic_write_bytes, atomic_write_json, read_json, sha256_file

log = logging.getLogger("pianogen")

# Five styles over three centuries, each small enough to train in minutes: Bach chorales,
# Monteverdi madrigals, Palestrina mass movements, Mozart and Haydn string quartet
# movements (Haydn: all 9 in the corpus). Beethoven's quartets are left out: 70,000 notes
# for 15 movements, and whole quartets that take minutes to parse.
DEFAULT_COMPOSERS = ("bach", "haydn", "monteverdi", "mozart", "palestrina")
DEFAULT_WORKS = 15
# Composers whose works are short get more of them, so every artist has 13,000-40,000 notes
# and its held-out pieces hold several hundred 50-token windows: a Bach chorale is ~100
# tokens (15 chorales gave 1,600 tokens and 9 test windows; 45 gave 193 test windows, too
# few to tell a network from the 3-gram), a Palestrina mass movement ~200. Measured with
# pianogen-gru (sequence loss, 12 keys): on 90 chorales / 60 movements the held-out accuracy
# beat the 3-gram's within 30,000 windows (bach 21.2 % vs 14.2 %, 534 test windows;
# palestrina 13.0 % vs 11.9 %, 1,051), on 45 / 30 palestrina only tied it (9.8 %, 458).
# Monteverdi: all 49 madrigals of the corpus. With 30, its 3 test madrigals were unlike
# the rest (validation: GRU 12.3 % vs the 3-gram's 10.1 %; test: 5.8 % vs 6.2 %, also
# after 14 epochs); with 49 (5 test madrigals, 1,581 windows) 11.1 % vs 10.8 %.
WORKS_SCALE = {"bach": 6, "monteverdi": 4, "palestrina": 4}
DEFAULT_QPM = 100.0
DEFAULT_TIME_BUDGET = 120.0  # seconds per work
TPQ = 480
MANIFEST = "MANIFEST.json"
MANIFEST_VERSION = 1
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn", ".abc")  # preference order

__all__ = [
    "DEFAULT_COMPOSERS",
    "build_default_dataset",
    "corpus_works",
    "export_work",
]


def corpus_works(composer: str) -> list[str]:
    """A composer's scores in the music21 corpus, deduplicated, in selection order.

    Paths are relative to the corpus root (``"bach/bwv1.6.mxl"``). The order interleaves
    the sorted catalogue (first, middle, quarter, three quarters, ...) so the first works
    taken come from all over it.
    """
    from music21 import corpus

    root = _corpus_root()
    best: dict[str, Path] = {}
    for path in corpus.getComposer(composer):
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in SCORE_SUFFIXES:
            continue  # .rntxt analyses and anything else
        key = path.with_suffix("").as_posix()
        if key not in best or SCORE_SUFFIXES.index(suffix) < SCORE_SUFFIXES.index(
            best[key].suffix.lower()
        ):
            best[key] = path
    ordered = sorted(path.relative_to(root).as_posix() for path in best.values())
    return [ordered[i] for i in _spread(len(ordered))]


def _spread(n: int) -> list[int]:
    """0..n-1 in van der Corput order (0, n/2, n/4, 3n/4, n/8, ...), each index once."""
    order: list[int] = []
    seen: set[int] = set()
    j = 0
    while len(order) < n and j < 8 * n:
        fraction, denominator, k = 0.0, 1.0, j
        while k:
            denominator *= 2
            fraction += (k & 1) / denominator
            k >>= 1
        index = int(fraction * n)
        if index not in seen:
            seen.add(index)
            order.append(index)
        j += 1
    return order + [i for i in range(n) if i not in seen]


def _corpus_root() -> Path:
    from music21 import common

    return Path(common.getCorpusFilePath()).resolve()


def export_work(source: str) -> tuple[bytes, dict]:
    """Export one corpus work to MIDI bytes; returns ``(bytes, info)``.

    ``info`` holds the title, the note count and the tempo. Raises whatever music21 raises
    for a work it cannot read.
    """
    import symusic
    from music21 import chord, corpus, harmony, note, tempo

    from pianogen.parse import _join_ties

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = corpus.parse(source, forceSource=True)
        score = score.toSoundingPitch()
        flat = score.flatten()
        pieces: list[tuple[int, int, int, int, str, object]] = []
        for el in flat.notes:
            if isinstance(el, harmony.Harmony) or el.duration.isGrace:
                continue
            if not isinstance(el, note.Note | chord.Chord):
                continue  # unpitched percussion
            onset = round(float(el.offset) * TPQ)
            length = round(float(el.quarterLength) * TPQ)
            if length <= 0:
                continue
            members = el.notes if isinstance(el, chord.Chord) else (el,)
            for n in members:
                tie = n.tie if n.tie is not None else el.tie
                velocity = n.volume.velocity if n.volume.velocity is not None else 80
                pitch = int(n.pitch.midi)
                if 0 <= pitch <= 127:
                    kind = tie.type if tie is not None else ""
                    pieces.append((onset, length, pitch, int(velocity), kind, None))
        marks = list(flat.getElementsByClass(tempo.MetronomeMark))
        qpm = DEFAULT_QPM
        if marks:
            with_number = [m for m in marks if m.number]
            if with_number:
                qpm = float(with_number[0].getQuarterBPM() or DEFAULT_QPM)
        title = score.metadata.title if score.metadata and score.metadata.title else ""
    notes = sorted(set(_join_ties(pieces)))
    if not notes:
        raise ValueError("no pitched notes")
    midi = symusic.Score(TPQ)
    track = symusic.Track(name="Piano", program=0, is_drum=False)
    for onset, length, pitch, velocity in notes:
        track.notes.append(symusic.Note(onset, length, pitch, max(1, min(127, velocity))))
    midi.tracks.append(track)
    midi.tempos.append(symusic.Tempo(0, qpm))
    info = {"title": str(title or Path(source).stem), "notes": len(notes), "qpm": qpm}
    return bytes(midi.dumps_midi()), info


def _export_task(source: str, budget: float | None) -> dict:
    """Worker: export one work within the time budget; never raises."""
    from pianogen.cache import OutOfTime, time_budget

    started = time.monotonic()
    try:
        with time_budget(budget):
            data, info = export_work(source)
        return {"source": source, "data": data, "info": info}
    except OutOfTime:
        return {"source": source, "error": f"took longer than {budget:g} s"}
    except Exception as exc:  # noqa: BLE001 -- music21 raises many kinds; report and go on
        seconds = time.monotonic() - started
        return {
            "source": source,
            "error": f"{type(exc).__name__}: {str(exc)[:100]} ({seconds:.0f} s)",
        }


def _file_name(source: str) -> str:
    """``mozart/k155/movement1.mxl`` -> ``k155_movement1.mid`` (inside the composer folder)."""
    parts = Path(source).with_suffix("").parts[1:]
    return "_".join(parts).replace(" ", "_") + ".mid"


def _previous_files(out_dir: Path) -> set[str]:
    """Files listed by an earlier build's manifest (only those are ever deleted)."""
    try:
        return {str(item["file"]) for item in read_json(out_dir / MANIFEST).get("files", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()


def _reuse(out_dir: Path, settings: dict) -> dict | None:
    manifest_path = out_dir / MANIFEST
    try:
        manifest = read_json(manifest_path)
    except (OSError, ValueError):
        return None
    if manifest.get("settings") != settings:
        return None
    for item in manifest.get("files", []):
        path = out_dir / item["file"]
        if not path.is_file() or sha256_file(path) != item.get("sha256"):
            return None
    return manifest


def build_default_dataset(
    out_dir: Path | str,
    works_per_composer: int = DEFAULT_WORKS,
    *,
    composers: Sequence[str] = DEFAULT_COMPOSERS,
    works_scale: Mapping[str, int] = WORKS_SCALE,
    jobs: int | None = None,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
    progress: bool = True,
    force: bool = False,
) -> dict:
    """Export ``works_per_composer`` works per composer to ``out_dir`` (see the module doc).

    ``works_scale`` multiplies that number for composers whose works are short.

    Returns the manifest (also written to ``out_dir/MANIFEST.json``). An existing complete
    dataset with the same settings is returned without work unless ``force``.
    """
    import music21
    from tqdm.auto import tqdm

    from pianogen.cache import pool_context

    if works_per_composer < 1:
        raise ValueError(f"works_per_composer must be >= 1, got {works_per_composer}")
    out_dir = Path(out_dir)
    settings = {
        "composers": list(composers),
        "works_per_composer": int(works_per_composer),
        "works_scale": {c: works_scale.get(c, 1) for c in composers},
        "music21": music21.__version__,
        "version": MANIFEST_VERSION,
    }
    if not force and (manifest := _reuse(out_dir, settings)) is not None:
        log.info("default dataset in %s is complete; reusing it", out_dir)
        return manifest
    started = time.monotonic()
    candidates = {c: corpus_works(c) for c in composers}
    for composer, works in candidates.items():
        if not works:
            raise ValueError(f"the music21 corpus has no scores for composer {composer!r}")
    results: dict[str, dict] = {}
    tried = {c: 0 for c in composers}
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    wanted = {c: works_per_composer * works_scale.get(c, 1) for c in composers}
    total = sum(min(wanted[c], len(w)) for c, w in candidates.items())
    bar = tqdm(total=total, disable=not progress, file=sys.stderr, desc="exporting corpus")
    pool = None
    if jobs > 1:
        pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context())
    try:
        while True:
            # Try candidates strictly in order, as many as are still needed, so the works
            # chosen do not depend on timing or on the number of workers.
            batch = []
            for composer, works in candidates.items():
                done = [results[s] for s in works[: tried[composer]]]
                needed = wanted[composer] - sum("data" in r for r in done)
                take = works[tried[composer] : tried[composer] + max(0, needed)]
                tried[composer] += len(take)
                batch += take
            if not batch:
                break
            budgets = [time_budget] * len(batch)
            answers = (
                pool.map(_export_task, batch, budgets)
                if pool is not None
                else map(_export_task, batch, budgets)
            )
            for answer in answers:
                results[answer["source"]] = answer
                if "data" in answer:
                    bar.update()
                else:
                    log.warning("corpus work %s skipped: %s", answer["source"], answer["error"])
    finally:
        if pool is not None:
            pool.shutdown()
    bar.close()
    previous = _previous_files(out_dir)
    files, skipped = [], []
    for composer, works in candidates.items():
        for source in works[: tried[composer]]:
            answer = results[source]
            if "error" in answer:
                skipped.append({"source": source, "composer": composer, "reason": answer["error"]})
                continue
            rel = f"{composer}/{_file_name(source)}"
            atomic_write_bytes(out_dir / rel, answer["data"])
            files.append(
                {
                    "file": rel,
                    "source": source,
                    "composer": composer,
                    "title": answer["info"]["title"],
                    "notes": answer["info"]["notes"],
                    "qpm": answer["info"]["qpm"],
                    "sha256": sha256_file(out_dir / rel),
                }
            )
    files.sort(key=lambda item: item["file"])
    for rel in sorted(previous - {item["file"] for item in files}):
        # A file an earlier build wrote and this one does not: it must not stay as data.
        stale = out_dir / rel
        stale.unlink(missing_ok=True)
        # ... nor its composer folder, which would be an artist with nothing usable.
        with contextlib.suppress(OSError):
            stale.parent.rmdir()  # only succeeds when the folder is now empty
    manifest = {
        "settings": settings,
        "source": f"music21 {music21.__version__} corpus (music21.corpus)",
        "files": files,
        "skipped": skipped,
        "composers": {c: sum(1 for f in files if f["composer"] == c) for c in composers},
    }
    atomic_write_json(out_dir / MANIFEST, manifest)
    log.info(
        "default dataset: %d files for %d composers in %.0f s (%d works skipped)",
        len(files),
        len(composers),
        time.monotonic() - started,
        len(skipped),
    )
    return manifest
