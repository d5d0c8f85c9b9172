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
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import yaml

from asvnb import config

STAGING = "book"          # build/<STAGING>: the tree Jupyter Book renders
RECORDS = "execution"     # build/<RECORDS>/<name>.json: one record per notebook
FAILED = "failed"         # build/<FAILED>/<name>.ipynb: the partially executed notebook of a failure
RESULTS = "results"       # build/<RESULTS>/<name>.csv: results tables the notebooks save
REPORT_MARKER = "<!-- asvnb:execution-report -->"
RESULTS_MARKER = "<!-- asvnb:results-overview -->"


class ParameterError(ValueError):
    """A papermill parameter that the notebook does not declare, or of the wrong type."""


class NotebookFailed(RuntimeError):
    """A notebook raised during execution; the message names the notebook, the cell and the error."""


@dataclasses.dataclass
class ExecutionRecord:
    """What the execution report shows for one notebook."""

    notebook: str
    status: str                     # "ok" | "failed"
    profile: str | None
    parameters: dict[str, Any]
    key: str
    started: str
    duration_s: float
    peak_memory_mb: float
    fingerprint: dict[str, Any]
    output: str
    error: dict[str, Any] | None = None
    effective_parameters: dict[str, Any] | None = None  # the parameters cell's defaults with the overrides applied

    def save(self, path: Path) -> None:
        """Write the record as JSON (atomically)."""
        _atomic_write_text(path, json.dumps(dataclasses.asdict(self), indent=2, default=str))

    @classmethod
    def load(cls, path: Path) -> "ExecutionRecord":
        """Read a record written by :meth:`save`."""
        return cls(**json.loads(path.read_text()))


# --------------------------------------------------------------------------- parameters

def prepare_embedded(scale: str = "small", progress: bool | None = None) -> dict[str, str]:
    """Build what the embedded profile reads, where missing: the corpus, then the stand-in models trained on it.

    The stand-ins (study 02's SepFormer and WavLM) are data like the corpus: built
    once before the notebooks, so a notebook's run time is its study's. Returns the
    stand-ins' directories.
    """
    from asvnb.data.synth import build_corpus
    from asvnb.studies import overlap_pipeline

    build_corpus(config.embedded_root(), scale=scale, seed=0)
    return overlap_pipeline.ensure_standins(overlap_pipeline.OverlapConfig.for_profile("embedded"), progress=progress)


def declared_parameters(notebook: str | Path) -> dict[str, dict[str, Any]]:
    """Parameters of the notebook's ``parameters`` cell: name -> {default, type, help}."""
    import papermill as pm

    path = Path(notebook)
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
        out[name] = {"default": default, "type": typ, "help": p["help"]}
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
    """Check names (and simple types) against the notebook's parameters cell; return the params."""
    declared = declared_parameters(notebook)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        valid = ", ".join(f"{n} ({d['type']}, default {d['default']!r})" for n, d in declared.items())
        raise ParameterError(f"{notebook}: unknown parameter(s) {', '.join(unknown)}; valid parameters: {valid}")
    for name, value in params.items():
        typ = declared[name]["type"]
        check = _TYPE_CHECKS.get(typ)
        # None is always allowed: it means "the profile's default" in every notebook
        if check and value is not None and not check(value):
            raise ParameterError(f"{notebook}: parameter {name} expects {typ} (default {declared[name]['default']!r}), "
                                 f"got {value!r} ({type(value).__name__})")
    if "profile" in params and params["profile"] not in config.PROFILES:
        raise ParameterError(f"{notebook}: profile must be one of {', '.join(config.PROFILES)}, got {params['profile']!r}")
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.replace(path)


def _tree_rss_mb(proc: "psutil.Process") -> float:  # noqa: F821
    import psutil

    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0.0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def _data_for(params: dict[str, Any]) -> Path | None:
    """Which data folder a run reads: its ``data_root`` parameter, or the embedded corpus."""
    if params.get("data_root"):
        return Path(params["data_root"])
    if params.get("profile", "embedded") == "embedded":
        return config.embedded_root()
    return None


