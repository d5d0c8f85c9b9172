"""Study 01's countermeasures: their image sets, one training run per seed, the attacks they miss, their cost.

Data as the source describes it: ASVspoof 2019 LA bona fide and spoofed
utterances plus Common Voice bona fide clips, labels genuine 0 / spoofed 1.
Training: LA train plus the Common Voice clips of half of its speakers;
validation: LA dev; test: LA eval plus the other Common Voice speakers' clips.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from asvnb import audio, config
from asvnb.data import balanced_subset
from asvnb.data.asvspoof import LA2019, attack_families
from asvnb.data.commonvoice import CommonVoice
from asvnb.data.images import Clip, ImageSet, cached_images
from asvnb.data.images import count_table as image_counts
from asvnb.features import render_rows
from asvnb.studies import corpus_audit
from asvnb.studies.cnn_vs_resnet50.settings import (
    CM_MODELS,
    CV,
    GENUINE,
    LA,
    SPOOFED,
    STUDY,
    TASK,
    CnnVsResnet50Config,
)
from asvnb.train.classify import (
    ClassifierJob,
    Predictions,
    SeedRun,
    binary_metrics,
    join_sets,
    run_seeds,
    values,
)
from asvnb.train.detector import (
    INDEX_FILE,
    crop_or_pad,
    describe_detector,
    dev_threshold,
    image_frontend,
)

# ----------------------------------------------------------------------------- countermeasure data


def fixed_clip(path: Path, cfg: CnnVsResnet50Config, seconds: float) -> np.ndarray:
    """A file read at the study's rate, cropped or repeat-padded to ``seconds``."""
    return audio.crop_or_pad(audio.load_audio(path, sr=cfg.sr), int(round(seconds * cfg.sr)))


def cv_split(cfg: CnnVsResnet50Config) -> dict[str, list[tuple[str, Path]]]:
    """Common Voice ``(speaker, clip)`` pairs, split by speaker into CM train and test (no speaker in both)."""
    cv = CommonVoice(cfg.paths.data)
    clips = sorted(cv.table("validated"), key=lambda c: (c.client_id, c.path))[: cfg.cv_max_clips]
    speakers = sorted({c.client_id for c in clips})
    n_train = int(round(cfg.cv_train_fraction * len(speakers)))
    train = set(speakers[:n_train])
    out: dict[str, list[tuple[str, Path]]] = {"train": [], "test": []}
    for c in clips:
        out["train" if c.client_id in train else "test"].append((c.client_id, cv.audio_path(c)))
    return out


def image_key(cfg: CnnVsResnet50Config, size: int) -> dict[str, Any]:
    """Everything a CM image set depends on: its cache key."""
    return {
        "data": config.data_fingerprint(cfg.paths.data),
        "sr": cfg.sr,
        "seconds": cfg.clip_seconds,
        "nfft": cfg.nfft,
        "size": size,
        "cv": [cfg.cv_train_fraction, cfg.cv_max_clips],
        **({"max_items": cfg.max_items} if cfg.max_items is not None else {}),
    }


def cm_images(cfg: CnnVsResnet50Config, size: int) -> dict[str, ImageSet]:
    """CM sets of ``size`` x ``size`` images: train = LA train + CV (train speakers), val = LA dev, test = LA eval + CV
    (other speakers)."""

    def la(split: str) -> Iterator[Clip]:
        d = LA2019(cfg.paths.data, split)
        for t in balanced_subset(d.trials, cfg.max_items, lambda t: t.key):
            label = GENUINE if t.is_bonafide else SPOOFED
            yield Clip(
                t.utt, label, LA, fixed_clip(d.audio_path(t.utt), cfg, cfg.clip_seconds), cfg.nfft
            )

    def cv(part: list[tuple[str, Path]]) -> Iterator[Clip]:
        for _, p in balanced_subset(part, cfg.max_items, lambda c: c[0]):
            yield Clip(p.stem, GENUINE, CV, fixed_clip(p, cfg, cfg.clip_seconds), cfg.nfft)

    cvs = cv_split(cfg)
    key = image_key(cfg, size)

    def draw(name: str, *parts: Callable[[], Iterator[Clip]]) -> ImageSet:
        # the parts drawn one after the other into one memory-mapped file: each is a block of it, so a set's
        # corpora (where) are views of the file, and no set is ever whole in memory, drawn or read
        return cached_images(
            cfg.paths.out / "images",
            f"{name}-{size}",
            key,
            lambda: render_rows(
                itertools.chain.from_iterable(p() for p in parts), cfg.sr, "tensor", size
            ),
        )

    return {
        "train": draw("train", lambda: la("train"), lambda: cv(cvs["train"])),
        "val": draw("la-dev", lambda: la("dev")),
        "test": draw("test", lambda: la("eval"), lambda: cv(cvs["test"])),
    }


