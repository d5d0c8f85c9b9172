"""The full profile's hub models at their full sizes with random weights, written as the hub gives them.

For rehearsing the full profile without a network (``tests/test_full_profile.py``)
and for measuring its costs on any device (``benchmarks/gpu_check.py``): the
architectures the Colab user downloads, built from their published
configurations, with random weights, and saved so that the very loaders the
notebooks call on a hub id load them from a local folder:

- ``speechbrain/sepformer-wsj02mix``: a speechbrain model directory
  (``hyperparams.yaml`` + ``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt``)
  written by the same writer as the embedded stand-in, with the recipe's
  hyperparameters (:data:`SEPFORMER_WSJ02MIX`: 256 channels, encoder kernel 16 and
  stride 8, 2 dual-path layers of 8 intra + 8 inter transformer layers, 8 heads,
  d_ffn 1024, chunks of K = 250 frames, 8 kHz), loaded by
  ``SepformerSeparation.from_hparams``;
- ``abhishtagatya/wavlm-base-960h-asv19-deepfake``: transformers' default
  ``WavLMConfig`` (WavLM Base: 7 convolutions of 512 channels, 12 layers of 768,
  12 heads) with a 2-class head, through ``save_pretrained``, loaded by
  ``WavLMForSequenceClassification.from_pretrained``;
- torchaudio's ``CONVTASNET_BASE_LIBRI2MIX``: ``conv_tasnet_base(num_sources=2)``'s
  state dict, which :class:`asvnb.models.separation.ConvTasNetSeparator` loads;
- torchvision's ImageNet ResNet18 and ResNet50: state dicts of the 1000-class
  models, which :mod:`asvnb.models.image_resnet` loads as a ``weights`` path.

(The study-03 ResNetSE models are built by the study itself at their full size:
they have no hub weights.)

:func:`install_hub_caches` goes one step further: it files the same folders
where the libraries look for the downloads (a Hugging Face cache for the two hub
ids, torch's hub folder for the torchvision and torchaudio weights), so that
with the environment it returns (``HF_HOME``, ``HF_HUB_OFFLINE=1``,
``TORCH_HOME``) the notebooks' defaults (``sepformer=None``, ``detector=None``,
``weights="default"``, the full profile's separators) run their own code paths
end to end, the loading from the library's cache included, with no network.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from asvnb.files import atomic_path, staged_dir, write_json
from asvnb.models import separation
from asvnb.models.separation import HUB_SEPFORMER, SepformerNet, SepformerStandinConfig
from asvnb.models.wavlm import BONAFIDE, HUB_WAVLM, SPOOF, feature_extractor

SEPFORMER_WSJ02MIX = {
    "channels": 256,
    "layers": 8,
    "heads": 8,
    "ffn": 1024,
    "dual_path_layers": 2,
    "chunk": 250,
    "kernel": 16,
    "sample_rate": 8000,
}
"""The hyperparameters of ``speechbrain/sepformer-wsj02mix`` (its hyperparams.yaml), as the fields of
:class:`asvnb.models.separation.SepformerStandinConfig`."""

MODELS = ("sepformer", "wavlm", "convtasnet", "resnet18", "resnet50")
# what each model is written as, under the folder given to build_full_size
FILES = {
    "sepformer": "sepformer-wsj02mix",
    "wavlm": "wavlm-base",
    "convtasnet": "convtasnet-base.pt",
    "resnet18": "resnet18.pt",
    "resnet50": "resnet50.pt",
}


def sepformer_config() -> SepformerStandinConfig:
    """:class:`~asvnb.models.separation.SepformerStandinConfig` with the hub model's hyperparameters."""
    return SepformerStandinConfig(**SEPFORMER_WSJ02MIX)


def sepformer_net() -> torch.nn.Module:
    """The full-size SepFormer (encoder, masknet, decoder) with random weights, as one module."""
    return SepformerNet(sepformer_config())


def wavlm_base_config():
    """WavLM Base (transformers' default ``WavLMConfig``) as a 2-class detector (logit 1 = spoof, as the hub model)."""
    from transformers import WavLMConfig  # heavy: loaded by the functions that build a WavLM

    return WavLMConfig(
        num_labels=2,
        id2label={BONAFIDE: "bonafide", SPOOF: "spoof"},
        label2id={"bonafide": BONAFIDE, "spoof": SPOOF},
    )


def wavlm_base() -> torch.nn.Module:
    """WavLM Base with a 2-class head and random weights."""
    from transformers import WavLMForSequenceClassification  # heavy, as above

    return WavLMForSequenceClassification(wavlm_base_config())


