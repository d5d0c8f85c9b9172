"""Every study notebook executes through papermill (embedded profile), and the book builds.

These are the slow tests: they share the real build folder with `make book`,
so whatever one of them executed, the other finds in the execution cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asvnb import book, config, results

NOTEBOOKS = sorted((config.project_root() / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def corpus() -> Path:
    """The small embedded corpus and its stand-in models, built once if missing (as `asvnb book` does first)."""
    book.prepare_embedded("small", progress=False)
    return config.embedded_root()


def test_every_study_notebook_is_in_the_book() -> None:
    in_toc = {p.resolve() for p in book.toc_notebooks()}
    assert {p.resolve() for p in NOTEBOOKS} == in_toc


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(notebook: Path, corpus: Path) -> None:
    # the defaults are the embedded profile: the same parameters as the book build, so one caches the other
    assert book.declared_parameters(notebook)["profile"]["default"] == "embedded"
    rec = book.execute_notebook(notebook, {})
    assert rec.status == "ok" and rec.profile == "embedded"
    assert Path(rec.output).is_file()
    # every reported number is also data (shared/results-schema.md): typed rows, finite values, unique keys
    rows = results.read_results(notebook.stem)
    assert rows, f"{notebook.stem} wrote no result rows"
    assert len({r.key() for r in rows}) == len(
        rows
    )  # read_results refuses non-finite values itself


@pytest.mark.slow
def test_book_builds_and_rebuild_executes_nothing(corpus: Path) -> None:
    html = book.build_book()
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
    book.build_book(log=lines.append)
    assert not [line for line in lines if line.startswith("[run]")], lines
    assert not [line for line in lines if "WARNING" in line], lines
