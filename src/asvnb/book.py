"""Execute the study notebooks with papermill, cache executions, and build the book.

The flow of ``asvnb book``:

1. every notebook named in ``_toc.yml`` is executed with papermill into the
   staging tree ``build/book/`` (same relative path as in the repository, so the
   book's Colab launch buttons point at the committed notebook), unless an
   earlier execution with the same cache key succeeded;
2. the book's own pages, ``_config.yml`` and ``_toc.yml`` are copied into the
   staging tree (only when changed, so Sphinx rebuilds only what changed), and
   the execution report and results overview are generated;
3. Jupyter Book (1.x, ``execute_notebooks: "off"``) renders the staging tree to
   ``build/_build/html``; it never executes a notebook itself.

The cache key of a notebook is the hash of its cell sources, its parameters,
the package's code, the lock file and the data fingerprint: change any of them
and the notebook runs again.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import psutil
import yaml
from papermill.exceptions import PapermillExecutionError

from asvnb import config, files, overview
from asvnb.audio import expected_conversions
from asvnb.data.synth import build_corpus
from asvnb.train import standins

STAGING = "book"  # build/<STAGING>: the tree Jupyter Book renders
RECORDS = "execution"  # build/<RECORDS>/<name>.json: one record per notebook
FAILED = "failed"  # build/<FAILED>/<name>.ipynb: the partially executed notebook of a failure
RESULTS = (
    "results"  # build/<RESULTS>/<name>.json: the results files the notebooks write (results-schema)
)
REPORT_MARKER = "<!-- asvnb:execution-report -->"
RESULTS_MARKER = "<!-- asvnb:results-overview -->"


class ParameterError(ValueError):
    """A papermill parameter that the notebook does not declare, or of the wrong type."""


class NotebookFailed(RuntimeError):
    """A notebook raised during execution; the message names the notebook, the cell and the error."""


class NotANotebook(ValueError):
    """A file given as a notebook that is not one (README.md, a .py without its paired .ipynb, broken JSON)."""


@dataclasses.dataclass
class ExecutionRecord:
    """What the execution report shows for one notebook."""

    notebook: str
    status: str  # "ok" | "failed"
    profile: str | None
    parameters: dict[str, Any]
    key: str
    started: str
    duration_s: float
    peak_memory_mb: float
    fingerprint: dict[str, Any]
    output: str
    error: dict[str, Any] | None = None
    effective_parameters: dict[str, Any] | None = (
        None  # the parameters cell's defaults with the overrides applied
    )

    def save(self, path: Path) -> None:
        """Write the record as JSON (atomically)."""
        _atomic_write_text(path, json.dumps(dataclasses.asdict(self), indent=2, default=str))

    @classmethod
    def load(cls, path: Path) -> ExecutionRecord:
        """Read a record written by :meth:`save`."""
        return cls(**json.loads(path.read_text()))


# --------------------------------------------------------------------------- parameters


def prepare_embedded(
    scale: str | None = None, progress: bool | None = None, profile: str = "embedded"
) -> dict[str, str]:
    """Build what a generated profile reads, where missing: the corpus, then the stand-in models trained on it.

    The stand-ins (study 02's SepFormer and WavLM): the embedded profile's ship with
    the package and are checked here against the code and the corpus (a mismatch
    stops the build with the command that retrains them); the CI profile's few-step
    ones are trained once on its tiny corpus. ``scale`` None is the profile's
    (``embedded`` small, ``ci`` tiny). Returns the stand-ins' directories.
    """
    root = config.corpus_root(profile)
    with (
        expected_conversions()
    ):  # the generator resamples its TTS output on purpose: not the user's data
        build_corpus(root, scale=scale or config.GENERATED_SCALES[profile], seed=0)
    sep, det = standins.for_profile(profile)
    return standins.ensure_standins(root, sep, det, progress=progress)


# A parameter's type is declared at the start of the comment on its line, before a colon and the help text:
#   epochs = None  # int | None: None is the profile's default
#   seeds = [0, 1, 2]  # list[int]: one training run per seed
#   device = "auto"  # {auto, cpu, cuda, mps}
# Alternatives are separated by '|': None, int, float (an int is accepted), bool, str, list[...] and a set of
# allowed words in braces. A comment that does not parse so is help text only (an undeclared parameter).
_NAMES = {
    "None": lambda v: v is None,
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
}
_TOKEN = re.compile(r"\s*(list\[|[\]{},|]|[\w@.+-]+)")


@dataclasses.dataclass(frozen=True)
class ParamType:
    """A declared parameter type: alternatives ``("name", "int")``, ``("list", ParamType)`` or ``("words", (...))``."""

    text: str
    alternatives: tuple[tuple[str, Any], ...]

    def accepts(self, value: Any) -> bool:
        """Whether a value (as read from YAML) is of this type."""
        for kind, arg in self.alternatives:
            if kind == "name" and _NAMES[arg](value):
                return True
            if kind == "words" and isinstance(value, str) and value in arg:
                return True
            if kind == "list" and isinstance(value, list) and all(arg.accepts(v) for v in value):
                return True
        return False

    def choices(self) -> list[Any] | None:
        """The allowed values when the type is only sets of words (and None), else None."""
        if not all(kind == "words" or arg == "None" for kind, arg in self.alternatives):
            return None
        return [w for kind, arg in self.alternatives if kind == "words" for w in arg] + [None] * (
            ("name", "None") in self.alternatives
        )

    def list_of(self, value: Any) -> bool:
        """Whether ``[value]`` would be accepted where ``value`` is not: a list written without its brackets."""
        return not self.accepts(value) and not isinstance(value, list) and self.accepts([value])


def parse_type(text: str) -> ParamType | None:
    """A declaration such as ``int | None``, ``list[int]`` or ``{tensor, source}``; None if ``text`` is not one."""
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m:
            return None
        tokens.append(m[1])
        pos = m.end()
    tokens.append("")  # the end: every look-ahead below finds a token

    def union(i: int) -> tuple[tuple[tuple[str, Any], ...], int]:
        alt, i = one(i)
        alts = [alt]
        while tokens[i] == "|":
            alt, i = one(i + 1)
            alts.append(alt)
        return tuple(alts), i

    def one(i: int) -> tuple[tuple[str, Any], int]:
        if tokens[i] == "list[":
            inner, i = union(i + 1)
            if tokens[i] != "]":
                raise ValueError("list[ without ]")
            return ("list", ParamType("", inner)), i + 1
        if tokens[i] == "{":
            words = [tokens[i + 1]]
            i += 2
            while tokens[i] == ",":
                words.append(tokens[i + 1])
                i += 2
            if tokens[i] != "}" or not all(re.fullmatch(r"[\w@.+-]+", w) for w in words):
                raise ValueError("a set of words is written {a, b, c}")
            return ("words", tuple(words)), i + 1
        if tokens[i] in _NAMES:
            return ("name", tokens[i]), i + 1
        raise ValueError(f"unknown type {tokens[i]!r}")

    try:
        alts, end = union(0)
    except (ValueError, IndexError):
        return None
    if end != len(tokens) - 1 or alts == (
        ("name", "None"),
    ):  # a comment 'None: ...' is help, not a type
        return None
    return ParamType(" ".join(text.split()), alts)


def _declaration(comment: str) -> tuple[ParamType | None, str]:
    """Split a parameter's comment into its declared type (or None) and its help text."""
    head, _, rest = comment.partition(":")
    spec = parse_type(head)
    return (spec, rest.strip()) if spec is not None else (None, comment.strip())


def check_notebook(notebook: str | Path) -> Path:
    """Return the path if it is a Jupyter notebook (.ipynb that nbformat reads), else raise :class:`NotANotebook`."""
    path = Path(notebook)
    if path.suffix != ".ipynb":
        raise NotANotebook(
            f"{path}: not a notebook (asvnb run takes a .ipynb file or its paired jupytext .py)"
        )
    try:
        nbformat.read(str(path), as_version=4)
    except Exception as exc:  # NotJSONError, a JSON that is no notebook, unreadable bytes
        raise NotANotebook(f"{path}: not a Jupyter notebook ({type(exc).__name__})") from None
    return path


def declared_parameters(notebook: str | Path) -> dict[str, dict[str, Any]]:
    """Parameters of the notebook's ``parameters`` cell: name -> {default, type, help, declared}.

    ``type`` is the declared type (see :func:`parse_type`) when the comment
    starts with one (``declared`` True), else the type of the default. A notebook
    that declares any parameter's type must declare every one, and every default
    must be of its declared type.
    """
    path = check_notebook(notebook)
    params = pm.inspect_notebook(str(path))
    if not params:
        raise ParameterError(f"{path}: no cell tagged 'parameters'; every notebook needs one")
    out = {}
    for name, p in params.items():
        try:  # papermill gives the default as source text; a literal tells its type
            default = ast.literal_eval(p["default"])
            typ = type(default).__name__ if default is not None else "None"
        except (ValueError, SyntaxError):
            default, typ = p["default"], "expression"
        if p.get("inferred_type_name") not in (None, "None"):
            typ = p["inferred_type_name"].split("[")[0]  # an explicit annotation wins
        spec, help_text = _declaration(p["help"] or "")
        if spec is not None:
            if not spec.accepts(default):
                raise ParameterError(
                    f"{path}: the default {default!r} of parameter {name} is not of its declared "
                    f"type {spec.text}"
                )
            typ = spec.text
        out[name] = {
            "default": default,
            "type": typ,
            "help": help_text,
            "declared": spec is not None,
        }
    undeclared = [n for n, d in out.items() if not d["declared"]]
    if undeclared and len(undeclared) < len(
        out
    ):  # a typo in one declaration would silently drop its check
        raise ParameterError(
            f"{path}: parameter(s) {', '.join(undeclared)} have no declared type, as the others "
            "do: start the comment with e.g. 'int | None:' (docs/NOTEBOOKS.md)"
        )
    return out


def parse_value(text: str) -> Any:
    """Read a command-line value as YAML: ``3`` -> 3, ``0.5`` -> 0.5, ``[0, 1]`` -> list, ``null`` -> None."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


_TYPE_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
}


def validate_parameters(notebook: str | Path, params: dict[str, Any]) -> dict[str, Any]:
    """Check names, declared types and allowed values against the notebook's parameters cell; return the params.

    Undeclared parameters (a notebook without declarations) get the old check:
    the default's simple type, with None always allowed.
    """
    declared = declared_parameters(notebook)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        valid = ", ".join(
            f"{n} ({d['type']}, default {d['default']!r})" for n, d in declared.items()
        )
        raise ParameterError(
            f"{notebook}: unknown parameter(s) {', '.join(unknown)}; valid parameters: {valid}"
        )
    for name, value in params.items():
        d = declared[name]
        got = f"(default {d['default']!r}), got {value!r} ({type(value).__name__})"
        if d["declared"]:
            spec = parse_type(d["type"])
            if not spec.accepts(value):
                choices = spec.choices()
                want = (
                    f"must be one of {', '.join(map(str, choices))}"
                    if choices
                    else f"expects {spec.text}"
                )
                hint = (
                    f"; a list is written in brackets: -p {name} '[{value}]'"
                    if spec.list_of(value)
                    else ""
                )
                raise ParameterError(f"{notebook}: parameter {name} {want} {got}{hint}")
            continue
        check = _TYPE_CHECKS.get(d["type"])
        # None is always allowed here: it means "the profile's default" in every notebook
        if check and value is not None and not check(value):
            raise ParameterError(f"{notebook}: parameter {name} expects {d['type']} {got}")
    if "profile" in params and params["profile"] not in config.PROFILES:
        raise ParameterError(
            f"{notebook}: profile must be one of {', '.join(config.PROFILES)}, got {params['profile']!r}"
        )
    return params


# --------------------------------------------------------------------------- cache key


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def notebook_source_hash(notebook: str | Path) -> str:
    """Hash of the cells' types and sources: outputs and metadata do not count."""
    nb = nbformat.read(str(notebook), as_version=4)
    return _sha(json.dumps([[c.cell_type, c.source] for c in nb.cells]).encode())


def package_hash() -> str:
    """Hash of every source file of the installed asvnb package."""
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(pkg.rglob("*.py")):
        h.update(str(p.relative_to(pkg)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def cache_key(notebook: str | Path, params: dict[str, Any], data: str | Path | None) -> str:
    """The execution-cache key: notebook cells, parameters, package code, lock file, data fingerprint."""
    lock = config.project_root() / "requirements-lock.txt"
    parts = {
        "notebook": notebook_source_hash(notebook),
        "parameters": params,
        "package": package_hash(),
        "lock": _sha(lock.read_bytes()) if lock.is_file() else "none",
        "data": config.data_fingerprint(data) if data else "none",
    }
    return config.stable_hash(parts)[:20]


# --------------------------------------------------------------------------- execution


def _atomic_write_text(path: Path, text: str) -> None:
    files.write_text(path, text)


def _tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):  # a child may exit between listing and reading
            total += p.memory_info().rss
    return total / 2**20


def _data_for(params: dict[str, Any]) -> Path | None:
    """Which data folder a run reads: its ``data_root`` parameter, or its generated profile's corpus."""
    if params.get("data_root"):
        return Path(params["data_root"])
    profile = params.get("profile", "embedded")
    return config.corpus_root(profile) if config.generated(profile) else None


def execute_notebook(
    notebook: str | Path,
    params: dict[str, Any] | None = None,
    *,
    output: str | Path | None = None,
    build: Path | None = None,
    use_cache: bool = True,
    log=print,
) -> ExecutionRecord:
    """Execute one notebook with papermill (in a child process, measuring its peak memory), using the cache."""
    notebook = Path(notebook).resolve()
    if notebook.suffix not in (".ipynb", ".py"):
        check_notebook(notebook)  # refused in one line, before papermill's NotJSONError traceback
    if notebook.suffix == ".py":
        if not notebook.with_suffix(".ipynb").is_file() and notebook.is_file():
            raise NotANotebook(
                f"{notebook}: no paired notebook {notebook.with_suffix('.ipynb').name} beside it"
            )
        notebook = notebook.with_suffix(".ipynb")
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook}: no such notebook")
    params = validate_parameters(
        notebook, dict(params or {})
    )  # every parameter, before any cell runs
    build = Path(build or config.build_root())
    rel = _relative_to_project(notebook)
    output = Path(output) if output else build / STAGING / rel
    record_path = build / RECORDS / f"{notebook.stem}.json"
    data = _data_for(params)
    key = cache_key(notebook, params, data)

    if use_cache and record_path.is_file() and output.is_file():
        old = ExecutionRecord.load(record_path)
        if old.status == "ok" and old.key == key and Path(old.output) == output:
            log(f"[cache] {rel}: unchanged (key {key}), not executed")
            return old

    log(f"[run]   {rel} {json.dumps(params)}")
    build.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build) as tmp:
        tmp_out = Path(tmp) / notebook.name
        result_file = Path(tmp) / "result.json"
        job = {
            "input": str(notebook),
            "output": str(tmp_out),
            "parameters": params,
            "cwd": str(notebook.parent),
            "result": str(result_file),
        }
        # the inline backend, as in Jupyter: it shows every Figure a cell returns as an image
        env = dict(
            os.environ,
            MPLBACKEND="module://matplotlib_inline.backend_inline",
            PYTHONHASHSEED="0",
            ASVNB_BUILD=str(build),
            ASVNB_NONINTERACTIVE="1",
        )
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "asvnb.book", json.dumps(job)], env=env)
        ps = psutil.Process(proc.pid)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mb(ps))
            time.sleep(0.25)
        duration = time.perf_counter() - t0
        outcome = (
            json.loads(result_file.read_text())
            if result_file.is_file()
            else {
                "status": "failed",
                "error": {
                    "ename": "ExecutorCrashed",
                    "evalue": f"papermill worker exited with code {proc.returncode}",
                },
            }
        )
        record = ExecutionRecord(
            notebook=str(rel),
            status=outcome["status"],
            profile=params.get("profile", _default(notebook, "profile")),
            parameters=params,
            key=key,
            started=started,
            duration_s=round(duration, 1),
            peak_memory_mb=round(peak, 1),
            fingerprint=config.fingerprint(data, device="cpu") | {"cache_key": key},
            output=str(output),
            error=outcome.get("error"),
            effective_parameters={n: d["default"] for n, d in declared_parameters(notebook).items()}
            | params,
        )
        if record.status == "ok":
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(tmp_out), output)
        elif tmp_out.is_file():
            failed = build / FAILED / notebook.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(tmp_out), failed)
            record.output = str(failed)
    record.save(record_path)
    if record.status != "ok":
        raise NotebookFailed(format_failure(record))
    log(f"[done]  {rel} in {record.duration_s:.0f} s, peak {record.peak_memory_mb:.0f} MB")
    return record


