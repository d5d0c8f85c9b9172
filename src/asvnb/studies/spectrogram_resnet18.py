"""Study 04 (source 003, "ProtectYourVoice"): spectrogram images of 30 s segments, SimpleCNN vs ResNet18 transfer.

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
from sklearn.model_selection import train_test_split
from torch import nn

from asvnb import audio, config
from asvnb.config import Paths
from asvnb.data.asvspoof import BONAFIDE, LA2019, speaker_label_groups
from asvnb.data.deepvoice import DeepVoiceSegments, list_deepvoice
from asvnb.data.imitation import ImitationDataset, list_imitation
from asvnb.models.cnn import SimpleCNN
from asvnb.models.image_resnet import ResNet18Transfer
from asvnb.studies.spectrogram_common import Clip, ImageSet, SeedRun, Task, render, run_seeds
from asvnb.train.classify import ClassifierSetup, Predictions

STUDY = "04_spectrogram_resnet18"
REAL, FAKE = 1, 0
TASK = Task(bonafide=REAL, positive=REAL, names={REAL: "real", FAKE: "fake"})
DV, LA, IMITATION = "DEEP-VOICE", "ASVspoof 2019 LA", "Imitation"
MPL_DEFAULT_NFFT = 256  # what pyplot.specgram uses when NFFT is not given, as for the source's real clips

# The source's figures (reproduction-targets section 4): best validation epoch, test, unseen Imitation set.
SOURCE_FIGURES: dict[str, dict[tuple[str, str], Any]] = {
    "SimpleCNN": {("val", "f1"): 0.91, ("val", "accuracy"): 0.98, ("test", "f1"): 0.785,
                  ("test", "accuracy"): 0.927},
    "ResNet18 transfer": {("val", "f1"): 0.98, ("val", "accuracy"): "about 1.0", ("test", "f1"): 0.894,
                          ("test", "accuracy"): 0.969, ("unseen", "f1"): 0.828, ("unseen", "accuracy"): 0.840},
}
# epochs of the embedded profile (the source trains 30; on 2 CPU cores the whole notebook must fit in 5 minutes)
EMBEDDED_EPOCHS = {"SimpleCNN": 8, "ResNet18 transfer": 5}
# batch of the embedded profile: its few hundred training images would make one step per epoch at the source's 256
EMBEDDED_BATCH = 16
# segment length of the embedded profile: its corpus holds a few minutes per class, which 30 s segments cut into
# about 60 training images (every model at chance); 5 s segments give about 300, and the leakage shows
EMBEDDED_SECONDS = 5.0
SOURCE_SECONDS = 30.0


@dataclass
class SpectrogramResNet18Config:
    """Everything study 04 depends on, per profile."""

    profile: str
    paths: Paths
    route: str = "tensor"            # "tensor" (STFT on the fly) or "source" (specgram -> JPEG -> read back)
    seconds: float = SOURCE_SECONDS  # segment length
    sr: int = 16000                  # every clip is read at this rate
    size: int = 224                  # image side
    nfft: int = 1024                 # the source's NFFT (noverlap 512) for every class once the leak is fixed
    split_seed: int = 42             # the source's train_test_split(random_state=42)
    test_fraction: float = 0.2
    val_fraction: float = 0.2
    weights: str | None = None       # ResNet18 backbone: "imagenet" (full) or None (random, embedded)
    setups: dict[str, ClassifierSetup] = field(default_factory=dict)
    device: str = "auto"

    @classmethod
    def for_profile(cls, profile: str, data_root: str | Path | None = None, epochs: int | None = None,
                    route: str = "tensor", weights: str | None = "default", device: str = "auto",
                    seconds: float | None = None, **overrides: Any) -> "SpectrogramResNet18Config":
        """The source's settings; the embedded profile cuts shorter segments and trains fewer epochs from random
        initialisation."""
        embedded = config.check_profile(profile) == "embedded"
        paths = Paths.for_profile(profile, STUDY, data_root)

        def epochs_of(name: str) -> int:
            return epochs if epochs is not None else (EMBEDDED_EPOCHS[name] if embedded else 30)

        def batch(source: int) -> int:
            return EMBEDDED_BATCH if embedded else source

        setups = {"SimpleCNN": ClassifierSetup(lr=1e-3, batch_size=batch(64), epochs=epochs_of("SimpleCNN")),
                  "ResNet18 transfer": ClassifierSetup(lr=1e-4, batch_size=batch(256),
                                                       epochs=epochs_of("ResNet18 transfer"))}
        if weights == "default":
            weights = None if embedded else "imagenet"
        if seconds is None:
            seconds = EMBEDDED_SECONDS if embedded else SOURCE_SECONDS
        if seconds <= 0:
            raise ValueError(f"segment length must be positive, got {seconds} s")
        return cls(profile=profile, paths=paths, route=route, weights=weights, setups=setups, device=device,
                   seconds=seconds, **overrides)

    def model(self, name: str) -> tuple[Any, dict[str, Any]]:
        """Factory and keyword arguments of a model (what the exported best model is rebuilt from)."""
        if name == "SimpleCNN":
            return SimpleCNN, {}
        if name == "ResNet18 transfer":
            return ResNet18Transfer, {"weights": self.weights}
        raise ValueError(f"unknown model {name!r}; valid: SimpleCNN, ResNet18 transfer")

    def settings(self, **extra: Any) -> dict[str, Any]:
        """What a run depends on besides the model and optimiser: its folder hash (see spectrogram_common.run_dir)."""
        return {"profile": self.profile, "route": self.route, "seconds": self.seconds, "sr": self.sr,
                "size": self.size, "nfft": self.nfft, "data": config.data_fingerprint(self.paths.data), **extra}


# ----------------------------------------------------------------------------- data


def deepvoice_images(cfg: SpectrogramResNet18Config, nfft_real: int | None = None) -> ImageSet:
    """Every DEEP-VOICE recording cut into ``cfg.seconds`` segments and drawn; ``nfft_real`` draws the real ones
    with another FFT size (the source's leak: matplotlib's default 256 for real, 1024 for fake)."""
    ds = DeepVoiceSegments(list_deepvoice(cfg.paths.data), seconds=cfg.seconds, sr=cfg.sr, real_label=REAL)

    def clips():
        for i in range(len(ds)):
            wav, label, uid = ds[i]
            nfft = nfft_real if (nfft_real and label == REAL) else cfg.nfft
            yield Clip(uid, label, DV, wav.numpy(), nfft)

    return render(clips(), cfg.sr, cfg.route, cfg.size, _jpeg_dir(cfg, f"deepvoice-{nfft_real or cfg.nfft}"))


def la_images(cfg: SpectrogramResNet18Config, split: str) -> ImageSet:
    """ASVspoof 2019 LA ``split``: each speaker's bona fide and spoofed utterances concatenated apart, cut, drawn."""
    la = LA2019(cfg.paths.data, split)
    groups = speaker_label_groups(la.trials, la.audio_dir)

    def clips():
        for (spk, key), k, wav in audio.concat_segments(groups, seconds=cfg.seconds, sr=cfg.sr):
            label = REAL if key == BONAFIDE else FAKE
            yield Clip(f"{spk}_{'real' if label == REAL else 'fake'}_{k + 1}", label, LA, wav, cfg.nfft)

    return render(clips(), cfg.sr, cfg.route, cfg.size, _jpeg_dir(cfg, f"la-{split}"))


