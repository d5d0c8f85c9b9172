"""Study 04 ("ProtectYourVoice"): spectrogram images of 30 s segments, SimpleCNN vs ResNet18 transfer.

Data as the source built it (segment length ``seconds``, the source's 30 s in the
full profile, 5 s in the embedded one): DEEP-VOICE recordings cut into segments and
split 80/20 into train/test (the train part again 80/20 into train/val);
ASVspoof 2019 LA utterances concatenated per speaker and label, then cut into
segments, official train/dev/eval kept; the Imitation set (whole clips)
as the unseen test. Labels real 1 / fake 0, F1 with real as the positive class.
The source's slips are reproduced on demand (``leak=True``: the class-dependent
FFT size; :func:`batch_averaged_metrics`; :func:`source_weight_copy`) so the
notebook can show what each one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from torch import nn

from asvnb import audio, config
from asvnb.config import Paths
from asvnb.data.asvspoof import BONAFIDE, LA2019, speaker_label_groups
from asvnb.data.deepvoice import DeepVoiceSegments, list_deepvoice, parse_deepvoice_name
from asvnb.data.imitation import ImitationDataset, list_imitation
from asvnb.models.cnn import SimpleCNN
from asvnb.models.image_resnet import ResNet18Transfer
from asvnb.results import ResultRow
from asvnb.studies.spectrogram_common import (
    Clip,
    ImageSet,
    SeedRun,
    Task,
    cached_images,
    render,
    run_seeds,
    seed_row,
)
from asvnb.train.classify import ClassifierSetup, Predictions
from asvnb.train.detector import (
    INDEX_FILE,
    describe_detector,
    dev_threshold,
    image_frontend,
    segments,
)

STUDY = "04_spectrogram_resnet18"
REAL, FAKE = 1, 0
TASK = Task(bonafide=REAL, positive=REAL, names={REAL: "real", FAKE: "fake"})
DV, LA, IMITATION = "DEEP-VOICE", "ASVspoof 2019 LA", "Imitation"
MPL_DEFAULT_NFFT = (
    256  # what pyplot.specgram uses when NFFT is not given, as for the source's real clips
)

# The source's figures (reproduction-targets section 4): best validation epoch, test, unseen Imitation set.
SOURCE_FIGURES: dict[str, dict[tuple[str, str], Any]] = {
    "SimpleCNN": {
        ("val", "f1"): 0.91,
        ("val", "accuracy"): 0.98,
        ("test", "f1"): 0.785,
        ("test", "accuracy"): 0.927,
    },
    "ResNet18 transfer": {
        ("val", "f1"): 0.98,
        ("val", "accuracy"): "about 1.0",
        ("test", "f1"): 0.894,
        ("test", "accuracy"): 0.969,
        ("unseen", "f1"): 0.828,
        ("unseen", "accuracy"): 0.840,
    },
}
# epochs of the embedded profile (the source trains 30; on 2 CPU cores the whole notebook must fit in 7 minutes)
EMBEDDED_EPOCHS = {"SimpleCNN": 6, "ResNet18 transfer": 6}
# batch of the embedded profile: its few hundred training images would make one step per epoch at the source's 256
EMBEDDED_BATCH = 16
# training images drawn afresh each epoch in the embedded profile (of about 800): the budget buys more, shorter
# epochs, and so more validation points to choose the best one from
EMBEDDED_SAMPLES_PER_EPOCH = 400
# ResNet18's image side offline: at 224 one epoch costs 3.4x what it costs at 112 on a CPU (measured), and the
# model is size-agnostic; SimpleCNN's first fully connected layer is tied to 224 x 224
EMBEDDED_RESNET_SIZE = 112
# segment length of the embedded profile: its corpus holds a few minutes per class, which 30 s segments cut into
# about 60 training images (every model at chance); 5 s segments give about 300, and the leakage shows
EMBEDDED_SECONDS = 5.0
SOURCE_SECONDS = 30.0


@dataclass
class SpectrogramResNet18Config:
    """Everything study 04 depends on, per profile."""

    profile: str
    paths: Paths
    route: str = "tensor"  # "tensor" (STFT on the fly) or "source" (specgram -> JPEG -> read back)
    seconds: float = SOURCE_SECONDS  # segment length
    sr: int = 16000  # every clip is read at this rate
    size: int = 224  # image side as drawn (SimpleCNN's input)
    resnet_size: int = 224  # image side ResNet18 trains on (the drawn images scaled)
    nfft: int = 1024  # the source's NFFT (noverlap 512) for every class once the leak is fixed
    split_seed: int = 42  # the source's train_test_split(random_state=42)
    test_fraction: float = 0.2
    val_fraction: float = 0.2
    weights: str | None = None  # ResNet18 backbone: "imagenet" (full) or None (random, embedded)
    setups: dict[str, ClassifierSetup] = field(default_factory=dict)
    device: str = "auto"

    @classmethod
    def for_profile(
        cls,
        profile: str,
        data_root: str | Path | None = None,
        epochs: int | None = None,
        route: str = "tensor",
        weights: str | None = "default",
        device: str = "auto",
        seconds: float | None = None,
        **overrides: Any,
    ) -> SpectrogramResNet18Config:
        """The source's settings; the embedded profile cuts shorter segments and trains fewer epochs from random
        initialisation."""
        embedded = config.check_profile(profile) == "embedded"
        paths = Paths.for_profile(profile, STUDY, data_root)

        def epochs_of(name: str) -> int:
            return epochs if epochs is not None else (EMBEDDED_EPOCHS[name] if embedded else 30)

        def batch(source: int) -> int:
            return EMBEDDED_BATCH if embedded else source

        per_epoch = EMBEDDED_SAMPLES_PER_EPOCH if embedded else None
        # embedded: class-balanced loss (about 3 fake segments per real one; from random weights in a few epochs the
        # plain loss leaves SimpleCNN calling every segment fake, measured); full: the source's plain loss
        setups = {
            "SimpleCNN": ClassifierSetup(
                lr=1e-3,
                batch_size=batch(64),
                epochs=epochs_of("SimpleCNN"),
                samples_per_epoch=per_epoch,
                balanced=embedded,
            ),
            "ResNet18 transfer": ClassifierSetup(
                lr=1e-4,
                batch_size=batch(256),
                epochs=epochs_of("ResNet18 transfer"),
                samples_per_epoch=per_epoch,
                balanced=embedded,
            ),
        }
        overrides.setdefault("resnet_size", EMBEDDED_RESNET_SIZE if embedded else 224)
        if weights == "default":
            weights = None if embedded else "imagenet"
        if seconds is None:
            seconds = EMBEDDED_SECONDS if embedded else SOURCE_SECONDS
        if seconds <= 0:
            raise ValueError(f"segment length must be positive, got {seconds} s")
        return cls(
            profile=profile,
            paths=paths,
            route=route,
            weights=weights,
            setups=setups,
            device=device,
            seconds=seconds,
            **overrides,
        )

    def model(self, name: str) -> tuple[Any, dict[str, Any]]:
        """Factory and keyword arguments of a model (what the exported best model is rebuilt from)."""
        if name == "SimpleCNN":
            return SimpleCNN, {}
        if name == "ResNet18 transfer":
            return ResNet18Transfer, {"weights": self.weights}
        raise ValueError(f"unknown model {name!r}; valid: SimpleCNN, ResNet18 transfer")

    def drawing(self, **extra: Any) -> dict[str, Any]:
        """What a set of images depends on: data, segment length, rate, size, FFT size, route (the cache key)."""
        return {
            "data": config.data_fingerprint(self.paths.data),
            "seconds": self.seconds,
            "sr": self.sr,
            "size": self.size,
            "nfft": self.nfft,
            "route": self.route,
            **extra,
        }

    def settings(self, **extra: Any) -> dict[str, Any]:
        """What a run depends on besides the model and optimiser: its folder hash (see spectrogram_common.run_dir)."""
        return {
            "profile": self.profile,
            "route": self.route,
            "seconds": self.seconds,
            "sr": self.sr,
            "size": self.size,
            "nfft": self.nfft,
            "data": config.data_fingerprint(self.paths.data),
            **extra,
        }


# ----------------------------------------------------------------------------- data


def deepvoice_images(cfg: SpectrogramResNet18Config, nfft_real: int | None = None) -> ImageSet:
    """Every DEEP-VOICE recording cut into ``cfg.seconds`` segments and drawn; ``nfft_real`` draws the real ones
    with another FFT size (the source's leak: matplotlib's default 256 for real, 1024 for fake)."""
    ds = DeepVoiceSegments(
        list_deepvoice(cfg.paths.data), seconds=cfg.seconds, sr=cfg.sr, real_label=REAL
    )

    def clips():
        for i in range(len(ds)):
            wav, label, uid = ds[i]
            nfft = nfft_real if (nfft_real and label == REAL) else cfg.nfft
            yield Clip(uid, label, DV, wav.numpy(), nfft)

    name = f"deepvoice-{nfft_real or cfg.nfft}"
    return cached_images(
        cfg.paths.out / "images",
        name,
        cfg.drawing(nfft_real=nfft_real),
        lambda: render(clips(), cfg.sr, cfg.route, cfg.size, _jpeg_dir(cfg, name)),
    )


def la_images(cfg: SpectrogramResNet18Config, split: str) -> ImageSet:
    """ASVspoof 2019 LA ``split``: each speaker's bona fide and spoofed utterances concatenated apart, cut, drawn."""
    la = LA2019(cfg.paths.data, split)
    groups = speaker_label_groups(la.trials, la.audio_dir)

    def clips():
        for (spk, key), k, wav in audio.concat_segments(groups, seconds=cfg.seconds, sr=cfg.sr):
            label = REAL if key == BONAFIDE else FAKE
            yield Clip(
                f"{spk}_{'real' if label == REAL else 'fake'}_{k + 1}", label, LA, wav, cfg.nfft
            )

    return cached_images(
        cfg.paths.out / "images",
        f"la-{split}",
        cfg.drawing(split=split),
        lambda: render(clips(), cfg.sr, cfg.route, cfg.size, _jpeg_dir(cfg, f"la-{split}")),
    )