def _default(notebook: Path, name: str) -> Any:
    return declared_parameters(notebook).get(name, {}).get("default")


def _relative_to_project(path: Path) -> Path:
    try:
        return path.resolve().relative_to(config.project_root().resolve())
    except ValueError:
        return Path(path.name)


def format_failure(record: ExecutionRecord) -> str:
    """A failure message naming the notebook, the failing cell (number and source) and the error."""
    err = record.error or {}
    lines = [f"notebook {record.notebook} failed"]
    if "cell_index" in err:
        lines.append(f"  cell {err['cell_index']} (execution count {err.get('exec_count')}):")
        lines += ["    | " + s for s in str(err.get("source", "")).splitlines()[:15]]
    lines.append(f"  {err.get('ename', 'Error')}: {err.get('evalue', '')}")
    if err.get("traceback"):
        lines.append("  traceback (last lines):")
        lines += ["    " + s for s in _strip_ansi("\n".join(err["traceback"])).splitlines()[-12:]]
    lines.append(f"  partially executed notebook: {record.output}")
    return "\n".join(lines)


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _worker(job: dict[str, Any]) -> None:
    """Child-process side of :func:`execute_notebook`: run papermill and write the outcome."""
    outcome: dict[str, Any] = {"status": "ok"}
    try:
        pm.execute_notebook(
            job["input"],
            job["output"],
            parameters=job["parameters"],
            cwd=job["cwd"],
            progress_bar=False,
            log_output=False,
            kernel_name="python3",
        )
    except PapermillExecutionError as exc:
        outcome = {
            "status": "failed",
            "error": {
                "cell_index": exc.cell_index,
                "exec_count": exc.exec_count,
                "source": exc.source,
                "ename": exc.ename,
                "evalue": exc.evalue,
                "traceback": list(exc.traceback),
            },
        }
    except Exception as exc:  # kernel died, bad notebook file, ...
        outcome = {"status": "failed", "error": {"ename": type(exc).__name__, "evalue": str(exc)}}
    Path(job["result"]).write_text(json.dumps(outcome, default=str))


