"""Parsing benchmark: cache, parallelism, and the fast engine against music21.

Measured side by side in one run (the machines are shared and noisy, so only ratios are
targets), on piano-midi.de from ``../shared`` (or the default dataset in ``data/midi`` when
that is absent, or ``--data-dir``; a deterministic subset by default: the smallest file of
every composer, if under 60 KB; ``--full``: every file):

(a) warm cache vs cold music21 parse of the same files          target >= 500x
(b) cold parallel parse on all cores vs serial (music21 engine)  target >= 1.8x on 2 cores
    (beside the speedup pure CPU work gets on the machine at that moment: a control)
(c) fast engine vs music21: speed                                target >= 300x
    and agreement per composer on merged-onset tokens            target >= 98%
    and on the paper's (part-wise) tokens                        target >= 98%
    (also on notes: onset+pitch and onset+duration+pitch)

Tokens are ``pianogen.tokens.encode(notes, "merged")`` (one chord per onset) and
``pianogen.tokens.encode_piece(piece, "paper")`` (music21's elements part by part, as the
paper's loop reads them; the reference is music21's own ``partitionByInstrument`` +
``recurse()``); agreement is the number of tokens in the longest matching blocks of the two
sequences (difflib) over the longer sequence.
Writes JSON to ``--out`` and prints a summary. Exits cleanly when the data is absent.
"""

from __future__ import annotations

import argparse
import difflib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from pianogen.io import atomic_write_json  # noqa: E402

TARGETS = {
    "cache_vs_music21": 500,
    "parallel_vs_serial": 1.8,
    "fast_vs_music21": 300,
    "tokens": 0.98,
    "paper_tokens": 0.98,
}


SHARED_DATA = ROOT.parent / "shared" / "datasets" / "piano-midi-de"
DEFAULT_DATA = ROOT / "data" / "midi"


def default_data_dir() -> Path:
    """piano-midi.de from ``../shared`` when this machine has it, else the default dataset."""
    return SHARED_DATA if SHARED_DATA.is_dir() else DEFAULT_DATA


def pick_files(data_dir: Path, full: bool, quick: bool) -> dict[str, list[Path]]:
    """Every file (``full``), else each composer's smallest file under 60 KB (music21 needs
    ~1 s per 10 KB; a composer whose files are all larger is left out of the subset)."""
    chosen: dict[str, list[Path]] = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mid", ".midi"))
        if full and files:
            chosen[folder.name] = files
            continue
        small = sorted((p.stat().st_size, p.name, p) for p in files if p.stat().st_size < 60_000)
        if small:
            chosen[folder.name] = [small[0][2]]
    if quick:
        chosen = dict(list(chosen.items())[:3])
    return chosen


def cpu_control(jobs: int) -> float:
    """The parallel speedup this machine offers right now for pure CPU work (other users
    share the cores), to read (b) against."""
    import concurrent.futures as cf

    from pianogen.cache import pool_context

    tasks = [3_000_000] * (2 * jobs)
    start = time.perf_counter()
    for n in tasks:
        _spin(n)
    serial = time.perf_counter() - start
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context()) as pool:
        start = time.perf_counter()
        list(pool.map(_spin, tasks))
        parallel = time.perf_counter() - start
    return serial / parallel


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def agreement(a: list, b: list) -> tuple[int, int]:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()), max(len(a), len(b), 1)


def set_agreement(a: set, b: set) -> tuple[int, int]:
    return len(a & b), max(len(a), len(b), 1)


