"""Audit of the embedded corpus: shortcut probes and the ASVspoof reference baseline (LFCC-GMM).

Two questions decide whether a detector's number on this corpus means anything:

1. **Can the label be read off something that is not spoofing?** Each *probe*
   is a logistic regression trained on LA train and scored on LA eval
   (balanced accuracy; chance is 0.5) on one family of nuisance features:
   duration, level, silence, band energy, whose voice it is, which language.
2. **Does every attack leave an artefact, at a difficulty like the real
   set's?** The challenge's own baseline, LFCC (20 linear filters, 20
   coefficients with deltas and delta-deltas, 20 ms windows) with one GMM per
   class, trained on LA train, reached 8.09 % EER on the real 2019 LA eval.

The audit is cached beside the corpus, keyed by the corpus build and this
module's code, so the data chapter and the test suite compute it once.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchaudio
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tqdm.auto import tqdm

from asvnb import files
from asvnb.audio import load_audio
from asvnb.data.asvspoof import LA2019, LA2021Eval
from asvnb.data.synth.build import embed  # the GE2E encoder the corpus's ASV scores come from
from asvnb.metrics import eer
from asvnb.provenance import code_key
from asvnb.results import ResultRow, bootstrap_ci, eer_ci

PROBES = ("duration", "level", "silence", "band_energy", "speaker", "language")
PROBE_LIMIT = 0.60  # a probe above this reads the label off a nuisance
# the challenge's LFCC-GMM on the real sets (pooled EER): the 2019 LA eval and the 2021 LA eval
REAL_EER = {"LA19 eval": 0.0809, "LA21 eval": 0.193}
SR = 16000


@dataclass(frozen=True)
class BaselineConfig:
    """The ASVspoof 2019 LFCC-GMM baseline (its defaults, but 64 instead of 512 components on this corpus size)."""

    n_filter: int = 20  # linear-frequency triangular filters
    n_lfcc: int = 20  # static coefficients, then deltas and delta-deltas: 60 per frame
    win_ms: float = 20.0  # analysis window
    hop_ms: float = 10.0  # frame shift
    n_fft: int = 512
    components: int = 64  # diagonal-covariance Gaussians per class
    # frames per class, drawn at random: EM on every frame changes nothing but the time
    max_frames: int = 120_000
    max_iter: int = 60  # EM iterations
    seed: int = 0  # the frame draw and the GMMs' initialisation


# -- features -------------------------------------------------------------------------------------------


def lfcc_frames(
    wav: np.ndarray, cfg: BaselineConfig, transform: torchaudio.transforms.LFCC
) -> np.ndarray:
    """(frames, 3 * n_lfcc): static LFCC with deltas and delta-deltas, as the challenge baseline."""
    with torch.no_grad():
        c = transform(torch.from_numpy(wav).float()[None])  # (1, n_lfcc, T)
        d = torchaudio.functional.compute_deltas(c)
        dd = torchaudio.functional.compute_deltas(d)
    return torch.cat([c, d, dd], dim=1)[0].T.numpy().astype(np.float32)


def lfcc_transform(cfg: BaselineConfig) -> torchaudio.transforms.LFCC:
    """torchaudio's LFCC with the baseline's filterbank and windows."""
    win, hop = int(cfg.win_ms * SR / 1000), int(cfg.hop_ms * SR / 1000)
    return torchaudio.transforms.LFCC(
        sample_rate=SR,
        n_filter=cfg.n_filter,
        n_lfcc=cfg.n_lfcc,
        log_lf=True,
        speckwargs={"n_fft": cfg.n_fft, "win_length": win, "hop_length": hop, "center": False},
    )


def nuisance_features(wav: np.ndarray) -> dict[str, list[float]]:
    """Per-file duration, level, silence and band-energy features (what a lazy detector could exploit)."""
    eps = 1e-20  # silent stretches give a finite floor, never log(0)
    hop = SR // 100
    n = len(wav) // hop
    frame_db = 10 * np.log10(np.mean(wav[: n * hop].reshape(n, hop) ** 2, axis=1) + eps)
    silent = frame_db < frame_db.max() - 40.0
    active = np.flatnonzero(~silent)
    lead = active[0] / 100 if len(active) else len(wav) / SR
    trail = (n - 1 - active[-1]) / 100 if len(active) else len(wav) / SR
    spec = np.abs(np.fft.rfft(wav)) ** 2
    freqs = np.fft.rfftfreq(len(wav), 1 / SR)
    total = spec.sum() + eps
    bands = [(0, 4000), (4000, 7000), (7000, SR / 2 + 1)]
    return {
        "duration": [len(wav) / SR],
        "level": [float(10 * np.log10(np.mean(wav**2) + eps))],
        "silence": [float(silent.mean()), lead, trail],
        "band_energy": [
            float(10 * np.log10((spec[(freqs >= lo) & (freqs < hi)].sum() + eps) / total))
            for lo, hi in bands
        ],
    }


@dataclass
class SplitFeatures:
    """Everything the audit needs of one set of trials."""

    utt: list[str]
    speaker: list[str]
    key: np.ndarray  # 1 = bona fide
    system: list[str]
    nuisance: dict[str, np.ndarray]
    lfcc: list[np.ndarray]
    condition: list[str]
    audio_seconds: float = 0.0  # audio read
    wall_seconds: float = 0.0  # reading and LFCC extraction (the nuisance features not counted)


def extract(
    paths: list[Path],
    trials: list,
    cfg: BaselineConfig,
    desc: str,
    progress: bool,
    condition: list[str] | None = None,
) -> SplitFeatures:
    """LFCC frames and nuisance features of every trial."""
    tf = lfcc_transform(cfg)
    nuis: dict[str, list] = {k: [] for k in ("duration", "level", "silence", "band_energy")}
    lfcc = []
    seconds = wall = 0.0
    for p in tqdm(paths, desc=desc, disable=not progress, mininterval=5):
        t0 = time.perf_counter()
        wav = load_audio(p, SR)
        lfcc.append(lfcc_frames(wav, cfg, tf))
        wall += time.perf_counter() - t0
        seconds += len(wav) / SR
        for k, v in nuisance_features(wav).items():
            nuis[k].append(v)
    return SplitFeatures(
        [t.utt for t in trials],
        [t.speaker for t in trials],
        np.array([int(t.key == "bonafide") for t in trials]),
        ["bonafide" if t.key == "bonafide" else t.system for t in trials],
        {k: np.asarray(v, dtype=float) for k, v in nuis.items()},
        lfcc,
        condition or ["-"] * len(trials),
        seconds,
        wall,
    )


# -- the LFCC-GMM baseline -----------------------------------------------------------------------------


class LfccGmm:
    """One diagonal GMM per class on LFCC frames; the score is the mean frame log-likelihood ratio (bona fide high)."""

    def __init__(self, cfg: BaselineConfig) -> None:
        self.cfg = cfg
        self.gmms: dict[int, GaussianMixture] = {}

    def fit(self, feats: SplitFeatures) -> LfccGmm:
        """Fit the bona fide and the spoof GMM on (a random subset of) the training frames."""
        rng = np.random.default_rng(self.cfg.seed)
        for label in (1, 0):
            frames = np.concatenate([f for f, k in zip(feats.lfcc, feats.key) if k == label])
            if len(frames) > self.cfg.max_frames:
                frames = frames[rng.choice(len(frames), self.cfg.max_frames, replace=False)]
            self.gmms[label] = GaussianMixture(
                self.cfg.components,
                covariance_type="diag",
                max_iter=self.cfg.max_iter,
                reg_covar=1e-3,
                random_state=self.cfg.seed,
            ).fit(frames)
        return self

    def score(self, feats: SplitFeatures) -> np.ndarray:
        """Per-utterance mean log-likelihood ratio, bona fide minus spoof."""
        lengths = np.array([len(f) for f in feats.lfcc])
        frames = np.concatenate(feats.lfcc)
        llr = self.gmms[1].score_samples(frames) - self.gmms[0].score_samples(frames)
        return np.array([c.mean() for c in np.split(llr, np.cumsum(lengths)[:-1])])

    @property
    def n_params(self) -> int:
        """Weights, means and diagonal variances of both GMMs."""
        return sum(
            g.weights_.size + g.means_.size + g.covariances_.size for g in self.gmms.values()
        )


# -- probes ------------------------------------------------------------------------------------------


def probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """Balanced accuracy on test of a class-balanced logistic regression fitted on train, and its 95 % interval."""
    clf = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000)
    )
    pred = clf.fit(train_x, train_y).predict(test_x)
    ba = balanced_accuracy_score(test_y, pred)
    ci = bootstrap_ci(
        lambda i: balanced_accuracy_score(test_y[i], pred[i]), len(test_y), seed=seed, strata=test_y
    )
    return float(ba), ci


def speaker_features(
    train_emb: np.ndarray, train: SplitFeatures, test_emb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """GE2E embeddings reduced to the directions that tell bona fide training speakers apart (LDA): whose voice it is."""
    bona = train.key == 1
    lda = LinearDiscriminantAnalysis().fit(train_emb[bona], np.asarray(train.speaker)[bona])
    return lda.transform(train_emb), lda.transform(test_emb)


def language_features(train_lang: list[str], test_lang: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One-hot language of the speaker (a language unseen in training is all zeros)."""
    enc = OneHotEncoder(handle_unknown="ignore").fit(np.asarray(train_lang)[:, None])
    return (
        enc.transform(np.asarray(train_lang)[:, None]).toarray(),
        enc.transform(np.asarray(test_lang)[:, None]).toarray(),
    )