# --------------------------------------------------------------------------- the book


def toc_files(root: Path | None = None) -> list[str]:
    """Every page of ``_toc.yml`` in order, the root page first, as written there (usually without suffix)."""
    root = root or config.project_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = [toc["root"]] if "root" in toc else []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", toc.get("chapters", [])))
    return files


def toc_notebooks(root: Path | None = None) -> list[Path]:
    """The notebooks the book shows: every ``notebooks/...`` entry of ``_toc.yml``, in order."""
    root = root or config.project_root()
    out = []
    for f in toc_files(root):
        if f.startswith("notebooks/"):
            p = root / (f if f.endswith(".ipynb") else f + ".ipynb")
            if not p.is_file():
                raise FileNotFoundError(f"_toc.yml names {f}, but {p} does not exist")
            out.append(p)
    return out


def _copy_if_changed(src: Path, dst: Path) -> None:
    if dst.is_file() and dst.read_bytes() == src.read_bytes():
        return  # keep the mtime: Sphinx then does not rebuild the page
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _write_if_changed(dst: Path, text: str) -> None:
    if dst.is_file() and dst.read_text() == text:
        return
    _atomic_write_text(dst, text)


def execution_report(records: list[ExecutionRecord]) -> str:
    """Markdown: a summary table (profile, status, duration, peak memory) and, per notebook, parameters and fingerprint."""
    if not records:
        return "_No notebook has been executed yet._\n"
    rows = [
        "| chapter | profile | status | duration | peak memory | executed |",
        "|---|---|---|---|---|---|",
    ]
    details = []
    for r in records:
        rows.append(
            f"| {Path(r.notebook).stem} | {r.profile} | {r.status} | {r.duration_s:.0f} s | "
            f"{r.peak_memory_mb:.0f} MB | {r.started} |"
        )
        params = r.effective_parameters or r.parameters
        overridden = set(r.parameters)
        ptext = ", ".join(
            f"`{k}={v!r}`" + (" (set)" if k in overridden else "") for k, v in params.items()
        )
        fp = r.fingerprint
        ftext = ", ".join(
            f"{k} `{fp[k]}`"
            for k in (
                "git_commit",
                "asvnb",
                "python",
                "torch",
                "cuda",
                "device",
                "cpu_threads",
                "data_root",
                "data_fingerprint",
                "cache_key",
            )
            if k in fp
        )
        details.append(
            f"## {Path(r.notebook).stem}\n\n- **notebook**: `{r.notebook}`\n- **parameters**: {ptext or 'none'}\n- **fingerprint**: {ftext}\n"
        )
    return "\n".join(rows) + "\n\n" + "\n".join(details)