def imitation_images(cfg: SpectrogramResNet18Config, nfft: int | None = None) -> ImageSet:
    """The unseen Imitation clips, whole (not cut), drawn with ``nfft`` (the source left it at matplotlib's 256)."""
    ds = ImitationDataset(cfg.paths.data, sr=cfg.sr, real_label=REAL)
    clips = (
        Clip(uid, label, IMITATION, wav.numpy(), nfft or cfg.nfft)
        for wav, label, uid in (ds[i] for i in range(len(ds)))
    )
    name = f"imitation-{nfft or cfg.nfft}"
    return cached_images(
        cfg.paths.out / "images",
        name,
        cfg.drawing(nfft=nfft),
        lambda: render(clips, cfg.sr, cfg.route, cfg.size, _jpeg_dir(cfg, name)),
    )


def _jpeg_dir(cfg: SpectrogramResNet18Config, name: str) -> Path | None:
    # the source route keeps its JPEGs beside the runs, as the source kept them on its Drive
    return cfg.paths.out / "jpeg" / name if cfg.route == "source" else None


def split_deepvoice(dv: ImageSet, cfg: SpectrogramResNet18Config) -> dict[str, list[int]]:
    """Indices of the DEEP-VOICE train/val/test segments: 80/20 test split, then 80/20 validation split.

    As the source, segments of one recording can fall on both sides (its split
    is over segments, not recordings). Unlike the source, the splits are
    stratified by class: with the few segments of the embedded corpus an
    unstratified split can leave a set without real segments.
    """
    idx, y = np.arange(len(dv)), dv.labels.numpy()
    rest, test = _split(idx, y, cfg.test_fraction, cfg.split_seed)
    train, val = _split(rest, y[rest], cfg.val_fraction, cfg.split_seed)
    return {
        "train": sorted(train.tolist()),
        "val": sorted(val.tolist()),
        "test": sorted(test.tolist()),
    }


