"""The package's layers hold: no module imports from a layer above its own (issue 13).

The layers follow the pipeline: ``audio`` reads and writes sound files;
``data`` reads (and builds) the corpora through it; ``features`` turns
waveforms into model inputs; ``metrics`` turns scores into numbers (below
``train`` because the trainer validates with them); ``models`` holds
``nn.Module``s; ``train`` trains them; ``scoring`` runs a trained detector on
anyone's audio; ``results``/``report``/``plots`` turn numbers into files and
figures; the studies orchestrate all of that; the leaderboard and overview
read what the studies wrote; ``book`` and ``cli`` drive everything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# lowest first; a module belongs to the first layer with a prefix matching its name
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("asvnb.colab", "asvnb.config", "asvnb.errors", "asvnb.files", "asvnb.provenance")),
    ("audio", ("asvnb.audio",)),
    ("data", ("asvnb.data",)),
    ("features", ("asvnb.features",)),
    ("metrics", ("asvnb.metrics",)),
    ("models", ("asvnb.models",)),
    ("train", ("asvnb.train",)),
    ("scoring", ("asvnb.scoring",)),
    ("report", ("asvnb.results", "asvnb.report", "asvnb.plots", "asvnb.comparisons")),
    ("studies", ("asvnb.studies",)),
    ("readers of every study", ("asvnb.leaderboard", "asvnb.overview")),
    ("drivers", ("asvnb.book", "asvnb.cli")),
]


def module_name(path: Path) -> str:
    """``src/asvnb/data/asvspoof.py`` -> ``asvnb.data.asvspoof`` (a package's ``__init__`` is the package)."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of a module (the package ``asvnb`` itself is the base)."""
    if module == "asvnb":
        return 0
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module}: in no layer of tests/test_layers.py; add it to LAYERS")


def asvnb_imports(path: Path, module: str | None = None) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` of every import of an asvnb module in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend(
                    (a.name, child.lineno, in_function)
                    for a in child.names
                    if a.name.startswith("asvnb")
                )
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                if mod.startswith("asvnb"):
                    for (
                        a
                    ) in child.names:  # `from asvnb import config` imports the module asvnb.config
                        sub = f"{mod}.{a.name}"
                        is_module = (SRC / Path(*sub.split("."))).with_suffix(".py").is_file() or (
                            SRC / Path(*sub.split("."))
                        ).is_dir()
                        found.append((sub if is_module else mod, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


MODULES = sorted((SRC / "asvnb").rglob("*.py"))
# the one module allowed to import the package inside functions: each subcommand loads only the stack it
# needs, so `asvnb --help` and a bad argument answer at once instead of after seconds of torch/transformers
LAZY = {"asvnb.cli"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_from_a_layer_above_it(path: Path) -> None:
    me = module_name(path)
    mine = layer_of(me)
    above = [
        f"line {line}: {mod} ({LAYERS[layer_of(mod)][0]})"
        for mod, line, _ in asvnb_imports(path)
        if layer_of(mod) > mine
    ]
    assert not above, f"{path}: {me} ({LAYERS[mine][0]}) imports from above: {'; '.join(above)}"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p) not in LAZY], ids=lambda p: module_name(p)
)
def test_package_modules_are_imported_at_the_top(path: Path) -> None:
    # an import inside a function hides a dependency (and a cycle) from the reader and from this test
    inside = [f"line {line}: {mod}" for mod, line, fn in asvnb_imports(path) if fn]
    assert not inside, f"{path}: asvnb imports inside functions: {'; '.join(inside)}"


def test_the_command_line_starts_without_torch() -> None:
    # why asvnb.cli is in LAZY: importing it (and the config it uses) must not load torch
    code = "import sys, asvnb.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # the parser itself: a models module importing the trainer is reported, with its line
    fake = tmp_path / "probe.py"
    fake.write_text(
        "import torch\n\nfrom . import cnn\n\n\ndef f():\n    from asvnb.train import Trainer\n"
    )
    found = asvnb_imports(fake, "asvnb.models.probe")
    assert found == [("asvnb.models.cnn", 3, False), ("asvnb.train", 7, True)]
    assert layer_of("asvnb.train") > layer_of("asvnb.models.probe")
