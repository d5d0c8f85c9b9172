"""Study 04's image sets: segments of three corpora drawn as the source drew them, and its splits.

Data as the source built it (segment length ``seconds``): DEEP-VOICE
recordings cut into segments and split 80/20 into train/test (the train part
again 80/20 into train/val); ASVspoof 2019 LA utterances concatenated per
speaker and label, then cut into segments, official train/dev/eval kept; the
Imitation set (whole clips) as the unseen test. Labels real 1 / fake 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from asvnb import audio
from asvnb.data.asvspoof import BONAFIDE, LA2019, speaker_label_groups
from asvnb.data.deepvoice import DeepVoiceSegments, list_deepvoice, source_recording
from asvnb.data.images import Clip, ImageSet, cached_images
from asvnb.data.images import count_table as image_counts
from asvnb.data.imitation import ImitationDataset, list_imitation
from asvnb.features import ROUTES, render
from asvnb.studies.spectrogram_resnet18.settings import (
    DV,
    FAKE,
    IMITATION,
    LA,
    MPL_DEFAULT_NFFT,
    REAL,
    TASK,
    SpectrogramResNet18Config,
)


def deepvoice_images(cfg: SpectrogramResNet18Config, nfft_real: int | None = None) -> ImageSet:
    """Every DEEP-VOICE recording cut into ``cfg.seconds`` segments and drawn; ``nfft_real`` draws the real ones
    with another FFT size (the source's leak: matplotlib's default 256 for real, 1024 for fake)."""
    ds = DeepVoiceSegments(
        list_deepvoice(cfg.paths.data), seconds=cfg.seconds, sr=cfg.sr, real_label=REAL
    )

    def clips() -> Iterator[Clip]:
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

    def clips() -> Iterator[Clip]:
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


def count_table(sets: dict[str, ImageSet]) -> pd.DataFrame:
    """Images per set, corpus and class."""
    return image_counts(sets, TASK.names)


def first_la_segment(cfg: SpectrogramResNet18Config) -> Clip:
    """The first segment of the LA training set (the first speaker's bona fide speech): a sample to draw."""
    la = LA2019(cfg.paths.data, "train")
    key, paths = next(
        (k, v) for k, v in speaker_label_groups(la.trials, la.audio_dir).items() if k[1] == BONAFIDE
    )
    (spk, _), k, wav = next(audio.concat_segments({key: paths}, seconds=cfg.seconds, sr=cfg.sr))
    return Clip(f"{spk}_real_{k + 1}", REAL, LA, wav, cfg.nfft)


def sample_panels(
    cfg: SpectrogramResNet18Config, train: ImageSet
) -> list[tuple[str, torch.Tensor]]:
    """A real and a fake training image of each corpus, and the first LA segment drawn by both routes."""
    panels = [
        (f"{corpus.split()[0]} {TASK.names[label]}", train.images[train.first(corpus, label)])
        for corpus in (LA, DV)
        for label in (REAL, FAKE)
    ]
    clip = first_la_segment(cfg)
    return panels + [
        (f"{clip.id}, {r} route", render([clip], cfg.sr, r, cfg.size).images[0]) for r in ROUTES
    ]


def new_audio_examples(cfg: SpectrogramResNet18Config) -> list[Path]:
    """Recordings none of the models trained on: the first real and the first fake clip of the Imitation set."""
    files = list_imitation(cfg.paths.data)
    return [next(p for p, lab in files if lab == want) for want in ("real", "fake")]
