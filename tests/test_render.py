"""Audio, sheet music and piano rolls: each renderer on tiny hand-checkable inputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import soundfile
import symusic

from pianogen import render
from pianogen.notes import Note
from pianogen.render import RenderError

matplotlib.use("Agg")

SR = 8000  # small sample rate keeps the synth tests fast; the math is the same


def write_midi(path: Path, notes: list[Note], qpm: float = 120.0, drum: bool = False) -> Path:
    """A one-track MIDI file at 12 ticks per quarter (the Note grid), written with symusic."""
    score = symusic.Score(12)
    track = symusic.Track("piano", 0, drum)
    for n in notes:
        track.notes.append(symusic.Note(n.onset, n.duration, n.pitch, n.velocity))
    score.tracks.append(track)
    score.tempos.append(symusic.Tempo(0, qpm))
    score.dump_midi(str(path))
    return path


# Two notes a bar apart at 120 qpm: C4 during 0-0.5 s, G4 during 2.0-2.5 s.
TWO = [Note(0, 12, 60, 100), Note(48, 12, 67, 50)]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# --------------------------------------------------------------------------- SoundFont
def test_find_soundfont_explicit_env_and_missing(tmp_path, monkeypatch):
    sf2 = tmp_path / "piano.sf2"
    sf2.write_bytes(b"RIFF")
    assert render.find_soundfont(sf2) == sf2
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(sf2))
    assert render.find_soundfont() == sf2
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "nope.sf2"))
    with pytest.raises(RenderError, match=r"nope\.sf2.*PIANOGEN_SOUNDFONT"):
        render.find_soundfont()
    with pytest.raises(RenderError, match="does not exist"):
        render.find_soundfont(tmp_path / "other.sf2")


def test_find_soundfont_none_installed(tmp_path, monkeypatch):
    monkeypatch.delenv(render.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(render, "SOUNDFONT_CANDIDATES", (str(tmp_path / "a.sf2"),))
    monkeypatch.setattr(render, "SOUNDFONT_GLOBS", (f"{tmp_path}/*.sf2",))
    assert render.find_soundfont() is None
    (tmp_path / "b.sf2").write_bytes(b"RIFF")
    assert render.find_soundfont() == tmp_path / "b.sf2"


# --------------------------------------------------------------------------- numpy synth
def test_synth_two_notes_energy_where_notes_are():
    audio = render.synth_notes(TWO, qpm=120.0, sample_rate=SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # last note ends at 2.5 s, then the release tail
    assert len(audio) == int(np.ceil((2.5 + render.RELEASE_SECONDS) * SR)) + 1
    assert np.max(np.abs(audio)) == pytest.approx(render.PEAK, abs=1e-6)
    first, gap, second = (
        audio[: SR // 2],
        audio[int(0.8 * SR) : 2 * SR],
        audio[2 * SR : int(2.5 * SR)],
    )
    assert rms(first) > 0.05 and rms(second) > 0.01
    assert np.all(gap == 0.0)  # released notes fade to exactly zero
    assert np.all(audio[int(2.76 * SR) :] == 0.0)
    # velocity 100 vs 50: the first note is clearly louder
    assert rms(first) > 1.5 * rms(second)
    # the strongest frequency of each note is its fundamental (C4 261.6 Hz, G4 392 Hz)
    for segment, f0 in ((first, 261.63), (second, 392.0)):
        spectrum = np.abs(np.fft.rfft(segment))
        freqs = np.fft.rfftfreq(len(segment), 1 / SR)
        assert abs(freqs[np.argmax(spectrum)] - f0) < 3.0


def test_synth_chord_does_not_clip_and_empty_raises():
    chord = [Note(0, 24, p, 127) for p in (48, 52, 55, 60, 64, 67, 72, 76)]
    audio = render.synth_notes(chord, qpm=90.0, sample_rate=SR)
    assert np.max(np.abs(audio)) <= render.PEAK + 1e-6
    with pytest.raises(RenderError, match="nothing to render"):
        render.synth_notes([], 120.0, SR)
    with pytest.raises(ValueError, match="qpm"):
        render.synth_notes(TWO, qpm=0.0, sample_rate=SR)


# --------------------------------------------------------------------------- audio files
@pytest.fixture
def no_fluidsynth(monkeypatch, tmp_path):
    """A PATH on which there is no fluidsynth binary."""
    empty = tmp_path / "emptybin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("fluidsynth") is None


@pytest.mark.parametrize("suffix", [".ogg", ".wav"])
def test_render_audio_numpy_fallback(tmp_path, no_fluidsynth, suffix, caplog):
    midi = write_midi(tmp_path / "two.mid", TWO)
    out = tmp_path / f"two{suffix}"
    with caplog.at_level("INFO", logger="pianogen.render"):
        assert render.render_audio(midi, out, sample_rate=SR) == out
    assert "fluidsynth program is not installed" in caplog.text
    audio, sr = soundfile.read(str(out), dtype="float32")
    assert sr == SR and audio.ndim == 1
    assert len(audio) / SR == pytest.approx(2.5 + render.RELEASE_SECONDS, abs=0.01)
    assert rms(audio[: SR // 2]) > 0.05  # not silent (Vorbis is lossy: compare loosely)
    info = render.audio_info(out)
    assert info["renderer"] == "numpy" and info["notes"] == 2 and info["soundfont"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["emptybin", "two.mid", out.name, out.name + ".json"]
    )  # no temporary files left behind


def test_render_audio_long_ogg_written_in_blocks(tmp_path, no_fluidsynth):
    # ~20 s of audio: the block-wise Vorbis writer must produce the whole thing
    notes = [Note(i * 12, 12, 48 + i % 24, 80) for i in range(40)]
    out = render.render_audio(
        write_midi(tmp_path / "long.mid", notes), tmp_path / "l.ogg", None, SR
    )
    info = soundfile.info(str(out))
    assert info.format == "OGG" and info.subtype == "VORBIS"
    assert info.duration == pytest.approx(20.0 + render.RELEASE_SECONDS, abs=0.01)


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or render.find_soundfont() is None,
    reason="fluidsynth or a General MIDI SoundFont is not installed",
)
def test_render_audio_fluidsynth(tmp_path):
    midi = write_midi(tmp_path / "two.mid", TWO)
    out = render.render_audio(midi, tmp_path / "two.ogg")
    audio, sr = soundfile.read(str(out), dtype="float32", always_2d=True)
    assert sr == 44100 and audio.shape[1] == 2
    duration = len(audio) / sr
    assert 2.5 <= duration <= 2.5 + render.TAIL_SECONDS + 0.01
    assert np.max(np.abs(audio)) == pytest.approx(render.PEAK, abs=0.05)
    assert rms(audio[int(2.0 * sr) : int(2.5 * sr)]) > 0.01  # the second note sounds
    info = render.audio_info(out)
    assert info["renderer"] == "fluidsynth" and info["soundfont"].endswith(".sf2")


def test_render_audio_falls_back_when_fluidsynth_fails(tmp_path, monkeypatch, caplog):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "fluidsynth"
    fake.write_text("#!/bin/sh\necho 'fluidsynth: broken on purpose' >&2\nexit 3\n")
    fake.chmod(0o755)
    sf2 = tmp_path / "x.sf2"
    sf2.write_bytes(b"RIFF")
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}/bin:/usr/bin")
    midi = write_midi(tmp_path / "two.mid", TWO)
    with caplog.at_level("WARNING", logger="pianogen.render"):
        out = render.render_audio(midi, tmp_path / "two.wav", soundfont=sf2, sample_rate=SR)
    info = render.audio_info(out)
    assert info["renderer"] == "numpy"
    assert "exit 3" in info["note"] and "broken on purpose" in info["note"]
    assert "broken on purpose" in caplog.text


def test_render_audio_errors(tmp_path, no_fluidsynth):
    drums = write_midi(tmp_path / "drums.mid", TWO, drum=True)
    with pytest.raises(RenderError, match="nothing to render"):
        render.render_audio(drums, tmp_path / "d.ogg")
    empty = write_midi(tmp_path / "empty.mid", [])
    with pytest.raises(RenderError, match="nothing to render"):
        render.render_audio(empty, tmp_path / "e.ogg")
    with pytest.raises(RenderError, match="does not exist"):
        render.render_audio(tmp_path / "missing.mid", tmp_path / "m.ogg")
    (tmp_path / "bad.mid").write_bytes(b"not a midi file at all")
    with pytest.raises(RenderError, match="cannot read MIDI"):
        render.render_audio(tmp_path / "bad.mid", tmp_path / "b.ogg")
    with pytest.raises(ValueError, match="unsupported audio format"):
        render.render_audio(drums, tmp_path / "x.mp4")
    assert not list(tmp_path.glob("*.ogg"))


# --------------------------------------------------------------------------- sheet music
# C4 E4 quarters, G4 half in the treble; a C3 whole note in the bass: 4 note heads.
BAR = [Note(0, 12, 60), Note(12, 12, 64), Note(24, 24, 67), Note(0, 48, 48)]


def test_musicxml_round_trip_through_music21():
    from music21 import converter

    score = converter.parseData(render.notes_to_musicxml(BAR, qpm=100.0), format="musicxml")
    got = sorted(
        (float(n.getOffsetInHierarchy(score)), n.pitch.midi, float(n.quarterLength))
        for n in score.recurse().notes
    )
    assert got == [(0.0, 48, 4.0), (0.0, 60, 1.0), (1.0, 64, 1.0), (2.0, 67, 2.0)]
    clefs = [c.name for c in score.recurse().getElementsByClass("Clef")]
    assert clefs == ["treble", "bass"]


def test_render_score_svg(tmp_path):
    title = 'Mozart <b>"K.331"</b> & co'
    a = render.render_score_svg(BAR, tmp_path / "a.svg", qpm=100.0, title=title)
    b = render.render_score_svg(BAR, tmp_path / "b.svg", qpm=100.0, title=title)
    svg = a.read_text()
    assert svg.lstrip().startswith(("<svg", "<?xml")) and "<svg" in svg
    assert svg.count('class="note"') == 4
    assert a.read_bytes() == b.read_bytes()  # reproducible (verovio xmlIdSeed)
    assert '<title>Mozart &lt;b&gt;"K.331"&lt;/b&gt; &amp; co</title>' in svg
    assert "<b>" not in svg


def test_render_score_svg_keeps_only_the_first_bars(tmp_path):
    # one note per bar for 12 bars, starting in bar 2: bars=3 keeps the notes of bars 2-4
    notes = [Note(48 * (i + 1), 12, 60 + i) for i in range(12)]
    svg = render.render_score_svg(notes, tmp_path / "s.svg", bars=3).read_text()
    assert svg.count('class="note"') == 3
    with pytest.raises(RenderError, match="nothing to render"):
        render.render_score_svg([], tmp_path / "e.svg")
    with pytest.raises(ValueError, match="bars"):
        render.render_score_svg(notes, tmp_path / "z.svg", bars=0)


# --------------------------------------------------------------------------- piano roll
def test_piano_roll_rectangles_colours_and_join():
    import matplotlib.pyplot as plt

    notes = [Note(i * 6, 6, 60 + i, 90) for i in range(10)]  # 10 notes, 5 before tick 30
    ax = render.piano_roll(notes, primer_end=30, title="roll", qpm=120.0)
    collections = {c.get_label(): c for c in ax.collections}
    assert len(collections["primer"].get_paths()) == 5
    assert len(collections["generated"].get_paths()) == 5
    assert sum(len(c.get_paths()) for c in ax.collections) == len(notes)
    # the dashed line sits at the join, in beats (30 ticks = 2.5 beats)
    assert [tuple(line.get_xdata()) for line in ax.get_lines()] == [(2.5, 2.5)]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["C4"] and ax.get_title() == "roll"
    assert ax.get_xlim() == (0.0, 10 * 6 / 12)
    plt.close(ax.figure)


def test_piano_roll_without_primer_and_on_given_axes():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    out = render.piano_roll(TWO, ax=ax)
    assert out is ax and [c.get_label() for c in ax.collections] == ["notes"]
    assert not ax.get_lines()
    with pytest.raises(RenderError, match="nothing to render"):
        render.piano_roll([])
    plt.close(fig)


def test_notes_for_readers_are_escaped():
    from pianogen.render import note_html

    out = note_html("<script>alert(1)</script> & more")
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp; more" in out
