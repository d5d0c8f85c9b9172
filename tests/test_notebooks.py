"""Every notebook executes through papermill at the ``ci`` profile (the tiny corpus, the smallest sizes that run
every code path), writes every row it promises in its results file (shared/results-schema.md), and the book
built from those runs has no Sphinx warning.

`make test` runs these in a build folder of their own (``ASVNB_BUILD=build/ci``, ``ASVNB_DATA=build/ci/data``),
so the embedded book that `make book` builds in build/ is never touched; the science is the embedded book's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asvnb import book, config, results

NOTEBOOKS = sorted((config.project_root() / "notebooks").glob("*.ipynb"))

Key = tuple[str, str, str, str]  # (table, system, data, metric), as results-schema.md names a row


def _promised() -> dict[str, set[Key]]:
    """The rows each notebook promises in build/results/<notebook>.json: its key figures, every row that
    sets a figure of the source beside ours, and the controls the chapter's text argues from."""
    la19, la21, mix = "LA19 eval", "LA21 eval", "LA19 eval mixtures"
    probes = ("duration", "level", "silence", "band_energy", "speaker", "language")
    cm01 = ("eer", "accuracy", "precision_weighted", "recall_weighted", "f1_weighted", "min_tdcf")
    t2 = [f"{m}-ResNetSE, {a} AEG" for m in "GL" for a in ("no", "static", "active")]
    boards = ["01 CNN", "01 ResNet50", "02 WavLM pre-trained", "02 WavLM fine-tuned"]
    boards += [f"03 {n}" for n in ("G-ResNetSE NLL", "G-ResNetSE GE2E+NLL", "L-ResNetSE static")]
    boards += ["04 SimpleCNN", "04 ResNet18 transfer"]
    return {
        "00_embedded_corpus": {("probe", p, la19, "balanced_accuracy") for p in probes}
        | {("baseline", "lfcc_gmm", d, "eer") for d in ("LA19 dev", la19, la21)},
        "01_cnn_vs_resnet50": {("cm", m, la19, k) for m in ("CNN", "ResNet50") for k in cm01}
        | {("cm", m, "LA19 eval + CV test", "f1_weighted") for m in ("CNN", "ResNet50")}
        | {("cm", "CNN, trained without Common Voice", la19, "eer")}
        | {("asv", "CNN speaker verifier", d, "eer") for d in (la19, "Common Voice")}
        | {("asv", "corpus ASV (GE2E)", la19, "eer")},
        "02_overlap_pipeline": {("detector", "clean", la19, "eer")}
        | {("separation", s, mix, "si_snri_db") for s in ("sepformer", "oracle", "oracle@8k")}
        | {
            ("pipeline", f"{s}, pre-trained", mix, "stream_eer")
            for s in ("sepformer", "oracle", "none")
        }
        | {("pipeline", "sepformer, fine-tuned", mix, "stream_eer")}
        | {
            ("control", f"random scores, {m} matching", mix, "stream_eer")
            for m in ("sources", "labels")
        },
        "03_ge2e_aeg_kd": {
            ("1", s, la21, k)
            for s in ("G-ResNetSE, NLL", "G-ResNetSE, GE2E+NLL")
            for k in ("eer", "min_tdcf")
        }
        | {("2", s, la21, k) for s in t2 for k in ("eer", "min_tdcf")}
        | {
            ("ge2e", f"G-ResNetSE, {s}", "LA19 dev bona fide", "speaker_eer")
            for s in ("initial", "GE2E")
        }
        | {("aeg", a, "LA19 train", "kept_fraction") for a in ("static", "active")}
        | {
            ("3", f"{m}-ResNetSE, layout L", "401 frames x 40 log-mel", k)
            for m in "GL"
            for k in ("params", "macs")
        },
        "04_spectrogram_resnet18": {
            ("test", m, "LA19 + DEEP-VOICE test", k)
            for m in ("SimpleCNN", "ResNet18")
            for k in ("f1", "accuracy")
        }
        | {("test", m, "LA19 test segments", "eer") for m in ("SimpleCNN", "ResNet18")}
        | {("val", m, "LA19 dev + DEEP-VOICE val", "f1") for m in ("SimpleCNN", "ResNet18")}
        | {
            ("unseen", m, "Imitation", k)
            for m in ("SimpleCNN", "ResNet18")
            for k in ("f1", "accuracy")
        }
        | {
            ("leak", f"SimpleCNN, {s} split", "DEEP-VOICE test", "f1")
            for s in ("segment", "recording")
        },
        "05_leaderboard": {
            ("leaderboard", s, d, k)
            for s in boards
            for d in (la19, la21)
            for k in ("eer", "min_tdcf", "cllr")
        }
        | {("floor", s, d, "eer") for s in boards for d in (la19, la21)},
    }


