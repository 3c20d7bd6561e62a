"""The published book: table of contents from the runs, the artist pages, the HTML build.

``build_book`` executes the cross-artist chapters (dataset overview, results, performance)
with papermill into ``book/generated/``, writes one provenance page per artist, generates
``_toc.yml`` from the artists whose notebooks were executed, and runs ``jupyter-book build``
with warnings as errors. Executed notebooks are rendered as they are (``execute_notebooks:
off``). Audio and other media written next to the executed notebooks are copied beside the
HTML pages so the book plays offline.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pianogen.errors import PianogenError
from pianogen.execution import LOGS_DIR, declared_parameters, execute_notebook, machine_info
from pianogen.explore import notebook_path, repo_root
from pianogen.io import atomic_write_text, read_json_or_none
from pianogen.runs import CONDITIONED_DIR, parse_train_page_name, run_folders
from pianogen.tokens import get_vocabulary

__all__ = [
    "CHAPTER_NOTEBOOKS",
    "DOWNLOADS_DIR",
    "NOTEBOOK_ORDER",
    "BookError",
    "artist_notebooks",
    "build_book",
    "conditioned_pages",
    "copy_media",
    "executed_artists",
    "execution_rows",
    "page_title",
    "pages_showing",
    "reproduce_lines",
    "tidy_cells_for_readers",
    "write_artist_index",
    "write_downloads",
    "write_execution_page",
    "write_toc",
]

log = logging.getLogger("pianogen")

NOTEBOOK_ORDER = ("01_explore", "02_train", "03_evaluate")
DOWNLOADS_DIR = "downloads"  # beside an artist's page: its runs' files to download
CHAPTER_NOTEBOOKS = {
    "dataset": "00_dataset.ipynb",
    "results": "90_results.ipynb",
    "performance": "92_performance.ipynb",
}


class BookError(PianogenError):
    """The book could not be built; the message says what to run first."""


# ------------------------------------------------------------------------ summary tables
# ---------------------------------------------------------------------- pages and toc
def executed_artists(book_dir: Path) -> list[str]:
    """Artists that have at least their exploration notebook executed."""
    artists_dir = Path(book_dir) / "artists"
    if not artists_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in artists_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "01_explore.ipynb").is_file()
    )


def conditioned_pages(book_dir: Path) -> list[Path]:
    """The executed training pages of the conditioned runs (one model for every artist,
    ``book/artists/_conditioned/``): the profile's vocabulary before the others, seed
    replicates after the runs they repeat."""

    def key(path: Path) -> tuple[bool, bool, str]:
        run = parse_train_page_name(path.stem)
        return (bool(run and get_vocabulary(run[1]).run_suffix), bool(run and run[3]), path.stem)

    pages = (Path(book_dir) / "artists" / CONDITIONED_DIR).glob(f"{NOTEBOOK_ORDER[1]}_*.ipynb")
    return sorted(pages, key=key)


def artist_notebooks(artist_dir: Path) -> list[Path]:
    """The executed notebooks of one artist in reading order (training pages of seed
    replicates after the others)."""

    def replicate(path: Path) -> bool:
        run = parse_train_page_name(path.stem)
        return bool(run and run[3])

    found = []
    for stem in NOTEBOOK_ORDER:
        pages = sorted(artist_dir.glob(f"{stem}*.ipynb"))
        found.extend(sorted(pages, key=replicate))  # stable: by name within each group
    return found


def cell(value: Any) -> str:
    """A value as the text of a Markdown table cell: escaped, one line."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return html.escape(text).replace("|", "&#124;").replace("\n", " ")


def _link_text(text: str) -> str:
    """Text safe inside a MyST role's label (no backticks or angle brackets)."""
    return re.sub("[`<>]", "", text)


def write_downloads(artist_dir: Path, artist: str, runs_root: Path | None) -> list[str]:
    """Copy the artist's runs' ``metrics.json`` and sample MIDI files into ``downloads/``
    beside the page, and return the page's "Downloads" section: those files and the
    executed notebooks, as links that work in the offline HTML (Sphinx copies them)."""
    out = artist_dir / DOWNLOADS_DIR
    shutil.rmtree(out, ignore_errors=True)
    rows: list[tuple[str, str]] = []  # (label, path relative to the page)
    for notebook in artist_notebooks(artist_dir):
        rows.append((f"{notebook.name} (executed notebook)", notebook.name))
    runs = [r for r in (run_folders(runs_root) if runs_root else []) if r[0] == artist]
    for _, preset, split, folder in runs:
        name = preset + ("_window" if split == "window" else "")
        files = [folder / "metrics.json", *sorted((folder / "samples").glob("*.mid"))]
        for path in files:
            if path.is_file():
                target = out / name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                rows.append((f"{name}/{path.name}", target.relative_to(artist_dir).as_posix()))
    if not rows:
        return []
    lines = ["## Downloads", "", "The executed notebooks, each run's `metrics.json` and the"]
    lines += ["MIDI of every generated sample (per run: `RUN_DIR/<artist>/<run>/`).", ""]
    lines += [f"- {{download}}`{_link_text(label)} <{path}>`" for label, path in rows]
    return lines


