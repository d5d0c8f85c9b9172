"""pyproject.toml is the one list of dependencies: every import is declared there, and the other lists follow it.

- every third-party module that src/, notebooks/ (the paired .py files), benchmarks/, tests/ or tools/ import
  comes from a distribution that pyproject declares (its dependencies or an extra);
- requirements.txt and environment.yml name only declared distributions, at versions inside pyproject's
  ranges, and are exactly what tools/sync_project.py generates from pyproject and the lock;
- the lock pins every declared distribution inside its range, and nothing that no declared distribution needs.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sync_tool import sync

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("src/**/*.py", "notebooks/*.py", "benchmarks/*.py", "tests/*.py", "tools/*.py")
# modules no pip distribution provides: name -> why
NOT_FROM_PIP = {
    "google.colab": "the Colab runtime's own module (the notebooks' Colab cell mounts Drive with it)"
}
# pip freeze leaves these out of the lock
NOT_IN_LOCK = {"setuptools", "pip", "wheel"}


@cache
def pp() -> dict:
    return sync.pyproject(ROOT)


def declared() -> dict[str, Requirement]:
    return sync.all_declared(pp())


# ----------------------------------------------------------------------------- (a) imports


def imports(path: Path) -> list[tuple[str, int]]:
    """Absolute imports of a file: (dotted module, line)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.append((node.module, node.lineno))
    return out


def is_local(top: str, path: Path) -> bool:
    """A module next to the importing file (tests' helpers, benchmarks' shared code)."""
    return (path.parent / f"{top}.py").is_file() or (path.parent / top / "__init__.py").is_file()


def undeclared_imports(root: Path = ROOT, patterns: tuple[str, ...] = SCANNED) -> list[str]:
    dists_of = md.packages_distributions()
    names = set(declared())
    problems = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if ".ipynb_checkpoints" in path.parts:
                continue
            for module, line in imports(path):
                top = module.split(".")[0]
                if (
                    top in sys.stdlib_module_names
                    or top in ("__future__", "asvnb")
                    or is_local(top, path)
                    or any(module == m or module.startswith(m + ".") for m in NOT_FROM_PIP)
                ):
                    continue
                where = f"{path.relative_to(root)}:{line}"
                dists = {canonicalize_name(d) for d in dists_of.get(top, [])}
                if not dists:
                    problems.append(
                        f"{where}: module {top!r} is not installed, so no distribution is known to "
                        "provide it: install it and declare it in pyproject.toml"
                    )
                elif not dists & names:
                    problems.append(
                        f"{where}: module {top!r} comes from {', '.join(sorted(dists))}, which "
                        "pyproject.toml does not declare (add it to dependencies or an extra)"
                    )
    return problems


def test_every_imported_module_is_declared_in_pyproject() -> None:
    problems = undeclared_imports()
    assert not problems, "\n".join(problems)


def test_the_import_check_names_an_undeclared_module_and_its_file(tmp_path: Path) -> None:
    # charset_normalizer is installed (requests needs it) but not declared; a module that is not installed at all
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "probe.py").write_text(
        "import os\nimport charset_normalizer\nfrom no_such_module_x import y\n"
    )
    problems = undeclared_imports(tmp_path, ("src/*.py",))
    assert len(problems) == 2, problems
    assert problems[0].startswith(
        "src/probe.py:2: module 'charset_normalizer' comes from charset-normalizer"
    )
    assert problems[1].startswith("src/probe.py:3: module 'no_such_module_x' is not installed")


# ----------------------------------------------------------------------------- (b) the other lists