def imitation_images(cfg: SpectrogramResNet18Config, nfft: int | None = None) -> ImageSet:
    """The unseen Imitation clips, whole (not cut), drawn with ``nfft`` (the source left it at matplotlib's 256)."""
    ds = ImitationDataset(cfg.paths.data, sr=cfg.sr, real_label=REAL)
    clips = (Clip(uid, label, IMITATION, wav.numpy(), nfft or cfg.nfft) for wav, label, uid in
             (ds[i] for i in range(len(ds))))
    return render(clips, cfg.sr, cfg.route, cfg.size, _jpeg_dir(cfg, f"imitation-{nfft or cfg.nfft}"))


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
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(test.tolist())}


def _split(idx: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # stratify when every class can give the held-out part at least one segment and keep one (tiny corpora cannot)
    n_test = int(np.ceil(fraction * len(idx)))
    counts = np.bincount(y)
    counts = counts[counts > 0]
    ok = bool((counts >= 2).all()) and len(counts) <= min(n_test, len(idx) - n_test)
    return train_test_split(idx, test_size=fraction, random_state=seed, stratify=y if ok else None)


def assemble(dv: ImageSet, split: dict[str, list[int]], la: dict[str, ImageSet], unseen: ImageSet) -> dict[str, ImageSet]:
    """The source's sets: train = LA train + DV train, val = LA dev + DV val, test = LA eval + DV test, unseen."""
    return {"train": ImageSet.concat([la["train"], dv.subset(split["train"])]),
            "val": ImageSet.concat([la["dev"], dv.subset(split["val"])]),
            "test": ImageSet.concat([la["eval"], dv.subset(split["test"])]),
            "unseen": unseen}


def load_sets(cfg: SpectrogramResNet18Config) -> dict[str, ImageSet]:
    """Every set of the study with one FFT size for every class (the fixed preprocessing)."""
    dv = deepvoice_images(cfg)
    la = {s: la_images(cfg, s) for s in ("train", "dev", "eval")}
    return assemble(dv, split_deepvoice(dv, cfg), la, imitation_images(cfg))


def first_la_segment(cfg: SpectrogramResNet18Config) -> Clip:
    """The first segment of the LA training set (the first speaker's bona fide speech): a sample to draw."""
    la = LA2019(cfg.paths.data, "train")
    key, paths = next((k, v) for k, v in speaker_label_groups(la.trials, la.audio_dir).items() if k[1] == BONAFIDE)
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


def train_models(cfg: SpectrogramResNet18Config, name: str, sets: dict[str, ImageSet], seeds: list[int],
                 evals: dict[str, ImageSet] | None = None, tag: str = "") -> list[SeedRun]:
    """Train model ``name`` once per seed on ``sets['train']`` (best epoch by validation F1) and score every set."""
    factory, kwargs = cfg.model(name)
    evals = evals if evals is not None else {k: v for k, v in sets.items() if k != "train"}
    folder = name.replace(" ", "_") + (f"-{tag}" if tag else "")
    return run_seeds(folder, factory, kwargs, sets["train"], sets["val"], evals, cfg.setups[name], TASK,
                     cfg.paths.out, seeds, cfg.settings(tag=tag, train=sets["train"].ids), cfg.device)


def score_audio(model: nn.Module, path: str | Path, cfg: SpectrogramResNet18Config) -> pd.DataFrame:
    """Score a new recording as the study does: cut into segments, drawn, classified; one row per segment."""
    wav = audio.load_audio(path, sr=cfg.sr)
    pieces = audio.segment(wav, int(round(cfg.seconds * cfg.sr)), drop_last=False)
    images = render((Clip(f"{Path(path).stem}_{k + 1}", FAKE, "new audio", p, cfg.nfft) for k, p in enumerate(pieces)),
                    cfg.sr, cfg.route, cfg.size)
    model.eval()
    with torch.no_grad():
        logits = model(images.images.float().div(255).to(next(model.parameters()).device)).float().cpu().numpy()
    pred = Predictions(logits, images.labels.numpy(), images.ids)
    return pd.DataFrame({"segment": images.ids, "seconds": [len(p) / cfg.sr for p in pieces],
                         "score (log-odds real)": pred.scores(REAL),
                         "decision": [TASK.names[int(c)] for c in pred.predicted]})


# ----------------------------------------------------------------------------- what the source got wrong


def batch_averaged_metrics(pred: Predictions, batch_size: int = 64, seed: int = 0, shuffle: bool = True
                           ) -> dict[str, float]:
    """F1 and accuracy as the source computed them: per shuffled batch with sklearn, then averaged over batches.

    Biased: each batch weighs the same whatever its size and class balance,
    and a batch without real segments has F1 0 (sklearn's zero_division).
    """
    n = len(pred.labels)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)  # the source's loader shuffled
    f1s, accs = [], []
    for start in range(0, len(order), batch_size):
        b = order[start:start + batch_size]
        f1s.append(f1_score(pred.labels[b], pred.predicted[b], pos_label=TASK.positive, zero_division=0))
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
    return {"donor tensors": len(state_dict), "keys the loop writes": len(written),
            "of them keys of the model": len(set(written) & set(after)), "tensors changed": int(changed)}
