"""The notebook runner and the book build: parameters, execution cache, failures, fingerprints, pairing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from asvnb import book, config, results

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "notebooks" / "tiny.ipynb"


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    """A private copy of the tiny notebook, so tests may edit it."""
    dst = tmp_path / "nb" / "tiny.ipynb"
    dst.parent.mkdir()
    shutil.copy(TINY, dst)
    return dst


def run(nb: Path, params: dict, build: Path) -> tuple[book.ExecutionRecord, list[str]]:
    lines: list[str] = []
    rec = book.execute_notebook(nb, params, build=build, log=lines.append)
    return rec, lines


def outputs_text(path: str | Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


# ----------------------------------------------------------------------------- parameters


def test_declared_parameters_and_types() -> None:
    params = book.declared_parameters(TINY)
    assert list(params) == ["profile", "n", "scale", "fail", "label", "seeds"]
    assert params["n"] == {
        "default": 3,
        "type": "int",
        "help": "how many squares to sum",
        "declared": True,
    }
    assert params["scale"]["type"] == "float" and params["fail"]["type"] == "bool"
    assert params["label"]["type"] == "str | None" and params["seeds"]["type"] == "list[int]"
    assert params["profile"] == {
        "default": "embedded",
        "type": "{embedded, full}",
        "help": "",
        "declared": True,
    }


def test_unknown_parameter_names_the_valid_ones() -> None:
    with pytest.raises(book.ParameterError) as err:
        book.validate_parameters(TINY, {"epochs": 3})
    msg = str(err.value)
    assert "unknown parameter(s) epochs" in msg
    for name in ("profile", "n", "scale", "fail", "label", "seeds"):
        assert name in msg
    assert "seeds (list[int], default [0, 1])" in msg


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"n": "five"}, r"parameter n expects int \(default 3\), got 'five' \(str\)"),
        (
            {"n": None},
            r"parameter n expects int \(default 3\), got None",
        ),  # None only where declared
        ({"n": 2.5}, "parameter n expects int"),
        ({"fail": 1}, "parameter fail expects bool"),
        (
            {"profile": "gpu"},
            r"parameter profile must be one of embedded, full \(default 'embedded'\), got 'gpu'",
        ),
        ({"label": 3}, r"parameter label expects str \| None"),
        (
            {"seeds": 3},
            r"parameter seeds expects list\[int\] .*got 3 \(int\); a list is written in brackets: "
            r"-p seeds '\[3\]'",
        ),
        ({"seeds": [0, "a"]}, r"parameter seeds expects list\[int\]"),
    ],
)
def test_wrongly_typed_parameters_are_refused(params: dict, fragment: str) -> None:
    with pytest.raises(book.ParameterError, match=fragment):
        book.validate_parameters(TINY, params)


def test_values_of_the_declared_types_are_accepted() -> None:
    ok = {"scale": 2, "label": None, "seeds": [3], "profile": "full", "n": 0, "fail": True}
    assert book.validate_parameters(TINY, ok) == ok  # an int is a float


@pytest.mark.parametrize(
    "text, accepted, refused",
    [
        ("int | None", [3, None], ["3", 2.5, True, [3]]),
        ("float | None", [1, 0.5, None], ["x", False]),
        ("list[int] | None", [[0, 1], [], None], [3, [0.5], "0"]),
        ("{auto, cpu, cuda, mps}", ["auto", "mps"], ["gpu", None, "Auto"]),
        ("{tensor, source} | None", ["source", None], ["jpeg"]),
        (
            "list[{sepformer, oracle@8k, none}] | None",
            [["oracle@8k", "none"], None],
            [["oracle@16k"], "none"],
        ),
        ("str | None", ["default", None], [3]),
    ],
)
def test_declared_types(text: str, accepted: list, refused: list) -> None:
    spec = book.parse_type(text)
    assert spec is not None and spec.text == text
    assert all(spec.accepts(v) for v in accepted) and not any(spec.accepts(v) for v in refused)


@pytest.mark.parametrize(
    "comment",
    [
        "None: the profile's default",
        "embedded | full",
        "corpus seed",
        "str or None",
        "list[int",
        "{a, b",
        "int |",
        "",
    ],
)
def test_help_text_is_not_a_declaration(comment: str) -> None:
    assert book.parse_type(comment.partition(":")[0]) is None


def _notebook_with(tmp_path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})],
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
    )
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_undeclared_parameters_keep_the_simple_check(tmp_path: Path) -> None:
    """A notebook without declarations (the corpus notebook today): the default's type, None always allowed."""
    nb = _notebook_with(
        tmp_path,
        'profile = "embedded"  # embedded: the corpus\nseed = 0  # corpus seed\n'
        "data_root = None  # None: data/embedded\n",
    )
    assert not any(d["declared"] for d in book.declared_parameters(nb).values())
    assert book.validate_parameters(nb, {"seed": None, "data_root": "/x"}) == {
        "seed": None,
        "data_root": "/x",
    }
    with pytest.raises(book.ParameterError, match="parameter seed expects int"):
        book.validate_parameters(nb, {"seed": "x"})
    with pytest.raises(book.ParameterError, match="profile must be one of embedded, full"):
        book.validate_parameters(nb, {"profile": "gpu"})


