"""Study 01's ASV side: the source's "CNN-based ASV system", the corpus's verifier, and the t-DCF they give a CM.

A CNN trained with the LA training speakers as targets embeds utterances of
held-out speakers with its penultimate layer, scored by cosine; the GE2E
encoder of ``resemblyzer`` stands beside it as a reference verifier. Their LA
eval scores give the t-DCF of both countermeasures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import TensorDataset

from asvnb import audio, features, metrics, plots
from asvnb.data.asvspoof import LA2019, ASVScores
from asvnb.features import single_thread
from asvnb.models.cnn import SpectrogramCNN
from asvnb.provenance import module_of
from asvnb.results import ResultRow, bootstrap_ci, over_seeds
from asvnb.studies.cnn_vs_resnet50.countermeasures import cv_split, fixed_clip
from asvnb.studies.cnn_vs_resnet50.settings import GENUINE, SPOOFED, TASK, CnnVsResnet50Config
from asvnb.train import load_best
from asvnb.train.classify import SeedRun, loss_accuracy_eval, seed_run_dir, train_seed


@dataclass
class Verifier:
    """A speaker embedding extractor: ``embed(wav)`` -> 1-D vector; scored by cosine similarity."""

    name: str
    embed: Callable[[np.ndarray], np.ndarray]


def speaker_data(
    cfg: CnnVsResnet50Config, every: int = 5
) -> tuple[TensorDataset, TensorDataset, list[str]]:
    """Log-mel crops of the LA training speakers' bona fide speech; every ``every``-th utterance held out for validation."""
    la = LA2019(cfg.paths.data, "train")
    bona = [t for t in la.trials if t.is_bonafide]
    speakers = sorted({t.speaker for t in bona})
    logmel = features.LogMel(features.preset("logmel40_resnetse", sr=cfg.sr))
    wavs = np.stack([fixed_clip(la.audio_path(t.utt), cfg, cfg.asv_seconds) for t in bona])
    x = logmel(torch.from_numpy(wavs))
    y = torch.tensor([speakers.index(t.speaker) for t in bona])
    val = torch.arange(len(bona)) % every == every - 1
    return TensorDataset(x[~val], y[~val]), TensorDataset(x[val], y[val]), speakers


def train_speaker_cnn(
    cfg: CnnVsResnet50Config, data: tuple[TensorDataset, TensorDataset, list[str]], seed: int
) -> tuple[nn.Module, pd.DataFrame]:
    """Train SpectrogramCNN with the training speakers as targets through the shared trainer; return its best epoch."""
    train, val, speakers = data
    setup = cfg.setups["ASV CNN"]
    kwargs = {"n_classes": len(speakers), "in_channels": 1}
    out = seed_run_dir(
        cfg.paths.out,
        "ASV_CNN",
        seed,
        kwargs,
        setup,
        cfg.settings(speakers=speakers),
        (__name__, module_of(SpectrogramCNN)),
    )
    res = train_seed(
        SpectrogramCNN, kwargs, train, val, setup, out, seed, evaluate_fn=loss_accuracy_eval
    )
    return load_best(res.best_dir), res.history


def cnn_verifier(model: SpectrogramCNN, cfg: CnnVsResnet50Config) -> Verifier:
    """The speaker CNN's penultimate layer on the log-mel spectrogram of a whole utterance."""
    logmel = features.LogMel(features.preset("logmel40_resnetse", sr=cfg.sr))

    @torch.no_grad()
    def embed(wav: np.ndarray) -> np.ndarray:
        return model.eval().embed(logmel(torch.from_numpy(wav)).unsqueeze(0))[0].numpy()

    return Verifier("CNN (ours)", embed)


def ge2e_verifier(cfg: CnnVsResnet50Config) -> Verifier:
    """resemblyzer's pretrained GE2E encoder (weights ship with the package: it loads offline)."""
    # optional: resemblyzer comes with the corpus extra (`pip install asvnb[corpus]`)
    from resemblyzer import VoiceEncoder, preprocess_wav

    enc = VoiceEncoder("cpu", verbose=False)
    return Verifier(
        "GE2E (resemblyzer)", lambda wav: enc.embed_utterance(preprocess_wav(wav, source_sr=cfg.sr))
    )


