"""Generate what must follow pyproject.toml and _config.yml, or check that it does (``--check``).

    .venv/bin/python tools/sync_project.py           # rewrite what drifted
    .venv/bin/python tools/sync_project.py --check   # list what drifted, exit 1 if anything did

Two single sources:

- **Dependencies**: ``pyproject.toml`` names every dependency (base and extras); ``requirements-lock.txt``
  pins the set tested together. ``requirements.txt`` (what ``make env`` installs) and ``environment.yml``
  (conda) are generated from both: every declared distribution at its locked version, except those
  ``[tool.asvnb.make-env]`` installs with ``--no-deps`` (in their place, its ``instead`` list).
- **Repository URL**: ``_config.yml``'s ``repository.url`` and ``branch`` (Jupyter Book's launch buttons read
  them). The Colab badges of the notebooks, the ``pip install ... @ git+URL@BRANCH`` lines of the notebooks'
  Colab cells and of the documentation, and pyproject's ``[project.urls]`` are rewritten from it.

And each notebook's (``notebooks/*.py``) Colab cell, :func:`colab_cell`, right after its parameters cell, which
is kept from ``ruff format`` between ``# fmt: off`` and ``# fmt: on`` (docs/NOTEBOOKS.md). The cell tags that keep
this plumbing out of the rendered book (and only there: Colab and papermill run every cell as before) are
written with them: the Colab cell is tagged ``remove-cell``, the code cells between it and the first markdown
cell (the imports and the set-up call) ``hide-input`` (:func:`with_generated_cells`). Each notebook's Colab
badge is the book's local image (:data:`BADGE_IMAGE`, so it shows without a network) linking to Colab. Only the
``.py`` of a notebook is written for the cells: ``jupytext --sync`` carries it to the ``.ipynb``.

tests/test_dependencies.py and tests/test_colab.py run the check.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = "requirements-lock.txt"
TORCH = ("torch", "torchvision", "torchaudio")  # the Makefile installs these first and alone


# ----------------------------------------------------------------------------- dependencies


def pyproject(root: Path = ROOT) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())


def declared(pp: dict) -> dict[str, list[Requirement]]:
    """Group name ("base" or the extra's name) -> its requirements, without the self-references (asvnb[...])."""
    project = pp["project"]
    groups = {"base": [Requirement(r) for r in project.get("dependencies", [])]}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        groups[extra] = [
            Requirement(r)
            for r in reqs
            if canonicalize_name(Requirement(r).name) != project["name"]
        ]
    return groups


def make_env(pp: dict) -> tuple[set[str], list[Requirement]]:
    """What requirements.txt leaves out (installed with --no-deps by the Makefile) and what it adds instead."""
    cfg = pp.get("tool", {}).get("asvnb", {}).get("make-env", {})
    return {canonicalize_name(n) for n in cfg.get("no-deps", [])}, [
        Requirement(r) for r in cfg.get("instead", [])
    ]


def all_declared(pp: dict) -> dict[str, Requirement]:
    """Canonical name -> requirement, over the base, every extra and make-env's stand-ins."""
    out: dict[str, Requirement] = {}
    for reqs in [*declared(pp).values(), make_env(pp)[1]]:
        for r in reqs:
            out.setdefault(canonicalize_name(r.name), r)
    return out


def read_lock(root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """Canonical name -> (name as written, pinned version) of every ``name==version`` line of the lock."""
    out = {}
    for n, line in enumerate((root / LOCK).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"{LOCK}:{n}: not a name==version pin: {line!r}")
        out[canonicalize_name(name.strip())] = (name.strip(), version.strip())
    return out


def pinned_lines(pp: dict, lock: dict[str, tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(group comment, lines) of the make-env set: every declared distribution at its locked version."""
    no_deps, instead = make_env(pp)
    comments = {
        "base": "the package (pyproject's dependencies)",
        "corpus": "extra corpus: asvnb data synth",
        "book": "extra book: asvnb book",
        "dev": "extra dev: tests, lint, notebook editing",
    }
    out, seen = [], set()
    groups = declared(pp)
    for group, reqs in [*groups.items(), ("make-env", instead)]:
        lines = []
        for r in reqs:
            key = canonicalize_name(r.name)
            if key in no_deps or key in seen:
                continue
            seen.add(key)
            if key in lock:
                name, version = lock[key]
                lines.append(f"{name}=={version}")
            else:  # pip freeze leaves out setuptools: keep the range
                lines.append(str(r))
        if lines:
            comment = comments.get(group, f"extra {group}")
            if group == "make-env":
                comment = (
                    f"instead of the requirements of {', '.join(sorted(no_deps))}, which the Makefile "
                    "installs with --no-deps"
                )
            out.append((comment, lines))
    return out


def render_requirements(root: Path = ROOT) -> str:
    pp, lock = pyproject(root), read_lock(root)
    no_deps = sorted(make_env(pp)[0])
    head = [
        "# GENERATED by tools/sync_project.py from pyproject.toml and requirements-lock.txt: do not edit.",
        "# Every direct dependency of asvnb (the package and all its extras), at the version of the lock: the set",
        "# verified to install together on Python 3.11 / x86_64. `make env` installs torch, torchvision and",
        "# torchaudio first and alone (PyPI's wheels are CUDA builds that also run on the CPU), then this file,",
        f"# then {', '.join(no_deps)} with --no-deps (see pyproject.toml).",
    ]
    body = []
    for comment, lines in pinned_lines(pp, lock):
        body += ["", f"# {comment}", *lines]
    return "\n".join(head + body) + "\n"


def render_environment(root: Path = ROOT) -> str:
    pp, lock = pyproject(root), read_lock(root)
    no_deps = make_env(pp)[0]
    python = re.search(r">=\s*(\d+\.\d+)", pp["project"]["requires-python"]).group(1)
    pins = [line for _, lines in pinned_lines(pp, lock) for line in lines]
    after = [f"{lock[k][0]}=={lock[k][1]}" for k in sorted(no_deps) if k in lock]
    out = [
        "# GENERATED by tools/sync_project.py from pyproject.toml and requirements-lock.txt: do not edit.",
        "# conda / mamba environment with the pinned set of requirements.txt",
        "# (conda env create -f environment.yml && conda activate asvnb).",
        '# On Colab, install the package instead: pip install "asvnb[colab] @ git+<repository>" (book/colab.md).',
        "name: asvnb",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python}",
        "  - pip",
        "  - ffmpeg",
        "  - pip:",
        *[f"      - {p}" for p in pins],
        "      - -e .",
    ]
    if after:
        out.append(
            f"# then, without their outdated dependency pins: pip install --no-deps {' '.join(after)}"
        )
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- repository URL


def repository(root: Path = ROOT) -> tuple[str, str, str]:
    """(repository URL, branch, Colab URL) from _config.yml."""
    cfg = yaml.safe_load((root / "_config.yml").read_text())
    url = cfg["repository"]["url"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(
            f"_config.yml: repository.url must be https://github.com/OWNER/NAME, got {url!r}"
        )
    return (
        url,
        cfg["repository"].get("branch", "main"),
        cfg["launch_buttons"]["colab_url"].rstrip("/"),
    )


def install_spec(root: Path = ROOT) -> str:
    """The requirement the documentation and the notebooks' Colab cells install: asvnb[colab] @ git+URL@BRANCH."""
    url, branch, _ = repository(root)
    return f"asvnb[colab] @ git+{url}@{branch}"


def colab_cell(root: Path = ROOT) -> str:
    """The Colab cell every notebook has right after its parameters cell (and papermill's injected ones).

    Written as ``ruff format`` writes it (lines within 100 characters), so the formatter leaves it unchanged.
    """
    return f"""\
# Colab only (a no-op anywhere else): install this package with everything the notebooks
# import; the set-up call below mounts Google Drive when data_root is on it. The URL is
# _config.yml's repository.url (`make sync` rewrites it).
import importlib
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("asvnb") is None:
    spec = "{install_spec(root)}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec], check=True)
    importlib.invalidate_caches()
"""


# The parameters cell of a notebook (jupytext percent format) is kept from the formatter: `ruff format` would
# wrap a long `name = value  # type: help` line into parentheses, which papermill's parameter parser (and so
# asvnb.book's declarations) no longer reads.
PARAMETERS_MARK = '# %% tags=["parameters"]'
FMT_OFF, FMT_ON = "# fmt: off", "# fmt: on"
# Jupyter Book's cell tags: the Colab cell is left out of the rendered page, the imports and the set-up call
# are folded behind a "show code" toggle (their output, if any, still shows).
REMOVE, FOLD = "remove-cell", "hide-input"
COLAB_MARK = f'# %% tags=["{REMOVE}"]'


def _cells(lines: list[str]) -> list[int]:
    """Indices of the lines that start a cell (``# %%``) in a percent-format notebook."""
    return [i for i, line in enumerate(lines) if line.startswith("# %%")]


def with_generated_cells(text: str, root: Path = ROOT) -> str:
    """A percent-format notebook with its parameters cell between ``# fmt: off`` / ``# fmt: on`` and, right
    after it, :func:`colab_cell` (replacing the Colab cell there, or inserted) tagged ``remove-cell``; the code
    cells after it up to the first markdown cell are tagged ``hide-input``. Without a parameters cell, the
    text is returned unchanged."""
    lines = text.split("\n")
    if PARAMETERS_MARK not in lines:
        return text
    p = lines.index(PARAMETERS_MARK)
    starts = _cells(lines) + [len(lines)]
    nxt = next(i for i in starts if i > p)
    body = [line for line in lines[p + 1 : nxt] if line not in (FMT_OFF, FMT_ON)]
    while body and not body[-1].strip():
        body.pop()
    params = [PARAMETERS_MARK, FMT_OFF, *body, FMT_ON, ""]
    cell = [COLAB_MARK, *colab_cell(root).rstrip("\n").split("\n"), ""]
    after = next(i for i in starts if i > nxt)
    if nxt < len(lines) and "google.colab" in "\n".join(lines[nxt:after]):
        nxt = after  # the Colab cell there is replaced
    return "\n".join(lines[:p] + params + cell + _fold_setup(lines[nxt:]))


def _fold_setup(lines: list[str]) -> list[str]:
    """The cells after the Colab cell, its code cells up to the first markdown cell tagged ``hide-input``."""
    out = list(lines)
    for i in _cells(out):
        if out[i].startswith("# %% [markdown]"):
            break
        out[i] = _with_tag(out[i], FOLD)
    return out


def _with_tag(header: str, tag: str) -> str:
    """A cell's ``# %%`` line with ``tag`` among its tags (jupytext writes them as ``tags=[...]``)."""
    m = re.fullmatch(r"# %%(?: tags=\[(.*?)\])?(.*)", header)
    if m is None:
        return header
    tags = [t.strip().strip('"') for t in (m.group(1) or "").split(",") if t.strip()]
    if tag in tags:
        return header
    return "# %% tags=[" + ", ".join(f'"{t}"' for t in [*tags, tag]) + "]" + m.group(2)


def colab_link(path: str, root: Path = ROOT) -> str:
    """The Colab URL that opens the repository's file ``path`` (e.g. ``notebooks/NN_name.ipynb``)."""
    url, branch, colab = repository(root)
    return f"{colab}/github/{url.removeprefix('https://github.com/')}/blob/{branch}/{path}"


# The badge's image is the book's own copy, relative to notebooks/: Colab's remote badge is a broken image in a
# book read without a network. (Jupyter Book copies the image into the built book; Jupyter resolves it beside
# the notebook.)
BADGE_IMAGE = "../book/_static/colab-badge.svg"


def colab_badge(path: str, root: Path = ROOT) -> str:
    """The markdown of a notebook's *Open in Colab* badge: the local image, linking to :func:`colab_link`."""
    return f"[![Open in Colab]({BADGE_IMAGE})]({colab_link(path, root)})"


# Files that may name the repository (README, the book's pages, docs, notebooks, pyproject): every
# github.com/OWNER/NAME, colab .../github/OWNER/NAME/blob/BRANCH/PATH and git+ URL in them is rewritten.
URL_FILES = (
    "README.md",
    "pyproject.toml",
    "book/*.md",
    "docs/*.md",
    "notebooks/*.py",
    "notebooks/*.ipynb",
)
NAME = r"[\w-]+(?:\.[\w-]+)*"  # an owner, repository or branch name (no trailing full stop)
COLAB_RE = re.compile(
    rf"https://colab\.research\.google\.com/github/{NAME}/{NAME}/blob/{NAME}/([\w./-]*[\w-])"
)
GIT_RE = re.compile(rf"asvnb(\[[\w,]+\])? @ git\+https://github\.com/{NAME}/{NAME}(?:@{NAME})?")
GITHUB_RE = re.compile(rf"(?<![/\w+])https://github\.com/{NAME}/{NAME}(?![\w.-]*/blob/)")
# a badge as written before (Colab's remote image) or now: the image is replaced, the link rewritten
BADGE_RE = re.compile(rf"\[!\[Open [Ii]n Colab\]\([^)\s]+\)\]\({COLAB_RE.pattern}\)")


def url_files(root: Path = ROOT) -> list[Path]:
    return sorted({p for pat in URL_FILES for p in root.glob(pat)})


def rewrite_urls(text: str, root: Path = ROOT) -> str:
    url, _, _ = repository(root)
    text = BADGE_RE.sub(lambda m: colab_badge(m.group(1), root), text)
    text = COLAB_RE.sub(lambda m: colab_link(m.group(1), root), text)
    text = GIT_RE.sub(lambda m: install_spec(root).replace("[colab]", m.group(1) or ""), text)
    return GITHUB_RE.sub(url, text)


# ----------------------------------------------------------------------------- main


def generated(root: Path = ROOT) -> dict[Path, str]:
    """Every file this tool writes, with the text it should hold."""
    out = {
        root / "requirements.txt": render_requirements(root),
        root / "environment.yml": render_environment(root),
    }
    for p in url_files(root):
        text = rewrite_urls(p.read_text(), root)
        if p.parent == root / "notebooks" and p.suffix == ".py":
            text = with_generated_cells(text, root)
        out[p] = text
    return out


def drift(root: Path = ROOT) -> list[Path]:
    """The files whose text differs from what this tool would write."""
    return [p for p, text in generated(root).items() if not p.is_file() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--check", action="store_true", help="only list the files that differ; exit 1 if any does"
    )
    args = ap.parse_args(argv)
    stale = drift()
    for p in stale:
        print(f"{'differs' if args.check else 'writing'}: {p.relative_to(ROOT)}")
    if args.check:
        return 1 if stale else 0
    texts = generated()
    for p in stale:  # a notebook's .py and .ipynb get the same rewrite: the pair stays in sync
        p.write_text(texts[p])
    return 0


if __name__ == "__main__":
    sys.exit(main())
