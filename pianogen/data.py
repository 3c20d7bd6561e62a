"""Artist folders: name validation, MIDI file discovery and loading an artist's pieces.

Layout: ``DATA_DIR/<artist>/*.mid`` (or ``.midi``, any case). Decisions, so that a folder
of real-world files never crashes a run or silently changes what is learned:

* **Artist names are data.** A folder name becomes a path, a run folder and a book page,
  so :func:`validate_artist_name` rejects anything that could escape a folder or break a
  page (empty, ``.``/``..``, separators, leading dots, control characters, > 100 chars)
  and allows unicode letters, digits, spaces and ``-_.,'()&``.
* **Nested folders are searched** (``artist/op.10/etude1.mid``), in a deterministic order
  (sorted relative POSIX paths). Hidden entries (``.git``, macOS ``._x.mid``) are skipped.
* **Symlinks** are followed only while they stay inside ``DATA_DIR/<artist>``; a link
  pointing outside, a link loop, or a second path to a file already listed is reported in
  ``skipped`` and not used.
* **Other files** (``README.txt``, ``cover.jpg``) are reported in ``skipped`` as "not a
  MIDI file name" so the user sees them; files that cannot be read or parsed are skipped
  with the parser's reason. Each skipped file logs one warning line (logger ``pianogen``).
* ``data_hash`` is the sha256 over every MIDI file name found (relative path) and its
  content hash, sorted, so any added, removed, renamed or edited file changes it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pianogen.errors import PianogenError
from pianogen.io import sha256_file
from pianogen.notes import Piece
from pianogen.parse import DEFAULT_MAX_NOTES, Skipped  # Skipped: re-exported

log = logging.getLogger("pianogen")

MIDI_SUFFIXES = (".mid", ".midi")
ALL_ARTISTS = "all"
MAX_NAME_LENGTH = 100
_ALLOWED_PUNCTUATION = set(" -_.,'()&")

__all__ = [
    "ALL_ARTISTS",
    "MIDI_SUFFIXES",
    "ArtistData",
    "NoUsableData",
    "Skipped",
    "artist_data_hash",
    "list_artists",
    "list_midi_files",
    "load_artist",
    "scan_artist",
    "validate_artist_name",
]


@dataclass(frozen=True)
class ArtistData:
    """An artist's usable pieces (in file order), what was skipped, and the data's hash."""

    artist: str
    pieces: list[Piece]
    skipped: list[Skipped]
    data_hash: str


class NoUsableData(PianogenError, ValueError):
    """An artist folder with no usable MIDI file."""


# ------------------------------------------------------------------------------- names
def validate_artist_name(name: str) -> str:
    """Return ``name`` if it is a safe artist (folder) name, else raise ``ValueError``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"artist name must be a non-empty string, got {name!r}")
    problem = None
    if name in (".", ".."):
        problem = "it is a relative path"
    elif "/" in name or "\\" in name or os.sep in name:
        problem = "it contains a path separator"
    elif name.startswith("."):
        problem = "it starts with a dot (hidden folder)"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"it is longer than {MAX_NAME_LENGTH} characters"
    elif name != name.strip():
        problem = "it starts or ends with a space"
    else:
        for char in name:
            category = unicodedata.category(char)
            if category.startswith("C"):
                problem = f"it contains a control character (U+{ord(char):04X})"
                break
            if not (category[0] in "LMN" or char in _ALLOWED_PUNCTUATION):
                problem = f"it contains {char!r}"
                break
    if problem:
        raise ValueError(
            f"unsafe artist name {name!r}: {problem}. Artist folder names may use letters, "
            "digits, spaces and - _ . , ' ( ) &; rename the folder."
        )
    return name


def is_artist_folder(path: Path) -> bool:
    """The one rule for which entries of a data folder are artists: folders whose name
    starts with neither ``.`` (hidden: ``.git``) nor ``_`` (set aside: ``_unused``)."""
    return path.is_dir() and not path.name.startswith((".", "_"))


