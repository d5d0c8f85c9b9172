"""Study 02's data and measurements: the mixtures, the detector on clean LA, separation once, SI-SNRi, the pipelines."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from asvnb import audio, config, metrics
from asvnb.data import balanced_subset, mixtures
from asvnb.data.asvspoof import LA2019, SPOOF
from asvnb.models import separation, wavlm
from asvnb.results import bootstrap_ci
from asvnb.studies import corpus_audit
from asvnb.studies.overlap_pipeline.separate_and_score import (
    PipelineResult,
    StreamCache,
    assemble,
    ensure_streams,
    random_control,
    source_matches,
    stream_logits,
)
from asvnb.studies.overlap_pipeline.settings import SPLITS, STUDY, OverlapConfig
from asvnb.train.detector import (
    DETECTOR_FILE,
    INDEX_FILE,
    describe_detector,
    dev_threshold,
    register_detector,
    transformers_frontend,
    whole,
)

# ----------------------------------------------------------------------------- data


def la(cfg: OverlapConfig, split: str) -> LA2019:
    """One ASVspoof 2019 LA split (real or embedded)."""
    return LA2019(cfg.paths.data, split)


def make_mixtures(cfg: OverlapConfig, progress: bool = False) -> dict[str, mixtures.MixtureSet]:
    """The mixtures of every split (Appendix A.1), generated once under ``out/mixtures/<split>`` (resumable)."""
    out = {}
    for k, split in enumerate(SPLITS):
        out[split] = mixtures.generate_from_la(
            la(cfg, split),
            cfg.paths.out / "mixtures" / split,
            cfg.n_mixtures[split],
            seed=cfg.mixture_seed * 1000 + k,
            progress=progress,
        )
    return out


def saved_mixtures(cfg: OverlapConfig, split: str, n: int | None = None) -> mixtures.MixtureSet:
    """The first ``n`` (all: None) mixtures of ``split`` that the notebook wrote, checked against the study's
    plan; a folder that holds other mixtures, or none, is an error naming it."""
    data = la(cfg, split)
    mix_dir = cfg.paths.out / "mixtures" / split
    try:
        ms = mixtures.load_mixture_set(mix_dir, data.audio_dir)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{mix_dir}: no mixture set of the study ({exc}); run notebook 02 first"
        ) from exc
    plan = mixtures.plan_mixtures(
        data.trials, cfg.n_mixtures[split], cfg.mixture_seed * 1000 + SPLITS.index(split)
    )
    if [asdict(m) for m in plan] != [asdict(m) for m in ms.mixtures]:
        raise ValueError(
            f"{mix_dir} does not hold the study's {split} mixtures: run notebook 02 first"
        )
    return mixtures.MixtureSet(ms.root, ms.mixtures[: n or len(ms)], ms.source_dir)


# ----------------------------------------------------------------------------- the detector on clean LA


def _la_scores(
    cfg: OverlapConfig, split: str, fe: Any, model: nn.Module
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detector on clean LA ``split`` (a balanced subset with ``max_items``): logits, CM scores, 1 = spoof."""
    d = la(cfg, split)
    trials = balanced_subset(d.trials, cfg.max_items, lambda t: t.key)
    paths = [d.audio_path(t.utt) for t in trials]
    # lengths from headers: the full eval set is not held in memory
    infos = [audio.audio_info(p) for p in paths]
    lengths = [i.frames * 16000 // i.samplerate for i in infos]
    waves = wavlm.LazyWaves(lambda i: audio.load_audio(paths[i], sr=16000), lengths)
    logits = wavlm.predict_logits(
        fe, model, waves, batch_size=cfg.det_batch, max_samples=cfg.max_samples
    )
    y = np.array([int(t.key == SPOOF) for t in trials])
    return logits, wavlm.cm_scores(logits), y


def clean_eval(cfg: OverlapConfig, fe: Any, model: nn.Module) -> dict:
    """The detector alone on clean LA eval: accuracy, P/R/F1 (positive = spoof, as the source) and EER; also the
    ``scores``, ``labels`` and ``utts`` of the trials scored."""
    logits, s, y = _la_scores(cfg, "eval", fe, model)
    rep = metrics.classification_report(
        y, (wavlm.spoof_probability(logits) > 0.5).astype(int), positive=1, labels=[0, 1]
    )
    rep["eer"], _ = metrics.eer(s[y == 0], s[y == 1])
    rep["scores"], rep["labels"] = s, y
    # the utterances scored (as _la_scores chose them): they pair clean scores with the mixtures' sources
    rep["utts"] = [
        t.utt for t in balanced_subset(la(cfg, "eval").trials, cfg.max_items, lambda t: t.key)
    ]
    return rep


def clean_baseline_scores(cfg: OverlapConfig, clean: dict) -> np.ndarray | None:
    """The data chapter's LFCC-GMM scores of the clean LA eval trials :func:`clean_eval` scored, in its order
    (the paired comparison's other side); None off the generated corpora, where no per-trial baseline exists."""
    if not config.generated(cfg.profile):
        return None
    audit = corpus_audit.run_audit(cfg.paths.data, progress=False)
    return corpus_audit.lfcc_gmm_scores(audit, "LA19 eval", clean["utts"], cfg.paths.data)


def describe_wavlm(
    cfg: OverlapConfig, folder: str | Path, name: str, seed: int | None = None
) -> Path | None:
    """A detector card for a local WavLM folder (the stand-in, a fine-tuned run), registered in the study's index.

    Its threshold is the EER threshold on clean LA19 dev, computed once (a
    card already there is kept). A hub id gets no card: ``asvnb score`` reads
    hub models by their conventions and needs a threshold from the user.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return None
    index = cfg.paths.out / INDEX_FILE
    if (folder / DETECTOR_FILE).is_file():
        register_detector(index, folder, name=name, seed=seed)
        return folder / DETECTOR_FILE
    fe, model = wavlm.load_detector(folder, device=cfg.run_device())
    _, s, y = _la_scores(cfg, "dev", fe, model)
    e, thr = metrics.eer(s[y == 0], s[y == 1])
    return describe_detector(
        folder,
        sample_rate=wavlm.SR,
        frontend=transformers_frontend(),
        clip=whole(),
        bonafide_class=wavlm.BONAFIDE,
        threshold=dev_threshold(thr, e, "LA19 dev"),
        name=name,
        study=STUDY,
        seed=seed,
        index=index,
    )


# ----------------------------------------------------------------------------- separation, once


def separate_all(
    cfg: OverlapConfig,
    seps: dict[str, separation.Separator],
    mixes: dict[str, mixtures.MixtureSet],
) -> tuple[dict[str, StreamCache], dict[str, tuple[int, float]]]:
    """Every separator's streams of every split, cached under ``out/streams``; per separator, how many mixtures
    were separated now and in how many seconds (the rest came from the cache)."""
    caches, done = {}, {}
    for name, sep in seps.items():
        caches[name] = StreamCache(cfg.paths.out / "streams", sep)
        t0 = time.perf_counter()
        n = sum(
            ensure_streams(sep, mixes[s], caches[name], batch_size=cfg.sep_batch) for s in SPLITS
        )
        done[name] = (n, time.perf_counter() - t0)
    return caches, done


def si_snri_values(ms: mixtures.MixtureSet, cache: StreamCache, n: int) -> np.ndarray:
    """SI-SNRi (dB, at 8 kHz as WSJ0-2mix is scored) of one separator's cached streams on the first ``n`` mixtures."""
    out = []
    for i in range(min(n, len(ms))):
        mix8 = audio.resample(ms.load(i, sr=16000), 16000, 8000)
        ref8 = np.stack([audio.resample(s, 16000, 8000) for s in ms.sources(i, sr=16000)])
        est = np.stack(
            [
                audio.crop_or_pad(audio.resample(s, 16000, 8000), len(mix8))
                for s in cache.load(ms.mixtures[i])
            ]
        )
        out.append(separation.si_snr_improvement(est, ref8, mix8))
    return np.asarray(out)


def si_snri_by_separator(
    ms: mixtures.MixtureSet, caches: dict[str, StreamCache], n: int
) -> dict[str, np.ndarray]:
    """:func:`si_snri_values` of every separator."""
    return {name: si_snri_values(ms, cache, n) for name, cache in caches.items()}


def si_snr_summary(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """Mean, std and count of SI-SNRi values per separator."""
    rows = [{"separator": name, "si_snri_db": v} for name, vals in values.items() for v in vals]
    df = pd.DataFrame(rows)
    return (
        df.groupby("separator", sort=False)["si_snri_db"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )


def si_snr_table(ms: mixtures.MixtureSet, caches: dict[str, StreamCache], n: int) -> pd.DataFrame:
    """Mean, std and count of :func:`si_snri_values` per separator."""
    return si_snr_summary(si_snri_by_separator(ms, caches, n))


# ----------------------------------------------------------------------------- the pipelines


@dataclass
class Pretrained:
    """The pre-trained pipeline on eval mixtures: per separator, streams matched to sources by SI-SNR; the
    source's label matching (SepFormer) and the random-score controls under both matchings."""

    results: dict[str, PipelineResult]
    swaps: dict[str, np.ndarray]  # per separator, 1 where the streams match the sources swapped
    label_matched: PipelineResult | None
    controls: dict[str, PipelineResult]


def score_pretrained(
    cfg: OverlapConfig,
    ms: mixtures.MixtureSet,
    caches: dict[str, StreamCache],
    fe: Any,
    model: nn.Module,
) -> Pretrained:
    """Score both cached streams of every eval mixture with the detector, for every separator."""
    logits = {
        name: stream_logits(ms, cache, fe, model, cfg.det_batch, cfg.max_samples)
        for name, cache in caches.items()
    }
    swaps = {name: source_matches(ms, cache) for name, cache in caches.items()}
    return Pretrained(
        {name: assemble(ms, logits[name], "sources", swaps[name]) for name in caches},
        swaps,
        assemble(ms, logits["sepformer"], "labels") if "sepformer" in caches else None,
        {
            "sources": random_control(ms, "sources", swaps.get("sepformer", swaps["none"])),
            "labels": random_control(ms, "labels"),
        },
    )


def score_finetuned(
    cfg: OverlapConfig,
    ms: mixtures.MixtureSet,
    cache: StreamCache,
    swap: np.ndarray,
    best_dirs: dict[int, Path],
) -> dict[int, PipelineResult]:
    """The pipeline with each seed's fine-tuned detector (streams matched to sources by ``swap``)."""
    out = {}
    for seed, folder in best_dirs.items():
        fe, model = wavlm.load_detector(str(folder), device=cfg.run_device())
        logits = stream_logits(ms, cache, fe, model, cfg.det_batch, cfg.max_samples)
        out[seed] = assemble(ms, logits, "sources", swap)
    return out


def stream_eer_ci(
    results: list[PipelineResult], reps: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % bootstrap interval over mixtures of the mean (over runs) stream EER: both streams of a mixture stay
    together."""
    n = len(results[0].stream_labels)

    def stat(idx: np.ndarray) -> float:
        vals = []
        for r in results:
            y, s = r.stream_labels[idx].reshape(-1), r.scores[idx].reshape(-1)
            vals.append(
                metrics.eer(s[y == 0], s[y == 1])[0] if (y == 0).any() and (y == 1).any() else 0.5
            )
        return float(np.mean(vals))

    return bootstrap_ci(stat, n, reps, seed)
