"""The Colab reader's path: one repository URL behind every badge, launch button and install line; the notebooks'
Colab cell does what it says; the Colab chapter lists every dataset under the folder the adapters read.

The one setting is _config.yml's repository.url (and branch): Jupyter Book's launch buttons read it, and
tools/sync_project.py (`make sync`) rewrites every other place from it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import jupytext
import pytest
import yaml
from packaging.requirements import Requirement
from sync_tool import sync

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# ----------------------------------------------------------------------------- one repository URL


def test_every_repository_link_derives_from_config() -> None:
    stale = [p.relative_to(ROOT) for p in sync.drift(ROOT) if p in sync.url_files(ROOT)]
    assert not stale, (
        f"links that differ from _config.yml's repository.url: {stale}; run `make sync`"
    )
    url, _, colab = sync.repository(ROOT)
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["html"]["use_repository_button"] and colab == "https://colab.research.google.com"
    assert sync.pyproject(ROOT)["project"]["urls"]["Repository"] == url
    # nothing names another GitHub repository in the files that may name ours
    for p in sync.url_files(ROOT):
        for m in sync.GITHUB_RE.finditer(p.read_text()):
            assert m.group(0) == url, f"{p.relative_to(ROOT)}: {m.group(0)}"


def test_the_sync_rewrites_a_changed_url_everywhere(tmp_path: Path) -> None:
    """Change _config.yml only: every badge, install line and pyproject's URL follow."""
    for rel in [
        "_config.yml",
        "pyproject.toml",
        "requirements-lock.txt",
        "README.md",
        "book/colab.md",
        "docs/NOTEBOOKS.md",
        *[f"notebooks/{p.stem}{s}" for p in NOTEBOOKS for s in (".py", ".ipynb")],
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    cfg = tmp_path / "_config.yml"
    cfg.write_text(
        cfg.read_text()
        .replace("https://github.com/asvnb/asvnb", "https://github.com/someone/fork")
        .replace("branch: main", "branch: dev")
    )
    for p, text in sync.generated(tmp_path).items():
        if p in sync.url_files(tmp_path):
            p.write_text(text)
    assert not [p for p in sync.drift(tmp_path) if p in sync.url_files(tmp_path)]
    nb = (tmp_path / "notebooks" / NOTEBOOKS[0].with_suffix(".py").name).read_text()
    assert (
        f"colab.research.google.com/github/someone/fork/blob/dev/notebooks/{NOTEBOOKS[0].name}"
        in nb
    )
    assert "asvnb[colab] @ git+https://github.com/someone/fork@dev" in nb
    assert (
        'Repository = "https://github.com/someone/fork"'
        in (tmp_path / "pyproject.toml").read_text()
    )
    assert "asvnb/asvnb" not in "".join(p.read_text() for p in sync.url_files(tmp_path))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_has_one_badge_that_opens_itself(notebook: Path) -> None:
    links = sync.COLAB_RE.findall(notebook.with_suffix(".py").read_text())
    assert links == [f"notebooks/{notebook.name}"], links
    for suffix in (".py", ".ipynb"):
        text = notebook.with_suffix(suffix).read_text()
        assert sync.colab_badge(f"notebooks/{notebook.name}", ROOT) in text, suffix
        assert "colab.research.google.com/assets" not in text  # no remote image: broken offline


def test_the_badge_image_is_a_local_svg_beside_the_book() -> None:
    image = (ROOT / "notebooks" / sync.BADGE_IMAGE).resolve()
    assert image == ROOT / "book" / "_static" / "colab-badge.svg"
    svg = image.read_text()
    assert (
        svg.startswith("<svg")
        and "Open in Colab" in svg
        and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )  # nothing it draws is fetched


def test_the_sync_replaces_a_remote_badge_by_the_local_one() -> None:
    old = (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/someone/old/blob/dev/notebooks/07_x.ipynb)"
    )
    assert sync.rewrite_urls(f"# {old}\n", ROOT) == (
        f"# {sync.colab_badge('notebooks/07_x.ipynb', ROOT)}\n"
    )