# -- the audit ----------------------------------------------------------------------------------------


def _cache_key(root: Path, cfg: BaselineConfig) -> str:
    manifest = json.loads((root / "MANIFEST.json").read_text())
    h = hashlib.sha256(code_key(__name__).encode())  # the audit's code and what it imports
    h.update(
        json.dumps(
            [manifest.get("generator"), manifest.get("scale"), manifest.get("seed"), repr(cfg)]
        ).encode()
    )
    return h.hexdigest()[:16]


def run_audit(
    root: str | Path,
    cfg: BaselineConfig = BaselineConfig(),
    progress: bool = True,
    use_cache: bool = True,
) -> dict:
    """Probes and LFCC-GMM baseline on the corpus at ``root``; cached in ``root/.work/audit-<key>.json``."""
    root = Path(root)
    cache = root / ".work" / f"audit-{_cache_key(root, cfg)}.json"
    if use_cache and cache.is_file():
        return json.loads(cache.read_text())
    manifest = json.loads((root / "MANIFEST.json").read_text())
    lang_of = {
        spk: info["lang"].split("_")[0]
        for split in manifest["datasets"]["ASVspoof2019_LA"].values()
        for spk, info in split["speakers"].items()
    }
    sets, emb = {}, {}
    for split in ("train", "dev", "eval"):
        la = LA2019(root, split)
        paths = [la.audio_path(t.utt) for t in la.trials]
        sets[split] = extract(paths, la.trials, cfg, f"audit features, LA19 {split}", progress)
        if split != "dev":
            emb[split] = embed(paths)
    la21 = LA2021Eval(root)
    sets["la21"] = extract(
        [la21.audio_path(t.utt) for t in la21.trials],
        la21.trials,
        cfg,
        "audit features, LA21 eval",
        progress,
        condition=[t.codec for t in la21.trials],
    )
    train, test = sets["train"], sets["eval"]
    probes = {}
    for name in ("duration", "level", "silence", "band_energy"):
        probes[name] = probe(train.nuisance[name], train.key, test.nuisance[name], test.key)
    tr, te = speaker_features(emb["train"], train, emb["eval"])
    probes["speaker"] = probe(tr, train.key, te, test.key)
    tr, te = language_features(
        [lang_of[s] for s in train.speaker], [lang_of[s] for s in test.speaker]
    )
    probes["language"] = probe(tr, train.key, te, test.key)
    model = LfccGmm(cfg).fit(train)
    baseline, scores = [], {}
    for name, data in (("dev", "LA19 dev"), ("eval", "LA19 eval"), ("la21", "LA21 eval")):
        feats = sets[name]
        t0 = time.perf_counter()
        s = model.score(feats)
        scores[data] = {
            "utt": feats.utt,
            "score": [float(x) for x in s],
            "audio_seconds": feats.audio_seconds,
            "wall_seconds": feats.wall_seconds + time.perf_counter() - t0,
        }
        groups = [("", np.ones(len(s), bool))]
        groups += [
            (f" {a}", np.isin(feats.system, ["bonafide", a]))
            for a in sorted(set(feats.system) - {"bonafide"})
        ]
        if name == "la21":
            groups += [
                (f" {c}", np.asarray(feats.condition) == c) for c in sorted(set(feats.condition))
            ]
        for suffix, sel in groups:
            bona, spoof = s[sel & (feats.key == 1)], s[sel & (feats.key == 0)]
            baseline.append(
                {
                    "data": data + suffix,
                    "eer": float(eer(bona, spoof)[0]),
                    "ci95": list(eer_ci(bona, spoof, reps=300)),
                    "n_trials": int(sel.sum()),
                }
            )
    out = {
        "probes": {
            k: {"balanced_accuracy": v[0], "ci95": list(v[1]), "n_trials": int(len(test.key))}
            for k, v in probes.items()
        },
        "baseline": baseline,
        # per utterance (bona fide high), with the audio scored and the wall time of features and scoring: the
        # leaderboard's LFCC-GMM row reads them (asvnb.leaderboard.baseline_scored)
        "scores": scores,
        "n_params": model.n_params,
        "config": repr(cfg),
    }
    files.write_json(cache, out)
    return out