def write_artist_index(artist_dir: Path, artist: str, runs_root: Path | None = None) -> Path:
    """The artist's landing page: how to reproduce it, downloads, provenance (parameters,
    versions, data hash, run time)."""
    provenance = read_json_or_none(artist_dir / "provenance.json") or {}
    lines = [f"# {html.escape(artist)}", ""]
    lines.append(
        "The notebooks of this part were executed by `pianogen batch` with papermill; the "
        "table below records exactly how."
    )
    lines += ["", *reproduce_lines(provenance, artist)]
    downloads = write_downloads(artist_dir, artist, runs_root)
    lines += ["", *downloads] if downloads else []
    lines += ["", "## Provenance"]
    lines += ["", "| | |", "|---|---|"]

    for key in sorted(provenance):
        lines.append(f"| {cell(key)} | {cell(provenance[key])} |")
    if not provenance:
        lines.append("| provenance | not recorded |")
    return atomic_write_text(artist_dir / "index.md", "\n".join(lines) + "\n")


def reproduce_lines(provenance: dict[str, Any], artist: str) -> list[str]:
    """A "reproduce this page" box: the commands, run from the repository root, that
    re-create the artist's part with the recorded profile and data folder."""
    parameters = (provenance.get("parameters") or {}).get("01_explore") or {}
    data_dir = str(parameters.get("data_dir") or "../data/midi")
    if not Path(data_dir).is_absolute():  # relative to notebooks/ (explore.notebook_path)
        data_dir = os.path.normpath(Path("notebooks") / data_dir)
    else:  # a folder outside the checkout: its name only, not the builder's path
        data_dir = f"/path/to/{Path(data_dir).name}"
    profile = str(provenance.get("profile") or "quick")
    command = (
        f"pianogen batch --data-dir {shlex.quote(data_dir)} --artists {shlex.quote(artist)} "
        f"--profile {shlex.quote(profile)} --force\n"
        f"pianogen book --data-dir {shlex.quote(data_dir)} --profile {shlex.quote(profile)}"
    )
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", command)), default=0))
    return [
        ":::{admonition} Reproduce this page",
        "From the repository root, after `make venv` (`make book` re-creates every artist):",
        "",
        f"{fence}bash",
        command,
        fence,
        ":::",
    ]


def execution_rows(
    root: Path, provenances: dict[str, dict], chapters: dict[str, dict]
) -> list[dict]:
    """One row per executed notebook of the book: page, when it finished, seconds, status,
    profile, data hash and machine (from each artist's ``provenance.json``, given as
    ``provenances``: artist -> its content, and ``.stamp.json``; the book's own chapters
    from ``chapters``: name -> its record)."""
    rows = []
    for artist, provenance in provenances.items():
        artist_dir = root / "book" / "artists" / artist
        stamp = (read_json_or_none(artist_dir / ".stamp.json") or {}).get("tasks") or {}
        who = "all artists" if artist == CONDITIONED_DIR else artist
        for task, state in (provenance.get("tasks") or {}).items():
            done = stamp.get(task) or {}
            rows.append(
                {
                    "page": f"{who} / {page_title(task) or task}",
                    "notebook": task,
                    "finished": done.get("finished"),
                    "seconds": done.get("seconds"),
                    "status": {"ran": "ran", "skipped": "ran earlier"}.get(state, state),
                    "profile": provenance.get("profile"),
                    "data hash": str(provenance.get("data_hash") or "")[:12],
                    "machine": provenance.get("machine"),
                }
            )
    for name, record in chapters.items():
        rows.append({"page": name, "notebook": CHAPTER_NOTEBOOKS[name].removesuffix(".ipynb")})
        rows[-1].update(record)
    return rows


def _machine_text(machine: Any) -> str:
    if not isinstance(machine, dict):
        return "not recorded"
    gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
    vector = f", {machine['vector']}" if machine.get("vector") else ""
    return f"{machine.get('processor')} ({machine.get('cores')} cores{vector}), {gpus}"