PROMISED = _promised()


PROFILE = "ci"


@pytest.fixture(scope="module")
def corpus() -> Path:
    """The CI profile's tiny corpus and its stand-in models, built once if missing (as `asvnb book` does first)."""
    book.prepare_embedded(profile=PROFILE, progress=False)
    return config.corpus_root(PROFILE)


def test_every_study_notebook_is_in_the_book() -> None:
    in_toc = {p.resolve() for p in book.toc_notebooks()}
    assert {p.resolve() for p in NOTEBOOKS} == in_toc


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(notebook: Path, corpus: Path) -> None:
    # the default is the embedded profile (the book's); the CI profile is a parameter, as on Colab the full one
    assert book.declared_parameters(notebook)["profile"]["default"] == "embedded"
    # the same parameters as the CI book build below, so that one finds these in the execution cache
    rec = book.execute_notebook(notebook, book.profile_parameters(notebook, PROFILE))
    assert rec.status == "ok" and rec.profile == PROFILE
    assert Path(rec.output).is_file()
    check_results_file(notebook.stem)
    # every page built from the CI profile says that its numbers mean nothing
    assert "come from the CI profile and mean nothing" in Path(rec.output).read_text()


def check_results_file(stem: str) -> None:
    """build/results/<stem>.json against shared/results-schema.md, and the rows the notebook promises."""
    # load_results_file checks the schema: fields and types, finite value / std / source / ci95, unique keys
    doc = results.load_results_file(results.results_path(stem))
    assert doc.notebook == stem and doc.profile == PROFILE
    fields = {"git_commit", "git_dirty", "code_key", "data_fingerprint", "torch"}
    assert fields <= set(doc.fingerprint), doc.fingerprint
    missing = PROMISED[stem] - {r.key() for r in doc.rows}
    assert not missing, f"{stem} did not write the rows {sorted(missing)}"
    for r in doc.rows:  # a spread over seeds needs seeds: a single run has none
        assert r.n_seeds > 1 or r.std is None, r.key()


def test_every_notebook_promises_its_rows() -> None:
    assert set(PROMISED) == {nb.stem for nb in NOTEBOOKS}


@pytest.mark.slow
def test_book_builds_and_rebuild_executes_nothing(corpus: Path) -> None:
    first: list[str] = []
    html = book.build_book(profile=PROFILE, log=first.append)
    assert not [line for line in first if "WARNING" in line], first
    index = html / "index.html"
    assert index.is_file()
    for page in (
        "book/colab.html",
        "book/results.html",
        "book/execution_report.html",
        "book/references.html",
    ):
        assert (html / page).is_file(), page
    report = (html / "book" / "execution_report.html").read_text()
    for nb in book.toc_notebooks():
        stem = nb.stem
        assert (html / "notebooks" / f"{stem}.html").is_file()
        assert f"notebooks/{stem}.ipynb" in report and stem in report
    lines: list[str] = []
    book.build_book(profile=PROFILE, log=lines.append)
    assert not [line for line in lines if line.startswith("[run]")], lines
    assert not [line for line in lines if "WARNING" in line], lines