def lfcc_gmm_scores(audit: dict, data: str, utts: Sequence[str], root: str | Path) -> np.ndarray:
    """The audit's LFCC-GMM scores (bona fide high) of the trials ``utts`` of ``data`` ("LA19 dev", "LA19 eval",
    "LA21 eval"), in that order: a detector scored on any subset of those trials is paired with the baseline
    trial by trial. A trial the audit did not score is an error naming it and the corpus ``root``."""
    if data not in audit.get("scores", {}):
        raise ValueError(
            f"{root}: the audit's cache holds no per-trial LFCC-GMM scores of {data!r}; run it again"
        )
    by_utt = dict(zip(audit["scores"][data]["utt"], audit["scores"][data]["score"]))
    missing = [u for u in utts if u not in by_utt]
    if missing:
        raise ValueError(
            f"{data}: trial {missing[0]} has no LFCC-GMM score in the audit of {root} "
            f"({len(missing)} of {len(utts)} missing)"
        )
    return np.array([by_utt[u] for u in utts], dtype=float)


def audit_rows(audit: dict) -> list[ResultRow]:
    """The audit as result rows (tables "probe" and "baseline"), as the results schema names them."""
    rows = [
        ResultRow(
            "probe",
            name,
            "LA19 eval",
            "balanced_accuracy",
            p["balanced_accuracy"],
            ci95=tuple(p["ci95"]),
            n_trials=p["n_trials"],
            note="logistic regression trained on LA19 train; chance 0.5; limit 0.60",
        )
        for name, p in audit["probes"].items()
    ]
    rows += [
        ResultRow(
            "baseline",
            "lfcc_gmm",
            b["data"],
            "eer",
            b["eer"],
            ci95=tuple(b["ci95"]),
            n_trials=b["n_trials"],
            source=REAL_EER.get(b["data"]),
            note="LFCC 20 + deltas, 64-component GMMs trained on LA19 train; "
            "source: the challenge's LFCC-GMM on the real 2019 LA eval and 2021 LA eval",
            extra=_condition(b["data"]),
        )
        for b in audit["baseline"]
    ]
    return rows


