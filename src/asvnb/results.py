"""Machine-readable results: one typed row per reported number, written to ``build/results/<notebook>.json``.

The schema is ``shared/results-schema.md``: ``value`` is the mean over seeds,
``std``/``n_seeds`` describe the seeds, ``ci95`` is a 95 % interval (bootstrap
over trials or over seeds), ``source`` is the source's own figure. Rates are
fractions. Every value must be finite: a row that is not is refused here,
before it reaches a reader.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from asvnb import config


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


def bootstrap_ci(stat: Callable[[np.ndarray], float], n: int, reps: int = 1000, seed: int = 0,
                 strata: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile 95 % interval of ``stat(indices)`` over bootstrap resamples of ``n`` trials.

    With ``strata`` (one label per trial) each stratum is resampled on its own,
    so every resample keeps both classes (an EER needs both).
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    vals = []
    for _ in range(reps):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        vals.append(stat(idx))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def eer_ci(bonafide: np.ndarray, spoof: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the EER, bona fide and spoof trials resampled separately."""
    from asvnb.metrics import eer

    scores = np.concatenate([bonafide, spoof])
    labels = np.concatenate([np.ones(len(bonafide), int), np.zeros(len(spoof), int)])

    def stat(idx: np.ndarray) -> float:
        s, y = scores[idx], labels[idx]
        return eer(s[y == 1], s[y == 0])[0]

    return bootstrap_ci(stat, len(scores), reps, seed, strata=labels)


def results_path(notebook: str) -> Path:
    """``build/results/<notebook>.json`` (under ``ASVNB_BUILD`` when set)."""
    return Path(os.environ.get("ASVNB_BUILD", config.build_root())) / "results" / f"{notebook}.json"


def write_results(notebook: str, profile: str, rows: Sequence[ResultRow], fingerprint: dict | None = None) -> Path:
    """Write the notebook's results file atomically; duplicate keys are an error (a check could not tell them apart)."""
    config.check_profile(profile)
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        if r.key() in seen:
            raise ValueError(f"{notebook}: result rows {seen[r.key()]} and {i} share the key {r.key()}")
        seen[r.key()] = i
    doc = {"notebook": notebook, "profile": profile,
           "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "fingerprint": fingerprint or {}, "rows": [r.as_json() for r in rows]}
    path = results_path(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_results(notebook: str) -> list[ResultRow]:
    """The rows of a results file, typed (an unknown or missing field is an error naming the file)."""
    path = results_path(notebook)
    doc = json.loads(path.read_text(encoding="utf-8"))
    known = {f for f in ResultRow.__dataclass_fields__ if f != "extra"}
    out = []
    for i, d in enumerate(doc.get("rows", [])):
        base = {k: v for k, v in d.items() if k in known}
        try:
            out.append(ResultRow(**base | {"ci95": tuple(d["ci95"]) if d.get("ci95") else None},
                                 extra={k: v for k, v in d.items() if k not in known}))
        except TypeError as exc:
            raise ValueError(f"{path}: row {i} is not a result row ({exc})") from exc
    return out
