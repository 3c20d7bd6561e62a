"""The CLI: thin wrappers that print results, and one clear line (exit 2) on user errors."""

import json

import pytest
from midi_factory import write_midi_file

from pianogen.cli import main


def _scale(start: int, n: int = 40) -> list[tuple[float, float, int]]:
    return [(i * 0.5, 0.5, start + (i % 8)) for i in range(n)]


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "midi"
    for i in range(3):
        write_midi_file(root / "bach" / f"piece{i}.mid", _scale(60 + i))
    (root / "bach" / "junk.mid").write_bytes(b"\x00" * 10)
    return root


def test_explore_json_prints_one_object(data_dir, tmp_path, capsys):
    status = main(
        [
            "explore",
            "--data-dir",
            str(data_dir),
            "--artist",
            "bach",
            "--json",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["artist"] == "bach" and result["files"] == 3
    assert result["tokens"] == 120  # 3 pieces x 40 single notes
    assert [s["file"].endswith("junk.mid") for s in result["skipped"]] == [True]
    assert set(result["vocab_at_threshold"]) == {"30", "50", "70", "90"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explore", "--data-dir", "{data}", "--artist", "../etc", "--json"], "artist"),
        (["explore", "--data-dir", "{data}", "--artist", "nobody", "--json"], "nobody"),
        (["explore", "--data-dir", "{missing}", "--artist", "bach", "--json"], "missing"),
        (["train", "--data-dir", "{data}", "--artist", "bach", "--preset", "gpt"], "preset"),
        (
            [
                "train",
                "--data-dir",
                "{data}",
                "--artist",
                "bach",
                "--preset",
                "quick-gru",
                "--learning-rate",
                "0",
            ],
            "learning_rate",
        ),
        (["generate", "{missing}"], "missing"),
    ],
)
def test_user_errors_are_one_line_without_traceback(argv, message, data_dir, tmp_path, capsys):
    argv = [a.format(data=data_dir, missing=tmp_path / "missing") for a in argv]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0], err


@pytest.mark.slow
def test_train_then_generate_in_both_modes(tmp_path, capsys):
    root = tmp_path / "midi"
    for i in range(5):
        write_midi_file(root / "bach" / f"piece{i}.mid", _scale(60 + i % 2, n=120))
    common = ["--cache-dir", str(tmp_path / "cache")]
    argv = ["train", "--data-dir", str(root), "--artist", "bach", "--preset", "quick-gru"]
    # --unroll: the unrolled model trains, saves, loads and generates like the looped one
    assert main([*argv, "--epochs", "1", "--unroll", "--out", str(tmp_path / "runs"), *common]) == 0
    run = tmp_path / "runs" / "bach" / "quick-gru"
    assert (run / "model.keras").is_file()
    assert json.loads((run / "config.json").read_text())["model"]["unroll"] is True
    capsys.readouterr()
    written = {}
    for mode in ("window", "stream"):
        out = tmp_path / mode
        argv = ["generate", str(run), "--count", "2", "--tokens", "12", "--mode", mode]
        assert main([*argv, "--out", str(out), "--data-dir", str(root), *common]) == 0
        printed = capsys.readouterr().out.split()
        assert sorted(printed) == sorted(str(p) for p in out.iterdir())
        written[mode] = sorted(p.name for p in out.iterdir())
        samples = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
        assert [s["mode"] for s in samples] == [mode, mode]
    assert written["window"] == written["stream"] and len(written["window"]) == 6


@pytest.mark.slow
def test_a_run_remembers_its_data_folder_and_augmentation(tmp_path, capsys):
    root = tmp_path / "elsewhere" / "midi"  # not the default data/midi
    for i in range(5):
        write_midi_file(root / "bach" / f"piece{i}.mid", _scale(60 + i % 2, n=120))
    common = ["--cache-dir", str(tmp_path / "cache")]
    argv = ["train", "--data-dir", str(root), "--artist", "bach", "--preset", "quick-gru"]
    argv += ["--epochs", "1", "--augment-keys", "3", "--out", str(tmp_path / "runs")]
    assert main([*argv, *common]) == 0
    run = tmp_path / "runs" / "bach" / "quick-gru"
    config = json.loads((run / "config.json").read_text())
    assert config["tokens"]["augment_keys"] == 3
    assert config["train"]["optimizer"] == "adam"  # ours: Adam 0.002 by default
    metrics = json.loads((run / "metrics.json").read_text())
    train_pieces = metrics["pieces"]["train"]
    assert metrics["augment_keys"] == 3 and metrics["augmented_copies"] == 2 * train_pieces
    capsys.readouterr()
    # No --data-dir: the folder recorded at training time is used.
    gen = ["generate", str(run), "--count", "1", "--tokens", "8", "--out", str(tmp_path / "s")]
    assert main([*gen, *common]) == 0
    assert len(capsys.readouterr().out.split()) == 3
    root.rename(tmp_path / "moved")
    assert main([*gen, *common]) == 2
    err = capsys.readouterr().err
    assert f"trained on the data folder {root}" in err and "--data-dir" in err
    assert main([*gen, "--data-dir", str(tmp_path / "moved"), *common]) == 0