def test_the_documented_install_is_a_valid_requirement_with_the_colab_extra() -> None:
    url, branch, _ = sync.repository(ROOT)
    req = Requirement(sync.install_spec(ROOT))
    assert (req.name, req.extras, req.url) == ("asvnb", {"colab"}, f"git+{url}@{branch}")
    assert "colab" in sync.pyproject(ROOT)["project"]["optional-dependencies"]
    for doc in ("README.md", "book/colab.md"):
        assert (
            f'pip install -q "{req}"' in (ROOT / doc).read_text()
            or f'pip install "{req}"' in (ROOT / doc).read_text()
        ), doc


# ----------------------------------------------------------------------------- the Colab cell


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_has_the_colab_cell_right_after_its_parameters(notebook: Path) -> None:
    # the .py, which `make sync` writes; test_book checks that its .ipynb holds the same cells
    cells = jupytext.read(str(notebook.with_suffix(".py"))).cells
    i = next(k for k, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert [c.source.strip() for c in cells].count(sync.colab_cell(ROOT).strip()) == 1
    assert (
        cells[i + 1].cell_type == "code"
        and cells[i + 1].source.strip() == sync.colab_cell(ROOT).strip()
    )
    assert "data_root" in cells[i].source  # the cell reads it


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_plumbing_cells_are_tagged_for_the_book_in_both_files(notebook: Path) -> None:
    """The Colab cell is removed from the rendered page, the imports and set-up cells folded; both stay."""
    for nb in (jupytext.read(str(notebook.with_suffix(".py"))), jupytext.read(str(notebook))):
        cells = nb.cells
        i = next(k for k, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        assert cells[i + 1].metadata.get("tags") == [sync.REMOVE]
        assert "google.colab" in cells[i + 1].source  # still there for Colab
        first_md = next(k for k in range(i + 1, len(cells)) if cells[k].cell_type == "markdown")
        setup = cells[i + 2 : first_md]
        assert setup and all(sync.FOLD in c.metadata.get("tags", []) for c in setup)
        assert any("import " in c.source for c in setup) and any(
            "setup(" in c.source for c in setup
        )
        # nothing else is hidden: the chapter's results keep their code in view
        later = [
            c
            for c in cells[first_md:]
            if {sync.REMOVE, sync.FOLD} & set(c.metadata.get("tags", []))
        ]
        assert not later


def test_the_sync_tags_the_cells_and_keeps_other_tags() -> None:
    text = (
        '# %% tags=["parameters"]\nprofile = "embedded"  # {embedded, full}\n\n'
        '# %%\nimport os\n\n# %% tags=["x"]\nsetup()\n\n# %% [markdown]\n# Text\n\n# %%\ny = 1\n'
    )
    out = sync.with_generated_cells(text, ROOT)
    assert sync.COLAB_MARK + "\n# Colab only" in out
    assert '# %% tags=["hide-input"]\nimport os' in out
    assert '# %% tags=["x", "hide-input"]\nsetup()' in out
    assert out.endswith("# %% [markdown]\n# Text\n\n# %%\ny = 1\n")  # after the text: untouched
    assert sync.with_generated_cells(out, ROOT) == out


@pytest.mark.parametrize(
    "notebook", [*NOTEBOOKS, ROOT / "tests" / "notebooks" / "tiny.ipynb"], ids=lambda p: p.stem
)
def test_each_parameters_cell_is_kept_from_the_formatter(notebook: Path) -> None:
    """`ruff format` would wrap a long `name = value  # type: help` line, which papermill no longer reads."""
    (cell,) = [
        c
        for c in jupytext.read(str(notebook.with_suffix(".py"))).cells
        if "parameters" in c.metadata.get("tags", [])
    ]
    lines = cell.source.strip().split("\n")
    assert (lines[0], lines[-1]) == (sync.FMT_OFF, sync.FMT_ON), notebook.name
    assert sync.FMT_OFF not in lines[1:-1] and sync.FMT_ON not in lines[1:-1]


def ruff_format(text: str, filename: str) -> str:
    """``text`` as ``ruff format`` writes it under the project's settings (pyproject.toml)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    # ruff is in requirements.txt and `make test` runs it first: its absence is a broken environment
    assert ruff is not None, "ruff is not installed: install the dev extra (make env)"
    cmd = [ruff, "format", "--stdin-filename", filename, "-"]
    return subprocess.run(
        cmd, input=text, capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout


def test_the_formatter_leaves_the_generated_cells_unchanged() -> None:
    cell = sync.colab_cell(ROOT)
    assert ruff_format(cell, "colab_cell.py") == cell
    long = "seeds = [0]  # list[int]: " + "the help text of a parameter runs on " * 3 + "and on"
    text = '# %% tags=["parameters"]\nprofile = "embedded"  # {embedded, full}\n' + long + "\n"
    text = sync.with_generated_cells(text + "\n# %%\nx = 1\n", ROOT)
    assert ruff_format(text, "notebook.py") == text
    assert sync.with_generated_cells(text, ROOT) == text  # generating again changes nothing
    # the code cell after the Colab cell is the set-up: folded in the book
    assert text.count(sync.colab_cell(ROOT)) == 1 and text.endswith(
        '\n# %% tags=["hide-input"]\nx = 1\n'
    )


def fake_colab(monkeypatch, *, colab: bool, installed: bool) -> dict[str, list]:
    """Colab's modules faked (or absent) and pip stubbed; returns the pip and Drive-mount calls made."""
    calls: dict[str, list] = {"run": [], "mount": []}
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls["run"].append((cmd, kw)))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "asvnb" and not installed else real_find_spec(name, *a),
    )
    if colab:
        google = sys.modules.get("google") or types.ModuleType("google")
        colab_mod = types.ModuleType("google.colab")
        colab_mod.drive = types.SimpleNamespace(mount=lambda path: calls["mount"].append(path))
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", colab_mod)
        monkeypatch.setattr(google, "colab", colab_mod, raising=False)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    return calls