def results_overview(results_dir: Path, root: Path | None = None) -> str:
    """Markdown: per chapter of ``_toc.yml``, in its order, the overview of its results file (:mod:`asvnb.overview`).

    Read from ``<results_dir>/<notebook>.json``; a results file that breaks the
    schema stops the build with an error naming it.
    """
    root = root or config.project_root()
    chapters = [
        overview.Chapter(
            nb.stem,
            overview.chapter_title(nb) or nb.stem.replace("_", " "),
            "../" + nb.relative_to(root).as_posix(),
        )  # the page is book/results.md
        for nb in toc_notebooks(root)
    ]
    return overview.overview_markdown(results_dir, chapters)


# The formatter's markers of a parameters cell (tools/sync_project.py): the notebook keeps them for ruff, the
# reader of the book does not need them.
FMT_MARKERS = ("# fmt: off", "# fmt: on")


def tidy_staged_notebook(executed: Path, source: Path) -> bool:
    """Make an executed notebook of the staging tree read as the book shows it; True if it changed.

    Its cells take the tags of the committed notebook's cells (matched by cell id), so the book's
    ``remove-cell`` / ``hide-input`` follow the repository even when the execution is an older cached one
    (tags are not part of the cache key); papermill's own tags stay. The parameters cell loses its
    ``# fmt: off`` / ``# fmt: on`` lines. Only the staged copy changes: the notebook in the repository,
    which Colab and papermill read, keeps every line.
    """
    nb = nbformat.read(str(executed), as_version=4)
    tags = {
        c.get("id"): list(c.metadata.get("tags", [])) for c in nbformat.read(str(source), 4).cells
    }
    for cell in nb.cells:
        own = [
            t for t in cell.metadata.get("tags", []) if t in ("injected-parameters", "parameters")
        ]
        new = tags.get(cell.get("id"), own)
        new = new + [t for t in own if t not in new]
        if new != cell.metadata.get("tags", []):
            if new:
                cell.metadata["tags"] = new
            else:
                cell.metadata.pop("tags", None)
        if "parameters" in new and cell.cell_type == "code":
            cell.source = "\n".join(
                line for line in cell.source.split("\n") if line.strip() not in FMT_MARKERS
            )
    text = nbformat.writes(nb) + "\n"
    if executed.read_text() == text:
        return False  # unchanged: keep the mtime, so Sphinx does not rebuild the page
    _atomic_write_text(executed, text)
    return True


