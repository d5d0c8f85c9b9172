"""The ``asvnb`` command: build the embedded corpus, run one notebook, build the book, score audio.

Reproducible voice anti-spoofing book: build the embedded corpus, execute study notebooks with
papermill, build the Jupyter Book.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from asvnb import config


def _params(pairs: list[list[str]] | None) -> dict:
    from asvnb.book import parse_value

    return {name: parse_value(value) for name, value in (pairs or [])}


def _ci_folders() -> None:
    """The CI profile works in build/ci/ (unless ASVNB_BUILD / ASVNB_DATA say otherwise): the embedded book's
    results, runs and corpus stay untouched."""
    ci = config.project_root() / "build" / "ci"
    os.environ.setdefault("ASVNB_BUILD", str(ci))
    os.environ.setdefault("ASVNB_DATA", str(ci / "data"))


def cmd_run(args: argparse.Namespace) -> int:
    """asvnb run: execute one notebook with papermill into the build tree.

    Execute NOTEBOOK (.ipynb or its paired .py) with papermill into build/book/<same path>.
    Parameters are checked against the notebook's 'parameters' cell; an unchanged notebook with
    the same parameters, package code and data is not executed again (use --force).
    """
    from asvnb.book import execute_notebook

    params = _params(args.parameter)
    if args.profile:
        params["profile"] = args.profile
    if params.get("profile") == "ci":
        _ci_folders()
    rec = execute_notebook(args.notebook, params, output=args.output, use_cache=not args.force)
    print(
        f"{rec.notebook}: {rec.status}, {rec.duration_s:.0f} s, peak {rec.peak_memory_mb:.0f} MB -> {rec.output}"
    )
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    """asvnb book: execute the notebooks that need it and build the HTML book.

    Prepare the embedded corpus and stand-in models if missing, execute every notebook named in
    _toc.yml that changed since its last successful execution (embedded profile), and render the
    book with Jupyter Book into build/_build/html. With --profile ci, everything goes to build/ci/
    (corpus included) unless ASVNB_BUILD and ASVNB_DATA say otherwise.
    """
    from asvnb.book import build_book, prepare_embedded

    if args.profile == "ci":
        _ci_folders()
    if not args.no_data:
        prepare_embedded(args.scale, progress=True, profile=args.profile)
    html = build_book(jobs=args.jobs, use_cache=not args.force, profile=args.profile)
    print(f"book: {html / 'index.html'}")
    return 0


def cmd_data_standins(args: argparse.Namespace) -> int:
    """asvnb data standins: check the shipped stand-in models, or (--retrain) train them at length and ship them.

    The small SepFormer and WavLM detector that stand in for the hub models offline are shipped
    with the package (asvnb/standins/<kind>-<release>: weights, card, training log and curve), keyed by
    their model architecture, configuration and the embedded corpus's LA 2019 train/dev speech. Without
    options, check that they match the code and the corpus (built first with 'synth') and print
    where they are; a mismatch names the command that retrains them. With --retrain, train both
    at length on the embedded corpus (run it with OMP_NUM_THREADS=1: the release was trained on
    one core) and write the release into the package; an interrupted training resumes.
    """
    from asvnb.train.standins import StaleStandinError, ensure_standins, retrain_and_ship

    try:
        if args.retrain:
            from asvnb import plots

            built = retrain_and_ship(
                config.embedded_root(),
                progress=True,
                draw_curve=lambda h, title: plots.plot_history(h, title=title),
            )
        else:
            built = ensure_standins(config.embedded_root(), progress=True)
    except StaleStandinError as exc:
        print(exc, file=sys.stderr)
        return 1
    for kind, path in built.items():
        print(f"{kind}: {path}")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    """asvnb data synth: build the embedded corpus in the real datasets' layouts.

    Build the embedded corpus deterministically from speech that Debian packages ship, in the
    on-disk layouts of ASVspoof 2019 LA, ASVspoof 2021 LA eval, Common Voice, DEEP-VOICE, the
    Imitation set, MUSAN and RIRS_NOISES. Files already built are kept.
    """
    from asvnb.audio import expected_conversions
    from asvnb.data.synth import SystemPackagesMissing, build_corpus

    try:
        with expected_conversions():  # the generator resamples its TTS output on purpose
            manifest = build_corpus(Path(args.out), scale=args.scale, seed=args.seed)
    except SystemPackagesMissing as exc:
        print(exc, file=sys.stderr)
        return 3
    print(f"embedded corpus ({manifest.get('scale')}, seed {manifest.get('seed')}) at {args.out}")
    return 0


def _threshold(value: str) -> str | float:
    """``--threshold``: ``dev-eer`` or a finite number (checked here, before torch is imported)."""
    if value == "dev-eer":
        return value
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"threshold must be 'dev-eer' or a number, got {value!r}"
        ) from None
    if not math.isfinite(t):
        raise argparse.ArgumentTypeError(f"threshold must be finite, got {value!r}")
    return t


def cmd_score(args: argparse.Namespace) -> int:
    """asvnb score: score your own audio files or folders with a detector the book trained.

    Score audio files, and folders searched recursively for audio files (any format the loader
    reads: WAV, FLAC, OGG, MP3, ...), with a trained countermeasure. Writes 'UTT SCORE DECISION'
    lines (the ASVspoof 2021 'UTT SCORE' columns, then bonafide or spoof): higher scores are more
    bona fide, and a score above the threshold is called bonafide. A file that cannot be scored is
    reported with its reason and the others are still scored; the exit code is 1 if any file
    failed, 2 if the model cannot be used.
    """
    from asvnb.scoring import ScoringError, score_paths

    try:
        return score_paths(args.paths, args.model, args.threshold, args.out, device=args.device)
    except ScoringError as exc:
        print(f"asvnb: error: {exc}", file=sys.stderr)
        return 2


def _paragraphs(doc: str) -> tuple[str, str]:
    """A docstring's first line and the rest as one paragraph (argparse wraps it anew)."""
    summary, _, details = doc.strip().partition("\n\n")
    return summary, " ".join(details.split())


