"""Study 04's training: both models once per seed, the DEEP-VOICE-only runs that measure the leaks, new audio.

The best epoch is the one of lowest validation EER (the source kept the best
validation F1 of the real class, which an epoch calling everything real can
win). The leak runs train SimpleCNN on DEEP-VOICE alone, three ways: the
source's segment split, the same split drawn with the source's class-dependent
FFT sizes, and a split by source recording.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from asvnb import audio
from asvnb.data.deepvoice import source_recording
from asvnb.data.images import Clip, ImageSet
from asvnb.features import render
from asvnb.models.image_resnet import ResNet18Transfer
from asvnb.studies.spectrogram_resnet18.sets import (
    deepvoice_images,
    split_deepvoice,
    split_deepvoice_by_recording,
)
from asvnb.studies.spectrogram_resnet18.settings import (
    DV,
    FAKE,
    LA,
    MPL_DEFAULT_NFFT,
    REAL,
    STUDY,
    TASK,
    SpectrogramResNet18Config,
)
from asvnb.train.classify import ClassifierJob, Predictions, SeedRun, run_seeds
from asvnb.train.detector import (
    INDEX_FILE,
    describe_detector,
    dev_threshold,
    image_frontend,
    segments,
)


def evaluation_sets(sets: dict[str, ImageSet]) -> dict[str, ImageSet]:
    """Every set scored after training: val, test, its LA and DEEP-VOICE parts apart, and the unseen set."""
    out = {k: v for k, v in sets.items() if k != "train"}
    return out | {"LA test": sets["test"].where(LA), "DV test": sets["test"].where(DV)}


def train_models(
    cfg: SpectrogramResNet18Config,
    name: str,
    sets: dict[str, ImageSet],
    seeds: list[int],
    evals: dict[str, ImageSet] | None = None,
    tag: str = "",
) -> list[SeedRun]:
    """Train model ``name`` once per seed on ``sets['train']`` (best epoch by validation EER) and score every set."""
    factory, kwargs = cfg.model(name)
    evals = evals if evals is not None else evaluation_sets(sets)
    if name == "ResNet18 transfer" and cfg.resnet_size != cfg.size:
        sets = {k: v.resized(cfg.resnet_size) for k, v in sets.items()}
        evals = {k: v.resized(cfg.resnet_size) for k, v in evals.items()}
    folder = name.replace(" ", "_") + (f"-{tag}" if tag else "")
    train = sets["train"]
    settings = cfg.settings(tag=tag, train=train.ids, side=int(train.images.shape[-1]))
    job = ClassifierJob(
        factory, kwargs, train, sets["val"], evals, cfg.setups[name], TASK, cfg.device, (__name__,)
    )
    runs = run_seeds(folder, job, cfg.paths.out, seeds, settings)
    # a card beside the weights of the main runs (the leak runs are measurements, not detectors; the JPEG route has
    # no on-the-fly counterpart to store)
    if cfg.route == "tensor" and not tag:
        resized = cfg.resnet_size if name == "ResNet18 transfer" else None
        for r in runs:
            val = r.metrics.get(
                "val"
            )  # scored when the evaluation sets include it (evaluation_sets does)
            describe_detector(
                r.best_dir,
                sample_rate=cfg.sr,
                frontend=image_frontend(cfg.nfft, size=cfg.size, model_size=resized),
                clip=segments(cfg.seconds, pad_last=True),
                bonafide_class=REAL,
                threshold=val
                and dev_threshold(val["eer_threshold"], val["eer"], "validation segments"),
                name=name,
                study=STUDY,
                seed=r.seed,
                index=cfg.paths.out / INDEX_FILE,
            )
    return runs


def score_audio(model: nn.Module, path: str | Path, cfg: SpectrogramResNet18Config) -> pd.DataFrame:
    """Score a new recording as the study does: cut into segments, drawn, classified; one row per segment."""
    wav = audio.load_audio(path, sr=cfg.sr)
    pieces = audio.segment(wav, int(round(cfg.seconds * cfg.sr)), drop_last=False)
    clips = (
        Clip(f"{Path(path).stem}_{k + 1}", FAKE, "new audio", p, cfg.nfft)
        for k, p in enumerate(pieces)
    )
    images = render(clips, cfg.sr, cfg.route, cfg.size)
    if isinstance(model, ResNet18Transfer):  # it trained on the drawn images scaled to resnet_size
        images = images.resized(cfg.resnet_size)
    model.eval()
    with torch.no_grad():
        x = images.images.float().div(255).to(next(model.parameters()).device)
        logits = model(x).float().cpu().numpy()
    pred = Predictions(logits, images.labels.numpy(), images.ids)
    return pd.DataFrame(
        {
            "segment": images.ids,
            "seconds": [len(p) / cfg.sr for p in pieces],
            "score (log-odds real)": pred.scores(REAL),
            "decision": [TASK.names[int(c)] for c in pred.predicted],
        }
    )


# ----------------------------------------------------------------------------- the leaks in DEEP-VOICE


@dataclass
class LeakRuns:
    """DEEP-VOICE drawn with one FFT size, its two splits (``segment``, ``recording``), SimpleCNN's runs on each,
    and (``fft``) its runs on the segment split drawn with the source's class-dependent FFT sizes."""

    dv: ImageSet
    splits: dict[str, dict[str, list[int]]]
    runs: dict[str, list[SeedRun]]
    fft: list[SeedRun] | None = None

    def share_real(self, split: str) -> float:
        """The share of real segments in a split's test part (what an all-real model's F1 depends on)."""
        return float(self.dv.labels[self.splits[split]["test"]].float().mean())