def warm_up() -> None:
    """Import both engines and parse a tiny file once, outside every timing."""
    sys.path.insert(0, str(ROOT / "tests"))
    from midi_factory import midi_bytes

    from pianogen.parse import parse_bytes

    data = midi_bytes([(0, 1, 60), (1, 1, 64)])
    parse_bytes(data, "fast")
    parse_bytes(data, "music21")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-dir",
        default=None,
        help="artist folders (default: ../shared/datasets/piano-midi-de when present, "
        "else the default dataset in data/midi)",
    )
    parser.add_argument("--out", default=str(HERE / "out" / "parse.json"))
    parser.add_argument("--full", action="store_true", help="every file, not the subset")
    parser.add_argument("--quick", action="store_true", help="3 composers (smoke run)")
    parser.add_argument("--parallel-files", type=int, default=8, help="files for (b)")
    args = parser.parse_args()
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    out = Path(args.out)
    if not data_dir.is_dir():
        message = f"no data at {data_dir}: nothing to measure (pass --data-dir)"
        print(message)
        atomic_write_json(out, {"skipped": message})
        return 0

    from pianogen import tokens
    from pianogen.cache import cache_key, entry_path, parse_many, write_entry
    from pianogen.parse import BadMidi, parse_midi

    warm_up()
    chosen = pick_files(data_dir, args.full, args.quick)
    all_files = [f for files in chosen.values() for f in files]
    print(f"{len(all_files)} files from {len(chosen)} composers", flush=True)

    # (c) fast vs music21, file by file; the music21 results also fill a cache for (a)
    per_composer: dict[str, dict] = {}
    per_file = []
    cache_dir = Path(tempfile.mkdtemp(prefix="bench_parse_"))
    m21_total = fast_total = 0.0
    for composer, files in chosen.items():
        counts = {
            "tokens": [0, 0],
            "paper_tokens": [0, 0],
            "onset_pitch": [0, 0],
            "onset_duration_pitch": [0, 0],
        }
        for path in files:
            start = time.perf_counter()
            try:
                reference = parse_midi(path, "music21")
            except BadMidi as exc:
                print(f"  {path.name}: music21 skipped it ({exc.reason})")
                continue
            m21_seconds = time.perf_counter() - start
            fast_runs = []
            for _ in range(3):
                start = time.perf_counter()
                fast = parse_midi(path, "fast")
                fast_runs.append(time.perf_counter() - start)
            fast_seconds = min(fast_runs)
            m21_total += m21_seconds
            fast_total += fast_seconds
            write_entry(
                entry_path(cache_dir, "music21", cache_key(path.read_bytes(), "music21")), reference
            )
            ta = tokens.encode(fast.notes, "merged")
            tb = tokens.encode(reference.notes, "merged")
            pairs = {
                "tokens": agreement(ta, tb),
                "paper_tokens": agreement(
                    tokens.encode_piece(fast, "paper"), tokens.encode_piece(reference, "paper")
                ),
                "onset_pitch": set_agreement(
                    {(n.onset, n.pitch) for n in fast.notes},
                    {(n.onset, n.pitch) for n in reference.notes},
                ),
                "onset_duration_pitch": set_agreement(
                    {(n.onset, n.duration, n.pitch) for n in fast.notes},
                    {(n.onset, n.duration, n.pitch) for n in reference.notes},
                ),
            }
            for key, (same, total) in pairs.items():
                counts[key][0] += same
                counts[key][1] += total
            per_file.append(
                {
                    "file": f"{composer}/{path.name}",
                    "notes": len(reference.notes),
                    "music21_s": round(m21_seconds, 3),
                    "fast_s": round(fast_seconds, 5),
                    "speedup": round(m21_seconds / fast_seconds, 1),
                    "token_agreement": round(pairs["tokens"][0] / pairs["tokens"][1], 5),
                    "paper_token_agreement": round(
                        pairs["paper_tokens"][0] / max(pairs["paper_tokens"][1], 1), 5
                    ),
                }
            )
            print(
                f"  {composer}/{path.name}: music21 {m21_seconds:.2f} s, fast "
                f"{fast_seconds * 1000:.1f} ms, tokens agree: merged "
                f"{per_file[-1]['token_agreement']:.4f}, "
                f"paper {per_file[-1]['paper_token_agreement']:.4f}",
                flush=True,
            )
        per_composer[composer] = {k: round(s / max(t, 1), 5) for k, (s, t) in counts.items()}
        per_composer[composer]["tokens_compared"] = counts["tokens"][1]

    # (a) warm cache: the same files, answered from the JSON entries written above
    warm_runs = []
    for _ in range(3):
        start = time.perf_counter()
        hits, _ = parse_many(all_files, "music21", cache_dir, jobs=1, progress=False)
        warm_runs.append(time.perf_counter() - start)
    warm_seconds = min(warm_runs)
    assert len(hits) == len(per_file)

    # (b) cold parse of a few similar files: every core vs one (music21, fresh caches)
    jobs = os.cpu_count() or 1
    sample = sorted(all_files, key=lambda p: (p.stat().st_size, p.name))
    middle = max(0, len(sample) // 2 - args.parallel_files // 2)
    sample = sample[middle : middle + args.parallel_files]
    control = cpu_control(jobs)
    # Serial and parallel alternate, each on fresh caches, and the medians are compared, so
    # load from other processes hits both alike.
    runs: dict[str, list[float]] = {"serial": [], "parallel": []}
    for _ in range(1 if args.quick else 3):
        for label, n_jobs in (("serial", 1), ("parallel", jobs)):
            fresh = Path(tempfile.mkdtemp(prefix=f"bench_parse_{label}_"))
            start = time.perf_counter()
            parse_many(sample, "music21", fresh, jobs=n_jobs, progress=False)
            runs[label].append(time.perf_counter() - start)
    timings = {label: statistics.median(times) for label, times in runs.items()}

    speedups = [f["speedup"] for f in per_file]
    result = {
        "data": "piano-midi.de (../shared)" if data_dir == SHARED_DATA else str(data_dir),
        "files": len(per_file),
        "composers": len(per_composer),
        "subset": "full"
        if args.full
        else ("quick" if args.quick else "smallest file per composer"),
        "cpus": jobs,
        "targets": TARGETS,
        "cache_vs_music21": {
            "music21_cold_s": round(m21_total, 2),
            "warm_cache_s": round(warm_seconds, 4),
            "ratio": round(m21_total / warm_seconds, 1),
        },
        "parallel_vs_serial": {
            "files": [p.name for p in sample],
            "serial_s": round(timings["serial"], 2),
            "parallel_s": round(timings["parallel"], 2),
            "runs_s": {label: [round(t, 3) for t in times] for label, times in runs.items()},
            "jobs": jobs,
            "ratio": round(timings["serial"] / timings["parallel"], 2),
            "cpu_control_ratio": round(control, 2),
        },
        "fast_vs_music21": {
            "music21_s": round(m21_total, 2),
            "fast_s": round(fast_total, 4),
            "ratio_total": round(m21_total / fast_total, 1),
            "ratio_median_file": round(statistics.median(speedups), 1) if speedups else None,
        },
        "agreement_per_composer": per_composer,
        "min_token_agreement": min((c["tokens"] for c in per_composer.values()), default=None),
        "min_paper_token_agreement": min(
            (c["paper_tokens"] for c in per_composer.values()), default=None
        ),
        "per_file": per_file,
    }
    atomic_write_json(out, result)
    print()
    print(
        f"(a) warm cache vs cold music21: {result['cache_vs_music21']['ratio']}x "
        f"(target >= {TARGETS['cache_vs_music21']}x)"
    )
    print(
        f"(b) cold parallel ({jobs} jobs) vs serial: {result['parallel_vs_serial']['ratio']}x "
        f"(target >= {TARGETS['parallel_vs_serial']}x; pure-CPU control on this machine now: "
        f"{control:.2f}x)"
    )
    print(
        f"(c) fast vs music21: {result['fast_vs_music21']['ratio_total']}x total, "
        f"{result['fast_vs_music21']['ratio_median_file']}x median file "
        f"(target >= {TARGETS['fast_vs_music21']}x)"
    )
    print(
        f"    token agreement: min over composers {result['min_token_agreement']} (merged), "
        f"{result['min_paper_token_agreement']} (paper, part-wise)"
    )
    for composer, values in per_composer.items():
        print(
            f"    {composer:14s} merged {values['tokens']:.4f}  paper "
            f"{values['paper_tokens']:.4f}  notes {values['onset_pitch']:.4f}"
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
