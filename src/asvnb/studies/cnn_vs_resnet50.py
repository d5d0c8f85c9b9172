"""Study 01: a spectrogram CNN vs an ImageNet ResNet50 as countermeasures, and a CNN speaker verifier.

Countermeasure (CM) data as the source describes it: ASVspoof 2019 LA bona
fide and spoofed utterances plus Common Voice bona fide clips, labels genuine
0 / spoofed 1 (precision, recall and F1 of the spoofed class, sklearn's
default positive label). The source gives no spectrogram settings, clip length
or optimiser: ours are stated in :class:`CnnVsResnet50Config`. The ASV side is
the source's "CNN-based ASV system": a CNN trained with the LA training
speakers as targets, whose penultimate layer embeds utterances of held-out
speakers for cosine scoring; the GE2E encoder of ``resemblyzer`` stands beside
it as a reference verifier. Its LA eval scores give the t-DCF of both CMs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from asvnb import audio, config, features, metrics
from asvnb.config import Paths
from asvnb.data import balanced_subset
from asvnb.data.asvspoof import LA2019, ASVScores, attack_families
from asvnb.data.commonvoice import CommonVoice
from asvnb.models.cnn import SpectrogramCNN
from asvnb.models.image_resnet import resnet50_classifier
from asvnb.results import ResultRow, bootstrap_ci, over_seeds
from asvnb.studies.spectrogram_common import (
    Clip,
    ImageSet,
    SeedRun,
    Task,
    cached_images,
    join_sets,
    render,
    run_dir,
    run_seeds,
    seed_row,
    single_thread,
)
from asvnb.train import TrainConfig, Trainer, load_best, model_config
from asvnb.train.classify import ClassifierSetup, Predictions, binary_metrics, ce_step, predict
from asvnb.train.detector import (
    INDEX_FILE,
    crop_or_pad,
    describe_detector,
    dev_threshold,
    image_frontend,
)

STUDY = "01_cnn_vs_resnet50"
GENUINE, SPOOFED = 0, 1
TASK = Task(bonafide=GENUINE, positive=SPOOFED, names={GENUINE: "genuine", SPOOFED: "spoofed"})
LA, CV = "ASVspoof 2019 LA", "Common Voice"

# The source's figures (reproduction-targets section 1); its two CNN rows contradict each other: both are shown.
SOURCE_FIGURES: dict[str, dict[tuple[str, str], Any]] = {
    "CNN": {
        ("test", "accuracy"): "0.69, also 70% (§7); 0.69 (§6.1)",
        ("test", "precision"): "0.710 (§7); 0.54 (§6.1)",
        ("test", "recall"): "0.705 (§7); 0.69 (§6.1)",
        ("test", "f1"): "0.708 (§7); 0.57 (§6.1)",
    },
    "ResNet50": {
        ("test", "accuracy"): 0.52,
        ("test", "precision"): 0.564,
        ("test", "recall"): 0.525,
        ("test", "f1"): 0.540,
    },
}
# The same figures as numbers for the results file. The source's precision, recall and F1 are support-weighted
# averages over both classes (its recall equals its accuracy in every set), so they sit on the *_weighted rows;
# where its two CNN rows differ, the conclusions' (§7) figure is the value and the other is in the note.
SOURCE_NUMBERS: dict[str, dict[str, float]] = {
    "CNN": {
        "accuracy": 0.69,
        "precision_weighted": 0.710,
        "recall_weighted": 0.705,
        "f1_weighted": 0.707735,
    },
    "ResNet50": {
        "accuracy": 0.52,
        "precision_weighted": 0.564,
        "recall_weighted": 0.525,
        "f1_weighted": 0.540,
    },
}
SOURCE_NOTES = {
    ("CNN", "accuracy"): "source: 0.69 (§6.1), 70% (§7)",
    ("CNN", "precision_weighted"): "§6.1: 0.54",
    ("CNN", "recall_weighted"): "§6.1: 0.69",
    ("CNN", "f1_weighted"): "§6.1: 0.57",
}
# embedded-profile reductions (the source trained on one V100; the whole notebook must fit in 7 minutes on 2 CPU cores)
EMBEDDED_EPOCHS = {"CNN": 8, "ResNet50": 2, "ASV CNN": 20}
# image side per countermeasure offline: the CNN learns at 96 px; a random-init ResNet50 costs 15x the CNN per image
# at 64 px on a CPU (measured), so it runs there on a random part of the training set per epoch
EMBEDDED_SIZES = {"CNN": 96, "ResNet50": 64}
# training clips drawn afresh each epoch (of about 1,500): more, shorter epochs give more validation points to choose
# the best one from
EMBEDDED_SAMPLES_PER_EPOCH = {"CNN": 768, "ResNet50": 256}
CM_MODELS = ("CNN", "ResNet50")
# epochs of the full profile, cut to the book's budget (issue 17: all four studies in at most one GPU-hour; this
# study about 0.17 h at 30 TFLOP/s, benchmarks/gpu_check.py): ResNet50 fine-tunes from ImageNet weights for 5 epochs
# over the whole training set (each epoch validated on all of LA dev) instead of 20, which would cost 0.5 h for it
# alone; the CNN, from random weights but some 30 times cheaper per image, and the speaker CNN keep 20
FULL_EPOCHS = {"CNN": 20, "ResNet50": 5, "ASV CNN": 20}
# the source states no epochs: without the budget, 20 for every model (source_settings)
UNBUDGETED_EPOCHS = 20


@dataclass
class CnnVsResnet50Config:
    """Everything study 01 depends on, per profile (the source states none of these settings)."""

    profile: str
    paths: Paths
    sr: int = 16000
    clip_seconds: float = 4.0  # every CM utterance cropped or repeat-padded to this length
    nfft: int = 512  # spectrogram images: 32 ms Hann frames, half overlap, viridis
    sizes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(CM_MODELS, 224)
    )  # image side per CM
    weights: str | None = None  # ResNet50 backbone: "imagenet" (full) or None (random, embedded)
    cv_train_fraction: float = (
        0.5  # Common Voice speakers whose clips join CM training (the rest: test)
    )
    cv_max_clips: int | None = (
        None  # cap on Common Voice clips (the full release has many thousands)
    )
    asv_seconds: float = 2.0  # speaker-classifier training crops
    max_items: int | None = (
        None  # a quick run: at most this many utterances per LA split and CV part, both
    )
    # classes kept (data.balanced_subset); None: all
    setups: dict[str, ClassifierSetup] = field(default_factory=dict)
    device: str = "auto"

    @classmethod
    def source_settings(
        cls, data_root: str | Path | None = None, **overrides: Any
    ) -> CnnVsResnet50Config:
        """The settings without a budget, on the real data: the source states none, so ours (the full profile's)
        with :data:`UNBUDGETED_EPOCHS` for every model. Not a profile: ``benchmarks/gpu_check.py --settings
        source`` projects their cost."""
        if overrides.get("epochs") is None:
            overrides["epochs"] = UNBUDGETED_EPOCHS
        return cls.for_profile("full", data_root, **overrides)

    @classmethod
    def for_profile(
        cls,
        profile: str,
        data_root: str | Path | None = None,
        epochs: int | None = None,
        weights: str | None = "default",
        device: str = "auto",
        **overrides: Any,
    ) -> CnnVsResnet50Config:
        """Our settings for the source's unstated ones; the embedded profile trains less, at a smaller input size,
        the full profile's ResNet50 fewer epochs than the CNN (:data:`FULL_EPOCHS`, the book's GPU budget)."""
        embedded = config.check_profile(profile) == "embedded"

        def epochs_of(name: str) -> int:
            return (
                epochs
                if epochs is not None
                else (EMBEDDED_EPOCHS if embedded else FULL_EPOCHS)[name]
            )

        # the source names no selection rule: the best epoch is the one of lowest validation EER, which (unlike F1
        # of the spoofed majority class) an epoch calling everything spoofed cannot win
        def per_epoch(name: str) -> int | None:
            return EMBEDDED_SAMPLES_PER_EPOCH[name] if embedded else None

        # class-balanced loss for both CMs: 80 % of the training clips are spoofed (the source states no weighting)
        setups = {
            "CNN": ClassifierSetup(
                lr=1e-3,
                batch_size=32,
                epochs=epochs_of("CNN"),
                monitor="val_eer",
                mode="min",
                samples_per_epoch=per_epoch("CNN"),
                balanced=True,
            ),
            "ResNet50": ClassifierSetup(
                lr=1e-4,
                batch_size=32,
                epochs=epochs_of("ResNet50"),
                monitor="val_eer",
                mode="min",
                samples_per_epoch=per_epoch("ResNet50"),
                balanced=True,
            ),
            "ASV CNN": ClassifierSetup(
                lr=1e-3, batch_size=32, epochs=epochs_of("ASV CNN"), monitor="val_loss", mode="min"
            ),
        }
        if weights == "default":
            weights = None if embedded else "imagenet"
        size = overrides.pop("size", None)  # one side for both models
        overrides.setdefault(
            "sizes",
            dict.fromkeys(CM_MODELS, size)
            if size
            else dict(EMBEDDED_SIZES)
            if embedded
            else dict.fromkeys(CM_MODELS, 224),
        )
        overrides.setdefault("cv_max_clips", None if embedded else 4000)
        return cls(
            profile=profile,
            paths=Paths.for_profile(profile, STUDY, data_root),
            weights=weights,
            setups=setups,
            device=device,
            **overrides,
        )

    def model(self, name: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
        """Factory and keyword arguments of a countermeasure."""
        if name == "CNN":
            return SpectrogramCNN, {"n_classes": 2, "in_channels": 3, "batch_norm": True}
        if name == "ResNet50":
            return resnet50_classifier, {"n_classes": 2, "weights": self.weights}
        raise ValueError(f"unknown model {name!r}; valid: CNN, ResNet50")

    def settings(self, **extra: Any) -> dict[str, Any]:
        """What a run depends on besides model and optimiser (its folder hash)."""
        return {
            "profile": self.profile,
            "sr": self.sr,
            "clip_seconds": self.clip_seconds,
            "nfft": self.nfft,
            "cv": [self.cv_train_fraction, self.cv_max_clips],
            **({"max_items": self.max_items} if self.max_items is not None else {}),
            "data": config.data_fingerprint(self.paths.data),
            **extra,
        }


# ----------------------------------------------------------------------------- countermeasure data


def _fixed(path: Path, cfg: CnnVsResnet50Config, seconds: float) -> np.ndarray:
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


def cm_images(cfg: CnnVsResnet50Config, size: int) -> dict[str, ImageSet]:
    """CM sets of ``size`` x ``size`` images: train = LA train + CV (train speakers), val = LA dev, test = LA eval + CV
    (other speakers)."""

    def la(split: str):
        d = LA2019(cfg.paths.data, split)
        for t in balanced_subset(d.trials, cfg.max_items, lambda t: t.key):
            yield Clip(
                t.utt,
                GENUINE if t.is_bonafide else SPOOFED,
                LA,
                _fixed(d.audio_path(t.utt), cfg, cfg.clip_seconds),
                cfg.nfft,
            )

    def cv(part: list[tuple[str, Path]]):
        for _, p in balanced_subset(part, cfg.max_items, lambda c: c[0]):
            yield Clip(p.stem, GENUINE, CV, _fixed(p, cfg, cfg.clip_seconds), cfg.nfft)

    cvs = cv_split(cfg)

    def draw(name: str, clips: Callable[[], Any]) -> ImageSet:
        key = {
            "data": config.data_fingerprint(cfg.paths.data),
            "sr": cfg.sr,
            "seconds": cfg.clip_seconds,
            "nfft": cfg.nfft,
            "size": size,
            "cv": [cfg.cv_train_fraction, cfg.cv_max_clips],
            **({"max_items": cfg.max_items} if cfg.max_items is not None else {}),
        }
        return cached_images(
            cfg.paths.out / "images",
            f"{name}-{size}",
            key,
            lambda: render(clips(), cfg.sr, "tensor", size),
        )

    return {
        "train": ImageSet.concat(
            [draw("la-train", lambda: la("train")), draw("cv-train", lambda: cv(cvs["train"]))]
        ),
        "val": draw("la-dev", lambda: la("dev")),
        "test": ImageSet.concat(
            [draw("la-eval", lambda: la("eval")), draw("cv-test", lambda: cv(cvs["test"]))]
        ),
    }


def cm_image_sets(cfg: CnnVsResnet50Config) -> dict[str, dict[str, ImageSet]]:
    """:func:`cm_images` for each countermeasure at its image size (each size drawn once)."""
    by_size = {size: cm_images(cfg, size) for size in sorted(set(cfg.sizes.values()))}
    return {name: by_size[cfg.sizes[name]] for name in CM_MODELS}


def count_table(sets: dict[str, ImageSet]) -> pd.DataFrame:
    """Utterances per set, corpus and class."""
    return pd.DataFrame({k: s.counts(TASK.names) for k, s in sets.items()}).fillna(0).astype(int)


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
    runs = run_seeds(
        folder,
        factory,
        kwargs,
        train,
        sets["val"],
        evals,
        cfg.setups[name],
        TASK,
        cfg.paths.out,
        seeds,
        cfg.settings(size=cfg.sizes[name], with_cv=with_cv),
        cfg.device,
    )
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
            index=cfg.paths.out / INDEX_FILE if with_cv else None,
        )  # the control is no entry
    return [join_sets(r, "test", ("LA eval", "CV test"), TASK) for r in runs]


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


# ----------------------------------------------------------------------------- speaker verification


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
    x = logmel(
        torch.from_numpy(
            np.stack([_fixed(la.audio_path(t.utt), cfg, cfg.asv_seconds) for t in bona])
        )
    )
    y = torch.tensor([speakers.index(t.speaker) for t in bona])
    val = torch.arange(len(bona)) % every == every - 1
    return TensorDataset(x[~val], y[~val]), TensorDataset(x[val], y[val]), speakers


def _speaker_eval(model: nn.Module, loader: Any) -> dict[str, float]:
    # loss and accuracy of speaker identification over the whole validation set
    p = predict(model, loader)
    loss = float(F.cross_entropy(torch.as_tensor(p.logits), torch.as_tensor(p.labels).long()))
    return {"val_loss": loss, "val_acc": float((p.predicted == p.labels).mean())}


def train_speaker_cnn(
    cfg: CnnVsResnet50Config, data: tuple[TensorDataset, TensorDataset, list[str]], seed: int
) -> tuple[nn.Module, pd.DataFrame]:
    """Train SpectrogramCNN with the training speakers as targets through the shared trainer; return its best epoch."""
    train, val, speakers = data
    setup = cfg.setups["ASV CNN"]
    kwargs = {"n_classes": len(speakers), "in_channels": 1}
    out = run_dir(
        cfg.paths.out,
        "ASV_CNN",
        seed,
        model=kwargs,
        setup=vars(setup),
        **cfg.settings(speakers=speakers),
    )
    config.seed_everything(seed)
    model = SpectrogramCNN(**kwargs)
    tc = TrainConfig(
        out_dir=out, epochs=setup.epochs, seed=seed, monitor=setup.monitor, mode=setup.mode
    )
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=setup.lr),
        DataLoader(train, batch_size=setup.batch_size, shuffle=True),
        ce_step,
        tc,
        val_loader=DataLoader(val, batch_size=setup.batch_size),
        evaluate_fn=_speaker_eval,
        model_config=model_config(SpectrogramCNN, **kwargs),
    )
    res = trainer.fit()
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
    import seaborn as sns

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
    return fig


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


# ----------------------------------------------------------------------------- the MP3 shortcut


def cv_vs_la_bonafide(run: SeedRun) -> dict[str, float]:
    """How a CM treats Common Voice (MP3) bona fide against LA (FLAC) bona fide speech of held-out speakers.

    ``P(CV > LA)`` is the probability that a random CV clip scores more bona
    fide than a random LA eval bona fide one (the Mann-Whitney AUC): 0.5 when
    the CM does not tell the corpora apart, near 1 when "MP3" reads as "genuine".
    """
    from sklearn.metrics import roc_auc_score

    cv, la = run.predictions["CV test"], run.predictions["LA eval"]
    s_cv, s_la = cv.scores(TASK.bonafide), la.scores(TASK.bonafide)
    s_la = s_la[la.labels == GENUINE]
    auc = roc_auc_score(np.r_[np.ones(len(s_cv)), np.zeros(len(s_la))], np.r_[s_cv, s_la])
    return {
        "CV genuine rate": float(np.mean(cv.predicted == GENUINE)),
        "LA genuine rate": float(np.mean(la.predicted[la.labels == GENUINE] == GENUINE)),
        "P(CV > LA)": float(auc),
    }


def shortcut_table(runs: dict[str, list[SeedRun]]) -> pd.DataFrame:
    """Per training recipe and seed: :func:`cv_vs_la_bonafide` and the LA eval EER."""
    rows = [
        {
            "training": name,
            "seed": r.seed,
            **cv_vs_la_bonafide(r),
            "LA eval EER": r.metrics["LA eval"]["eer"],
        }
        for name, rs in runs.items()
        for r in rs
    ]
    return pd.DataFrame(rows)


def _genuine_rate_row(
    system: str, data: str, runs: list[SeedRun], split: str, reps: int
) -> ResultRow:
    # the share of bona fide clips the CM calls genuine, bootstrapped over clips
    bona = [
        SeedRun(
            r.seed, r.history, r.best_epoch, r.best_dir, {split: _bona_only(r.predictions[split])}
        )
        for r in runs
    ]
    return seed_row(
        "mp3",
        system,
        data,
        bona,
        split,
        "genuine_rate",
        TASK,
        reps=reps,
        fn=lambda y, yhat, s: float(np.mean(yhat == GENUINE)),
    )


def _bona_only(p: Any) -> Any:
    keep = p.labels == GENUINE
    return type(p)(
        p.logits[keep], p.labels[keep], [i for i, k in zip(p.ids, keep) if k] if p.ids else []
    )


def _auc_row(system: str, runs: list[SeedRun], reps: int) -> ResultRow:
    # P(CV > LA) bootstrapped over bona fide clips: the CV and LA bona fide scores pooled into one set
    from sklearn.metrics import roc_auc_score

    pooled = []
    for r in runs:
        cv, la = r.predictions["CV test"], _bona_only(r.predictions["LA eval"])
        is_cv = np.r_[np.ones(len(cv.labels), int), np.zeros(len(la.labels), int)]
        pooled.append(
            SeedRun(
                r.seed,
                r.history,
                r.best_epoch,
                r.best_dir,
                {"bona": type(cv)(np.r_[cv.logits, la.logits], is_cv)},
            )
        )
    return seed_row(
        "mp3",
        system,
        "CV vs LA19 eval bona fide",
        pooled,
        "bona",
        "p_cv_above_la",
        TASK,
        reps=reps,
        fn=lambda y, yhat, s: float(roc_auc_score(y, s)),
        note="labels here: 1 = Common Voice clip; 0.5 = the CM does not tell the corpora apart",
    )


# ----------------------------------------------------------------------------- key figures


def tdcf_fn(asv: ASVScores) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """min t-DCF of CM scores (labels genuine 0 / spoofed 1) with the error rates of ``asv`` (for :func:`seed_row`)."""

    def fn(y: np.ndarray, yhat: np.ndarray, s: np.ndarray) -> float:
        return metrics.min_tdcf(
            s[y == GENUINE], s[y == SPOOFED], asv.target, asv.nontarget, asv.spoof
        )

    return fn


def result_rows(
    runs: dict[str, list[SeedRun]],
    corpus_asv: ASVScores,
    own_asv: list[ASVScores],
    no_cv: list[SeedRun] | None = None,
    reps: int = 1000,
    attack_splits: list[str] | None = None,
) -> list[ResultRow]:
    """The study's results rows: mean +- std over seeds with 95 % bootstrap intervals over trials.

    ``corpus_asv``: the corpus's ASV scores (the t-DCF's ASV, as in the LA
    layout); ``own_asv``: our CNN verifier's LA eval scores, one per seed (its
    own t-DCF row); ``no_cv``: the CNN trained without Common Voice;
    ``attack_splits``: the :func:`add_attack_splits` names, one EER row each per CM.
    """
    rows = []
    for name, rs in runs.items():
        for data, split in (("LA19 eval", "LA eval"), ("LA19 eval + CV test", "test")):
            for m in (
                "eer",
                "accuracy",
                "precision",
                "recall",
                "f1",
                "precision_weighted",
                "recall_weighted",
                "f1_weighted",
            ):
                if split == "test" and m in ("precision", "recall", "accuracy"):
                    continue
                rows.append(
                    seed_row(
                        "cm",
                        name,
                        data,
                        rs,
                        split,
                        m,
                        TASK,
                        source=SOURCE_NUMBERS[name].get(m),
                        note=SOURCE_NOTES.get((name, m), ""),
                        reps=reps,
                    )
                )
        rows.append(
            seed_row(
                "cm",
                name,
                "LA19 eval",
                rs,
                "LA eval",
                "min_tdcf",
                TASK,
                reps=reps,
                fn=tdcf_fn(corpus_asv),
                note="ASV: the corpus's GE2E scores (LA19 eval ASV protocol)",
            )
        )
        for split in attack_splits or []:
            rows.append(
                seed_row(
                    "cm",
                    name,
                    split.replace("LA eval", "LA19 eval"),
                    rs,
                    split,
                    "eer",
                    TASK,
                    reps=reps,
                    note="the group's spoofs and every bona fide trial",
                )
            )
    cnn = runs["CNN"]
    # each seed's CM with the verifier trained with the same seed
    rows.append(
        seed_row(
            "cm",
            "CNN",
            "LA19 eval",
            cnn,
            "LA eval",
            "min_tdcf_own_asv",
            TASK,
            reps=reps,
            fn=[tdcf_fn(a) for a in own_asv],
            note="ASV: our CNN speaker verifier of the same seed",
        )
    )
    rows.append(_genuine_rate_row("CNN", "CV test bona fide", cnn, "CV test", reps))
    rows.append(_genuine_rate_row("CNN", "LA19 eval bona fide", cnn, "LA eval", reps))
    rows.append(_auc_row("CNN", cnn, reps))
    if no_cv:
        sys_ = "CNN, trained without Common Voice"
        rows.append(seed_row("cm", sys_, "LA19 eval", no_cv, "LA eval", "eer", TASK, reps=reps))
        rows.append(_genuine_rate_row(sys_, "CV test bona fide", no_cv, "CV test", reps))
        rows.append(_genuine_rate_row(sys_, "LA19 eval bona fide", no_cv, "LA eval", reps))
        rows.append(_auc_row(sys_, no_cv, reps))
    return rows


def asv_rows(scores: dict[str, list[ASVScores]], reps: int = 1000) -> list[ResultRow]:
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


# ----------------------------------------------------------------------------- what ResNet50 costs here


def seconds_per_image(
    cfg: CnnVsResnet50Config, name: str, images: ImageSet, steps: int = 2, batch: int | None = None
) -> float:
    """Measured wall time of one training step per image (forward, backward, Adam) of countermeasure ``name``."""
    import time

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
    """Per CM: image side, measured training seconds per image, image passes it got, and the minutes ResNet50 would
    need to get as many passes as the CNN did."""
    rows = []
    for name in CM_MODELS:
        setup = cfg.setups[name]
        per_epoch = min(
            setup.samples_per_epoch or len(sets[name]["train"]), len(sets[name]["train"])
        )
        rows.append(
            {
                "model": name,
                "side": cfg.sizes[name],
                "s per training image": seconds_per_image(cfg, name, sets[name]["train"]),
                "epochs": setup.epochs,
                "images per epoch": per_epoch,
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
                "epochs": None,
                "images per epoch": None,
                "best epoch (per seed)": None,
            }
        )
    frame = pd.DataFrame(rows).set_index("model")
    passes = frame.loc["CNN", "epochs"] * frame.loc["CNN", "images per epoch"]
    frame["minutes for the CNN's passes, 1 seed"] = frame["s per training image"] * passes / 60
    return frame