def deepvoice_splits(
    cfg: SpectrogramResNet18Config,
) -> tuple[ImageSet, dict[str, dict[str, list[int]]]]:
    """DEEP-VOICE drawn with one FFT size, and its source's segment split and our split by source recording."""
    dv = deepvoice_images(cfg)
    return dv, {
        "segment": split_deepvoice(dv, cfg),
        "recording": split_deepvoice_by_recording(dv, cfg),
    }


def split_overlap_text(dv: ImageSet, splits: dict[str, dict[str, list[int]]]) -> str:
    """How many source recordings have segments on both the training and the test side of each split."""

    def sources(index: list[int]) -> set[str]:
        return {source_recording(dv.ids[i]) for i in index}

    seg, rec = splits["segment"], splits["recording"]
    shared = sources(seg["test"]) & sources(seg["train"])
    apart = sources(rec["test"]) & sources(rec["train"] + rec["val"])
    return (
        f"segment split: {len(shared)} source recordings on both the train and the test side; "
        f"recording split: {len(apart)} (test recordings: {sorted(sources(rec['test']))})"
    )


def leak_runs(
    cfg: SpectrogramResNet18Config,
    dv: ImageSet,
    splits: dict[str, dict[str, list[int]]],
    seeds: list[int],
    epochs: int,
    fft_demo: bool = True,
) -> LeakRuns:
    """SimpleCNN trained on DEEP-VOICE alone (``epochs``, every training image each epoch) on each split, each
    tested on its own test segments; ``fft_demo`` adds the segment split drawn with the source's FFT sizes,
    tested on its test segments drawn both ways."""
    simple = replace(cfg.setups["SimpleCNN"], epochs=epochs, samples_per_epoch=None)
    leak_cfg = replace(cfg, setups={"SimpleCNN": simple})
    versions = {"segment": (dv, splits["segment"], "dv-fixed")}
    if fft_demo:
        leaky = deepvoice_images(cfg, nfft_real=MPL_DEFAULT_NFFT)
        versions["fft"] = (leaky, splits["segment"], "dv-leaky")
    versions["recording"] = (dv, splits["recording"], "dv-recording")
    runs = {}
    for label, (images, part, tag) in versions.items():
        train_val = {k: images.subset(part[k]) for k in ("train", "val")}
        evals = {"DV test": images.subset(part["test"])}
        if (
            tag == "dv-leaky"
        ):  # the same test segments drawn with one FFT size: does the cue carry the score?
            evals["DV test, one FFT size"] = dv.subset(part["test"])
        runs[label] = train_models(leak_cfg, "SimpleCNN", train_val, seeds, evals=evals, tag=tag)
    fft = runs.pop("fft", None)
    return LeakRuns(dv, splits, runs, fft)
