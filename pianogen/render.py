"""Make notes audible and visible: audio files, SVG sheet music and piano rolls.

Audio comes from FluidSynth with a General MIDI SoundFont when both are installed (a real
sampled piano), else from :func:`synth_notes`, a small additive piano-like synthesizer in
numpy, so the book always has sound. Which one was used is written next to each audio file
(``<file>.json``, see :func:`audio_info`) so the book can say so honestly.

Sheet music goes notes -> music21 stream (a piano grand staff, split at middle C) ->
MusicXML -> verovio -> SVG, with verovio's id seed fixed so the same notes give the same
bytes. Piano rolls are matplotlib Axes with the primer and the generated continuation in
different colours.
"""

from __future__ import annotations

import html
import logging
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from pianogen.errors import PianogenError
from pianogen.io import atomic_path, atomic_write_json, atomic_write_text, read_json
from pianogen.notes import DEFAULT_QPM, TICKS_PER_QUARTER, Note
from pianogen.pitches import pitch_name

__all__ = [
    "AudioInfo",
    "RenderError",
    "audio_info",
    "find_soundfont",
    "note_html",
    "notes_to_musicxml",
    "piano_roll",
    "render_audio",
    "render_audio_info",
    "render_score_svg",
    "synth_notes",
    "write_audio",
]

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "PIANOGEN_SOUNDFONT"
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)
SOUNDFONT_GLOBS = ("/usr/share/soundfonts/*.sf2", "/usr/share/sounds/sf2/*.sf2")
AUDIO_FORMATS = {".ogg": ("OGG", "VORBIS"), ".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}
PEAK = 0.89  # about -1 dBFS: loud enough, never clipping
TAIL_SECONDS = 2.0  # longest ring-out kept after the last note ends (FluidSynth)
RELEASE_SECONDS = 0.25  # numpy synth: a released note fades to exactly zero within this
SILENCE_PEAK = 1e-4  # below this the audio counts as silent
FLUIDSYNTH_TIMEOUT = 600.0  # seconds; FluidSynth renders ~100x real time here


class RenderError(PianogenError, RuntimeError):
    """Rendering is impossible for a reason the caller can fix (empty input, bad path...)."""


@dataclass(frozen=True)
class AudioInfo:
    """What :func:`render_audio` produced and how; saved as ``<audio file>.json``."""

    path: str
    renderer: str  # "fluidsynth" or "numpy"
    soundfont: str | None
    sample_rate: int
    channels: int
    duration_s: float
    notes: int
    note: str = ""  # why the numpy synth was used, when it was a fallback


# --------------------------------------------------------------------------- SoundFont
def find_soundfont(explicit: str | os.PathLike | None = None) -> Path | None:
    """The SoundFont to use: ``explicit``, else ``$PIANOGEN_SOUNDFONT``, else a usual path.

    A path that was asked for (argument or environment) but does not exist is an error, not
    a silent fallback: the user wanted that sound. ``None`` means none is installed.
    """
    wanted = explicit if explicit is not None else os.environ.get(SOUNDFONT_ENV) or None
    if wanted is not None:
        path = Path(wanted).expanduser()
        if not path.is_file():
            source = "argument" if explicit is not None else f"${SOUNDFONT_ENV}"
            raise RenderError(
                f"SoundFont {str(path)!r} (from {source}) does not exist; point it at an "
                ".sf2 file or unset it to use an installed one"
            )
        return path
    for candidate in SOUNDFONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    for pattern in SOUNDFONT_GLOBS:
        folder, glob = pattern.rsplit("/", 1)
        found = sorted(Path(folder).glob(glob)) if Path(folder).is_dir() else []
        if found:
            return found[0]
    return None


# --------------------------------------------------------------------------- MIDI input
@dataclass(frozen=True)
class _TimedNotes:
    """Notes in seconds (what a synthesizer needs), read from a MIDI file."""

    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    @property
    def end(self) -> float:
        return float(np.max(self.onset + self.duration)) if len(self.onset) else 0.0


def _read_midi_seconds(midi_path: Path) -> _TimedNotes:
    """All non-drum notes of a MIDI file in seconds (tempo changes applied by symusic)."""
    import symusic

    try:
        score = symusic.Score(str(midi_path)).to("second")
    except (RuntimeError, ValueError) as exc:
        raise RenderError(f"cannot read MIDI file {str(midi_path)!r}: {exc}") from None
    rows = [
        (n.time, n.duration, n.pitch, n.velocity)
        for track in score.tracks
        if not track.is_drum
        for n in track.notes
        if n.duration > 0 and n.velocity > 0
    ]
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return _TimedNotes(arr[:, 0], arr[:, 1], arr[:, 2].astype(int), arr[:, 3].astype(int))


def _notes_to_seconds(notes: Sequence[Note], qpm: float) -> _TimedNotes:
    if qpm <= 0:
        raise ValueError(f"qpm must be > 0, got {qpm}")
    sec_per_tick = 60.0 / (qpm * TICKS_PER_QUARTER)
    arr = np.array([(n.onset, n.duration, n.pitch, n.velocity) for n in notes], dtype=np.float64)
    arr = arr.reshape(-1, 4)
    return _TimedNotes(
        arr[:, 0] * sec_per_tick,
        arr[:, 1] * sec_per_tick,
        arr[:, 2].astype(int),
        arr[:, 3].astype(int),
    )


# --------------------------------------------------------------------------- numpy synth
def _synth(timed: _TimedNotes, sample_rate: int) -> np.ndarray:
    """Additive piano-ish synthesis: mono float32, peak-normalised to :data:`PEAK`.

    Each note sums six slightly stretched harmonics (piano strings are stiff), each decaying
    exponentially — faster for higher harmonics and higher notes, like a struck string. A
    5 ms attack avoids clicks; after note-off the sound fades to exactly zero within
    :data:`RELEASE_SECONDS`. Velocity scales loudness and brightness.
    """
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000 Hz, got {sample_rate}")
    if len(timed.onset) == 0:
        raise RenderError("nothing to render: no playable notes")
    total = math.ceil((timed.end + RELEASE_SECONDS) * sample_rate) + 1
    out = np.zeros(total, dtype=np.float64)
    attack = max(1, int(0.005 * sample_rate))
    release = int(RELEASE_SECONDS * sample_rate)
    for onset, dur, pitch, velocity in zip(
        timed.onset, timed.duration, timed.pitch, timed.velocity, strict=True
    ):
        held = round(min(dur, 6.0) * sample_rate)  # decay makes longer holds inaudible
        n = held + release
        start = round(onset * sample_rate)
        t = np.arange(n) / sample_rate
        f0 = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
        tau = 1.6 * 2.0 ** (-(pitch - 60) / 24.0)  # seconds; low strings ring longer
        loud = (velocity / 127.0) ** 1.6
        bright = 0.5 + 0.5 * velocity / 127.0
        wave = np.zeros(n)
        for k in range(1, 7):
            fk = k * f0 * math.sqrt(1.0 + 1e-4 * k * k)
            if fk >= 0.45 * sample_rate:
                break
            amp = bright ** (k - 1) / k**1.3
            wave += amp * np.sin(2 * np.pi * fk * t) * np.exp(-t * k**0.7 / tau)
        env = np.ones(n)
        env[:attack] = np.linspace(0.0, 1.0, attack, endpoint=False)
        r = np.arange(release) / sample_rate
        env[held:] = np.exp(-r / 0.06) * (1.0 - r / RELEASE_SECONDS)  # reaches 0 exactly
        out[start : start + n] += (loud * wave * env)[: max(0, total - start)]
    peak = float(np.max(np.abs(out)))
    if peak > 0:
        out *= PEAK / peak
    return out.astype(np.float32)


def synth_notes(
    notes: Sequence[Note], qpm: float = DEFAULT_QPM, sample_rate: int = 44100
) -> np.ndarray:
    """Synthesize ``notes`` (ticks, 12 per quarter, at ``qpm``) as mono float32 audio.

    Length: the last note's end plus :data:`RELEASE_SECONDS`. Raises :class:`RenderError`
    when there are no notes.
    """
    if not notes:
        raise RenderError("nothing to render: the note list is empty")
    return _synth(_notes_to_seconds(notes, qpm), sample_rate)


# --------------------------------------------------------------------------- audio files
def _audio_format(out_path: Path) -> tuple[str, str]:
    try:
        return AUDIO_FORMATS[out_path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"unsupported audio format {out_path.suffix!r} for {str(out_path)!r}; "
            f"use one of {sorted(AUDIO_FORMATS)}"
        ) from None


def write_audio(audio: np.ndarray, out_path: Path, sample_rate: int) -> Path:
    """Write float audio (frames or frames x channels) atomically; format from the suffix.

    Written in one-second blocks: libsndfile's Vorbis encoder segfaulted here on ~60 s of
    stereo audio written in one call (FIELD-NOTES).
    """
    import soundfile

    out_path = Path(out_path)
    fmt, subtype = _audio_format(out_path)
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with (
        atomic_path(out_path) as tmp,
        soundfile.SoundFile(
            str(tmp), "w", samplerate=sample_rate, channels=channels, format=fmt, subtype=subtype
        ) as handle,
    ):
        for start in range(0, len(data), sample_rate):
            handle.write(data[start : start + sample_rate])
    return out_path


def _fluidsynth(midi_path: Path, soundfont: Path, sample_rate: int, end_s: float) -> np.ndarray:
    """Render with the FluidSynth CLI to a float WAV; return it trimmed and peak-normalised."""
    import soundfile

    with tempfile.TemporaryDirectory(prefix="pianogen-fs-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = ["fluidsynth", "-ni", "-q", "-O", "float", "-F", str(wav)]
        cmd += ["-r", str(sample_rate), str(soundfont), str(midi_path)]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=FLUIDSYNTH_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"fluidsynth took over {FLUIDSYNTH_TIMEOUT:.0f} s") from None
        if proc.returncode != 0 or not wav.is_file():
            last = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise RenderError(f"fluidsynth failed (exit {proc.returncode}): {last[0]}")
        audio, _ = soundfile.read(str(wav), dtype="float32", always_2d=True)
    audio = audio[: math.ceil((end_s + TAIL_SECONDS) * sample_rate)]
    level = np.max(np.abs(audio), axis=1) if len(audio) else np.zeros(0)
    peak = float(level.max()) if len(level) else 0.0
    if peak < SILENCE_PEAK:
        raise RenderError("fluidsynth produced silence (does the SoundFont have a piano?)")
    loud = np.nonzero(level > peak * 1e-3)[0]  # trim the inaudible (-60 dB) tail
    audio = audio[: max(int(end_s * sample_rate), loud[-1] + 1)]
    fade = min(len(audio), int(0.05 * sample_rate))
    audio[len(audio) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return audio * np.float32(PEAK / peak)


def render_audio_info(
    midi_path: Path,
    out_path: Path,
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = 44100,
) -> AudioInfo:
    """Render a MIDI file to ``out_path`` (.ogg, .wav or .flac) and say how it was done.

    FluidSynth is used when the ``fluidsynth`` binary and a SoundFont are found; otherwise,
    or if FluidSynth fails or produces silence, the numpy synthesizer (logged, not an
    error). The audio is written atomically, then ``<out_path>.json`` (:class:`AudioInfo`).
    """
    midi_path, out_path = Path(midi_path), Path(out_path)
    _audio_format(out_path)  # reject an unknown suffix before any work
    if not midi_path.is_file():
        raise RenderError(f"MIDI file {str(midi_path)!r} does not exist")
    timed = _read_midi_seconds(midi_path)
    if len(timed.onset) == 0:
        raise RenderError(f"nothing to render: {str(midi_path)!r} has no (non-drum) notes")
    sf2 = find_soundfont(soundfont)
    binary = shutil.which("fluidsynth")
    note = ""
    audio = None
    if binary is None or sf2 is None:
        missing = "the fluidsynth program" if binary is None else "a SoundFont"
        note = f"{missing} is not installed; used the numpy synthesizer"
        log.info("%s for %s", note, out_path.name)
    else:
        try:
            audio = _fluidsynth(midi_path, sf2, sample_rate, timed.end)
        except RenderError as exc:
            note = f"{exc}; used the numpy synthesizer"
            log.warning("%s for %s", note, out_path.name)
    renderer = "fluidsynth" if audio is not None else "numpy"
    if audio is None:
        audio = _synth(timed, sample_rate)
    write_audio(audio, out_path, sample_rate)
    info = AudioInfo(
        path=out_path.name,
        renderer=renderer,
        soundfont=str(sf2) if renderer == "fluidsynth" else None,
        sample_rate=sample_rate,
        channels=1 if audio.ndim == 1 else int(audio.shape[1]),
        duration_s=round(len(audio) / sample_rate, 4),
        notes=len(timed.onset),
        note=note,
    )
    atomic_write_json(_info_path(out_path), asdict(info))
    return info


def render_audio(
    midi_path: Path,
    out_path: Path,
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = 44100,
) -> Path:
    """Render a MIDI file to audio; returns ``out_path``. See :func:`render_audio_info`."""
    render_audio_info(midi_path, out_path, soundfont, sample_rate)
    return Path(out_path)


def _info_path(audio_path: Path) -> Path:
    return audio_path.with_name(audio_path.name + ".json")


def audio_info(audio_path: Path) -> dict[str, Any]:
    """The :class:`AudioInfo` saved beside an audio file by :func:`render_audio`."""
    return read_json(_info_path(Path(audio_path)))


# --------------------------------------------------------------------------- sheet music
def _staff_events(notes: Sequence[Note], end: int) -> list[tuple[int, int, list[int]]]:
    """One staff as a sequence of (onset, duration, pitches) chords; [] pitches = rest.

    Notes starting together form a chord lasting as long as its shortest note; a chord is
    cut where the next one starts (a notation preview, not a transcription of overlaps).
    """
    by_onset: dict[int, list[Note]] = {}
    for n in notes:
        by_onset.setdefault(n.onset, []).append(n)
    onsets = sorted(by_onset)
    events: list[tuple[int, int, list[int]]] = []
    cursor = 0
    for i, onset in enumerate(onsets):
        if onset > cursor:
            events.append((cursor, onset - cursor, []))
        nxt = onsets[i + 1] if i + 1 < len(onsets) else end
        dur = min(min(n.duration for n in by_onset[onset]), nxt - onset, end - onset)
        events.append((onset, dur, sorted({n.pitch for n in by_onset[onset]})))
        cursor = onset + dur
    if cursor < end:
        events.append((cursor, end - cursor, []))
    return events


def notes_to_musicxml(notes: Sequence[Note], qpm: float = DEFAULT_QPM, bars: int = 8) -> str:
    """The first ``bars`` 4/4 bars of ``notes`` as a piano grand staff in MusicXML."""
    from fractions import Fraction

    from music21 import chord, clef, layout, metadata, meter, note, stream, tempo
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    if bars < 1:
        raise ValueError(f"bars must be >= 1, got {bars}")
    bar = 4 * TICKS_PER_QUARTER
    first = min(n.onset for n in notes) // bar * bar  # start at the bar of the first note
    window = [n for n in notes if first <= n.onset < first + bars * bar]
    shifted = [Note(n.onset - first, n.duration, n.pitch, n.velocity) for n in window]
    last = max(n.end for n in shifted)
    end = min(bars * bar, -(-last // bar) * bar)
    score = stream.Score()
    score.metadata = metadata.Metadata(title="", composer="")
    parts = []
    for is_treble in (True, False):
        part = stream.Part()
        part.insert(0, clef.TrebleClef() if is_treble else clef.BassClef())
        part.insert(0, meter.TimeSignature("4/4"))
        if is_treble:
            part.insert(0, tempo.MetronomeMark(number=round(qpm)))
        staff = [n for n in shifted if (n.pitch >= 60) == is_treble]
        for onset, dur, pitches in _staff_events(staff, end):
            ql = Fraction(dur, TICKS_PER_QUARTER)
            if not pitches:
                element = note.Rest(quarterLength=ql)
            elif len(pitches) == 1:
                element = note.Note(pitches[0], quarterLength=ql)
            else:
                element = chord.Chord(pitches, quarterLength=ql)
            part.insert(Fraction(onset, TICKS_PER_QUARTER), element)
        score.insert(0, part)
        parts.append(part)
    score.insert(0, layout.StaffGroup(parts, symbol="brace", barTogether=True))
    return GeneralObjectExporter(score.makeNotation()).parse().decode("utf-8")


def render_score_svg(
    notes: Sequence[Note],
    out_path: Path,
    qpm: float = DEFAULT_QPM,
    bars: int = 8,
    title: str | None = None,
) -> Path:
    """Engrave the first ``bars`` bars of ``notes`` as SVG sheet music (same notes, same bytes).

    ``title`` goes into the SVG's ``<title>`` element (escaped), not onto the page.
    """
    import verovio

    if not notes:
        raise RenderError("nothing to render: the note list is empty")
    xml = notes_to_musicxml(notes, qpm, bars)
    verovio.enableLog(verovio.LOG_OFF)
    toolkit = verovio.toolkit()
    toolkit.setOptions(
        {
            "xmlIdSeed": 1,
            "header": "none",
            "footer": "none",
            "pageWidth": 2100,
            "pageHeight": 60000,
            "adjustPageHeight": True,
            "scale": 40,
            "breaks": "auto",
            "svgViewBox": True,
        }
    )
    if not toolkit.loadData(xml):
        raise RenderError("verovio could not read the MusicXML made from these notes")
    svg = toolkit.renderToSVG(1)
    if "<svg" not in svg:
        raise RenderError("verovio produced no SVG")
    if title:
        head_end = svg.index(">", svg.index("<svg")) + 1
        svg = f"{svg[:head_end]}<title>{escape(title)}</title>{svg[head_end:]}"
    return atomic_write_text(Path(out_path), svg)


# --------------------------------------------------------------------------- piano roll
def piano_roll(
    notes: Sequence[Note],
    ax: Any = None,
    primer_end: int | None = None,
    title: str | None = None,
    qpm: float | None = None,
) -> Any:
    """Draw ``notes`` as a piano roll on ``ax`` (a new figure if None) and return the Axes.

    x is time in beats (quarter notes; seconds on a top axis when ``qpm`` is given), y is
    MIDI pitch labelled at every C. With ``primer_end`` (ticks), notes starting before it
    are the primer (grey-blue) and the rest the continuation (orange), with a dashed line at
    the join. One rectangle per note, in a PatchCollection per colour.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    if not notes:
        raise RenderError("nothing to render: the note list is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    split = primer_end if primer_end is not None else -1
    groups = {
        "primer": ([n for n in notes if n.onset < split], "#4c72b0"),
        "generated" if primer_end is not None else "notes": (
            [n for n in notes if n.onset >= split],
            "#dd8452",
        ),
    }
    handles = []
    for label, (group, colour) in groups.items():
        if not group:
            continue
        rects = [
            Rectangle((n.onset / TICKS_PER_QUARTER, n.pitch - 0.4), n.duration / 12, 0.8)
            for n in group
        ]
        alphas = [0.45 + 0.55 * n.velocity / 127 for n in group]
        coll = PatchCollection(rects, facecolor=colour, edgecolor="black", linewidth=0.3)
        coll.set_alpha(alphas)
        coll.set_label(label)
        ax.add_collection(coll)
        handles.append(Patch(facecolor=colour, edgecolor="black", label=label))
    low = min(n.pitch for n in notes) - 2
    high = max(n.pitch for n in notes) + 2
    end = max(n.end for n in notes) / TICKS_PER_QUARTER
    ax.set_xlim(min(n.onset for n in notes) / TICKS_PER_QUARTER, end)
    ax.set_ylim(low - 0.5, high + 0.5)
    cs = [p for p in range(low, high + 1) if p % 12 == 0] or [low]
    ax.set_yticks(cs, [pitch_name(p) for p in cs])
    ax.set_yticks(range(low, high + 1), minor=True)
    ax.grid(axis="y", which="major", color="0.85", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("time (beats)")
    ax.set_ylabel("pitch")
    if primer_end is not None:
        ax.axvline(primer_end / TICKS_PER_QUARTER, color="black", linestyle="--", linewidth=1)
    if len(handles) > 1:
        ax.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.8)
    if qpm:
        beats_per_s = qpm / 60.0
        top = ax.secondary_xaxis(
            "top", functions=(lambda b: b / beats_per_s, lambda s: s * beats_per_s)
        )
        top.set_xlabel("time (s)")
    if title:
        ax.set_title(title)
    return ax


def note_html(text: str) -> str:
    """A visible, escaped note for the book where something could not be shown."""
    return f'<div class="admonition note"><p>{html.escape(str(text))}</p></div>'


def note(text: str) -> None:
    """Display :func:`note_html` in a notebook."""
    from IPython.display import HTML, display

    display(HTML(note_html(text)))