def list_artists(data_dir: Path | str) -> list[str]:
    """The artist folders in ``data_dir`` (sorted; see :func:`is_artist_folder`).

    Raises ``FileNotFoundError`` when ``data_dir`` is missing and ``ValueError`` naming a
    folder whose name is unsafe (see :func:`validate_artist_name`).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data folder {str(root)!r} not found; it should hold one folder per artist"
        )
    names = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not is_artist_folder(entry):
            continue
        names.append(validate_artist_name(entry.name))
    return names


# ----------------------------------------------------------------------------- files
def _artist_folder(data_dir: Path | str, artist: str) -> Path:
    validate_artist_name(artist)
    folder = Path(data_dir) / artist
    if not folder.is_dir():
        raise NoUsableData(
            f"artist {artist!r}: no folder {str(folder)!r} (expected DATA_DIR/<artist>/*.mid)"
        )
    return folder


def scan_artist(data_dir: Path | str, artist: str) -> tuple[list[Path], list[Skipped]]:
    """All MIDI files of an artist (recursively, sorted) and the entries passed over.

    Skipped entries name the file relative to the artist folder. See the module docstring
    for how hidden entries, symlinks and other files are treated.
    """
    folder = _artist_folder(data_dir, artist)
    root = folder.resolve()
    files: list[tuple[str, Path]] = []
    skipped: list[Skipped] = []
    seen_dirs = {root}
    seen_files: dict[Path, str] = {}

    def inside(target: Path) -> bool:
        return target == root or root in target.parents

    def walk(directory: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(rel or ".", f"folder unreadable ({exc.strerror})"))
            return
        for entry in entries:
            name = f"{rel}/{entry.name}" if rel else entry.name
            if entry.name.startswith("."):
                continue  # hidden files and folders (.git, ._x.mid, .DS_Store)
            path = Path(entry.path)
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # RuntimeError: symlink loop on old Pythons
                skipped.append(Skipped(name, "broken symlink or symlink loop"))
                continue
            if entry.is_symlink() and not inside(target):
                skipped.append(Skipped(name, "symlink points outside the artist folder"))
                continue
            if target.is_dir():
                if target in seen_dirs:
                    skipped.append(Skipped(name, "folder already searched (symlink loop)"))
                    continue
                seen_dirs.add(target)
                walk(path, name)
            elif path.suffix.lower() not in MIDI_SUFFIXES:
                skipped.append(
                    Skipped(name, f"not a MIDI file name ({path.suffix or 'no suffix'})")
                )
            elif target in seen_files:
                skipped.append(Skipped(name, f"same file as {seen_files[target]}"))
            else:
                seen_files[target] = name
                files.append((name, path))

    walk(folder, "")
    files.sort(key=lambda item: item[0])
    return [path for _name, path in files], skipped


def list_midi_files(data_dir: Path | str, artist: str) -> list[Path]:
    """The artist's MIDI files (recursively, in sorted relative-path order)."""
    return scan_artist(data_dir, artist)[0]


def data_hash(folder: Path, files: list[Path]) -> str:
    """sha256 over each file's relative POSIX path and content hash, in sorted order."""
    digest = hashlib.sha256()
    for rel, path in sorted((p.relative_to(folder).as_posix(), p) for p in files):
        digest.update(rel.encode("utf-8") + b"\0")
        try:
            digest.update(sha256_file(path).encode("ascii") + b"\n")
        except OSError:
            digest.update(b"unreadable\n")
    return digest.hexdigest()


def artist_data_hash(data_dir: Path | str, artist: str) -> tuple[str, int]:
    """The artist's data hash as :func:`load_artist` computes it (:func:`data_hash` over the
    files :func:`scan_artist` finds), and the file count; reads no MIDI beyond hashing."""
    files = scan_artist(data_dir, artist)[0]
    return data_hash(_artist_folder(data_dir, artist), files), len(files)


# ------------------------------------------------------------------------------ load
def load_artist(
    data_dir: Path | str,
    artist: str,
    *,
    engine: str = "fast",
    cache_dir: Path | str = Path(".cache"),
    jobs: int | None = None,
    progress: bool = True,
    max_notes: int = DEFAULT_MAX_NOTES,
) -> ArtistData:
    """Parse every MIDI file of ``artist`` (``"all"``: every artist, pooled) via the cache.

    Piece names are the file paths relative to the artist folder without the suffix
    (``"op10/etude1"``); with ``"all"`` they are prefixed with the artist
    (``"chopin/op10/etude1"``). Raises :class:`NoUsableData` when no file is usable.
    """
    from pianogen.cache import parse_many

    data_dir = Path(data_dir)
    artists = list_artists(data_dir) if artist == ALL_ARTISTS else [artist]
    if not artists:
        raise NoUsableData(f"no artist folders in {str(data_dir)!r}")
    paths: list[Path] = []
    names: list[str] = []
    labels: dict[str, str] = {}  # path -> its name in messages (relative, with suffix)
    skipped: list[Skipped] = []
    hashes: list[tuple[str, str]] = []  # (prefix, that artist's data_hash)
    for name in artists:
        folder = _artist_folder(data_dir, name)
        files, passed = scan_artist(data_dir, name)
        prefix = f"{name}/" if artist == ALL_ARTISTS else ""
        skipped += [Skipped(prefix + s.file, s.reason) for s in passed]
        for path in files:
            rel = path.relative_to(folder).as_posix()
            paths.append(path)
            names.append(prefix + rel[: -len(path.suffix)])
            labels[str(path)] = prefix + rel
        hashes.append((prefix, data_hash(folder, files)))
    # One artist: exactly data_hash(folder, files); "all": a hash over each artist's hash.
    if artist == ALL_ARTISTS:
        text = "".join(f"{prefix}\0{value}\n" for prefix, value in hashes)
        combined = hashlib.sha256(text.encode()).hexdigest()
    else:
        combined = hashes[0][1]
    for item in skipped:
        log.warning("skipped %s: %s", item.file, item.reason)
    pieces, bad = parse_many(
        paths,
        engine,
        Path(cache_dir),
        jobs,
        progress,
        max_notes=max_notes,
        names=names,
        desc=f"parsing {artist}",
    )
    for item in bad:
        label = labels.get(item.file, item.file)
        log.warning("skipped %s: %s", label, item.reason)
        skipped.append(Skipped(label, item.reason))
    if not pieces:
        detail = "; ".join(f"{s.file}: {s.reason}" for s in skipped[:5]) or "no MIDI files"
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        raise NoUsableData(
            f"artist {artist!r} has no usable MIDI file in {str(data_dir)!r}: {detail}{more}"
        )
    return ArtistData(artist=artist, pieces=pieces, skipped=skipped, data_hash=combined)