def run_cell(monkeypatch, *, colab: bool, installed: bool) -> dict[str, list]:
    """Execute the Colab cell with Colab's modules faked; return the pip and mount calls it made."""
    calls = fake_colab(monkeypatch, colab=colab, installed=installed)
    exec(compile(sync.colab_cell(ROOT), "colab cell", "exec"), {"data_root": "/content/drive/x"})
    return calls


def test_the_colab_cell_does_nothing_outside_colab(monkeypatch) -> None:
    assert run_cell(monkeypatch, colab=False, installed=False) == {"run": [], "mount": []}


def test_the_colab_cell_installs_the_package_on_colab(monkeypatch) -> None:
    calls = run_cell(monkeypatch, colab=True, installed=False)
    assert calls["run"] == [
        ([sys.executable, "-m", "pip", "install", "-q", sync.install_spec(ROOT)], {"check": True})
    ]
    assert calls["mount"] == []  # the chapter's set-up call mounts Drive (see below)


def test_the_colab_cell_skips_the_install_when_the_package_is_there(monkeypatch) -> None:
    assert run_cell(monkeypatch, colab=True, installed=True) == {"run": [], "mount": []}


class _Stop(Exception):
    """Raised by the stub settings, to end a set-up call right after the mount."""


class _StubSettings:
    @classmethod
    def for_profile(cls, *args: object, **kwargs: object) -> None:
        raise _Stop


@pytest.mark.parametrize(
    "data_root,mounted",
    [("/content/drive/MyDrive/asvnb-data", ["/content/drive"]), ("/content/data", []), (None, [])],
)
def test_every_chapter_set_up_mounts_drive_on_colab_when_the_data_are_on_it(
    monkeypatch, data_root: str | None, mounted: list[str]
) -> None:
    from asvnb import leaderboard
    from asvnb.studies import chapter, embedded_corpus

    calls = fake_colab(monkeypatch, colab=True, installed=True)
    with pytest.raises(_Stop):  # studies 01-04
        chapter.setup(_StubSettings, "full", data_root)
    with pytest.raises(ValueError, match="describes the embedded corpus"):  # chapter 00
        embedded_corpus.setup("full", data_root, "tiny", 0)
    monkeypatch.setattr(leaderboard.config.Paths, "for_profile", _StubSettings.for_profile)
    with pytest.raises(_Stop):  # chapter 05
        leaderboard.setup("full", data_root, "cpu", 1)
    assert calls["mount"] == mounted * 3


