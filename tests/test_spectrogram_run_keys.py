"""The run folders and image caches of studies 01 and 04 hash exactly the settings listed here.

A run's key is its settings, its data and the code that trains it
(:mod:`asvnb.provenance`; tested in ``test_provenance.py``). With the code key
held fixed (``CODE``), the names below pin the hashed settings: a setting
added, removed or retyped by accident shows here, rather than as a silent
retraining of every run.
"""

from __future__ import annotations

import json

import pytest

from asvnb import config
from asvnb.data.images import cache_name
from asvnb.studies import cnn_vs_resnet50 as s01
from asvnb.studies import spectrogram_resnet18 as s04
from asvnb.studies.cnn_vs_resnet50.countermeasures import image_key
from asvnb.train.classify import seed_run_dir

EMBEDDED_DATA = (
    "feb7f6ca58730297"  # data_fingerprint of the embedded corpus the published runs used
)
LA_TRAIN_SPEAKERS = [f"LA_{k:04d}" for k in range(1, 13)]


CODE = "c0de"  # the code key every name below is computed with


@pytest.fixture(autouse=True)
def published_corpus(monkeypatch):
    """Every key as if computed on the published embedded corpus, with the code key held fixed."""
    from asvnb import files
    from asvnb.data import images

    monkeypatch.setattr(files, "code_key", lambda *modules: CODE)
    monkeypatch.setattr(images, "code_key", lambda *modules: CODE)
    monkeypatch.setattr(config, "data_fingerprint", lambda root: EMBEDDED_DATA)


def test_study_01_run_folders_and_image_caches_keep_their_names(tmp_path) -> None:
    cfg = s01.CnnVsResnet50Config.for_profile("embedded")
    folders = {}
    for name, with_cv in (("CNN", True), ("ResNet50", True), ("CNN", False)):
        factory, kwargs = cfg.model(name)
        folder = name if with_cv else f"{name}-noCV"
        settings = cfg.settings(size=cfg.sizes[name], with_cv=with_cv)
        folders[folder] = seed_run_dir(tmp_path, folder, 0, kwargs, cfg.setups[name], settings)
    asv_kwargs = {"n_classes": len(LA_TRAIN_SPEAKERS), "in_channels": 1}
    asv_settings = cfg.settings(speakers=LA_TRAIN_SPEAKERS)
    folders["ASV_CNN"] = seed_run_dir(
        tmp_path, "ASV_CNN", 0, asv_kwargs, cfg.setups["ASV CNN"], asv_settings
    )
    # session 12: both choose their epoch from the second half (skip_validation 0.5); the ASV CNN, at its
    # default, keeps its name; session 13: the CNN trains 24 epochs of batches of 96; session 14: the CNN is
    # validated from epoch 16 (skip_validation 0.625)
    assert {k: v.parent.name for k, v in folders.items()} == {
        "CNN": "CNN-c7af9cef3e",
        "ResNet50": "ResNet50-9810ce4f5e",
        "CNN-noCV": "CNN-noCV-c26dc2bf91",
        "ASV_CNN": "ASV_CNN-b333d30fa4",
    }
    assert all(v.name == "seed0" for v in folders.values())
    # one cache folder per set, its parts (LA train, then the CV train speakers' clips) drawn into one file
    caches = {cache_name(f"train-{size}", image_key(cfg, size)) for size in (96, 32)}
    assert caches == {"train-96-795445d02b28", "train-32-7e12d8adf998"}


def test_study_04_run_settings_and_image_caches_keep_their_names() -> None:
    cfg = s04.SpectrogramResNet18Config.for_profile("embedded")
    # the run keys hash these with the training set's ids (from the corpus) and the image side
    assert json.dumps(cfg.settings(), sort_keys=True) == json.dumps(
        {
            "profile": "embedded",
            "route": "tensor",
            "seconds": 5.0,
            "sr": 16000,
            "size": 224,
            "nfft": 1024,
            "data": EMBEDDED_DATA,
        },
        sort_keys=True,
    )
    common = {"weight_decay": 0.0, "monitor": "val_eer", "mode": "min", "num_workers": 0}
    common |= {"batch_size": 16, "epochs": 10, "samples_per_epoch": None, "balanced": True}
    common |= {"schedule": "one_cycle", "fused": True, "skip_validation": 0.0}
    assert json.dumps({k: vars(v) for k, v in cfg.setups.items()}, sort_keys=True) == json.dumps(
        {"SimpleCNN": {"lr": 0.002, **common}, "ResNet18 transfer": {"lr": 0.001, **common}},
        sort_keys=True,
    )
    assert [cfg.model(n)[1] for n in cfg.setups] == [{}, {"weights": None}]
    names = {
        cache_name("deepvoice-1024", cfg.drawing(nfft_real=None)),
        cache_name("deepvoice-256", cfg.drawing(nfft_real=256)),
        cache_name("imitation-1024", cfg.drawing(nfft=None)),
        cache_name("imitation-256", cfg.drawing(nfft=256)),
        *(cache_name(f"la-{s}", cfg.drawing(split=s)) for s in ("train", "dev", "eval")),
    }
    assert names == {
        "deepvoice-1024-a6a5d477fbaa",
        "deepvoice-256-c74d06cc6ca8",
        "imitation-1024-ee5e782b95e6",
        "imitation-256-297a5c2b12c2",
        "la-dev-ad3b82de907d",
        "la-eval-6d0d08733f91",
        "la-train-0df08f930058",
    }