def cm_image_sets(cfg: CnnVsResnet50Config) -> dict[str, dict[str, ImageSet]]:
    """:func:`cm_images` for each countermeasure at its image size (each size drawn once)."""
    by_size = {size: cm_images(cfg, size) for size in sorted(set(cfg.sizes.values()))}
    return {name: by_size[cfg.sizes[name]] for name in CM_MODELS}


def count_table(sets: dict[str, ImageSet]) -> pd.DataFrame:
    """Utterances per set, corpus and class."""
    return image_counts(sets, TASK.names)


def sample_panels(train: ImageSet) -> list[tuple[str, torch.Tensor]]:
    """Three training images to show: the first genuine, the first spoofed, the first Common Voice one."""
    shown = [int(train.labels.argmin()), int(train.labels.argmax()), train.groups.index(CV)]
    return [
        (f"{train.groups[i].split()[0]} {TASK.names[int(train.labels[i])]}", train.images[i])
        for i in shown
    ]


# ----------------------------------------------------------------------------- training


def train_cms(
    cfg: CnnVsResnet50Config,
    name: str,
    sets: dict[str, ImageSet],
    seeds: list[int],
    with_cv: bool = True,
) -> list[SeedRun]:
    """Train countermeasure ``name`` once per seed (best epoch by validation EER) on ``sets`` and score every set.

    ``with_cv=False`` leaves the Common Voice clips out of training (the MP3
    shortcut's control): the model then never sees an MP3.
    """
    factory, kwargs = cfg.model(name)
    # the test set is LA eval followed by CV test: each part is scored once, the whole set joined from them; LA
    # dev gives the decision threshold stored with the model
    evals = {
        "LA eval": sets["test"].where(LA),
        "CV test": sets["test"].where(CV),
        "LA dev": sets["val"].where(LA),
    }
    train = sets["train"] if with_cv else sets["train"].where(LA)
    folder = name if with_cv else f"{name}-noCV"
    settings = cfg.settings(size=cfg.sizes[name], with_cv=with_cv)
    job = ClassifierJob(
        factory, kwargs, train, sets["val"], evals, cfg.setups[name], TASK, cfg.device, (__name__,)
    )
    runs = run_seeds(folder, job, cfg.paths.out, seeds, settings)
    for r in (
        runs
    ):  # a card beside the weights: `asvnb score` runs this countermeasure on anyone's audio
        dev = r.metrics["LA dev"]
        describe_detector(
            r.best_dir,
            sample_rate=cfg.sr,
            frontend=image_frontend(cfg.nfft, size=cfg.sizes[name]),
            clip=crop_or_pad(cfg.clip_seconds),
            bonafide_class=GENUINE,
            threshold=dev_threshold(dev["eer_threshold"], dev["eer"], "LA19 dev"),
            name=folder,
            study=STUDY,
            seed=r.seed,
            index=cfg.paths.out / INDEX_FILE if with_cv else None,  # the control is no entry
        )
    return [join_sets(r, "test", ("LA eval", "CV test"), TASK) for r in runs]


# ----------------------------------------------------------------------------- which attacks they miss


def attack_groups(data_root: str | Path) -> dict[str, set[str]]:
    """LA19 eval spoof utterances per attack family (``"family VC"``) and per attack (``"A17"``), from the protocol."""
    families = attack_families(data_root)
    groups: dict[str, set[str]] = {}
    for t in LA2019(data_root, "eval").trials:
        if not t.is_bonafide:
            for g in (f"family {families.get(t.system, '?')}", t.system):
                groups.setdefault(g, set()).add(t.utt)
    return dict(sorted(groups.items(), key=lambda kv: (not kv[0].startswith("family"), kv[0])))


def add_attack_splits(runs: dict[str, list[SeedRun]], groups: dict[str, set[str]]) -> list[str]:
    """Score every run on each group of LA eval (its spoofs and every bona fide trial) from the predictions it has.

    No model runs again: the subsets are cut from the ``"LA eval"`` predictions.
    Returns the new split names, ``"LA eval, <group>"``; a group with no scored spoof gets none.
    """
    names = []
    scored = {i for rs in runs.values() for r in rs for i in r.predictions["LA eval"].ids}
    for group, utts in groups.items():
        if not utts & scored:  # a quick run (max_items) may have drawn no spoof of this group
            continue
        name = f"LA eval, {group}"
        for rs in runs.values():
            for r in rs:
                p = r.predictions["LA eval"]
                keep = np.array([y == GENUINE or i in utts for i, y in zip(p.ids, p.labels)])
                sub = Predictions(
                    p.logits[keep], p.labels[keep], [i for i, k in zip(p.ids, keep) if k]
                )
                r.predictions[name] = sub
                r.metrics[name] = binary_metrics(
                    sub, positive=TASK.positive, bonafide=TASK.bonafide
                )
        names.append(name)
    return names


