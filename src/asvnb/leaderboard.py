"""One leaderboard across the studies: every countermeasure they trained, scored on the same trials by one rule.

Every study registers the detectors it trained in its ``detectors.json``
(:func:`asvnb.train.register_detector`). This module loads each one through
:func:`asvnb.scoring.load_detector`, the loader of ``asvnb score``, and scores
every trial of the embedded LA 2019 eval and LA 2021 eval with it.

**The input rule** (:data:`INPUT_RULE`): each file is read from its flac at the
detector's own sample rate, mono, and given to the detector the way its study
evaluated it, as its card states: the first *n* seconds repeat-padded (the
image CNNs, ResNetSE), consecutive segments whose scores are averaged (SimpleCNN,
ResNet18), or the whole recording (WavLM). The score is the log-odds of bona
fide against spoof from the network's output, so minDCF, actDCF and Cllr read it
as a log-likelihood ratio without any calibration: actDCF and Cllr then say how
far each system is from calibrated, which is part of the comparison.

Scores are cached per detector and trial set, keyed by the card, the weights
and the trial list, so a rebuild scores only what changed; the speed column is
measured when the scores are computed (wall time of reading, front end and
network over the whole set, in seconds of audio per second).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from asvnb import audio, config, files, metrics
from asvnb.data import balanced_subset
from asvnb.data.asvspoof import LA2019, ASVScores, LA2021Eval
from asvnb.models.complexity import count_macs, count_params
from asvnb.results import ResultRow, bootstrap_ci, eer_ci, over_seeds, write_results
from asvnb.scoring import Detector, load_detector
from asvnb.train.detector import DETECTOR_FILE, INDEX_FILE, read_detector_index

INPUT_RULE = (
    "each trial read from its flac at the detector's own sample rate, mono, and given to the detector as "
    "its study evaluated it (its card's clip rule: the first n seconds repeat-padded, the mean over "
    "consecutive segments, or the whole recording); the score is the network's log-odds of bona fide, "
    "read as a log-likelihood ratio without calibration"
)
MAC_SECONDS = 4.0  # a "whole recording" detector's MACs are counted on 4 s, about one LA utterance
BATCH_FILES = 256  # files read and scored together (memory stays small on the full eval sets)
BATCH_PIECES = 128  # pieces per forward pass: ResNetSE scores 3 times faster per item than in batches of 32 (measured)


@dataclass(frozen=True)
class Entry:
    """One registered detector: the study that trained it, its name there, its seed and its folder."""

    study: str
    name: str
    seed: int | None
    folder: Path

    @property
    def label(self) -> str:
        """``study · name`` (the seed is a column of its own)."""
        return f"{self.study[:2]} {self.name}"


@dataclass(frozen=True)
class TrialSet:
    """One evaluation set: utterance ids, audio paths, labels (1 bona fide), attacks and the organisers' ASV scores."""

    name: str
    utts: list[str]
    paths: list[Path]
    labels: np.ndarray
    systems: list[str]
    asv: ASVScores

    @property
    def key(self) -> str:
        """A hash of the trial list (ids and labels): scores cached for another list are never reused."""
        h = hashlib.sha256()
        for u, y in zip(self.utts, self.labels, strict=True):
            h.update(f"{u} {y}\n".encode())
        return h.hexdigest()[:16]


def registered(
    profile: str, runs_root: Path | None = None, seeds: Sequence[int] | None = None
) -> list[Entry]:
    """Every detector the studies of ``profile`` registered (``runs/<study>/<profile>/detectors.json``), by study."""
    config.check_profile(profile)
    runs_root = Path(runs_root or config.runs_root())
    out = []
    for index in sorted(runs_root.glob(f"*/{profile}/{INDEX_FILE}")):
        study = index.parent.parent.name
        for name, seed, folder in read_detector_index(index):
            if seeds is None or seed is None or seed in seeds:
                out.append(Entry(study, name, seed, folder))
    return out