def _condition(data: str) -> dict[str, str]:
    """A 2021 transmission condition's row says so (``"LA21 eval opus"``: breakdown codec, group opus)."""
    base, _, group = data.partition("LA21 eval ")
    if base or not group or re.fullmatch(r"A\d{2}", group):
        return {}
    return {"breakdown": "codec", "group": group}


def probe_table(audit: dict) -> pd.DataFrame:
    """Probes as a table: balanced accuracy, interval, verdict."""
    return pd.DataFrame(
        [
            {
                "probe": k,
                "balanced accuracy": round(v["balanced_accuracy"], 3),
                "95% interval": f"{v['ci95'][0]:.3f}-{v['ci95'][1]:.3f}",
                "verdict": "at chance" if v["balanced_accuracy"] <= PROBE_LIMIT else "SHORTCUT",
            }
            for k, v in audit["probes"].items()
        ]
    ).set_index("probe")


def baseline_table(audit: dict) -> pd.DataFrame:
    """LFCC-GMM EER per set, attack and codec, with intervals."""
    real = {
        "LA19 eval": f"{REAL_EER['LA19 eval']} (LFCC-GMM on the real 2019 LA eval)",
        "LA21 eval": f"{REAL_EER['LA21 eval']} (LFCC-GMM on the real 2021 LA eval)",
    }
    return pd.DataFrame(
        [
            {
                "data": b["data"],
                "EER": round(b["eer"], 4),
                "95% interval": f"{b['ci95'][0]:.3f}-{b['ci95'][1]:.3f}",
                "trials": b["n_trials"],
                "source": real.get(b["data"], "-"),
            }
            for b in audit["baseline"]
        ]
    ).set_index("data")