def write_execution_page(root: Path, artists: list[str], chapters: dict[str, dict]) -> Path:
    """``book/generated/execution.md``: how and where every page of the book was executed,
    in the manner of QuantEcon's execution statistics."""
    artists_dir = root / "book" / "artists"
    provenances = {a: read_json_or_none(artists_dir / a / "provenance.json") or {} for a in artists}
    rows = execution_rows(root, provenances, chapters)
    versions = next((p["versions"] for p in provenances.values() if p.get("versions")), {})
    python = next((p["python"] for p in provenances.values() if p.get("python")), "")
    machines = sorted({_machine_text(r.get("machine")) for r in rows if r.get("machine")})
    total = sum(float(r.get("seconds") or 0) for r in rows)
    lines = ["# Execution statistics", ""]
    lines.append(
        "Every page of this book is a notebook executed with papermill (the artists' pages by "
        "`pianogen batch`, the chapters by `pianogen book`), never re-executed by the book "
        f"build. {len(rows)} notebooks, {total / 60:.1f} minutes of execution in all "
        "(artists run side by side, so the wall-clock time is shorter). Times are UTC."
    )
    lines += ["", f"Machine: {cell('; '.join(machines) or 'not recorded')}. "]
    lines[-1] += (
        f"Python {cell(python or 'not recorded')}; "
        + ", ".join(f"{cell(k)} {cell(v or 'not installed')}" for k, v in sorted(versions.items()))
        + "."
    )
    lines += ["", "| page | notebook | finished | minutes | status | profile | data hash |"]
    lines.append("|---|---|---|---:|---|---|---|")
    for r in rows:
        minutes = f"{float(r['seconds']) / 60:.1f}" if r.get("seconds") is not None else ""
        values = [r["page"], r["notebook"], r.get("finished") or "", minutes, r.get("status")]
        values += [r.get("profile") or "", r.get("data hash") or ""]
        lines.append("| " + " | ".join(cell(str(v or "")) for v in values) + " |")
    return atomic_write_text(root / "book" / "generated" / "execution.md", "\n".join(lines) + "\n")


def page_title(stem: str) -> str | None:
    """A distinct sidebar title for an executed notebook (several share a source notebook)."""
    run = parse_train_page_name(stem)
    if run is not None:
        preset, vocabulary, split, seed = run
        words = get_vocabulary(vocabulary)
        notes = [
            n
            for n, on in (
                ("window split", split == "window"),
                (words.label, words.run_suffix != ""),
                (f"seed {seed}", seed != 0),
            )
            if on
        ]
        return f"Training {preset}" + (f" ({', '.join(notes)})" if notes else "")
    return {"01_explore": "Exploring the data", "03_evaluate": "Listening and evaluation"}.get(stem)


