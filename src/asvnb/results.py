"""Machine-readable results: one typed row per reported number, written to ``build/results/<notebook>.json``.

The schema is ``shared/results-schema.md``: ``value`` is the mean over seeds,
``std``/``n_seeds`` describe the seeds, ``ci95`` is a 95 % interval (bootstrap
over trials or over seeds), ``source`` is the source's own figure. Rates are
fractions. Every value must be finite: a row that is not is refused here,
before it reaches a reader, and :func:`load_results_file` refuses a file that
breaks the schema with an error that names the file and the row.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from asvnb import config, files
from asvnb.errors import json_object
from asvnb.metrics import eer
from asvnb.provenance import git_state, loaded_code_key

SCHEMA_VERSION = 1  # written as "schema_version"; a file without it is read as version 1


class ResultsFileError(ValueError):
    """A results file that cannot be read or breaks the schema; the message starts with the file's path."""


@dataclass(frozen=True)
class ResultRow:
    """One reported number, keyed by (table, system, data, metric)."""

    table: str
    system: str
    data: str
    metric: str
    value: float
    std: float | None = None
    n_seeds: int = 1
    ci95: tuple[float, float] | None = None
    n_trials: int | None = None
    source: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("table", "system", "data", "metric"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"result row {self.key()}: {name} must be a non-empty string")
        if not math.isfinite(float(self.value)):
            raise ValueError(f"result row {self.key()}: value {self.value!r} is not finite")
        if self.ci95 is not None and not all(math.isfinite(float(v)) for v in self.ci95):
            raise ValueError(f"result row {self.key()}: ci95 {self.ci95!r} is not finite")
        if self.n_seeds < 1:
            raise ValueError(f"result row {self.key()}: n_seeds must be >= 1")

    def key(self) -> tuple[str, str, str, str]:
        """(table, system, data, metric): how checks look a row up."""
        return (self.table, self.system, self.data, self.metric)

    def spread(self, scale: float = 1.0, digits: int = 3) -> str:
        """The spread over seeds for a sentence: ``± <std x scale>``, or ``(one seed: no std)``."""
        return "(one seed: no std)" if self.std is None else f"± {scale * self.std:.{digits}f}"

    def as_json(self) -> dict:
        """The schema's dict (``extra`` merged in, tuples as lists, numpy scalars as floats)."""
        d = asdict(self)
        extra = d.pop("extra")
        d["value"] = float(d["value"])
        d["ci95"] = None if self.ci95 is None else [float(v) for v in self.ci95]
        d["std"] = None if self.std is None else float(self.std)
        return d | extra


def over_seeds(values: Sequence[float]) -> dict:
    """``value`` (mean), ``std`` (ddof 1; None for one seed) and ``n_seeds`` of per-seed results."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"per-seed values must be finite and non-empty, got {list(values)}")
    out = {"value": float(v.mean()), "n_seeds": int(v.size), "std": None}
    if v.size > 1:
        out["std"] = float(v.std(ddof=1))
    return out


def bootstrap_ci(
    stat: Callable[[np.ndarray], float],
    n: int,
    reps: int = 1000,
    seed: int = 0,
    strata: np.ndarray | None = None,
    skip_nan: bool = False,
) -> tuple[float, float]:
    """Percentile 95 % interval of ``stat(indices)`` over bootstrap resamples of ``n`` trials.

    With ``strata`` (one label per trial) each stratum is resampled on its own,
    so every resample keeps both classes (an EER needs both). ``skip_nan``
    leaves out resamples whose statistic is NaN (undefined on that resample);
    if every one is, the interval is an error.
    """
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if strata is None
        else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    )
    vals = []
    for _ in range(reps):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        vals.append(stat(idx))
    vals = np.asarray(vals, dtype=float)
    if skip_nan:
        vals = vals[~np.isnan(vals)]
        if not vals.size:
            raise ValueError(f"bootstrap: the statistic is undefined on all {reps} resamples")
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def eer_ci(
    bonafide: np.ndarray, spoof: np.ndarray, reps: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % bootstrap interval of the EER, bona fide and spoof trials resampled separately."""
    scores = np.concatenate([bonafide, spoof])
    labels = np.concatenate([np.ones(len(bonafide), int), np.zeros(len(spoof), int)])

    def stat(idx: np.ndarray) -> float:
        s, y = scores[idx], labels[idx]
        return eer(s[y == 1], s[y == 0])[0]

    return bootstrap_ci(stat, len(scores), reps, seed, strata=labels)


Stat = Callable[[np.ndarray], float]  # a statistic of a resample, given as indices of trials