def _command(
    subparsers: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """Sub-command NAME running FUNC: help from its docstring's first line, description from the rest."""
    # the docstrings are the one text of each command, so ``asvnb X --help`` and the code agree
    summary, details = _paragraphs(inspect.getdoc(func))
    p = subparsers.add_parser(name, help=summary.split(": ", 1)[1].rstrip("."), description=details)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``asvnb`` command."""
    p = argparse.ArgumentParser(prog="asvnb", description=_paragraphs(__doc__)[1])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = _command(sub, "run", cmd_run)
    r.add_argument(
        "notebook", help="path of the notebook, e.g. notebooks/04_spectrogram_resnet18.ipynb"
    )
    r.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="set a parameter; VALUE is read as YAML (3, 0.5, true, [0, 1], null, text)",
    )
    r.add_argument(
        "--profile",
        choices=config.PROFILES,
        help="embedded: generated corpus, local models, CPU; full: real datasets and hub models (GPU); "
        "ci: the tiny corpus and a few steps, every code path (numbers mean nothing)",
    )
    r.add_argument(
        "-o", "--output", help="where to write the executed notebook (default: build tree)"
    )
    r.add_argument(
        "--force", action="store_true", help="execute even if the cache says nothing changed"
    )

    b = _command(sub, "book", cmd_book)
    b.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        help="notebooks executed in parallel (default 1: each already uses every core)",
    )
    b.add_argument(
        "--force", action="store_true", help="execute every notebook, ignoring the cache"
    )
    b.add_argument(
        "--no-data",
        action="store_true",
        help="do not build the embedded corpus and stand-in models first",
    )
    b.add_argument(
        "--scale",
        default=None,
        choices=("small", "medium"),
        help="embedded corpus scale to prepare if missing (default small)",
    )
    b.add_argument(
        "--profile",
        default="embedded",
        choices=[p for p in config.PROFILES if p in config.GENERATED_SCALES],
        help="embedded (default): the book; ci: every notebook on the tiny corpus with a few steps, in "
        "build/ci/ unless ASVNB_BUILD is set (what `make test` builds; its numbers mean nothing)",
    )

    d = sub.add_parser(
        "data",
        help="datasets: build the embedded corpus and the stand-in models",
        description="Data commands. 'synth' builds the embedded corpus; 'standins' checks (or with "
        "--retrain trains and ships) the local stand-ins of the hub models (SepFormer, WavLM detector).",
    )
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    s = _command(dsub, "synth", cmd_data_synth)
    s.add_argument(
        "--scale",
        default="small",
        choices=("tiny", "small", "medium"),
        help="small (default): what the book and CI use; medium: bigger; tiny: for tests",
    )
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument(
        "--out", default=str(config.embedded_root()), help="output folder (default %(default)s)"
    )
    st = _command(dsub, "standins", cmd_data_standins)
    st.add_argument(
        "--retrain",
        action="store_true",
        help="train both stand-ins at length on the embedded corpus and write their release into the package",
    )

    sc = _command(sub, "score", cmd_score)
    sc.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    sc.add_argument(
        "--model",
        required=True,
        metavar="RUN_OR_HUB_ID",
        help="a run folder under build/runs/ (or its best/ folder) that describes its detector, a "
        "transformers detector folder (e.g. the WavLM stand-in under data/models/), or a hub id "
        "(full profile: abhishtagatya/wavlm-base-960h-asv19-deepfake)",
    )
    sc.add_argument(
        "--threshold",
        type=_threshold,
        default="dev-eer",
        metavar="dev-eer|VALUE",
        help="dev-eer (default): the model's development-set EER threshold, stored with it; or a number "
        "on the model's score scale",
    )
    sc.add_argument(
        "--out", metavar="FILE", help="write the scores here (default: standard output)"
    )
    sc.add_argument(
        "--device", default="auto", help="auto (default: CUDA when present), cpu or cuda"
    )
    return p


def show_notes() -> None:
    """Show what the package tells its user: asvnb's warnings (e.g. audio resampled) and log records at WARNING."""
    from asvnb.audio import AudioConversionWarning

    # Python shows UserWarnings by default, unless PYTHONWARNINGS or -W hid them: asvnb's own are always shown
    warnings.filterwarnings("default", category=AudioConversionWarning)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``asvnb`` console script."""
    from asvnb.book import NotANotebook, NotebookFailed, ParameterError

    args = build_parser().parse_args(argv)
    show_notes()
    try:
        return args.func(args)
    except (ParameterError, NotANotebook, NotebookFailed, FileNotFoundError) as exc:
        print(f"asvnb: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