def tidy_cells_for_readers(notebook: Path) -> bool:
    """Tag an executed notebook's code cells for the book's readers.

    The default ``parameters`` cell is removed and every other code cell (papermill's
    injected parameters included) is folded behind a "show code" toggle: readers see the
    narrative, tables, figures and players first, and the values a notebook actually ran
    with one click away. Markdown cells are left alone. Returns True when the notebook was
    changed.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        wanted = "remove-cell" if "parameters" in tags else "hide-input"
        if wanted not in tags:
            tags.append(wanted)
            changed = True
    if changed:
        atomic_write_text(notebook, nbformat.writes(nb))
    return changed


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # JSON strings are valid YAML scalars


def write_toc(root: Path, artists: list[str], chapters: dict[str, bool]) -> Path:
    """Generate ``_toc.yml`` from the artists actually run and the chapters that exist."""
    root = Path(root)
    lines = ["# Generated by `pianogen book`; do not edit.", "format: jb-book", "root: book/intro"]
    lines += ["parts:", "  - caption: The study", "    chapters:", "      - file: book/method"]
    if chapters.get("dataset"):
        lines.append("      - file: book/generated/dataset")
    for artist in artists:
        artist_dir = root / "book" / "artists" / artist
        lines += [f"  - caption: {_yaml_str('Artist: ' + artist)}", "    chapters:"]
        lines.append(f"      - file: {_yaml_str(f'book/artists/{artist}/index')}")
        for notebook in artist_notebooks(artist_dir):
            lines.append(f"      - file: {_yaml_str(f'book/artists/{artist}/{notebook.stem}')}")
            title = page_title(notebook.stem)
            if title:
                lines.append(f"        title: {_yaml_str(title)}")
    pooled = conditioned_pages(root / "book")
    if pooled:
        lines += ["  - caption: All artists at once", "    chapters:"]
        for notebook in pooled:
            page = f"book/artists/{CONDITIONED_DIR}/{notebook.stem}"
            lines.append(f"      - file: {_yaml_str(page)}")
            lines.append(f"        title: {_yaml_str(page_title(notebook.stem) or notebook.stem)}")
    results = [name for name in ("results", "performance") if chapters.get(name)]
    if results:
        lines += ["  - caption: Results", "    chapters:"]
        lines += [f"      - file: book/generated/{name}" for name in results]
    lines += ["  - caption: Back matter", "    chapters:", "      - file: book/references"]
    if chapters.get("execution"):
        lines.append("      - file: book/generated/execution")
    return atomic_write_text(root / "_toc.yml", "\n".join(lines) + "\n")


def _execute_chapter(name: str, parameters: dict[str, Any], root: Path) -> Path | None:
    """Execute a cross-artist chapter into ``book/generated/`` (its output in ``_logs/``)."""
    source = root / "notebooks" / CHAPTER_NOTEBOOKS[name]
    out_dir = root / "book" / "generated"
    declared = declared_parameters(source)
    params = {k: v for k, v in parameters.items() if k in declared}
    log.info("book: executing %s", source.name)
    log_path = out_dir / LOGS_DIR / f"{name}.log"
    return execute_notebook(source, out_dir / f"{name}.ipynb", params, log_path=log_path)


def copy_media(root: Path, html_dir: Path) -> int:
    """Copy media files written beside executed notebooks next to their HTML pages."""
    copied = 0
    for media in sorted((root / "book").glob("**/media")):
        if "_build" in media.parts or not media.is_dir():
            continue
        dest = html_dir / media.relative_to(root)
        shutil.copytree(media, dest, dirs_exist_ok=True)
        copied += sum(1 for p in media.rglob("*") if p.is_file())
    return copied


def build_book(
    data_dir: Path,
    runs_root: Path,
    profile: str = "quick",
    cache_dir: Path = Path(".cache"),
    root: Path | None = None,
    chapters: tuple[str, ...] = ("dataset", "results", "performance"),
) -> Path:
    """Execute the cross-artist chapters, write the toc and pages, build the HTML."""
    root = Path(root) if root else repo_root()
    artists = executed_artists(root / "book")
    if not artists:
        raise BookError("no executed artist notebooks in book/artists; run `pianogen batch` first")
    parameters = {
        "data_dir": notebook_path(data_dir),
        "runs_root": notebook_path(runs_root),
        "cache_dir": notebook_path(cache_dir),
        "profile": profile,
        "benchmarks_json": notebook_path(root / "benchmarks" / "results.json"),
        "artists": artists,
    }
    records: dict[str, dict] = {}
    machine = machine_info()
    for name in chapters:
        began = time.monotonic()
        _execute_chapter(name, parameters, root)
        records[name] = {
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - began, 2),
            "status": "ran",
            "profile": profile,
            "machine": machine,
        }
    done = dict.fromkeys(chapters, True)
    for artist in artists:
        artist_dir = root / "book" / "artists" / artist
        write_artist_index(artist_dir, artist, runs_root)
        for notebook in artist_notebooks(artist_dir):
            tidy_cells_for_readers(notebook)
    pooled_pages = conditioned_pages(root / "book")
    for notebook in [*pooled_pages, *(root / "book" / "generated").glob("*.ipynb")]:
        tidy_cells_for_readers(notebook)
    pooled = [CONDITIONED_DIR] if pooled_pages else []
    write_execution_page(root, [*artists, *pooled], records)
    write_toc(root, artists, done | {"execution": True})
    out = root / "book"
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(root),
        "--path-output",
        str(out),
        "--warningiserror",
        "--keep-going",
        "--all",
    ]
    log.info("book: %s", " ".join(cmd))
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise BookError(f"jupyter-book build failed:\n{tail}")
    html_dir = out / "_build" / "html"
    copied = copy_media(root, html_dir)
    log.info("book: copied %d media files beside the pages", copied)
    leaks = pages_showing(html_dir, str(root))
    if leaks:
        log.warning(
            "book: %d page(s) show the build folder %s (a reader cannot use it), e.g. %s",
            len(leaks),
            root,
            leaks[0],
        )
    return html_dir / "index.html"


def pages_showing(html_dir: Path, text: str) -> list[str]:
    """The built pages (relative to ``html_dir``) whose HTML contains ``text``."""
    return [
        path.relative_to(html_dir).as_posix()
        for path in sorted(Path(html_dir).rglob("*.html"))
        if text in path.read_text(encoding="utf-8", errors="replace")
    ]