def paired_difference(
    a: Sequence[Stat],
    b: Sequence[Stat],
    n: int,
    strata: np.ndarray | None = None,
    reps: int = 1000,
    seed: int = 0,
) -> dict:
    """Mean over ``a``'s seeds minus mean over ``b``'s, with its paired 95 % bootstrap interval over ``n`` trials.

    ``a`` and ``b`` hold one statistic per seed (or one, for a single run); each maps indices of the shared
    trials to a figure (an EER, an F1). Every bootstrap replicate draws one resample of the trials (per
    stratum, as :func:`bootstrap_ci`) and scores *both* systems on it, so what the trials share cancels: the
    interval is that of the difference, never two intervals compared. ``std`` and ``n_seeds`` describe the
    per-seed differences when both sides have the same seeds, else ``a``'s seeds.
    """
    if not a or not b:
        raise ValueError("paired_difference: each side needs at least one run")
    if n < 2:
        raise ValueError(f"paired_difference: {n} trial(s) cannot be resampled")

    def diff(idx: np.ndarray) -> float:
        return float(np.mean([s(idx) for s in a]) - np.mean([s(idx) for s in b]))

    every = np.arange(n)
    per_seed = (
        [sa(every) - sb(every) for sa, sb in zip(a, b, strict=True)]
        if len(a) == len(b)
        else [sa(every) for sa in a]
    )
    out = {"value": diff(every), "ci95": bootstrap_ci(diff, n, reps, seed, strata=strata)}
    seeds = over_seeds(per_seed)
    out |= {"std": seeds["std"], "n_seeds": seeds["n_seeds"]}
    return out


def eer_stat(scores: np.ndarray, bonafide: np.ndarray) -> Stat:
    """The EER of ``scores`` (higher: more bona fide) on a resample of trials; ``bonafide`` marks the class."""
    s, y = np.asarray(scores, float), np.asarray(bonafide, bool)
    if s.shape != y.shape:
        raise ValueError(f"eer_stat: {s.shape[0]} scores but {y.shape[0]} labels")
    return lambda idx: eer(s[idx][y[idx]], s[idx][~y[idx]])[0]


def results_path(notebook: str) -> Path:
    """``build/results/<notebook>.json`` (under ``ASVNB_BUILD`` when set)."""
    return Path(os.environ.get("ASVNB_BUILD", config.build_root())) / "results" / f"{notebook}.json"


def write_results(
    notebook: str, profile: str, rows: Sequence[ResultRow], fingerprint: dict | None = None
) -> Path:
    """Write the notebook's results file atomically; duplicate keys are an error (a check could not tell them apart)."""
    config.check_profile(profile)
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        if r.key() in seen:
            raise ValueError(
                f"{notebook}: result rows {seen[r.key()]} and {i} share the key {r.key()}"
            )
        seen[r.key()] = i
    doc = {
        "schema_version": SCHEMA_VERSION,
        "notebook": notebook,
        "profile": profile,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # which commit, whether the tree was dirty, and the key of the code this process ran (issue 25)
        "fingerprint": (fingerprint or {}) | git_state() | {"code_key": loaded_code_key()},
        "rows": [r.as_json() for r in rows],
    }
    path = results_path(notebook)
    files.write_json(path, doc)
    return path


@dataclass(frozen=True)
class ResultsFile:
    """A results file as read: its notebook, profile, creation time, fingerprint and typed rows."""

    path: Path
    notebook: str
    profile: str
    created: str
    fingerprint: dict
    rows: list[ResultRow]


_REQUIRED = ("table", "system", "data", "metric", "value")


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _row(path: Path, i: int, d: object) -> ResultRow:
    """One row of a results file, checked field by field against the schema."""
    if not isinstance(d, dict):
        raise ResultsFileError(f"{path}: row {i} is not an object")
    where = f"{path}: row {i} ({' / '.join(str(d.get(k, '?')) for k in _REQUIRED[:4])})"
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise ResultsFileError(f"{where}: missing field(s) {', '.join(missing)}")
    for k in _REQUIRED[:4]:
        if not isinstance(d[k], str) or not d[k]:
            raise ResultsFileError(f"{where}: {k} must be a non-empty string, got {d[k]!r}")
    for k in ("value", "std", "source"):
        v = d.get(k)
        if (k == "value" or v is not None) and not (_number(v) and math.isfinite(v)):
            raise ResultsFileError(
                f"{where}: {k} must be a finite number{'' if k == 'value' else ' or null'}, "
                f"got {v!r}"
            )
    n_seeds = d.get("n_seeds", 1)
    if not isinstance(n_seeds, int) or isinstance(n_seeds, bool) or n_seeds < 1:
        raise ResultsFileError(f"{where}: n_seeds must be an integer >= 1, got {n_seeds!r}")
    ci = d.get("ci95")
    if ci is not None and not (
        isinstance(ci, list)
        and len(ci) == 2
        and all(_number(v) and math.isfinite(v) for v in ci)
        and ci[0] <= ci[1]
    ):
        raise ResultsFileError(
            f"{where}: ci95 must be null or [lo, hi] with finite lo <= hi, got {ci!r}"
        )
    n_trials = d.get("n_trials")
    if n_trials is not None and (
        not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 0
    ):
        raise ResultsFileError(
            f"{where}: n_trials must be null or an integer >= 0, got {n_trials!r}"
        )
    if not isinstance(d.get("note", ""), str):
        raise ResultsFileError(f"{where}: note must be a string, got {d['note']!r}")
    known = {f for f in ResultRow.__dataclass_fields__ if f != "extra"}
    base = {k: v for k, v in d.items() if k in known}
    return ResultRow(
        **base | {"ci95": tuple(ci) if ci is not None else None},
        extra={k: v for k, v in d.items() if k not in known},
    )