def trial_sets(
    data_root: str | Path, la21_phase: str | None = "eval", max_trials: int | None = None
) -> dict[str, TrialSet]:
    """The embedded (or real) LA 2019 eval and LA 2021 eval trials, with their ASV scores for the t-DCF.

    ``max_trials``: a quick run on about that many trials per set: half bona fide, half spoofs drawn in turn
    from each attack.
    """
    la19 = LA2019(data_root, "eval")
    la21 = LA2021Eval(data_root, la21_phase)
    out = {}
    for name, ds, asv in (
        ("LA19 eval", la19, la19.asv_scores()),
        ("LA21 eval", la21, la21.asv_scores(la21_phase)),
    ):
        trials = ds.trials
        if max_trials is not None and max_trials < len(
            trials
        ):  # half bona fide, half spoofs over the attacks
            bona = [t for t in trials if t.is_bonafide]
            spoof = [t for t in trials if not t.is_bonafide]
            keep = {
                id(t)
                for t in balanced_subset(bona, max(max_trials // 2, 1), lambda t: t.speaker)
                + balanced_subset(spoof, max(max_trials - max_trials // 2, 1), lambda t: t.system)
            }
            trials = [t for t in trials if id(t) in keep]
        out[name] = TrialSet(
            name,
            [t.utt for t in trials],
            [ds.audio_path(t.utt) for t in trials],
            np.array([int(t.is_bonafide) for t in trials]),
            [t.system for t in trials],
            asv,
        )
    return out


def _weights_hash(folder: Path) -> str:
    """Hash of the weight files (model.pt, or a transformers folder's safetensors/bin) and the card."""
    h = hashlib.sha256()
    files = sorted(
        p for p in folder.iterdir() if p.suffix in (".pt", ".safetensors", ".bin", ".json")
    )
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class SetScores:
    """A detector's scores on one trial set, with the audio duration scored and the wall time it took."""

    scores: np.ndarray
    audio_seconds: float
    wall_seconds: float

    @property
    def speed(self) -> float:
        """Seconds of audio scored per second of wall time."""
        return self.audio_seconds / max(self.wall_seconds, 1e-9)


def score_sets(
    detectors: Sequence[Detector], trials: TrialSet, progress: bool = True
) -> list[SetScores]:
    """Every trial of ``trials`` scored by each detector, each file decoded once per sample rate the detectors need.

    A detector's wall time is its own scoring plus the reading (decoding,
    resampling) at its rate, which detectors of one rate share. A file that
    cannot be scored is an error naming it: a leaderboard with silently
    missing trials would compare systems on different sets.
    """
    from tqdm.auto import tqdm

    rates = sorted({d.card.sample_rate for d in detectors})
    scores: list[list[np.ndarray]] = [[] for _ in detectors]
    wall = np.zeros(len(detectors))
    seconds = 0.0
    bar = tqdm(
        total=len(trials.paths),
        desc=f"{len(detectors)} detector(s) on {trials.name}",
        unit="file",
        disable=not progress,
        leave=False,
    )
    for i in range(0, len(trials.paths), BATCH_FILES):
        paths = trials.paths[i : i + BATCH_FILES]
        names = [str(p) for p in paths]
        for rate in rates:
            t0 = time.perf_counter()
            wavs = [audio.load_audio(p, sr=rate) for p in paths]
            read = time.perf_counter() - t0
            if rate == rates[0]:
                seconds += sum(len(w) for w in wavs) / rate
            for k, det in enumerate(detectors):
                if det.card.sample_rate == rate:
                    t0 = time.perf_counter()
                    scores[k].append(det.score_waveforms(wavs, names, batch_size=BATCH_PIECES))
                    wall[k] += read + time.perf_counter() - t0
        bar.update(len(paths))
    bar.close()
    out = []
    for k, det in enumerate(detectors):
        x = np.concatenate(scores[k])
        if not np.isfinite(x).all():
            bad = trials.paths[int(np.flatnonzero(~np.isfinite(x))[0])]
            raise ValueError(f"{bad}: {det.source} gave a non-finite score")
        out.append(SetScores(x, seconds, float(wall[k])))
    return out


def _load_cached(cache: Path) -> SetScores:
    with np.load(cache) as z:
        return SetScores(z["scores"], float(z["audio_seconds"]), float(z["wall_seconds"]))


def _save_cached(cache: Path, ss: SetScores) -> None:
    with files.atomic_path(cache) as tmp:
        np.savez(
            tmp, scores=ss.scores, audio_seconds=ss.audio_seconds, wall_seconds=ss.wall_seconds
        )


def complexity(detector: Detector) -> tuple[int, int, str]:
    """Parameters, MACs of one forward (torch's counter) and what that forward reads."""
    card, net = detector.card, detector.network
    params = count_params(net)
    kind, clip = card.frontend["kind"], card.clip
    if kind == "spectrogram_image":
        s = card.frontend["model_size"]
        shape, what = (1, 3, s, s), f"one {s} px image"
    else:
        seconds = clip.get("seconds", MAC_SECONDS)
        shape, what = (
            (1, round(seconds * card.sample_rate)),
            f"{seconds:g} s at {card.sample_rate // 1000} kHz",
        )
    if kind == "transformers":
        macs = _transformers_macs(net, shape)
    else:
        macs = count_macs(net, shape, counter="torch")
    return params, macs, what


def _transformers_macs(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """A transformers classifier's MACs: it takes ``input_values=`` (count_macs calls ``net(x)`` positionally)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(input_values=torch.zeros(shape, device=next(net.parameters()).device))
    return counter.get_total_flops() // 2


@dataclass
class Scored:
    """A detector's scores on every set and its complexity."""

    entry: Entry
    sets: dict[str, SetScores]
    params: int
    macs: int
    macs_of: str


def score_all(
    entries: Sequence[Entry],
    sets: dict[str, TrialSet],
    cache_dir: Path,
    device: str = "cpu",
    progress: bool = True,
) -> list[Scored]:
    """Every entry scored on every set; scores are cached under ``cache_dir`` by weights and trial list."""
    dets = [load_detector(e.folder, device) for e in entries]
    keys = [
        f"{e.study}-{e.name}-seed{e.seed}-{_weights_hash(e.folder)}".replace(" ", "_")
        for e in entries
    ]
    got: dict[tuple[int, str], SetScores] = {}
    for name, ts in sets.items():
        caches = [cache_dir / f"{k}-{ts.key}.npz" for k in keys]
        todo = [i for i, c in enumerate(caches) if not c.is_file()]
        for i, c in enumerate(caches):
            if i not in todo:
                got[i, name] = _load_cached(c)
        if todo:
            for i, ss in zip(todo, score_sets([dets[i] for i in todo], ts, progress), strict=True):
                _save_cached(caches[i], ss)
                got[i, name] = ss
    out = []
    for i, (e, det) in enumerate(zip(entries, dets, strict=True)):
        params, macs, what = complexity(det)
        out.append(Scored(e, {name: got[i, name] for name in sets}, params, macs, what))
    return out


OTHER_METRICS = ("min_tdcf", "min_dcf", "act_dcf", "cllr")
OTHER_REPS = 200  # bootstrap resamples behind the other metrics' intervals (the EER's take the chapter's count)


def set_metrics(
    scores: np.ndarray, ts: TrialSet, reps: int = 1000, other_reps: int = OTHER_REPS
) -> dict[str, float | tuple[float, float]]:
    """EER, min t-DCF (2021 form, the organisers' ASV scores), minDCF, actDCF and Cllr, each with a 95 % interval.

    Intervals are percentile bootstraps over the CM trials, bona fide and
    spoof resampled apart (``reps`` for the EER, ``other_reps`` for the rest);
    the t-DCF's ASV scores are held fixed.
    """
    y = ts.labels

    def one(metric: str, idx: np.ndarray) -> float:
        b, sp = scores[idx][y[idx] == 1], scores[idx][y[idx] == 0]
        if metric == "min_tdcf":
            return metrics.min_tdcf(b, sp, ts.asv.target, ts.asv.nontarget, ts.asv.spoof)
        return {"min_dcf": metrics.min_dcf, "act_dcf": metrics.act_dcf, "cllr": metrics.cllr}[
            metric
        ](b, sp)

    bona, spoof = scores[y == 1], scores[y == 0]
    m: dict[str, float | tuple[float, float]] = {"eer": metrics.eer(bona, spoof)[0]}
    m["eer_ci95"] = eer_ci(bona, spoof, reps=reps)
    everything = np.arange(len(scores))
    for metric in OTHER_METRICS:
        m[metric] = one(metric, everything)
        m[f"{metric}_ci95"] = bootstrap_ci(
            lambda idx, k=metric: _or_nan(one, k, idx),
            len(scores),
            other_reps,
            strata=y,
            skip_nan=True,
        )
    return m


def _or_nan(one: Callable[[str, np.ndarray], float], metric: str, idx: np.ndarray) -> float:
    """A resample's metric, or NaN when the resample cannot give one (the t-DCF needs 3 distinct CM scores, which a
    resample of a handful of trials may lack): such resamples are left out of the interval."""
    try:
        return one(metric, idx)
    except ValueError:
        return float("nan")


def table(scored: Sequence[Scored], sets: dict[str, TrialSet], reps: int = 1000) -> pd.DataFrame:
    """One row per detector and seed, one column per set and metric, plus parameters, MACs and speed."""
    rows = []
    for s in scored:
        row: dict[str, object] = {
            "study": s.entry.study,
            "system": s.entry.name,
            "seed": s.entry.seed,
            "params": s.params,
            "MACs": s.macs,
            "MACs of": s.macs_of,
        }
        for name, ss in s.sets.items():
            m = set_metrics(ss.scores, sets[name], reps)
            for k, v in m.items():
                row[f"{name} {k}"] = v
            row[f"{name} speed"] = ss.speed
        rows.append(row)
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per study and system (what the chapter's table shows)."""
    metric_cols = [
        c
        for c in df.columns
        if c not in ("study", "system", "seed", "MACs of") and not c.endswith("ci95")
    ]
    g = df.groupby(["study", "system"], sort=False)
    mean = g[metric_cols].mean()
    std = g[metric_cols].std(ddof=1)
    out = mean.copy()
    out["n_seeds"] = g.size()
    for c in metric_cols:
        out[f"{c} std"] = std[c]
    out["MACs of"] = g["MACs of"].first()
    return out.reset_index()


def _over_seeds(values: pd.Series, intervals: pd.Series) -> dict:
    """``value``, ``std``, ``n_seeds`` (:func:`asvnb.results.over_seeds`) and ``ci95``: the mean of the seeds'
    bootstrap intervals."""
    lo = float(np.mean([c[0] for c in intervals]))
    hi = float(np.mean([c[1] for c in intervals]))
    return over_seeds(values.to_numpy(float)) | {"ci95": (lo, hi)}


def result_rows(df: pd.DataFrame, sets: dict[str, TrialSet]) -> list[ResultRow]:
    """Results-file rows: per system, set and metric, the mean over seeds, its std and a 95 % interval.

    The interval of a metric over several seeds is the mean of the seeds'
    bootstrap intervals (trials resampled, :func:`set_metrics`).
    """
    rows = []
    for (study, system), g in df.groupby(["study", "system"], sort=False):
        n = len(g)
        label = f"{study[:2]} {system}"
        note = f"study {study[:2]}; {n} seed(s); {INPUT_RULE.split(';')[0]}"
        for name, ts in sets.items():
            for metric in ("eer", *OTHER_METRICS):
                rows.append(
                    ResultRow(
                        "leaderboard",
                        label,
                        name,
                        metric,
                        n_trials=len(ts.utts),
                        note=note,
                        **_over_seeds(g[f"{name} {metric}"], g[f"{name} {metric}_ci95"]),
                    )
                )
            sp = g[f"{name} speed"].to_numpy(float)
            rows.append(
                ResultRow(
                    "leaderboard",
                    label,
                    name,
                    "speed_x_realtime",
                    **over_seeds(sp),
                    ci95=(float(sp.min()), float(sp.max())) if n > 1 else None,
                    n_trials=len(ts.utts),
                    note="seconds of audio scored per second, one timing per run (the range over "
                    "seeds as the interval when there are several)",
                )
            )
        for metric, col in (("params", "params"), ("macs", "MACs")):
            rows.append(
                ResultRow(
                    "leaderboard",
                    label,
                    "model",
                    metric,
                    float(g[col].iloc[0]),
                    None,
                    n,
                    None,
                    note=f"torch's counter, {g['MACs of'].iloc[0]}" if metric == "macs" else "",
                )
            )
    return rows


def det_systems(
    scored: Sequence[Scored], sets: dict[str, TrialSet], name: str, seed: int | None = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(bona fide, spoof) scores on set ``name`` of each system's run with ``seed`` (or its only run), for a DET plot."""
    out = {}
    y = sets[name].labels
    for s in scored:
        if s.entry.seed in (seed, None):
            x = s.sets[name].scores
            out[s.entry.label] = (x[y == 1], x[y == 0])
    return out


def card_path(entry: Entry) -> Path:
    """The card a leaderboard row was scored with."""
    return entry.folder / DETECTOR_FILE


def card_summary(entries: Sequence[Entry]) -> pd.DataFrame:
    """Per detector: rate, front end, clip rule and the stored threshold, read from its card (the input rule made concrete)."""
    seen, rows = set(), []
    for e in entries:
        if (e.study, e.name) in seen:
            continue
        seen.add((e.study, e.name))
        card = json.loads(card_path(e).read_text(encoding="utf-8"))
        clip = card["clip"]
        rows.append(
            {
                "study": e.study[:2],
                "system": e.name,
                "rate (Hz)": card["sample_rate"],
                "front end": card["frontend"]["kind"].replace("_", " "),
                "clip": clip["mode"].replace("_", " ")
                + (f" {clip['seconds']:g} s" if "seconds" in clip else ""),
                "dev threshold from": (card.get("threshold") or {}).get("data", "none"),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- what the chapter shows

# The literature's best single systems on the real data (the papers' own figures; issue 18 names them).
LITERATURE = (
    {
        "system": "AASIST",
        "data": "LA 2019 eval (real)",
        "EER (%)": 0.83,
        "min t-DCF": 0.0275,
        "parameters": 297_000,
        "reference": "Jung et al. 2022",
    },
    {
        "system": "AASIST-L",
        "data": "LA 2019 eval (real)",
        "EER (%)": 0.99,
        "min t-DCF": 0.0309,
        "parameters": 85_000,
        "reference": "Jung et al. 2022",
    },
    {
        "system": "wav2vec 2.0 XLS-R + AASIST",
        "data": "LA 2021 eval (real)",
        "EER (%)": 0.82,
        "min t-DCF": None,
        "parameters": 317_000_000,
        "reference": "Tak et al. 2022",
    },
    {
        "system": "L-ResNetSE (study 03's source)",
        "data": "LA 2021 eval (real)",
        "EER (%)": 3.54,
        "min t-DCF": None,
        "parameters": 1_400_000,
        "reference": "Liao et al. 2021",
    },
)


def literature_table() -> pd.DataFrame:
    """The published real-data figures the leaderboard is set beside (labelled as such)."""
    df = pd.DataFrame(LITERATURE)
    df["min t-DCF"] = df["min t-DCF"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.4f}")
    df["parameters"] = df["parameters"].map(
        lambda n: f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} K"
    )
    return df.set_index("system")


def _fmt(mean: float, std: float, n: int, pct: bool, digits: int) -> str:
    k = 100.0 if pct else 1.0
    text = f"{k * mean:.{digits}f}"
    return text + (f" ± {k * std:.{digits}f}" if n > 1 and np.isfinite(std) else "")


def display_table(summary_df: pd.DataFrame, per_run: pd.DataFrame, name: str) -> pd.DataFrame:
    """The leaderboard on one set, best EER first: mean (± std over seeds) and the EER's 95 % interval."""
    rows = []
    for _, r in summary_df.sort_values(f"{name} eer").iterrows():
        runs = per_run[(per_run["study"] == r["study"]) & (per_run["system"] == r["system"])]
        lo = np.mean([c[0] for c in runs[f"{name} eer_ci95"]])
        hi = np.mean([c[1] for c in runs[f"{name} eer_ci95"]])
        n = int(r["n_seeds"])
        rows.append(
            {
                "study": r["study"][:2],
                "system": r["system"],
                "seeds": n,
                "EER (%)": _fmt(r[f"{name} eer"], r[f"{name} eer std"], n, True, 1)
                + f" [{100 * lo:.1f}, {100 * hi:.1f}]",
                "min t-DCF": _fmt(r[f"{name} min_tdcf"], r[f"{name} min_tdcf std"], n, False, 3),
                "minDCF": _fmt(r[f"{name} min_dcf"], r[f"{name} min_dcf std"], n, False, 3),
                "actDCF": _fmt(r[f"{name} act_dcf"], r[f"{name} act_dcf std"], n, False, 3),
                "Cllr": _fmt(r[f"{name} cllr"], r[f"{name} cllr std"], n, False, 3),
                "speed (x real time)": f"{r[f'{name} speed']:.0f}",
            }
        )
    return pd.DataFrame(rows).set_index(["study", "system"])


def complexity_table(summary_df: pd.DataFrame) -> pd.DataFrame:
    """Parameters and MACs of each system (one forward of what it reads), smallest first."""
    df = summary_df[["study", "system", "params", "MACs", "MACs of"]].copy()
    df["study"] = df["study"].str[:2]
    df = df.sort_values("params")
    df["params"] = df["params"].map(lambda n: f"{n / 1e6:.3f} M")
    df["MACs"] = df["MACs"].map(lambda n: f"{n / 1e6:.1f} M")
    return df.rename(columns={"params": "parameters", "MACs of": "one forward of"}).set_index(
        ["study", "system"]
    )


def sentence(summary_df: pd.DataFrame, sets: dict[str, TrialSet], profile: str) -> str:
    """What the leaderboard says, generated from its numbers."""
    parts = []
    for name in sets:
        order = summary_df.sort_values(f"{name} eer")
        best, worst = order.iloc[0], order.iloc[-1]
        parts.append(
            f"On {name} the lowest EER is study {best['study'][:2]}'s {best['system']} "
            f"({100 * best[f'{name} eer']:.1f} %, min t-DCF {best[f'{name} min_tdcf']:.3f}) and the highest "
            f"study {worst['study'][:2]}'s {worst['system']} ({100 * worst[f'{name} eer']:.1f} %)."
        )
    name = next(iter(sets))
    gap = summary_df[f"{name} act_dcf"] - summary_df[f"{name} min_dcf"]
    calibrated = int((summary_df[f"{name} cllr"] < 1).sum())
    parts.append(
        f"On {name}, {calibrated} of {len(summary_df)} systems have Cllr below 1 (better than a system "
        f"that always answers 'do not know'), and actDCF exceeds minDCF by {gap.median():.2f} in the median: "
        "the raw log-odds are not calibrated likelihood ratios."
    )
    if profile == "embedded":
        parts.append(
            "These are embedded-profile numbers: small generated data, stand-in models and short training; "
            "the literature's figures below come from the real data."
        )
    return " ".join(parts)


def family_table(
    scored: Sequence[Scored], sets: dict[str, TrialSet], families: dict[str, str], reps: int = 200
) -> pd.DataFrame:
    """EER per attack family (each family's spoofs against every bona fide trial), per run and set, with intervals."""
    rows = []
    for s in scored:
        for name, ss in s.sets.items():
            ts = sets[name]
            fam = np.array(
                [
                    families.get(x, "?") if y == 0 else ""
                    for x, y in zip(ts.systems, ts.labels, strict=True)
                ]
            )
            bona = ss.scores[ts.labels == 1]
            for f in sorted(set(fam) - {""}):
                spoof = ss.scores[fam == f]
                rows.append(
                    {
                        "study": s.entry.study,
                        "system": s.entry.name,
                        "seed": s.entry.seed,
                        "set": name,
                        "family": f,
                        "eer": metrics.eer(bona, spoof)[0],
                        "ci95": eer_ci(bona, spoof, reps),
                        "n_trials": int(len(bona) + len(spoof)),
                    }
                )
    return pd.DataFrame(rows)


def family_pivot(fam: pd.DataFrame) -> pd.DataFrame:
    """EER (%) per system (rows) and set and family (columns), mean over seeds."""
    df = fam.assign(study=fam["study"].str[:2], eer=100 * fam["eer"])
    return df.pivot_table(
        index=["study", "system"],
        columns=["set", "family"],
        values="eer",
        aggfunc="mean",
        sort=False,
    ).round(1)


def family_rows(fam: pd.DataFrame) -> list[ResultRow]:
    """Results rows of :func:`family_table`: data ``"LA19 eval, family VC"``, mean over seeds, mean interval."""
    rows = []
    for (study, system, name, f), g in fam.groupby(
        ["study", "system", "set", "family"], sort=False
    ):
        rows.append(
            ResultRow(
                "leaderboard",
                f"{study[:2]} {system}",
                f"{name}, family {f}",
                "eer",
                **_over_seeds(g["eer"], g["ci95"]),
                n_trials=int(g["n_trials"].iloc[0]),
                note="spoofs of one attack family against every bona fide trial",
                extra={"breakdown": "family", "group": f},
            )
        )
    return rows


def family_floor(
    scored: Sequence[Scored],
    sets: dict[str, TrialSet],
    families: dict[str, str],
    family: str = "VC",
    reps: int = 200,
) -> pd.DataFrame:
    """Per run and set: the pooled EER if every spoof outside ``family`` were rejected, with its interval.

    No change to the other attacks can bring a detector's pooled EER below
    this floor: the spoofs of ``family`` alone hold it there.
    """
    rows = []
    for s in scored:
        for name, ss in s.sets.items():
            ts = sets[name]
            spoof = ts.labels == 0
            inside = np.array([families.get(x) == family for x in ts.systems]) & spoof
            x = ss.scores.copy()
            x[spoof & ~inside] = x.min() - 1.0  # rejected at every threshold the DET visits
            bona, sp = x[ts.labels == 1], x[spoof]
            rows.append(
                {
                    "study": s.entry.study,
                    "system": s.entry.name,
                    "seed": s.entry.seed,
                    "set": name,
                    "family": family,
                    "share": float(inside.sum() / spoof.sum()),
                    "pooled": metrics.eer(ss.scores[ts.labels == 1], ss.scores[spoof])[0],
                    "floor": metrics.eer(bona, sp)[0],
                    "ci95": eer_ci(bona, sp, reps),
                    "n_trials": len(ts.utts),
                }
            )
    return pd.DataFrame(rows)


def floor_rows(floor: pd.DataFrame) -> list[ResultRow]:
    """Results rows of :func:`family_floor` (table ``floor``), mean over seeds."""
    rows = []
    for (study, system, name, fam), g in floor.groupby(
        ["study", "system", "set", "family"], sort=False
    ):
        rows.append(
            ResultRow(
                "floor",
                f"{study[:2]} {system}",
                name,
                "eer",
                **_over_seeds(g["floor"], g["ci95"]),
                n_trials=int(g["n_trials"].iloc[0]),
                note=f"pooled EER if every spoof outside the {fam} family were rejected "
                f"({100 * g['share'].iloc[0]:.0f} % of the spoofs are {fam})",
            )
        )
    return rows


def floor_sentence(floor: pd.DataFrame) -> str:
    """What the floors say, generated from them."""
    fam = str(floor["family"].iloc[0])
    parts = []
    for name, g in floor.groupby("set", sort=False):
        best = g.loc[g["floor"].idxmin()]
        parts.append(
            f"{100 * best['floor']:.1f} % on {name} (study {best['study'][:2]}'s {best['system']}; the "
            f"{fam} spoofs are {100 * best['share']:.0f} % of the set's spoofs)"
        )
    return (
        f"If every spoof outside the {fam} family were rejected, no detector's pooled EER could fall below "
        + " or ".join(parts)
        + f": the {fam} attacks alone hold every detector there. Any pooled EER below "
        f"these floors needs the {fam} attacks detected far better than any detector here detects them; on "
        "this corpus, that is where progress has to come from."
    )


# ----------------------------------------------------------------------------- the chapter (notebook 05)

NOTEBOOK = "05_leaderboard"


def setup(
    profile: str, data_root: str | Path | None, device: str, threads: int | None
) -> config.Paths:
    """The chapter's set-up: torch's CPU threads, the profile's paths, the fingerprint shown; returns the paths."""
    torch.set_num_threads(threads or torch.get_num_threads())
    paths = config.Paths.for_profile(profile, NOTEBOOK, data_root)
    config.show_fingerprint(config.fingerprint(paths.data, config.resolve_device(device)))
    return paths


def registered_detectors(profile: str, seeds: Sequence[int] | None = None) -> list[Entry]:
    """:func:`registered`, refusing none: the leaderboard scores what the study notebooks trained."""
    entries = registered(profile, seeds=seeds)
    if not entries:
        raise RuntimeError(
            f"no detector is registered for profile {profile!r}: run the study notebooks 01-04 first"
        )
    return entries


def set_heading(sets: dict[str, TrialSet], name: str) -> str:
    """A set's name with its numbers of trials and bona fide trials (Markdown)."""
    ts = sets[name]
    return f"**{name}** ({len(ts.utts):,} trials, {int(ts.labels.sum()):,} bona fide)"


def floor_table(floor: pd.DataFrame) -> pd.DataFrame:
    """:func:`family_floor` for reading: pooled EER and floor in percent, per study and system, by set."""
    return floor.assign(
        study=floor["study"].str[:2],
        pooled=(100 * floor["pooled"]).round(1),
        floor=(100 * floor["floor"]).round(1),
    ).pivot_table(index=["study", "system"], columns="set", values=["pooled", "floor"], sort=False)


def save_results(
    per_run: pd.DataFrame,
    sets: dict[str, TrialSet],
    fam: pd.DataFrame,
    floor: pd.DataFrame,
    profile: str,
    paths: config.Paths,
    device: str,
) -> Path:
    """Every row of the chapter (:func:`result_rows`, :func:`family_rows`, :func:`floor_rows`) to its results file."""
    rows = result_rows(per_run, sets) + family_rows(fam) + floor_rows(floor)
    fingerprint = config.fingerprint(paths.data, config.resolve_device(device))
    return write_results(NOTEBOOK, profile, rows, fingerprint)