def test_declarations_are_all_or_nothing_and_defaults_must_fit(tmp_path: Path) -> None:
    nb = _notebook_with(
        tmp_path, "epochs = None  # int | None: epochs\nseeds = [0]  # lsit[int]: a typo\n"
    )
    with pytest.raises(
        book.ParameterError, match=r"parameter\(s\) seeds have no declared type, as the others do"
    ):
        book.declared_parameters(nb)
    nb = _notebook_with(tmp_path, 'route = "jpeg"  # {tensor, source}: images\n')
    with pytest.raises(
        book.ParameterError,
        match="the default 'jpeg' of parameter route is not of its declared "
        r"type \{tensor, source\}",
    ):
        book.declared_parameters(nb)


STUDIES = sorted(p for p in (ROOT / "notebooks").glob("0[0-9]_*.ipynb"))


@pytest.mark.parametrize("nb", STUDIES, ids=lambda p: p.stem)
def test_every_study_parameter_is_declared(nb: Path) -> None:
    """Every notebook, the data chapter included, declares every parameter's type."""
    params = book.declared_parameters(nb)
    assert all(d["declared"] for d in params.values()), [
        n for n, d in params.items() if not d["declared"]
    ]
    assert params["profile"]["type"] == "{" + ", ".join(config.PROFILES) + "}"
    if "device" in params:  # the data chapter trains nothing
        assert params["device"]["type"] == "{auto, cpu, cuda, mps}"
    for name, d in params.items():
        if d["default"] is None or isinstance(d["default"], list):
            assert d["type"] != "None" and book.parse_type(d["type"]).accepts(d["default"]), name


@pytest.mark.parametrize(
    "params, fragment",
    [
        (
            {"epochs": "abc"},
            r"parameter epochs expects int \| None \(default None\), got 'abc' \(str\)",
        ),
        ({"device": "gpu"}, "parameter device must be one of auto, cpu, cuda, mps"),
        ({"route": "jpeg"}, "parameter route must be one of tensor, source"),
        ({"seeds": 3}, r"parameter seeds expects list\[int\]"),
        ({"seconds": "long"}, r"parameter seconds expects float \| None"),
        ({"weights": 3}, r"parameter weights expects str \| None"),
    ],
)
def test_study_parameters_are_checked(params: dict, fragment: str) -> None:
    with pytest.raises(book.ParameterError, match=fragment):
        book.validate_parameters(ROOT / "notebooks" / "04_spectrogram_resnet18.ipynb", params)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (
            lambda d: ROOT / "README.md",
            r"README.md: not a notebook \(asvnb run takes a .ipynb file or its paired",
        ),
        (
            lambda d: (d / "x.ipynb").write_text("not json") and d / "x.ipynb",
            r"x.ipynb: not a Jupyter notebook \(Not",
        ),
        (
            lambda d: (d / "x.py").write_text("x = 1\n") and d / "x.py",
            "x.py: no paired notebook x.ipynb beside it",
        ),
    ],
    ids=["markdown", "broken-json", "unpaired-py"],
)
def test_a_file_that_is_not_a_notebook_is_refused(tmp_path: Path, make, fragment: str) -> None:
    with pytest.raises(book.NotANotebook, match=fragment):
        book.execute_notebook(make(tmp_path), {}, build=tmp_path / "build")


