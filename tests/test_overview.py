"""The results overview: built from hand-made results files, refusing bad ones by name (issue 18, items 1 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from asvnb import book, overview, results
from asvnb.results import ResultRow, ResultsFileError

NOTE = "embedded corpus, three seeds"


def row(
    system: str,
    data: str,
    metric: str,
    value: float,
    *,
    std: float | None = None,
    n_seeds: int = 1,
    ci95: list[float] | None = None,
    source: float | None = None,
    note: str = NOTE,
    table: str = "cm",
) -> dict:
    return {
        "table": table,
        "system": system,
        "data": data,
        "metric": metric,
        "value": value,
        "std": std,
        "n_seeds": n_seeds,
        "ci95": ci95,
        "n_trials": 100,
        "source": source,
        "note": note,
    }


def demo_rows(b_eer_ci: list[float] = (0.15, 0.25)) -> list[dict]:
    """Two systems on LA21 eval, EER over 3 seeds and accuracy, and their EER per attack family."""
    return [
        row("A", "LA21 eval", "eer", 0.05, std=0.01, n_seeds=3, ci95=[0.03, 0.07], source=0.04),
        row(
            "A",
            "LA21 eval",
            "accuracy",
            0.91,
            ci95=[0.89, 0.93],
            source=0.9,
            note=f"{NOTE}; one run only",
        ),
        row("B", "LA21 eval", "eer", 0.2, std=0.02, n_seeds=3, ci95=list(b_eer_ci)),
        row("B", "LA21 eval", "accuracy", 0.7, std=0.05, n_seeds=3, ci95=[0.65, 0.75], source=0.8),
        row("A", "LA21 eval, family TTS", "eer", 0.02, std=0.005, n_seeds=3, ci95=[0.01, 0.03]),
        row("A", "LA21 eval, family VC", "eer", 0.08, std=0.01, n_seeds=3, ci95=[0.06, 0.1]),
        row("B", "LA21 eval, family TTS", "eer", 0.1, std=0.02, n_seeds=3, ci95=[0.08, 0.12]),
        row("B", "LA21 eval, family VC", "eer", 0.3, std=0.03, n_seeds=3, ci95=[0.25, 0.35]),
    ]


def write(folder: Path, notebook: str, rows: list[dict], **top) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema_version": 1,
        "notebook": notebook,
        "profile": "embedded",
        "created": "2026-12-01T10:00:00Z",
        "fingerprint": {},
        "rows": rows,
    } | top
    path = folder / f"{notebook}.json"
    path.write_text(json.dumps(doc))
    return path


def test_wide_table_breakdown_and_sentence(tmp_path: Path) -> None:
    write(tmp_path, "01_demo", demo_rows())
    md = overview.overview_markdown(
        tmp_path, [overview.Chapter("01_demo", "A demo study", "../notebooks/01_demo.ipynb")]
    )
    lines = md.splitlines()
    assert lines[0] == "## A demo study"
    assert "[the chapter](../notebooks/01_demo.ipynb)'s results file `01_demo.json`" in md
    assert "**Profile: `embedded`**" in md
    # one wide table: systems as rows, each metric the source reports as a source column beside ours
    i = lines.index(
        "| system | EER (%), source | EER (%), ours | accuracy (%), source | accuracy (%), ours |"
    )
    assert lines[i + 2] == "| A | 4 | 5.0 ± 1.0 [3.0, 7.0] | 90¹ | 91.0 [89.0, 93.0] |"
    assert lines[i + 3] == "| B | - | 20.0 ± 2.0 [15.0, 25.0] | 80 | 70.0 ± 5.0 [65.0, 75.0] |"
    assert "All on LA21 eval." in lines
    # the note every row shares appears once, without a mark; a cell's own note is marked and listed
    assert md.count("three seeds") == 1 and "Embedded corpus, three seeds." in lines
    assert "- ¹ one run only" in lines
    assert (
        "Ours: the mean ± its standard deviation over 3 seeds (one run where no ± is shown), "
        "then the 95 % interval [lo, hi]; rates in %."
    ) in lines
    # EER per attack family, with the pooled figure first
    j = lines.index("**EER (%) per attack family on LA21 eval**")
    assert lines[j + 2 : j + 6] == [
        "| system | pooled | TTS | VC |",
        "|---|---|---|---|",
        "| A | 5.0 ± 1.0 [3.0, 7.0] (source 4) | 2.0 ± 0.5 [1.0, 3.0] | 8.0 ± 1.0 [6.0, 10.0] |",
        "| B | 20.0 ± 2.0 [15.0, 25.0] | 10.0 ± 2.0 [8.0, 12.0] | 30.0 ± 3.0 [25.0, 35.0] |",
    ]
    # the sentence, generated from the rows, comes before the table
    sentence = (
        "On LA21 eval, A has the lowest EER of the 2 systems, 5.0 ± 1.0 % [3.0, 7.0] over 3 seeds (the "
        "source: 4 %); the next, B, has 20.0 ± 2.0 % [15.0, 25.0] over 3 seeds, and the two intervals do "
        "not overlap. Our 95 % interval contains the source's figure in 2 of 3 comparisons."
    )
    assert sentence in lines and lines.index(sentence) < i


def test_sentence_says_when_intervals_overlap(tmp_path: Path) -> None:
    rows = [ResultRow(**r | {"ci95": tuple(r["ci95"])}) for r in demo_rows(b_eer_ci=[0.06, 0.3])]
    assert "and the two intervals overlap: this size does not tell them apart." in overview.summary(
        rows
    )
    best = [ResultRow("t", "S", "LA19 eval", "eer", 0.1, ci95=(0.08, 0.12), source=0.0809)]
    assert overview.summary(best) == (
        "S on LA19 eval: EER 10.0 % [8.0, 12.0] (the source: 8.09 %). Our 95 % "
        "interval contains the source's figure (the only comparison)."
    )


def test_many_attacks_of_one_system_are_rows_and_units_follow_the_metric(tmp_path: Path) -> None:
    rows = [row("gmm", "LA19 eval", "eer", 0.2, ci95=[0.18, 0.22], note="")]
    rows += [
        row(
            "gmm",
            f"LA19 eval A{k:02d}",
            "eer",
            k / 100,
            ci95=[k / 100 - 0.01, k / 100 + 0.01],
            note="",
        )
        for k in range(7, 11)
    ]
    rows += [
        row("net", "401 frames", "params", 1.44e6, source=1.44e6, note="a count", table="3"),
        row("net", "401 frames", "si_snri_db", 12.345, ci95=[11.0, 13.5], note="", table="sep"),
    ]
    write(tmp_path, "00_x", rows)
    md = overview.overview_markdown(tmp_path)
    assert md.startswith("## 00 x\n")  # without chapters: every file, titled by its stem
    assert "| gmm | LA19 eval | 20.0 [18.0, 22.0] | - | - | - |" in md
    # the same system and data in two of the notebook's tables: the table tells the rows apart
    assert "| net¹ | 401 frames (table 3) | - | 1.44 M | 1.44 M | - |" in md
    assert "| net | 401 frames (table sep) | - | - | - | 12.3 [11.0, 13.5] |" in md
    assert (
        "| system | data | EER (%) | parameters, source | parameters, ours | SI-SNRi (dB) |" in md
    )
    lines = md.splitlines()
    j = lines.index("**EER (%) per attack on LA19 eval**")
    assert lines[j + 2 : j + 5] == [
        "| attack | gmm |",
        "|---|---|",
        "| pooled | 20.0 [18.0, 22.0] |",
    ]
    assert "| A07 | 7.0 [6.0, 8.0] |" in lines


@pytest.mark.parametrize(
    "data, expected",
    [
        ("LA21 eval, family TTS", ("family", "LA21 eval", "TTS")),
        ("LA21 eval, codec alaw", ("codec", "LA21 eval", "alaw")),
        ("LA21 eval g722", ("codec", "LA21 eval", "g722")),
        ("LA19 dev A01", ("attack", "LA19 dev", "A01")),
        ("LA19 dev, A06", ("attack", "LA19 dev", "A06")),
        ("LA19 eval", None),
        ("LA19 eval + CV test", None),
        ("Imitation, NFFT 256", None),
    ],
)
def test_breakdown_rows_are_recognised_by_their_data(data: str, expected) -> None:
    assert results.breakdown(ResultRow("t", "s", data, "eer", 0.1)) == expected


def test_chapter_title_is_the_first_h1(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("# # not a title"),
            nbformat.v4.new_markdown_cell("[badge](x)\n\n# The *real* title\n\n## sub"),
        ]
    )
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    assert overview.chapter_title(tmp_path / "x.ipynb") == "The *real* title"
    (tmp_path / "x.py").write_text(
        "# %%\nx = 1  # # no\n\n# %% [markdown]\n# intro\n#\n# # Title, from py\n"
    )
    assert overview.chapter_title(tmp_path / "x.py") == "Title, from py"


def _chapter(root: Path, stem: str, title: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\nText.")])
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(root / "notebooks" / f"{stem}.ipynb"))


def test_the_book_page_follows_the_toc_and_reads_json_only(tmp_path: Path) -> None:
    root, build = tmp_path / "repo", tmp_path / "build"
    _chapter(root, "01_a", "Study A")
    _chapter(root, "02_b", "Study B")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: notebooks/02_b\n  - file: notebooks/01_a\n  - file: book/results\n"
    )
    (root / "_config.yml").write_text("title: t\n")
    (root / "book").mkdir()
    (root / "book" / "results.md").write_text(f"# Results overview\n\n{book.RESULTS_MARKER}\n")
    write(build / "results", "01_a", demo_rows())
    write(build / "results", "02_b", demo_rows())
    (build / "results" / "02_b.csv").write_text("model,metric\nignored,csv\n")
    (build / "results" / "99_stale.json").write_text("not json: a notebook that left the book")
    page = (book.stage_book(build, [], root) / "book" / "results.md").read_text()
    assert page.index("## Study B") < page.index("## Study A")
    assert "[the chapter](../notebooks/02_b.ipynb)" in page and "ignored" not in page
    assert page.count("| A | 4 | 5.0 ± 1.0 [3.0, 7.0] | 90¹ | 91.0 [89.0, 93.0] |") == 2
    (build / "results" / "01_a.json").write_text(
        '{"notebook": "01_a", "profile": "embedded", "rows": [{}]}'
    )
    with pytest.raises(
        ResultsFileError, match=r"01_a\.json: row 0 .*missing field\(s\) table, system"
    ):
        book.stage_book(build, [], root)


GOOD = row("A", "LA19 eval", "eer", 0.1)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", r"not a readable JSON results file"),
        ("[]", r"a results file is a JSON object"),
        (
            json.dumps(
                {"schema_version": 2, "notebook": "01_x", "profile": "embedded", "rows": []}
            ),
            r"schema version 2, but this package reads version 1",
        ),
        (json.dumps({"notebook": "01_x", "profile": "embedded"}), r"missing field\(s\) rows"),
        (
            json.dumps({"notebook": "01_y", "profile": "embedded", "rows": []}),
            r"written by notebook '01_y', not '01_x'",
        ),
        (
            json.dumps({"notebook": "01_x", "profile": "laptop", "rows": []}),
            r"unknown profile 'laptop'",
        ),
        (
            json.dumps(
                {
                    "notebook": "01_x",
                    "profile": "embedded",
                    "rows": [{k: v for k, v in GOOD.items() if k != "value"}],
                }
            ),
            r"row 0 \(cm / A / LA19 eval / eer\): missing field\(s\) value",
        ),
        (
            '{"notebook": "01_x", "profile": "embedded", "rows": ['
            + json.dumps(GOOD)[:-1]
            + ', "value": NaN}]}',
            r"row 0 \(cm / A / LA19 eval / eer\): value must be a finite number, got nan",
        ),
        (
            json.dumps(
                {"notebook": "01_x", "profile": "embedded", "rows": [GOOD | {"ci95": [0.0, "x"]}]}
            ),
            r"ci95 must be null or \[lo, hi\]",
        ),
        (
            '{"notebook": "01_x", "profile": "embedded", "rows": ['
            + json.dumps(GOOD)[:-1]
            + ', "ci95": [0, Infinity]}]}',
            r"ci95 must be null or \[lo, hi\] with finite lo <= hi",
        ),
        (
            json.dumps(
                {"notebook": "01_x", "profile": "embedded", "rows": [GOOD | {"std": "0.1"}]}
            ),
            r"std must be a finite",
        ),
        (
            json.dumps(
                {"notebook": "01_x", "profile": "embedded", "rows": [GOOD | {"n_seeds": 0}]}
            ),
            r"n_seeds must be",
        ),
        (
            json.dumps({"notebook": "01_x", "profile": "embedded", "rows": [GOOD, GOOD]}),
            r"rows 0 and 1 share the key",
        ),
    ],
)
def test_a_bad_results_file_is_refused_by_name(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "01_x.json"
    path.write_text(text)
    with pytest.raises(ResultsFileError, match=str(path).replace(".", r"\.") + ": .*" + fragment):
        overview.overview_markdown(tmp_path)


def test_results_files_carry_their_schema_version(build_dir: Path) -> None:
    path = results.write_results(
        "01_x", "embedded", [ResultRow("cm", "A", "LA19 eval", "eer", 0.1, ci95=(0.05, 0.15))]
    )
    assert json.loads(path.read_text())["schema_version"] == results.SCHEMA_VERSION
    loaded = results.load_results_file(path)
    assert loaded.notebook == "01_x" and loaded.rows[0].ci95 == (0.05, 0.15)
    doc = json.loads(path.read_text())
    del doc["schema_version"]  # the files written before the version was: read as version 1
    path.write_text(json.dumps(doc))
    assert results.read_results("01_x")[0].value == 0.1