def write_sepformer(folder: Path, seed: int = 0) -> Path:
    """A speechbrain model directory of the full-size SepFormer (random weights), as the stand-in is written."""
    torch.manual_seed(seed)
    separation.write_sepformer(sepformer_net(), sepformer_config(), folder)
    return folder


def write_wavlm(folder: Path, seed: int = 0) -> Path:
    """WavLM Base with a 2-class head (random weights) and a feature extractor, through ``save_pretrained``."""
    torch.manual_seed(seed)
    wavlm_base().save_pretrained(str(folder))
    feature_extractor().save_pretrained(str(folder))
    return folder


FOLDERS = {"sepformer": write_sepformer, "wavlm": write_wavlm}  # the models written as folders


def write_state_dict(kind: str, path: Path, seed: int = 0) -> Path:
    """The state dict of torchaudio's ConvTasNet base or a 1000-class torchvision ResNet18/50 (random weights)."""
    import torchaudio  # heavy: only the full-size rehearsal and benchmarks build these
    import torchvision

    builders = {
        "convtasnet": lambda: torchaudio.models.conv_tasnet_base(num_sources=2),
        "resnet18": lambda: torchvision.models.resnet18(weights=None),
        "resnet50": lambda: torchvision.models.resnet50(weights=None),
    }
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(builders[kind]().state_dict(), path)
    return path


HUB_REVISION = "0" * 40  # the commit the Hugging Face cache's refs/main names (any 40 hex digits)
# torch hub's cache names of the downloads: torchvision's checkpoint files and torchaudio's asset
TORCH_HUB_FILES = {
    "resnet18": "checkpoints/resnet18-f37072fd.pth",
    "resnet50": "checkpoints/resnet50-11ad3fa6.pth",
    "convtasnet": "torchaudio/models/conv_tasnet_base_libri2mix.pt",
}


def install_hub_caches(models: dict[str, Path], root: str | Path) -> dict[str, str]:
    """File the models of :func:`build_full_size` as the downloads of the hub ids; the environment that finds them.

    ``root/hf`` becomes a Hugging Face cache holding ``speechbrain/sepformer-wsj02mix``
    and ``abhishtagatya/wavlm-base-960h-asv19-deepfake`` (refs/main ->
    :data:`HUB_REVISION`, the files linked into its snapshot), ``root/torch`` a
    torch home whose hub folder holds torchvision's ResNet18/50 checkpoints and
    torchaudio's ConvTasNet asset under the names their download would give them.
    """
    root = Path(root).resolve()

    def link(src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        os.symlink(Path(src).resolve(), dst)

    for repo, kind in ((HUB_SEPFORMER, "sepformer"), (HUB_WAVLM, "wavlm")):
        if kind not in models:
            continue
        cache = root / "hf" / "hub" / ("models--" + repo.replace("/", "--"))
        (cache / "refs").mkdir(parents=True, exist_ok=True)
        (cache / "refs" / "main").write_text(HUB_REVISION)
        for f in Path(models[kind]).iterdir():
            link(f, cache / "snapshots" / HUB_REVISION / f.name)
    for kind, name in TORCH_HUB_FILES.items():
        if kind in models:
            link(models[kind], root / "torch" / "hub" / name)
    return {
        "HF_HOME": str(root / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TORCH_HOME": str(root / "torch"),
    }


def build_full_size(root: str | Path, models: tuple[str, ...] = MODELS) -> dict[str, Path]:
    """Write every model of ``models`` under ``root`` once (a finished one is kept); their paths by name.

    Each is written to a temporary name and renamed, so an interrupted build
    leaves nothing half written; ``root/MODELS.json`` records what was built with
    which library versions.
    """
    # heavy, and imported here only for their version numbers
    import speechbrain
    import torchaudio
    import torchvision
    import transformers

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind in models:
        dst = root / FILES[kind]
        if not dst.exists():
            if kind in FOLDERS:  # the hub models are folders, the others one state_dict file each
                with staged_dir(dst) as tmp:
                    FOLDERS[kind](tmp)
            else:
                with atomic_path(dst) as tmp:
                    write_state_dict(kind, tmp)
        out[kind] = dst
    write_json(
        root / "MODELS.json",
        {
            "models": {k: str(v) for k, v in out.items()},
            "sepformer": SEPFORMER_WSJ02MIX,
            "versions": {
                "torch": torch.__version__,
                "torchaudio": torchaudio.__version__,
                "torchvision": torchvision.__version__,
                "transformers": transformers.__version__,
                "speechbrain": speechbrain.__version__,
            },
        },
    )
    return out