BASELINE = "LFCC-GMM (data chapter)"


def baseline_scores(cfg: CnnVsResnet50Config, runs: list[SeedRun]) -> np.ndarray | None:
    """The data chapter's LFCC-GMM scores of the LA eval trials ``runs`` were scored on, in their order (the
    paired comparison's other side); None off the generated corpora, where no per-trial baseline exists."""
    if not config.generated(cfg.profile):
        return None
    audit = corpus_audit.run_audit(cfg.paths.data, progress=False)
    ids = runs[0].predictions["LA eval"].ids
    return corpus_audit.lfcc_gmm_scores(audit, "LA19 eval", ids, cfg.paths.data)


def attack_table(
    cfg: CnnVsResnet50Config, runs: dict[str, list[SeedRun]], splits: list[str]
) -> pd.DataFrame:
    """EER (%) per attack family and attack, mean over seeds, per CM; in the embedded profile beside the data
    chapter's LFCC-GMM baseline (its audit, cached beside the corpus)."""
    table = pd.DataFrame(
        {
            name: {
                s.removeprefix("LA eval, "): 100 * float(np.mean(values(rs, s, "eer")))
                for s in splits
            }
            for name, rs in runs.items()
        }
    )
    if config.generated(cfg.profile):
        audit = corpus_audit.run_audit(cfg.paths.data, progress=False)
        table[BASELINE] = pd.Series(
            {
                r["data"].removeprefix("LA19 eval").strip(): 100 * r["eer"]
                for r in audit["baseline"]
                if r["data"].startswith("LA19 eval A")
            }
        )
    n_seeds = len(next(iter(runs.values())))
    return table.rename_axis(f"EER (%), mean over {n_seeds} seed(s)")


def attack_text(cfg: CnnVsResnet50Config, table: pd.DataFrame) -> str:
    """What the per-attack EERs say: the CNN's range, and where it loses what the baseline finds ("": no attack)."""
    attacks = table.loc[[i for i in table.index if not i.startswith("family")]].sort_values("CNN")
    if not len(attacks):
        return ""
    cnn = attacks["CNN"]
    text = (
        f"The CNN's EER ranges from {cnn.iloc[0]:.0f} % ({cnn.index[0]}) to {cnn.iloc[-1]:.0f} % "
        f"({cnn.index[-1]}); {int((cnn >= 35).sum())} of {len(cnn)} attacks stay at 35 % or more, "
        f"{int((cnn <= 15).sum())} are at 15 % or less. The pooled figure averages the two kinds."
    )
    if BASELINE not in attacks:
        return text
    gmm = attacks[BASELINE]
    found, missed = cnn[gmm <= 15], cnn[gmm >= 35]
    # 10 points: beyond both 95 % intervals (about +-4 points per attack for the CNN and for the baseline)
    lost = found[found - gmm[found.index] >= 10]
    text += f" The baseline finds {len(found)} of them at 15 % or less"
    if len(lost):
        text += (
            f"; the CNN is 10 points or more above it on {', '.join(lost.index)} ("
            + ", ".join(f"{v:.0f} % against {gmm[a]:.0f} %" for a, v in lost.items())
            + f"): there the artefact is in the audio and lost in the CNN's own front end ({cfg.sizes['CNN']}"
            f" px images of a {cfg.clip_seconds:g} s spectrogram)"
        )
    if len(missed):
        text += (
            f". Both miss {', '.join(missed.index)} (baseline at 35 % or more): attacks that leave little a "
            "short-term magnitude spectrum shows (`benchmarks/attack_generalisation.py` measures that they "
            "stay near chance even when seen in training)"
        )
    return text + "."


# ----------------------------------------------------------------------------- what ResNet50 costs here


def seconds_per_image(
    cfg: CnnVsResnet50Config, name: str, images: ImageSet, steps: int = 2, batch: int | None = None
) -> float:
    """Measured wall time of one training step per image (forward, backward, Adam) of countermeasure ``name``."""
    factory, kwargs = cfg.model(name)
    model = factory(**kwargs).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    bs = batch or cfg.setups[name].batch_size
    x, y = images.images[:bs].float() / 255.0, images.labels[:bs]
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()  # the first step allocates: not timed
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - t0) / (steps * len(y))