def _cosine_scores(
    verifier: Verifier,
    enrol: dict[str, list[Path]],
    trials: list[tuple[str, Path, str, str]],
    sr: int,
) -> ASVScores:
    """Cosine of each test embedding with the mean of its claimed speaker's unit-norm enrolment embeddings."""
    cache: dict[Path, np.ndarray] = {}

    def unit(p: Path) -> np.ndarray:
        if p not in cache:
            e = verifier.embed(audio.load_audio(p, sr=sr))
            cache[p] = e / max(float(np.linalg.norm(e)), 1e-12)
        return cache[p]

    models = {}
    with single_thread():
        for spk, paths in enrol.items():
            m = np.mean([unit(p) for p in paths], axis=0)
            models[spk] = m / max(float(np.linalg.norm(m)), 1e-12)
        rows = [
            (spk, p.stem, system, key, float(models[spk] @ unit(p)))
            for spk, p, system, key in trials
        ]
    return ASVScores.from_frame(
        pd.DataFrame(rows, columns=["speaker", "utt", "system", "key", "score"])
    )


def la_asv_scores(verifier: Verifier, cfg: CnnVsResnet50Config, split: str = "eval") -> ASVScores:
    """Scores of the LA ``split`` ASV protocol (held-out speakers; target, non-target and spoof trials)."""
    la = LA2019(cfg.paths.data, split)
    enrol = {spk: [la.audio_path(u) for u in utts] for spk, utts in la.asv_enrolment().items()}
    trials = [(t.speaker, la.audio_path(t.utt), t.system, t.key) for t in la.asv_trials()]
    return _cosine_scores(verifier, enrol, trials, cfg.sr)


def cv_asv_scores(verifier: Verifier, cfg: CnnVsResnet50Config) -> ASVScores:
    """Common Voice speakers (as the source tested): enrol on each speaker's first clip, every other clip a trial.

    Every Common Voice speaker is used, those of the CM's training part too: the
    speaker CNN trains on LA speakers only, so none of them is known to it (the
    embedded corpus has three Common Voice speakers, one on the CM's test side).
    """
    by_spk: dict[str, list[Path]] = {}
    for spk, p in cv_split(cfg)["train"] + cv_split(cfg)["test"]:
        by_spk.setdefault(spk, []).append(p)
    enrol = {s: ps[:1] for s, ps in by_spk.items() if len(ps) > 1}
    tests = [(s, p) for s, ps in by_spk.items() for p in ps[1:]]
    trials = [
        (spk, p, "bonafide", "target" if s == spk else "nontarget")
        for spk in enrol
        for s, p in tests
    ]
    if len(enrol) < 2:
        raise ValueError(
            f"{cfg.paths.data}: Common Voice has {len(enrol)} speakers with 2+ clips; "
            "speaker verification needs at least 2"
        )
    return _cosine_scores(verifier, enrol, trials, cfg.sr)