def source_recording(segment_id: str) -> str:
    """The real recording a DEEP-VOICE segment's speech comes from: ``<a>`` of ``<a>-original_3`` and ``<a>-to-<b>_3``.

    A fake file is a conversion of its source person's real recording, so it
    carries that recording's words and timing: a split that keeps recordings
    apart must keep each real file and the fakes made from it on one side.
    """
    return parse_deepvoice_name(segment_id.rsplit("_", 1)[0] + ".wav")[1]


def split_deepvoice_by_recording(
    dv: ImageSet, cfg: SpectrogramResNet18Config
) -> dict[str, list[int]]:
    """Like :func:`split_deepvoice` (about 80/20, then 80/20), but no source recording has segments on two sides.

    Folds by source recording, stratified by class (sklearn's
    StratifiedGroupKFold); the first ``split_seed`` from which every part holds
    both classes is used, so the split is fixed for a given corpus.
    """
    y = dv.labels.numpy()
    groups = np.array([source_recording(i) for i in dv.ids])

    def held_out(
        idx: np.ndarray, fraction: float, seed: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        # as many folds as 1 / fraction asks, but no more than there are recordings to spread over them
        n_splits = max(2, min(round(1 / fraction), len(set(groups[idx].tolist()))))
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        keep, out = next(folds.split(idx, y[idx], groups[idx]))
        ok = all(len(set(y[idx[part]].tolist())) == 2 for part in (keep, out))
        return (idx[keep], idx[out]) if ok else None

    for seed in range(cfg.split_seed, cfg.split_seed + 100):
        first = held_out(np.arange(len(dv)), cfg.test_fraction, seed)
        second = first and held_out(first[0], cfg.val_fraction, seed)
        if second:
            return {
                "train": sorted(second[0].tolist()),
                "val": sorted(second[1].tolist()),
                "test": sorted(first[1].tolist()),
            }
    raise ValueError(
        f"{len(set(groups))} DEEP-VOICE source recordings cannot be split so that every part has "
        "real and fake segments"
    )


def _split(
    idx: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    # stratify when every class can give the held-out part at least one segment and keep one (tiny corpora cannot)
    n_test = int(np.ceil(fraction * len(idx)))
    counts = np.bincount(y)
    counts = counts[counts > 0]
    ok = bool((counts >= 2).all()) and len(counts) <= min(n_test, len(idx) - n_test)
    return train_test_split(idx, test_size=fraction, random_state=seed, stratify=y if ok else None)


def assemble(
    dv: ImageSet, split: dict[str, list[int]], la: dict[str, ImageSet], unseen: ImageSet
) -> dict[str, ImageSet]:
    """The source's sets: train = LA train + DV train, val = LA dev + DV val, test = LA eval + DV test, unseen."""
    return {
        "train": ImageSet.concat([la["train"], dv.subset(split["train"])]),
        "val": ImageSet.concat([la["dev"], dv.subset(split["val"])]),
        "test": ImageSet.concat([la["eval"], dv.subset(split["test"])]),
        "unseen": unseen,
    }


def load_sets(cfg: SpectrogramResNet18Config) -> dict[str, ImageSet]:
    """Every set of the study with one FFT size for every class (the fixed preprocessing)."""
    dv = deepvoice_images(cfg)
    la = {s: la_images(cfg, s) for s in ("train", "dev", "eval")}
    sets = assemble(dv, split_deepvoice(dv, cfg), la, imitation_images(cfg))
    # the source drew its unseen clips with matplotlib's default NFFT (256), its training images with 1024
    return sets | {"unseen, NFFT 256": imitation_images(cfg, nfft=MPL_DEFAULT_NFFT)}


def first_la_segment(cfg: SpectrogramResNet18Config) -> Clip:
    """The first segment of the LA training set (the first speaker's bona fide speech): a sample to draw."""
    la = LA2019(cfg.paths.data, "train")
    key, paths = next(
        (k, v) for k, v in speaker_label_groups(la.trials, la.audio_dir).items() if k[1] == BONAFIDE
    )
    (spk, _), k, wav = next(audio.concat_segments({key: paths}, seconds=cfg.seconds, sr=cfg.sr))
    return Clip(f"{spk}_real_{k + 1}", REAL, LA, wav, cfg.nfft)


def new_audio_examples(cfg: SpectrogramResNet18Config) -> list[Path]:
    """Recordings none of the models trained on: the first real and the first fake clip of the Imitation set."""
    files = list_imitation(cfg.paths.data)
    return [next(p for p, lab in files if lab == want) for want in ("real", "fake")]


def count_table(sets: dict[str, ImageSet]) -> pd.DataFrame:
    """Images per set, corpus and class."""
    return pd.DataFrame({k: s.counts(TASK.names) for k, s in sets.items()}).fillna(0).astype(int)


# ----------------------------------------------------------------------------- training


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
    runs = run_seeds(
        folder,
        factory,
        kwargs,
        sets["train"],
        sets["val"],
        evals,
        cfg.setups[name],
        TASK,
        cfg.paths.out,
        seeds,
        cfg.settings(tag=tag, train=sets["train"].ids, side=int(sets["train"].images.shape[-1])),
        cfg.device,
    )
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
    images = render(
        (
            Clip(f"{Path(path).stem}_{k + 1}", FAKE, "new audio", p, cfg.nfft)
            for k, p in enumerate(pieces)
        ),
        cfg.sr,
        cfg.route,
        cfg.size,
    )
    if isinstance(model, ResNet18Transfer):  # it trained on the drawn images scaled to resnet_size
        images = images.resized(cfg.resnet_size)
    model.eval()
    with torch.no_grad():
        logits = (
            model(images.images.float().div(255).to(next(model.parameters()).device))
            .float()
            .cpu()
            .numpy()
        )
    pred = Predictions(logits, images.labels.numpy(), images.ids)
    return pd.DataFrame(
        {
            "segment": images.ids,
            "seconds": [len(p) / cfg.sr for p in pieces],
            "score (log-odds real)": pred.scores(REAL),
            "decision": [TASK.names[int(c)] for c in pred.predicted],
        }
    )


# ----------------------------------------------------------------------------- what the source got wrong


def batch_averaged_metrics(
    pred: Predictions, batch_size: int = 64, seed: int = 0, shuffle: bool = True
) -> dict[str, float]:
    """F1 and accuracy as the source computed them: per shuffled batch with sklearn, then averaged over batches.

    Biased: each batch weighs the same whatever its size and class balance,
    and a batch without real segments has F1 0 (sklearn's zero_division).
    """
    n = len(pred.labels)
    order = (
        np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    )  # the source's loader shuffled
    f1s, accs = [], []
    for start in range(0, len(order), batch_size):
        b = order[start : start + batch_size]
        f1s.append(
            f1_score(pred.labels[b], pred.predicted[b], pos_label=TASK.positive, zero_division=0)
        )
        accs.append(accuracy_score(pred.labels[b], pred.predicted[b]))
    return {"f1": float(np.mean(f1s)), "accuracy": float(np.mean(accs)), "batches": len(f1s)}


def source_weight_copy(model: ResNet18Transfer, donor: nn.Module) -> dict[str, int]:
    """Run the source's "copy the pre-trained weights except conv1" loop; count what it changed.

    ``self.state_dict()`` builds a new dictionary at every call, so assigning
    into it changes nothing; and its keys (``resnet.layer1...``) are not the
    donor's (``layer1...``) anyway.
    """
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state_dict = donor.state_dict()
    for key in list(state_dict.keys()):  # the source's loop, verbatim
        if not key.startswith("conv1"):
            model.state_dict()[key] = state_dict[key]
    after = model.state_dict()
    changed = sum(not torch.equal(before[k], after[k]) for k in before)
    written = [k for k in state_dict if not k.startswith("conv1")]
    return {
        "donor tensors": len(state_dict),
        "keys the loop writes": len(written),
        "of them keys of the model": len(set(written) & set(after)),
        "tensors changed": int(changed),
    }


# ----------------------------------------------------------------------------- the source's unseen accuracy

# the source's last cell prints the accuracy of each batch of its unseen loader (batch 64; 100 clips): 56/64, 29/36
SOURCE_UNSEEN_BATCHES = ((56, 64), (29, 36))


def batch_mean_vs_whole(
    batches: tuple[tuple[int, int], ...] = SOURCE_UNSEEN_BATCHES,
) -> dict[str, float]:
    """Mean of per-batch accuracies (what the source reports) and the accuracy over the whole set, from
    ``(correct, size)`` per batch."""
    correct, size = np.array(batches, dtype=float).T
    return {
        "mean of batches": float(np.mean(correct / size)),
        "whole set": float(correct.sum() / size.sum()),
    }


# ----------------------------------------------------------------------------- key figures

SYSTEMS = {"SimpleCNN": "SimpleCNN", "ResNet18 transfer": "ResNet18"}
DATA = {
    "LA test": "LA19 test segments",
    "test": "LA19 + DEEP-VOICE test",
    "val": "LA19 dev + DEEP-VOICE val",
    "DV test": "DEEP-VOICE test",
    "unseen": "Imitation",
}


def _source(name: str, split: str, metric: str) -> float | None:
    v = SOURCE_FIGURES.get(name, {}).get((split, metric))
    return float(v) if isinstance(v, (int, float)) else None


def result_rows(
    runs: dict[str, list[SeedRun]],
    leak_runs: dict[str, list[SeedRun]] | None = None,
    reps: int = 1000,
) -> list[ResultRow]:
    """The study's results rows (mean +- std over seeds, 95 % bootstrap interval over segments).

    ``leak_runs``: SimpleCNN trained on DEEP-VOICE alone, keyed by the split's
    name (``segment``, ``recording``), each scored on its own ``DV test``.
    """
    rows = []
    plan = {
        "LA test": ("f1", "eer", "accuracy", "precision", "recall"),
        "test": ("f1", "accuracy", "eer"),
        "DV test": ("f1", "eer"),
        "val": ("f1", "eer"),
        "unseen": ("f1", "accuracy", "eer"),
    }
    for name, rs in runs.items():
        for split, mets in plan.items():
            for m in mets:
                note = ""
                if (split, m) == ("unseen", "accuracy") and name == "ResNet18 transfer":
                    note = (
                        "source 0.8403 is the mean of two batch accuracies, 56/64 and 29/36; "
                        "over its whole set 85/100 = 0.85"
                    )
                table = {"unseen": "unseen", "val": "val"}.get(split, "test")
                rows.append(
                    seed_row(
                        table,
                        SYSTEMS[name],
                        DATA[split],
                        rs,
                        split,
                        m,
                        TASK,
                        source=_source(name, split, m),
                        note=note,
                        reps=reps,
                    )
                )
    for split_name, rs in (leak_runs or {}).items():
        for m in ("f1", "eer", "accuracy"):
            rows.append(
                seed_row(
                    "leak",
                    f"SimpleCNN, {split_name} split",
                    "DEEP-VOICE test",
                    rs,
                    "DV test",
                    m,
                    TASK,
                    note="trained on DEEP-VOICE alone",
                    reps=reps,
                )
            )
    return rows
