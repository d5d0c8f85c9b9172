"""Which code made a cached result: the key of the package modules a step runs, and the checkout's state.

Every cache of the book (a trained run, a stand-in, an image, score or stream
cache) is keyed by its settings, its data and :func:`code_key` of the modules
that produce it: the source text of those modules and of every ``asvnb`` module
they import, transitively, plus the locked dependencies. A change to a training
module thus re-keys every run that imports it, while a change to a module no
producer imports (a plotting module, say) leaves the keys as they were.

The import graph is read from the source with :mod:`ast` rather than from
``sys.modules``: what a module *may* run is what it imports, whether or not
this process happened to load it, and reading the files imports nothing heavy.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from asvnb import __version__

PACKAGE = "asvnb"
PACKAGE_DIR = Path(__file__).resolve().parent
KEY_CHARS = 16


def module_file(name: str) -> Path:
    """The source file of package module ``name`` (``asvnb.train.loop`` -> ``.../train/loop.py``)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        raise ValueError(f"{name!r} is not a module of the {PACKAGE} package")
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    raise ModuleNotFoundError(f"no module {name!r} in {PACKAGE_DIR}")


def _is_module(name: str) -> bool:
    try:
        module_file(name)
    except (ValueError, ModuleNotFoundError):
        return False
    return True


@functools.cache
def direct_imports(name: str) -> frozenset[str]:
    """The package modules that module ``name`` imports anywhere in its source (absolute or relative)."""
    path = module_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PACKAGE:
                continue
            found.add(mod)
            # `from asvnb.train import loop` imports the submodule asvnb.train.loop too
            found.update(f"{mod}.{a.name}" for a in node.names if _is_module(f"{mod}.{a.name}"))
    found = {m for m in found if _is_module(m)}
    found.discard(name)
    return frozenset(found)


def closure(modules: Iterable[str]) -> list[str]:
    """``modules`` and every package module they import, transitively; sorted.

    A package's ``__init__`` counts where it is imported from, not merely because
    a submodule of it runs: a study package's ``__init__`` gathers its tables and
    figures, which no training step runs.
    """
    todo = list(modules)
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(direct_imports(m))
    return sorted(seen)


def _lock_text() -> bytes:
    """The locked dependencies (``requirements-lock.txt`` of the checkout), or the package version installed."""
    lock = PACKAGE_DIR.parents[1] / "requirements-lock.txt"
    if lock.is_file():
        return lock.read_bytes()
    return f"{PACKAGE} {__version__}".encode()  # a wheel install: no lock file beside the package


def _foreign_file(name: str) -> Path:
    """The source file of a loaded module outside the package (a user's or a test's function that draws data)."""
    path = getattr(sys.modules.get(name), "__file__", None)
    if not path or not Path(path).is_file():
        raise ValueError(
            f"{name!r} is not a module of the {PACKAGE} package nor a loaded module with a source file"
        )
    return Path(path)


def code_key(*modules: str) -> str:
    """Hash of the source of ``modules`` and every package module they import, and of the locked dependencies.

    A module outside the package (a caller's own drawing function) counts by its own file, not its imports.
    """
    if not modules:
        raise ValueError("code_key needs the modules that produce the cached result")
    ours = [m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")]
    h = hashlib.sha256(_lock_text())
    for m in closure(ours):
        h.update(m.encode() + b"\0")
        h.update(module_file(m).read_bytes())
    for m in sorted(set(modules) - set(ours)):
        h.update(m.encode() + b"\0")
        h.update(_foreign_file(m).read_bytes())
    return h.hexdigest()[:KEY_CHARS]


def loaded_code_key() -> str:
    """:func:`code_key` of every package module this process has imported: the code that made its results."""
    return code_key(*sorted(m for m in list(sys.modules) if _is_module(m)))


def module_of(obj: object) -> str:
    """The module that defines a function, class or :func:`functools.partial` (for keying what it produces)."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    return getattr(obj, "__module__", None) or type(obj).__module__


def git_state(root: Path | None = None) -> dict[str, object]:
    """``git_commit`` (the full hash of HEAD, or None outside git) and ``git_dirty`` (uncommitted changes)."""
    root = root or PACKAGE_DIR.parents[1]

    def git(*args: str) -> str:
        run = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
        return run.stdout.strip()

    try:
        sha, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": sha, "git_dirty": bool(status)}
