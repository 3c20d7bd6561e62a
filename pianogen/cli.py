"""The ``pianogen`` command: a thin wrapper over the package API, one function per subcommand.

User errors (bad paths, bad names, unusable data, impossible settings) print one clear line
and exit with status 2; no Python traceback reaches the user. ``PIANOGEN_DEBUG=1`` shows it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pianogen import __version__
from pianogen.tokens import vocabulary_names

__all__ = [
    "build_parser",
    "main",
]

log = logging.getLogger("pianogen")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input the user can fix: printed as one line, without a traceback."""
    from pianogen.errors import PianogenError

    return (PianogenError, ValueError, FileNotFoundError, PermissionError)


# ------------------------------------------------------------------------- subcommands
def cmd_corpus(args: argparse.Namespace) -> int:
    from pianogen.corpus import build_default_dataset

    manifest = build_default_dataset(Path(args.out), works_per_composer=args.works)
    files = manifest.get("files", [])
    print(f"default dataset: {len(files)} MIDI files in {args.out}")
    return 0


def cmd_explore(args: argparse.Namespace) -> int:
    from pianogen.config import TokenConfig
    from pianogen.explore import explore

    token_config = TokenConfig(vocabulary=args.vocabulary, engine=args.engine)
    result = explore(
        Path(args.data_dir),
        args.artist,
        token_config,
        thresholds=tuple(args.thresholds),
        cache_dir=Path(args.cache_dir),
        progress=not args.json,
    )
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(
            f"artist {result['artist']}: {result['files']} files, {len(result['skipped'])} skipped"
        )
        print(f"tokens {result['tokens']}, unique {result['unique_tokens']}")
        for threshold, n in result["vocab_at_threshold"].items():
            print(f"  vocabulary at threshold {threshold}: {n}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pianogen.config import POOLED
    from pianogen.data import list_artists
    from pianogen.presets import make_run_config, model_preset
    from pianogen.train import train

    artist, artists = args.artist, ()
    if model_preset(args.preset).conditioned:  # one model for several artists
        every = list_artists(Path(args.data_dir))
        artists = every if args.artist == "all" else [a for a in args.artist.split(",") if a]
        unknown = sorted(set(artists) - set(every))
        if unknown:
            raise ValueError(f"no artist folder(s) {unknown} in {args.data_dir}")
        artist = POOLED
    config = make_run_config(
        artist,
        args.preset,
        artists=artists,
        split=args.split,
        vocabulary=args.vocabulary,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,  # None: the preset's (optimizer_for)
        learning_rate=args.learning_rate,
        seed=args.seed,
        max_train_windows=args.max_train_windows,
        patience=args.patience,
        plateau=args.plateau,
        unroll=args.unroll,
        engine=args.engine,
        min_count=args.min_count,
        augment_keys=args.augment_keys,
    )
    run_dir = train(
        config,
        Path(args.data_dir),
        Path(args.out),
        cache_dir=Path(args.cache_dir),
        resume=not args.force,
    )
    print(f"run folder: {run_dir}")
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    model = metrics.get("model", {})
    if model:
        print(f"test loss {model['loss']:.3f}, accuracy {model['accuracy']:.1%}")
    return 0


def _open_run(args: argparse.Namespace, run_dir: Path | None = None):
    from pianogen.runs import open_run

    data_dir = Path(args.data_dir) if args.data_dir else None
    run_dir = Path(args.run_dir) if run_dir is None else run_dir
    return open_run(run_dir, data_dir=data_dir, cache_dir=Path(args.cache_dir))


def cmd_generate(args: argparse.Namespace) -> int:
    from pianogen.config import GenerateConfig
    from pianogen.generate import generate_run

    config = GenerateConfig(
        count=args.count,
        tokens=args.tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        primer=args.primer,
    )
    from pianogen.conditioned import view_for

    run = _open_run(args, view_for(Path(args.run_dir), args.artist))  # conditioned: a view
    out_dir = Path(args.out) if args.out else None
    for path in generate_run(run, config, out_dir=out_dir, mode=args.mode):
        print(path)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pianogen.config import GenerateConfig
    from pianogen.evaluate import evaluate_run

    config = GenerateConfig(count=args.count, tokens=args.tokens, seed=args.seed)
    evaluate_run(_open_run(args), gen_config=config)
    print(Path(args.run_dir) / "evaluation.json")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from pianogen.batch import format_summary, run_batch
    from pianogen.results import artist_headlines

    artists = [a for a in args.artists.split(",") if a] if args.artists else None
    summary = run_batch(
        Path(args.data_dir),
        artists=artists,
        profile=args.profile,
        jobs=args.jobs,
        scheduler=args.scheduler,
        force=args.force,
        runs_root=Path(args.out),
        cache_dir=Path(args.cache_dir),
        stream=sys.stderr,
        verbose=args.verbose,
    )
    print(format_summary(summary, figures=artist_headlines(Path(args.out))))
    print("executed notebooks: book/artists/<artist>/ (the book: `pianogen book`, or `make book`)")
    return summary.exit_code


def cmd_plateau(args: argparse.Namespace) -> int:
    from pianogen.plateau import plateau_table, train_plateau, verdict
    from pianogen.presets import PLATEAU

    study = PLATEAU
    changes = {
        "presets": tuple(args.preset) if args.preset else None,
        "splits": tuple(args.split) if args.split else None,
        "epochs": args.epochs,
        "plateau": args.plateau,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        study = study.replace(**changes)
    artists = [a for a in args.artists.split(",") if a] if args.artists else None
    train_plateau(
        Path(args.data_dir),
        Path(args.out),
        artists=artists,
        study=study,
        cache_dir=Path(args.cache_dir),
    )
    print(verdict(plateau_table(Path(args.out)))["sentence"])
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from pianogen.book import build_book

    index = build_book(
        data_dir=Path(args.data_dir),
        runs_root=Path(args.runs),
        profile=args.profile,
        cache_dir=Path(args.cache_dir),
    )
    print(f"book: {index.resolve()}")
    return 0


# ------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pianogen",
        description="Train LSTM/GRU models on artist piano MIDI and publish the study as a book.",
    )
    parser.add_argument("--version", action="version", version=f"pianogen {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging; the batch's notebooks print live instead of to their logs",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    def data_args(p, required=True):
        p.add_argument(
            "--data-dir", required=required, help="folder with one sub-folder per artist"
        )
        p.add_argument("--cache-dir", default=".cache", help="parse cache (default .cache)")

    p = add("corpus", cmd_corpus, "export the default dataset from music21's bundled corpus")
    p.add_argument("--out", default="data/midi")
    p.add_argument("--works", type=int, default=15, help="works per composer")

    p = add("explore", cmd_explore, "token statistics for one artist (or 'all')")
    data_args(p)
    p.add_argument("--artist", required=True, help="artist folder name, or 'all'")
    p.add_argument("--vocabulary", choices=vocabulary_names(), default="paper")
    p.add_argument("--engine", choices=["fast", "music21"], default="fast")
    p.add_argument("--thresholds", type=int, nargs="+", default=[30, 50, 70, 90])
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("train", cmd_train, "train one model preset on one artist")
    data_args(p)
    p.add_argument(
        "--artist",
        required=True,
        help="artist folder name; for a conditioned preset (conditioned-gru) the artists it "
        "learns from together: comma-separated, or 'all' (every folder)",
    )
    p.add_argument("--preset", required=True)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--split", choices=["piece", "window"], default="piece")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocabulary", choices=vocabulary_names(), default="paper")
    p.add_argument("--engine", choices=["fast", "music21"], default="fast")
    p.add_argument("--min-count", type=int, default=10)
    p.add_argument(
        "--augment-keys",
        type=int,
        default=1,
        help="piece split: use each training piece in this many keys (1-12; 12: every key)",
    )
    p.add_argument(
        "--optimizer",
        choices=("adamax", "adam", "rmsprop"),
        help="default: adamax for the paper's presets, adam for ours",
    )
    p.add_argument(
        "--learning-rate", type=float, help="default: 0.001 for the paper's presets, 0.002 for ours"
    )
    p.add_argument(
        "--patience", type=int, default=5, help="early stopping on val loss (0: off; default 5)"
    )
    p.add_argument(
        "--plateau",
        type=int,
        default=0,
        help="stop when training accuracy has not risen by 0.005 for this many epochs (0: off)",
    )
    p.add_argument("--max-train-windows", type=int, default=0)
    p.add_argument(
        "--unroll",
        action="store_true",
        help="unroll the recurrent layers: ~1.2x faster training on CPU, slower to build",
    )
    p.add_argument("--out", default="runs", help="RUNS_ROOT (default runs)")
    p.add_argument(
        "--force", action="store_true", help="start over instead of resuming an existing run"
    )

    p = add("generate", cmd_generate, "sample new pieces from a trained run")
    p.add_argument("run_dir", help="a run folder RUNS_ROOT/<artist>/<run name>")
    p.add_argument(
        "--artist",
        default=None,
        help="the artist to generate for (a conditioned run, RUNS_ROOT/_conditioned/<run "
        "name>, knows several)",
    )
    p.add_argument("--count", type=int, default=4)
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--primer", choices=["test", "validation", "train"], default="test")
    p.add_argument(
        "--mode",
        choices=["window", "stream"],
        default="window",
        help="window: exactly the paper's loop (each token from the last 50), compiled and "
        "batched; stream: carry one recurrent state per sample, several times faster, a "
        "different model of the music (see pianogen.generate)",
    )
    p.add_argument("--out", default=None, help="output folder (default RUN/samples)")
    data_args(p, required=False)

    p = add("evaluate", cmd_evaluate, "musical metrics and memorization audit of a run")
    p.add_argument("run_dir")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    data_args(p, required=False)

    p = add("batch", cmd_batch, "run the notebooks for every artist with papermill")
    data_args(p)
    p.add_argument("--artists", default=None, help="comma-separated (default: every folder)")
    p.add_argument("--profile", default="quick", help="quick | paper | ci")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler")
    p.add_argument("--force", action="store_true", help="re-run unchanged artists")
    p.add_argument("--out", default="runs", help="RUNS_ROOT (default runs)")

    p = add(
        "plateau",
        cmd_plateau,
        "the paper's presets trained until their training accuracy plateaus, on both splits "
        "(RUNS_ROOT/_plateau; the results chapter shows them)",
    )
    data_args(p)
    p.add_argument(
        "--artists", default=None, help="comma-separated (default: the one with the least data)"
    )
    p.add_argument(
        "--preset", action="append", help="repeatable (default: paper-gru, paper-lstm-text)"
    )
    p.add_argument("--split", action="append", choices=["window", "piece"], help="repeatable")
    p.add_argument("--epochs", type=int, default=None, help="the cap (default 400)")
    p.add_argument(
        "--plateau",
        type=int,
        default=None,
        help="epochs without a rise that stop a run (default 10)",
    )
    p.add_argument(
        "--out", default="runs", help="RUNS_ROOT (default runs); runs go to OUT/_plateau"
    )

    p = add("book", cmd_book, "build the Jupyter Book from the executed notebooks")
    data_args(p)
    p.add_argument("--profile", default="quick")
    p.add_argument("--runs", default="runs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except _user_errors() as exc:
        if os.environ.get("PIANOGEN_DEBUG"):
            raise
        print(f"pianogen {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is saved and a re-run continues from it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