def stage_book(build: Path, records: list[ExecutionRecord], root: Path | None = None) -> Path:
    """Copy the book's pages and configuration into the staging tree and generate the report pages."""
    root = root or config.project_root()
    stage = build / STAGING
    for r in records:  # the executed notebooks, already in the staging tree
        if r.status == "ok" and Path(r.output).is_file() and (root / r.notebook).is_file():
            tidy_staged_notebook(Path(r.output), root / r.notebook)
    for name in ("_config.yml", "_toc.yml"):
        _copy_if_changed(root / name, stage / name)
    for src in sorted((root / "book").rglob("*")):
        if not src.is_file():
            continue
        dst = stage / src.relative_to(root)
        if src.suffix == ".md" and (
            REPORT_MARKER in (text := src.read_text()) or RESULTS_MARKER in text
        ):
            text = text.replace(REPORT_MARKER, execution_report(records))
            if RESULTS_MARKER in text:
                text = text.replace(RESULTS_MARKER, results_overview(build / RESULTS, root))
            _write_if_changed(dst, text)
        else:
            _copy_if_changed(src, dst)
    return stage


CI_SEEDS = [0, 1]  # a row over seeds gets two in the CI profile


def profile_parameters(notebook: str | Path, profile: str) -> dict[str, Any]:
    """The parameters that run ``notebook`` at ``profile``: none for its default (``embedded``, so `asvnb run`
    and `asvnb book` share cache entries), else the profile, and for ``ci`` two seeds where the notebook's
    ``seeds`` parameter defaults to more (a row over seeds then still has a spread)."""
    config.check_profile(profile)
    if profile == _default(Path(notebook), "profile"):
        return {}
    params: dict[str, Any] = {"profile": profile}
    seeds = declared_parameters(notebook).get("seeds", {}).get("default")
    if profile == "ci" and isinstance(seeds, list) and len(seeds) > len(CI_SEEDS):
        params["seeds"] = list(CI_SEEDS)
    return params