def execute_notebook(notebook: str | Path, params: dict[str, Any] | None = None, *,
                     output: str | Path | None = None, build: Path | None = None,
                     use_cache: bool = True, log=print) -> ExecutionRecord:
    """Execute one notebook with papermill (in a child process, measuring its peak memory), using the cache."""
    import psutil

    notebook = Path(notebook).resolve()
    if notebook.suffix == ".py":
        notebook = notebook.with_suffix(".ipynb")
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook}: no such notebook")
    params = validate_parameters(notebook, dict(params or {}))
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
        job = {"input": str(notebook), "output": str(tmp_out), "parameters": params,
               "cwd": str(notebook.parent), "result": str(result_file)}
        # the inline backend, as in Jupyter: it shows every Figure a cell returns as an image
        env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline", PYTHONHASHSEED="0", ASVNB_BUILD=str(build), ASVNB_NONINTERACTIVE="1")
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "asvnb.book", json.dumps(job)], env=env)
        ps = psutil.Process(proc.pid)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mb(ps))
            time.sleep(0.25)
        duration = time.perf_counter() - t0
        outcome = json.loads(result_file.read_text()) if result_file.is_file() else {
            "status": "failed", "error": {"ename": "ExecutorCrashed",
                                          "evalue": f"papermill worker exited with code {proc.returncode}"}}
        record = ExecutionRecord(
            notebook=str(rel), status=outcome["status"], profile=params.get("profile", _default(notebook, "profile")),
            parameters=params, key=key, started=started, duration_s=round(duration, 1),
            peak_memory_mb=round(peak, 1), fingerprint=config.fingerprint(data, device="cpu") | {"cache_key": key},
            output=str(output), error=outcome.get("error"),
            effective_parameters={n: d["default"] for n, d in declared_parameters(notebook).items()} | params)
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
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _worker(job: dict[str, Any]) -> None:
    """Child-process side of :func:`execute_notebook`: run papermill and write the outcome."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    outcome: dict[str, Any] = {"status": "ok"}
    try:
        pm.execute_notebook(job["input"], job["output"], parameters=job["parameters"], cwd=job["cwd"],
                            progress_bar=False, log_output=False, kernel_name="python3")
    except PapermillExecutionError as exc:
        outcome = {"status": "failed", "error": {"cell_index": exc.cell_index, "exec_count": exc.exec_count,
                                                  "source": exc.source, "ename": exc.ename, "evalue": exc.evalue,
                                                  "traceback": list(exc.traceback)}}
    except Exception as exc:  # kernel died, bad notebook file, ...
        outcome = {"status": "failed", "error": {"ename": type(exc).__name__, "evalue": str(exc)}}
    Path(job["result"]).write_text(json.dumps(outcome, default=str))


# --------------------------------------------------------------------------- the book

def toc_notebooks(root: Path | None = None) -> list[Path]:
    """The notebooks the book shows: every ``notebooks/...`` entry of ``_toc.yml``, in order."""
    root = root or config.project_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    out = []
    for f in files:
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
    rows = ["| chapter | profile | status | duration | peak memory | executed |", "|---|---|---|---|---|---|"]
    details = []
    for r in records:
        rows.append(f"| {Path(r.notebook).stem} | {r.profile} | {r.status} | {r.duration_s:.0f} s | "
                    f"{r.peak_memory_mb:.0f} MB | {r.started} |")
        params = r.effective_parameters or r.parameters
        overridden = set(r.parameters)
        ptext = ", ".join(f"`{k}={v!r}`" + (" (set)" if k in overridden else "") for k, v in params.items())
        fp = r.fingerprint
        ftext = ", ".join(f"{k} `{fp[k]}`" for k in ("git_commit", "asvnb", "python", "torch", "cuda", "device",
                                                      "cpu_threads", "data_root", "data_fingerprint", "cache_key")
                          if k in fp)
        details.append(f"## {Path(r.notebook).stem}\n\n- **notebook**: `{r.notebook}`\n- **parameters**: {ptext or 'none'}\n- **fingerprint**: {ftext}\n")
    return "\n".join(rows) + "\n\n" + "\n".join(details)


def results_overview(results_dir: Path) -> str:
    """Markdown: every results table the notebooks saved (source figures beside ours, with the profile)."""
    import pandas as pd

    tables = sorted(results_dir.glob("*.csv")) if results_dir.is_dir() else []
    if not tables:
        return "_No study has saved results yet._\n"
    parts = []
    for t in tables:
        df = pd.read_csv(t)
        parts.append(f"### {t.stem.replace('_', ' ')}\n\n{df.to_markdown(index=False)}\n")
    return "\n".join(parts)


def stage_book(build: Path, records: list[ExecutionRecord], root: Path | None = None) -> Path:
    """Copy the book's pages and configuration into the staging tree and generate the report pages."""
    root = root or config.project_root()
    stage = build / STAGING
    for name in ("_config.yml", "_toc.yml"):
        _copy_if_changed(root / name, stage / name)
    for src in sorted((root / "book").rglob("*")):
        if not src.is_file():
            continue
        dst = stage / src.relative_to(root)
        if src.suffix == ".md" and (REPORT_MARKER in (text := src.read_text()) or RESULTS_MARKER in text):
            text = text.replace(REPORT_MARKER, execution_report(records))
            text = text.replace(RESULTS_MARKER, results_overview(build / RESULTS))
            _write_if_changed(dst, text)
        else:
            _copy_if_changed(src, dst)
    return stage


def build_book(*, jobs: int = 1, use_cache: bool = True, build: Path | None = None,
               params: dict[str, Any] | None = None, log=print) -> Path:
    """Execute every notebook of the book that needs it, then render the HTML book; return the HTML folder."""
    build = Path(build or config.build_root())
    notebooks = toc_notebooks()
    records: dict[Path, ExecutionRecord] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def run(nb: Path) -> None:
        try:
            rec = execute_notebook(nb, dict(params or {}), build=build, use_cache=use_cache, log=log)
            with lock:
                records[nb] = rec
        except (NotebookFailed, ParameterError, FileNotFoundError) as exc:
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
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage), "--path-output", str(build)]
    log("[book]  " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    for w in warnings:
        log("[book]  " + w)
    html = build / "_build" / "html"
    log(f"[book]  built {html / 'index.html'} in {time.perf_counter() - t0:.0f} s ({len(warnings)} warnings)")
    return html


if __name__ == "__main__":  # the papermill worker process started by execute_notebook
    _worker(json.loads(sys.argv[1]))