# ----------------------------------------------------------------------------- the Colab chapter's datasets


def folder_the_adapter_reads(dataset: str, root: Path) -> str:
    """The folder under data_root that the package's adapter for ``dataset`` looks for (from its error)."""
    from asvnb.data.asvspoof import LA2019, LA2021Eval
    from asvnb.data.commonvoice import CommonVoice
    from asvnb.data.deepvoice import list_deepvoice
    from asvnb.data.imitation import list_imitation
    from asvnb.errors import DatasetMissing

    make = {
        "asvspoof2019_la": lambda: LA2019(root, "train"),
        "asvspoof2021_la": lambda: LA2021Eval(root),
        "commonvoice": lambda: CommonVoice(root),
        "deepvoice": lambda: list_deepvoice(root),
        "imitation": lambda: list_imitation(root),
    }[dataset]
    with pytest.raises(DatasetMissing) as err:
        make()
    return err.value.path.relative_to(root).parts[0]


DATASETS = {
    "asvspoof2019_la": "LA",
    "asvspoof2021_la": "ASVspoof2021_LA_eval",
    "commonvoice": "cv-corpus-14.0-delta-2023-06-23",
    "deepvoice": "KAGGLE",
    "imitation": "Fake_voice_recordings_Imitation",
    "musan": "musan",
    "rirs_noises": "RIRS_NOISES",
}


def test_the_chapter_lists_every_dataset_with_its_folder_size_and_source(tmp_path: Path) -> None:
    from asvnb.errors import SOURCES

    assert set(DATASETS) == set(SOURCES)
    rows = [
        line
        for line in (ROOT / "book" / "colab.md").read_text().splitlines()
        if line.startswith("| ")
    ]
    for key, folder in DATASETS.items():
        url = re.match(r"\S+", SOURCES[key].url).group(0)
        (row,) = [
            r for r in rows if f"<{url}>" in r
        ]  # where to get it: the URL the adapter's error gives
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert f"`{folder}/`" in cells[1], (key, cells[1])
        assert re.search(r"\d|not checked", cells[2]), (
            key,
            cells[2],
        )  # a size, or says it is not known
    for key in ("asvspoof2019_la", "asvspoof2021_la", "commonvoice", "deepvoice", "imitation"):
        assert folder_the_adapter_reads(key, tmp_path) == DATASETS[key], key


def test_musan_and_rirs_are_found_under_the_documented_folders(tmp_path: Path) -> None:
    from asvnb.data.augment import Augmenter

    for rel in (
        "musan/music/fma/a.wav",
        "musan/speech/librivox/b.wav",
        "musan/noise/free-sound/c.wav",
        "RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001.wav",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    aug = Augmenter(tmp_path, tmp_path, sr=16000, kinds=("music", "speech", "noise", "reverb"))
    assert {c: len(v) for c, v in aug.files.items()} == {"music": 1, "speech": 1, "noise": 1}
    assert [p.name for p in aug.rirs] == ["Room001-00001.wav"]


def test_the_chapter_estimates_time_and_gpu_memory_per_notebook() -> None:
    text = (ROOT / "book" / "colab.md").read_text()
    section = text.split("## 5.", 1)[1].split("\n## ", 1)[0]
    assert "estimate" in section.lower() and "GPU memory" in section
    for nb in NOTEBOOKS:
        (row,) = [r for r in section.splitlines() if r.startswith(f"| {nb.stem[:2]} ")]
        if not nb.stem.startswith("00"):
            assert re.search(r"\d+(\.\d+)?(-\d+(\.\d+)?)? h", row) and "GB" in row, row


def test_mount_drive_is_a_no_op_off_colab(monkeypatch) -> None:
    from asvnb import colab

    calls = fake_colab(monkeypatch, colab=False, installed=True)
    assert colab.mount_drive("/content/drive/MyDrive/asvnb-data") is False
    assert calls["mount"] == []