def build_book(
    *,
    jobs: int = 1,
    use_cache: bool = True,
    build: Path | None = None,
    params: dict[str, Any] | None = None,
    profile: str | None = None,
    log=print,
) -> Path:
    """Execute every notebook of the book that needs it, then render the HTML book; return the HTML folder.

    ``profile`` runs every notebook at that profile (:func:`profile_parameters`), ``params`` on top.
    """
    build = Path(build or config.build_root())
    notebooks = toc_notebooks()
    records: dict[Path, ExecutionRecord] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def run(nb: Path) -> None:
        try:
            given = (profile_parameters(nb, profile) if profile else {}) | dict(params or {})
            rec = execute_notebook(nb, given, build=build, use_cache=use_cache, log=log)
            with lock:
                records[nb] = rec
        except (NotebookFailed, ParameterError, NotANotebook, FileNotFoundError) as exc:
            with lock:
                failures.append(str(exc))

    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run, nb) for nb in notebooks]
        for fut in futures:
            fut.result()
    if failures:
        raise NotebookFailed("the book was not built:\n" + "\n\n".join(failures))

    stage = stage_book(build, [records[nb] for nb in notebooks])
    t0 = time.perf_counter()
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(stage),
        "--path-output",
        str(build),
    ]
    log("[book]  " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    for w in warnings:
        log("[book]  " + w)
    html = build / "_build" / "html"
    log(
        f"[book]  built {html / 'index.html'} in {time.perf_counter() - t0:.0f} s ({len(warnings)} warnings)"
    )
    return html


if __name__ == "__main__":  # the papermill worker process started by execute_notebook
    _worker(json.loads(sys.argv[1]))