def cost_table(
    cfg: CnnVsResnet50Config, sets: dict[str, dict[str, ImageSet]], runs: dict[str, list[SeedRun]]
) -> pd.DataFrame:
    """Per CM, side by side: image side, batch, epochs, images per epoch, optimiser steps and image passes per
    seed, the measured training seconds per image, and the best epoch of each seed."""
    rows: list[dict[str, Any]] = []
    for name in CM_MODELS:
        setup = cfg.setups[name]
        n_train = len(sets[name]["train"])
        per_epoch = min(setup.samples_per_epoch or n_train, n_train)
        rows.append(
            {
                "model": name,
                "side": cfg.sizes[name],
                "batch": setup.batch_size,
                "epochs": setup.epochs,
                "images per epoch": per_epoch,
                "optimiser steps": setup.epochs * -(-per_epoch // setup.batch_size),
                "image passes": setup.epochs * per_epoch,
                "learning rate": f"{setup.lr:g}, {setup.schedule.replace('_', '-')}",
                "s per training image": seconds_per_image(cfg, name, sets[name]["train"]),
                "best epoch (per seed)": [r.best_epoch for r in runs[name]],
            }
        )
    if (
        cfg.sizes["ResNet50"] != 224
    ):  # what the source's resolution would cost here (a few images suffice to time it)
        few = sets["ResNet50"]["train"].subset(range(8)).resized(224)
        rows.append(
            {
                "model": "ResNet50 at 224 px",
                "side": 224,
                "s per training image": seconds_per_image(cfg, "ResNet50", few, batch=8),
            }
        )
    frame = pd.DataFrame(rows).set_index("model")
    frame["training minutes per seed (estimate)"] = (
        frame["s per training image"] * frame.loc["ResNet50", "image passes"] / 60
    ).where(frame.index != "CNN", frame["s per training image"] * frame["image passes"] / 60)
    return frame


def cost_text(cfg: CnnVsResnet50Config, costs: pd.DataFrame, runs: dict[str, list[SeedRun]]) -> str:
    """Both models' budgets side by side, what the source's resolution would cost, and what the full profile gives."""
    cnn, r50 = costs.loc["CNN"], costs.loc["ResNet50"]
    best_val = min(float(r.history["val_eer"].min()) for r in runs["ResNet50"])
    full = config.load_settings(STUDY, "full")["setups"]
    p = float(np.mean(runs["CNN"][0].predictions["LA eval"].labels == SPOOFED))
    weighted = (
        p * 2 * p / (1 + p)
    )  # an all-spoofed model: spoofed F1 2p/(1+p) at weight p, bona fide F1 0
    text = (
        f"Per seed, the CNN had {int(cnn['optimiser steps']):,} optimiser steps ({int(cnn['epochs'])} epochs of "
        f"{int(cnn['images per epoch']):,} images in batches of {int(cnn['batch'])}, at {int(cnn['side'])} px); "
        f"ResNet50 had {int(r50['optimiser steps']):,}"
        + (
            f", {int(cnn['optimiser steps'] - r50['optimiser steps']):,} fewer than the CNN"
            if r50["optimiser steps"] < cnn["optimiser steps"]
            else ""
        )
        + f" ({int(r50['epochs'])} epochs of "
        f"{int(r50['images per epoch']):,} images in batches of {int(r50['batch'])}, at {int(r50['side'])} px"
        + (
            ", the side at which that many steps fit this notebook's budget on 2 CPU cores"
            if config.generated(cfg.profile)
            else ""
        )
        + f"). Its best validation EER "
        f"over every epoch and seed was {100 * best_val:.0f} %."
    )
    if "ResNet50 at 224 px" in costs.index:
        minutes = costs.loc["ResNet50 at 224 px", "training minutes per seed (estimate)"]
        text += (
            f" The same image passes at the source's 224 px would take about **{minutes:.1f} minutes per "
            "seed** on this machine."
        )
    return text + (
        " So the embedded row measures a randomly initialised ResNet50 on small images, not the architecture "
        "the source fine-tuned. The full profile is the fair comparison: ImageNet weights, 224 px, and "
        f"{full['ResNet50']['epochs']} epochs over the whole training set on a GPU, each validated on all of LA "
        "dev.\n\n"
        f"A model that calls every clip spoofed scores a weighted F1 of {weighted:.3f} on LA eval, where "
        f"{100 * p:.0f} % of the trials are spoofed: the spoofed class's F1, 2p / (1 + p) = {2 * p / (1 + p):.3f}, "
        "weighted by its share, and the bona fide class's 0. The source's kind of figure rewards the "
        "majority-class prediction, so the EER and the paired difference above are the comparison to read."
    )