def plot_asv_scores(scores: dict[str, ASVScores]) -> Figure:
    """Target / non-target / spoof ASV score distributions, one panel per verifier, with its EER threshold."""
    fig = Figure(figsize=(5.0 * len(scores), 3.6), layout="constrained")
    for ax, (name, s) in zip(fig.subplots(1, len(scores), squeeze=False)[0], scores.items()):
        sns.histplot(
            s.frame,
            x="score",
            hue="key",
            hue_order=["target", "nontarget", "spoof"],
            stat="density",
            common_norm=False,
            element="step",
            ax=ax,
        )
        thr = metrics.asv_error_rates(s.target, s.nontarget, s.spoof).threshold
        ax.axvline(thr, color="k", ls="--", lw=1)
        ax.set(title=f"{name} (EER threshold dashed)", xlabel="cosine score")
        sns.move_legend(ax, "upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, frameon=False)
    return plots.with_caption(
        fig,
        "Verifier scores of the three kinds of trial: target (the claimed speaker), non-target (another "
        "speaker) and spoof. Look at the spoof scores against the dashed EER threshold: those right of it "
        "are accepted as the claimed speaker.",
    )


def asv_summary(scores: dict[str, ASVScores]) -> pd.DataFrame:
    """Per verifier: EER (target vs non-target) and how many spoofs pass at the EER threshold."""
    rows = []
    for name, s in scores.items():
        r = metrics.asv_error_rates(s.target, s.nontarget, s.spoof)
        rows.append(
            {
                "verifier": name,
                "EER %": 100 * r.eer,
                "spoofs accepted % (at EER threshold)": 100 * r.Pfa_spoof_asv,
                "targets": len(s.target),
                "non-targets": len(s.nontarget),
                "spoofs": len(s.spoof),
            }
        )
    return pd.DataFrame(rows)


def spoofs_accepted_text(scores: dict[str, ASVScores]) -> str:
    """A sentence per verifier: the spoofed trials and impostors it accepts at its EER threshold."""
    rates = {k: metrics.asv_error_rates(v.target, v.nontarget, v.spoof) for k, v in scores.items()}
    return (
        "At its EER threshold, with no countermeasure, "
        + "; ".join(
            f"**{k}** accepts {100 * r.Pfa_spoof_asv:.0f} % of the spoofed trials (and {100 * r.Pfa_asv:.0f} % of "
            f"the impostors)"
            for k, r in rates.items()
        )
        + ". Those accepted spoofs are the cost the t-DCF below charges to each countermeasure."
    )


def min_tdcf(run: SeedRun, asv: ASVScores) -> float:
    """min t-DCF (ASVspoof 2021 form) of a CM on LA eval, with the ASV error rates of ``asv``."""
    p = run.predictions["LA eval"]
    s = p.scores(TASK.bonafide)
    try:
        return metrics.min_tdcf(
            s[p.labels == GENUINE], s[p.labels == SPOOFED], asv.target, asv.nontarget, asv.spoof
        )
    except ValueError as exc:  # e.g. a CM with fewer than 3 distinct scores: reported, not hidden
        print(f"min t-DCF not defined for seed {run.seed}: {exc}")
        return float("nan")


def tdcf_fn(asv: ASVScores) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """min t-DCF of CM scores (labels genuine 0 / spoofed 1) with the error rates of ``asv`` (for ``seed_row``)."""

    def fn(y: np.ndarray, yhat: np.ndarray, s: np.ndarray) -> float:
        return metrics.min_tdcf(
            s[y == GENUINE], s[y == SPOOFED], asv.target, asv.nontarget, asv.spoof
        )

    return fn


def asv_rows(scores: dict[tuple[str, str], list[ASVScores]], reps: int = 1000) -> list[ResultRow]:
    """EER of each verifier (target vs non-target) per test bed, over its seeds, with a bootstrap interval."""
    rows = []
    for (system, data), per_seed in scores.items():
        vals = [metrics.eer(s.target, s.nontarget)[0] for s in per_seed]
        s0 = per_seed[0]
        y = np.r_[np.ones(len(s0.target), int), np.zeros(len(s0.nontarget), int)]

        def stat(idx: np.ndarray, per_seed: list = per_seed, y: np.ndarray = y) -> float:
            out = []
            for s in per_seed:
                x = np.r_[s.target, s.nontarget][idx]
                out.append(metrics.eer(x[y[idx] == 1], x[y[idx] == 0])[0])
            return float(np.mean(out))

        rows.append(
            ResultRow(
                "asv",
                system,
                data,
                "eer",
                **over_seeds(vals),
                n_trials=int(len(y)),
                ci95=bootstrap_ci(stat, len(y), reps=reps, strata=y),
            )
        )
    return rows