def test_notebook_without_parameters_cell_is_refused(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "bare.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(book.ParameterError, match="no cell tagged 'parameters'"):
        book.declared_parameters(path)


# ----------------------------------------------------------------------------- execution and cache


def test_execute_then_cache_hit_and_each_kind_of_miss(
    tiny: Path, tmp_path: Path, monkeypatch
) -> None:
    build = tmp_path / "build"
    monkeypatch.setattr(book, "package_hash", lambda: "this version of the package")
    rec, lines = run(tiny, {"n": 4}, build)
    assert rec.status == "ok" and lines[0].startswith("[run]")
    out = Path(rec.output)
    assert out.is_file()
    assert "sum of squares below 4 times 1.0 = 14.0" in outputs_text(out)  # 0+1+4+9
    record = json.loads((build / "execution" / "tiny.json").read_text())
    assert record["parameters"] == {"n": 4} and record["status"] == "ok"
    assert record["duration_s"] > 0 and record["peak_memory_mb"] > 50  # a kernel was measured

    # nothing changed: not executed, the old record is returned
    again, lines = run(tiny, {"n": 4}, build)
    assert lines == [f"[cache] {again.notebook}: unchanged (key {rec.key}), not executed"]
    assert again.started == rec.started

    # another parameter value: executed
    changed, lines = run(tiny, {"n": 5}, build)
    assert lines[0].startswith("[run]") and changed.key != rec.key
    assert "= 30.0" in outputs_text(changed.output)

    # an edited cell: executed
    nb = nbformat.read(str(tiny), as_version=4)
    nb.cells[-2].source = nb.cells[-2].source.replace("sum of squares", "SUM OF SQUARES")
    nbformat.write(nb, str(tiny))
    edited, lines = run(tiny, {"n": 5}, build)
    assert lines[0].startswith("[run]") and "SUM OF SQUARES" in outputs_text(edited.output)
    # outputs or metadata alone do not count as a change
    nb = nbformat.read(str(tiny), as_version=4)
    nb.metadata["touched"] = True
    nbformat.write(nb, str(tiny))
    assert run(tiny, {"n": 5}, build)[1][0].startswith("[cache]")

    # changed package code or data: executed
    monkeypatch.setattr(book, "package_hash", lambda: "another version of the package")
    assert run(tiny, {"n": 5}, build)[1][0].startswith("[run]")
    monkeypatch.setattr(config, "data_fingerprint", lambda root: "other data")
    assert run(tiny, {"n": 5}, build)[1][0].startswith("[run]")


def test_use_cache_false_always_executes(tiny: Path, tmp_path: Path) -> None:
    build = tmp_path / "build"
    run(tiny, {}, build)
    lines: list[str] = []
    book.execute_notebook(tiny, {}, build=build, use_cache=False, log=lines.append)
    assert lines[0].startswith("[run]")


def test_failure_names_notebook_cell_and_error(tiny: Path, tmp_path: Path) -> None:
    build = tmp_path / "build"
    with pytest.raises(book.NotebookFailed) as err:
        run(tiny, {"fail": True, "n": 2}, build)
    msg = str(err.value)
    assert "notebook tiny.ipynb failed" in msg or "tiny.ipynb failed" in msg
    assert re.search(r"cell \d+ \(execution count \d+\)", msg)
    assert 'raise ValueError(f"asked to fail after computing {total}")' in msg
    assert "ValueError: asked to fail after computing 1.0" in msg
    failed = build / "failed" / "tiny.ipynb"
    assert failed.is_file() and f"partially executed notebook: {failed}" in msg
    record = json.loads((build / "execution" / "tiny.json").read_text())
    assert record["status"] == "failed" and record["error"]["ename"] == "ValueError"
    # a failed execution is never a cache hit
    with pytest.raises(book.NotebookFailed):
        run(tiny, {"fail": True, "n": 2}, build)


def asvnb_cli(*args: str, build: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m asvnb.cli ARGS`` in a process of its own, its output captured as text; ``build``: its
    ``ASVNB_BUILD`` (None: this process's environment as it is)."""
    env = None if build is None else {**_env(), "ASVNB_BUILD": str(build)}
    return subprocess.run(
        [sys.executable, "-m", "asvnb.cli", *args], capture_output=True, text=True, env=env
    )


def test_cli_run_with_overrides(tmp_path: Path) -> None:
    out = tmp_path / "tiny-out.ipynb"
    env_build = tmp_path / "build"
    proc = asvnb_cli(
        "run",
        str(TINY.with_suffix(".py")),
        "-p",
        "n",
        "6",
        "-p",
        "label",
        "cli",
        "--profile",
        "embedded",
        "-o",
        str(out),
        build=env_build,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cli: sum of squares below 6 times 1.0 = 55.0" in outputs_text(out)
    bad = asvnb_cli("run", str(TINY), "-p", "epochs", "2", build=env_build)
    assert (
        bad.returncode == 2
        and "unknown parameter(s) epochs" in bad.stderr
        and "valid parameters" in bad.stderr
    )
    # a wrongly typed value is refused before any cell runs: no kernel starts, nothing is recorded
    typed = asvnb_cli("run", str(TINY), "-p", "n", "abc", build=env_build)
    assert (
        typed.returncode == 2 and "parameter n expects int (default 3), got 'abc'" in typed.stderr
    )
    record = json.loads((env_build / "execution" / "tiny.json").read_text())
    assert record["parameters"] == {
        "n": 6,
        "label": "cli",
        "profile": "embedded",
    }  # still the first run's
    # a file that is not a notebook: one line, no traceback
    readme = asvnb_cli("run", str(ROOT / "README.md"), build=env_build)
    assert readme.returncode == 2 and len(readme.stderr.strip().splitlines()) == 1
    assert readme.stderr.startswith("asvnb: error: ") and "not a notebook" in readme.stderr
    assert "Traceback" not in readme.stderr and "NotJSONError" not in readme.stderr


def test_cli_shows_audio_conversion_warnings(tmp_path: Path) -> None:
    """What the CLI's commands convert is shown on stderr, even where Python was told to hide warnings."""
    import numpy as np
    import soundfile as sf

    wav = tmp_path / "hi.wav"
    sf.write(str(wav), np.zeros(4800, np.float32), 48000)
    code = (
        "from asvnb import cli; cli.show_notes(); from asvnb.audio import load_audio; "
        f"load_audio({str(wav)!r}); load_audio({str(wav)!r})"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("AudioConversionWarning: ") == 1  # once per kind of conversion
    assert f"{wav}: resampled from 48000 Hz to 16000 Hz" in proc.stderr


def _env() -> dict:
    import os

    return dict(os.environ)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--help"], "execute study notebooks with papermill"),
        (["run", "--help"], "Parameters are checked against the notebook's 'parameters' cell"),
        (["book", "--help"], "render the book with Jupyter Book"),
        (["data", "--help"], "builds the embedded corpus"),
        (["data", "synth", "--help"], "in the on-disk layouts of ASVspoof 2019 LA"),
    ],
)
def test_help_texts(argv: list[str], fragment: str) -> None:
    proc = asvnb_cli(*argv)
    assert proc.returncode == 0
    assert fragment in " ".join(proc.stdout.split())


# ----------------------------------------------------------------------------- fingerprints and reports


def test_fingerprint_contents(tmp_path: Path) -> None:
    fp = config.fingerprint(tmp_path, device="cpu")
    for key in (
        "asvnb",
        "git_commit",
        "python",
        "torch",
        "cuda",
        "device",
        "data_root",
        "data_fingerprint",
    ):
        assert key in fp
    assert re.fullmatch(r"[0-9a-f]{40}", fp["git_commit"]) and isinstance(fp["git_dirty"], bool)
    assert fp["python"] == ".".join(map(str, sys.version_info[:3]))
    assert fp["device"] == "cpu"


def test_data_fingerprint_follows_the_manifest(tmp_path: Path) -> None:
    assert config.data_fingerprint(tmp_path / "absent") == "missing"
    (tmp_path / "MANIFEST.json").write_text('{"scale": "small"}')
    a = config.data_fingerprint(tmp_path)
    (tmp_path / "MANIFEST.json").write_text('{"scale": "medium"}')
    b = config.data_fingerprint(tmp_path)
    assert a != b and len(a) == 16
    # how long a build took is not what the corpus holds
    (tmp_path / "MANIFEST.json").write_text('{"scale": "medium", "build_seconds": 12.5}')
    assert config.data_fingerprint(tmp_path) == b
    # without a manifest (real datasets): protocol files' names and sizes count, audio does not
    real = tmp_path / "real"
    (real / "proto").mkdir(parents=True)
    (real / "proto" / "p.txt").write_text("LA_0079 LA_T_1 - - bonafide\n")
    c = config.data_fingerprint(real)
    (real / "a.flac").write_bytes(b"x")
    assert config.data_fingerprint(real) == c
    (real / "proto" / "p.txt").write_text(
        "LA_0079 LA_T_1 - - bonafide\nLA_0079 LA_T_2 - A01 spoof\n"
    )
    assert config.data_fingerprint(real) != c


def test_execution_report_lists_every_field() -> None:
    rec = book.ExecutionRecord(
        notebook="notebooks/x.ipynb",
        status="ok",
        profile="embedded",
        parameters={"epochs": 2},
        key="k1",
        started="2026-01-01 10:00:00 UTC",
        duration_s=12.3,
        peak_memory_mb=1536.0,
        fingerprint={
            "git_commit": "abc",
            "torch": "2.9.1",
            "data_fingerprint": "d1",
            "cache_key": "k1",
        },
        output="o",
        effective_parameters={"profile": "embedded", "epochs": 2},
    )
    text = book.execution_report([rec])
    row = text.splitlines()[2]
    assert "- **notebook**: `notebooks/x.ipynb`" in text
    for cell in ("| x |", "embedded", "ok", "12 s", "1536 MB", "2026-01-01 10:00:00 UTC"):
        assert cell in row
    assert "`profile='embedded'`, `epochs=2` (set)" in text
    for fp in ("git_commit `abc`", "torch `2.9.1`", "data_fingerprint `d1`", "cache_key `k1`"):
        assert fp in text


def test_toc_lists_existing_notebooks_only(tmp_path: Path) -> None:
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/99_missing\n"
    )
    with pytest.raises(FileNotFoundError, match="notebooks/99_missing"):
        book.toc_notebooks(tmp_path)
    for nb in book.toc_notebooks():
        assert nb.is_file() and nb.parent.name == "notebooks"


# ----------------------------------------------------------------------------- pairing


def paired_notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.py")) + sorted(
        (ROOT / "tests" / "notebooks").glob("*.py")
    )


def test_every_notebook_is_paired() -> None:
    for folder in (ROOT / "notebooks", ROOT / "tests" / "notebooks"):
        stems_py = {p.stem for p in folder.glob("*.py")}
        stems_nb = {p.stem for p in folder.glob("*.ipynb")}
        assert stems_py == stems_nb, f"{folder}: unpaired {sorted(stems_py ^ stems_nb)}"


@pytest.mark.parametrize("py", paired_notebooks(), ids=lambda p: p.name)
def test_py_and_ipynb_are_in_sync(py: Path) -> None:
    from_py = jupytext.read(str(py))
    from_nb = nbformat.read(str(py.with_suffix(".ipynb")), as_version=4)
    cells_py = [(c.cell_type, c.source.strip()) for c in from_py.cells]
    cells_nb = [(c.cell_type, c.source.strip()) for c in from_nb.cells]
    assert cells_py == cells_nb, f"{py} and its .ipynb differ: run `jupytext --sync {py}`"
    tags = [c.metadata.get("tags", []) for c in from_nb.cells]
    assert sum("parameters" in t for t in tags) == 1, f"{py}: needs exactly one 'parameters' cell"


def test_pairing_check_detects_a_difference(tmp_path: Path) -> None:
    """The sync test above can fail: an edited .py no longer matches its .ipynb."""
    py = tmp_path / "tiny.py"
    py.write_text(TINY.with_suffix(".py").read_text().replace("n = 3", "n = 4"))
    shutil.copy(TINY, tmp_path / "tiny.ipynb")
    with pytest.raises(AssertionError, match="differ"):
        test_py_and_ipynb_are_in_sync(py)


def test_the_ci_profile_works_in_a_folder_of_its_own(monkeypatch) -> None:
    from asvnb import cli

    monkeypatch.delenv("ASVNB_BUILD", raising=False)
    monkeypatch.delenv("ASVNB_DATA", raising=False)
    cli._ci_folders()
    ci = config.project_root() / "build" / "ci"
    assert config.build_root() == ci and config.corpus_root("ci") == ci / "data" / "ci"
    assert results.results_path("01_cnn_vs_resnet50") == ci / "results" / "01_cnn_vs_resnet50.json"
    monkeypatch.setenv("ASVNB_BUILD", "/elsewhere")  # what the caller set is kept
    cli._ci_folders()
    assert config.build_root() == Path("/elsewhere")


def test_profile_parameters() -> None:
    nb = config.project_root() / "notebooks" / "01_cnn_vs_resnet50.ipynb"
    # the default: the same cache entry as `asvnb run`
    assert book.profile_parameters(nb, "embedded") == {}
    assert book.profile_parameters(nb, "ci") == {"profile": "ci", "seeds": [0, 1]}
    # the leaderboard scores one seed by default: kept
    board = config.project_root() / "notebooks" / "05_leaderboard.ipynb"
    assert book.profile_parameters(board, "ci") == {"profile": "ci"}
    with pytest.raises(ValueError, match="unknown profile"):
        book.profile_parameters(nb, "colab")