def load_results_file(path: str | Path) -> ResultsFile:
    """Read and check one results file; anything that breaks the schema is a :class:`ResultsFileError` naming it.

    Checked: JSON, the schema version (absent means 1), the top-level fields, each row's
    fields and types, finite numbers (JSON's NaN and Infinity included) and unique keys.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsFileError(f"{path}: not a readable JSON results file ({exc})") from None
    if not isinstance(doc, dict):
        raise ResultsFileError(f"{path}: a results file is a JSON object, got {type(doc).__name__}")
    version = doc.get("schema_version", 1)
    if version != SCHEMA_VERSION:
        raise ResultsFileError(
            f"{path}: schema version {version!r}, but this package reads version "
            f"{SCHEMA_VERSION} (shared/results-schema.md)"
        )
    missing = [k for k in ("notebook", "profile", "rows") if k not in doc]
    if missing:
        raise ResultsFileError(f"{path}: missing field(s) {', '.join(missing)}")
    if doc["notebook"] != path.stem:
        raise ResultsFileError(
            f"{path}: written by notebook {doc['notebook']!r}, not {path.stem!r}"
        )
    try:
        config.check_profile(doc["profile"])
    except ValueError as exc:
        raise ResultsFileError(f"{path}: {exc}") from None
    if not isinstance(doc["rows"], list):
        raise ResultsFileError(f"{path}: rows must be a list")
    rows = [_row(path, i, d) for i, d in enumerate(doc["rows"])]
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        if r.key() in seen:
            raise ResultsFileError(f"{path}: rows {seen[r.key()]} and {i} share the key {r.key()}")
        seen[r.key()] = i
    return ResultsFile(
        path,
        doc["notebook"],
        doc["profile"],
        str(doc.get("created", "")),
        dict(doc.get("fingerprint") or {}),
        rows,
    )


def read_results(notebook: str) -> list[ResultRow]:
    """The rows of a notebook's results file, typed and checked (see :func:`load_results_file`)."""
    return load_results_file(results_path(notebook)).rows


# A breakdown row names its subset at the end of ``data``: "LA21 eval, family TTS", "LA21 eval, codec alaw",
# "LA19 dev A01" / "LA19 dev, A01" (one attack) or "LA21 eval alaw" (an LA 2021 codec). Extra fields
# "breakdown" (family, attack, codec, ...) and "group" in a row say the same explicitly and win.
_BREAKDOWNS = (
    ("family", re.compile(r"^(?P<base>.+?),?\s+family\s+(?P<group>\S.*)$")),
    ("codec", re.compile(r"^(?P<base>.+?),?\s+codec\s+(?P<group>\S.*)$")),
    ("attack", re.compile(r"^(?P<base>.+?),?\s+(?:attack\s+)?(?P<group>A\d{2})$")),
    ("codec", re.compile(r"^(?P<base>LA21 eval),?\s+(?P<group>none|alaw|ulaw|g722|C\d)$")),
)


def benchmark_record(
    record: str,
    benchmark: str,
    required: Callable[[dict], str | None],
    path: str | Path | None = None,
) -> dict | None:
    """A benchmark's committed record (``record``, relative to the project root, or ``path``), or None when it has
    not been run there. ``required(content)`` names what the record lacks (None: nothing); a record that lacks it,
    or is not a JSON object, is a ValueError naming the file and the benchmark that writes it."""
    path = Path(path) if path is not None else config.project_root() / record
    if not path.is_file():
        return None
    remedy = f"run `OMP_NUM_THREADS=1 python {benchmark}` to write it again"
    content = json_object(path, remedy)
    missing = required(content)
    if missing:
        raise ValueError(f"{path}: no {missing} in the record; {remedy}")
    return content


def breakdown(row: ResultRow) -> tuple[str, str, str] | None:
    """``(kind, base data, group)`` when the row is one subset of a pooled figure (per attack family, attack or
    codec), else None: ``data="LA21 eval, family TTS"`` gives ``("family", "LA21 eval", "TTS")``."""
    kind, group = row.extra.get("breakdown"), row.extra.get("group")
    if isinstance(kind, str) and isinstance(group, str) and row.data.endswith(group):
        return (
            kind,
            row.data[: -len(group)].rstrip(" ,").removesuffix(f" {kind}").rstrip(" ,") or row.data,
            group,
        )
    for kind, pattern in _BREAKDOWNS:
        if m := pattern.match(row.data):
            return kind, m["base"], m["group"]
    return None