def requirement_lines(path: Path) -> list[tuple[int, Requirement]]:
    """(line, requirement) of a requirements file, or of the pip section of a conda environment file."""
    if path.suffix == ".yml":
        env = yaml.safe_load(path.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        text = path.read_text().splitlines()
        lines = [(next(i for i, t in enumerate(text, 1) if t.strip() == f"- {r}"), r) for r in pip]
    else:
        lines = [
            (i, t.split("#", 1)[0].strip()) for i, t in enumerate(path.read_text().splitlines(), 1)
        ]
    return [(i, Requirement(t)) for i, t in lines if t and not t.startswith("-")]


def outside_pyproject(path: Path) -> list[str]:
    decl, no_deps = declared(), sync.make_env(pp())[0]
    problems = []
    for line, req in requirement_lines(path):
        key = canonicalize_name(req.name)
        where = f"{path.name}:{line}: {req}"
        if key not in decl and key not in no_deps:
            problems.append(f"{where}: not declared in pyproject.toml")
            continue
        for spec in req.specifier:
            if (
                spec.operator == "=="
                and key in decl
                and not decl[key].specifier.contains(spec.version, prereleases=True)
            ):
                problems.append(f"{where}: outside pyproject's {decl[key]}")
    return problems


@pytest.mark.parametrize("name", ["requirements.txt", "environment.yml"])
def test_requirement_lists_name_only_declared_distributions_inside_their_ranges(name: str) -> None:
    problems = outside_pyproject(ROOT / name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["requirements.txt", "environment.yml"])
def test_requirement_lists_are_generated_from_pyproject_and_the_lock(name: str) -> None:
    path = ROOT / name
    expected = sync.generated(ROOT)[path]
    assert path.read_text() == expected, (
        f"{name} is not what pyproject.toml and the lock give: run "
        "`.venv/bin/python tools/sync_project.py`"
    )


def test_the_list_check_catches_a_stray_and_an_out_of_range_pin(tmp_path: Path) -> None:
    bad = tmp_path / "requirements.txt"
    bad.write_text("numpy==2.4.6\nrequests==2.0\naccelerate==0.20.0\n")
    problems = outside_pyproject(bad)
    assert any("requirements.txt:2: requests==2.0: not declared" in p for p in problems), problems
    assert any(
        "requirements.txt:3: accelerate==0.20.0: outside pyproject's accelerate>=" in p
        for p in problems
    )
    assert len(problems) == 2


def test_the_lock_pins_every_declared_distribution_inside_its_range() -> None:
    lock = sync.read_lock(ROOT)
    problems = []
    for key, req in declared().items():
        if key in NOT_IN_LOCK:
            continue
        if key not in lock:
            problems.append(f"{req}: not pinned in requirements-lock.txt")
        elif not req.specifier.contains(lock[key][1], prereleases=True):
            problems.append(
                f"requirements-lock.txt pins {lock[key][0]}=={lock[key][1]}, outside pyproject's {req}"
            )
    for key in sync.make_env(pp())[0]:
        if key not in lock:
            problems.append(
                f"{key}: installed with --no-deps but not pinned in requirements-lock.txt"
            )
    assert not problems, "\n".join(problems)


def closure(roots: list[Requirement]) -> set[str]:
    """Every distribution the roots need, transitively, by the installed distributions' metadata."""
    done: dict[str, set[str]] = {}
    stack = [(canonicalize_name(r.name), set(r.extras)) for r in roots]
    while stack:
        name, extras = stack.pop()
        if name in done and extras <= done[name]:
            continue
        done.setdefault(name, set()).update(extras)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for r in map(Requirement, requires):
            if r.marker and not any(r.marker.evaluate({"extra": e}) for e in done[name] | {""}):
                continue
            stack.append((canonicalize_name(r.name), set(r.extras)))
    return set(done)


def test_the_lock_pins_nothing_that_no_declared_distribution_needs() -> None:
    lock = sync.read_lock(ROOT)
    needed = closure(list(declared().values()))
    stray = sorted(lock[k][0] for k in lock if k not in needed)
    assert not stray, (
        f"requirements-lock.txt pins {', '.join(stray)}, which nothing declared in pyproject.toml "
        "needs: declare them (a direct dependency) or drop them from the lock"
    )


# ----------------------------------------------------------------------------- Python version, make env


def test_python_version_agrees_everywhere() -> None:
    floor = re.fullmatch(r">=\s*(\d+\.\d+)", pp()["project"]["requires-python"]).group(1)
    assert floor == "3.11"  # what is tested: the lock was verified on 3.11
    assert f"Python {floor}" in (ROOT / "README.md").read_text()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={floor}" in env["dependencies"]
    assert "Python 3.11" in (ROOT / "requirements.txt").read_text()


def test_make_env_installs_the_no_deps_distributions_without_their_requirements() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for name in pp()["tool"]["asvnb"]["make-env"]["no-deps"]:
        assert re.search(rf"--no-deps\s+{re.escape(name)}\b", makefile), (
            f"Makefile: no `--no-deps {name}` line"
        )
    assert "-r requirements.txt" in makefile and "-c $(LOCK)" in makefile
