"""torchvision ResNets on spectrogram images: the study 04 source's ResNet18 transfer model and the study 01 source's ResNet50.

``weights`` selects the initialisation of the torchvision backbone:

- ``"imagenet"``: torchvision's ImageNet weights (``ResNet18_Weights.IMAGENET1K_V1``,
  the ``resnet18-f37072fd.pth`` file the study 04 source downloads; ``ResNet50_Weights.IMAGENET1K_V2``).
  The full profile on Colab; torchvision downloads them on first use.
- ``None``: random initialisation. The offline embedded profile, which has no
  network; the book states it beside every result so trained.
- a path: a local torchvision state_dict of the 1000-class backbone (e.g. the
  file torchvision cached under ``~/.cache/torch/hub/checkpoints`` on a machine
  that could download it), loaded strictly before any layer is replaced.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from asvnb.features import check_finite


def _backbone(arch: str, weights: str | Path | None) -> nn.Module:
    """A 1000-class torchvision ResNet initialised as ``weights`` says."""
    builders = {
        "resnet18": (
            torchvision.models.resnet18,
            torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
        ),
        "resnet50": (
            torchvision.models.resnet50,
            torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
        ),
    }
    build, imagenet = builders[arch]
    if weights is None:
        return build(weights=None)
    if weights == "imagenet":
        return build(weights=imagenet)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such {arch} state_dict file "
            f"(weights must be 'imagenet', None or a local state_dict path)"
        )
    model = build(weights=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch state_dict ({exc})") from exc
    if isinstance(state, dict) and "model_state_dict" in state:
        state = state["model_state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a torchvision {arch} state_dict ({exc})") from exc
    return model


class ResNet18Transfer(nn.Module):
    """The study 04 source's ``PreTrainedResNet18``: conv(3,3,7,stride 2) -> ResNet18 (all trainable) -> fc(1000,100) ReLU dropout 0.1 fc(100,2).

    The source's loop that "copies the pre-trained weights except conv1" writes
    into a temporary ``state_dict()`` and so copies nothing; it has no effect
    because the inner ResNet18 already holds its ImageNet weights, its own conv1
    included. This class is the model that loop actually produced. The ResNet18's
    1000 ImageNet logits feed fc1 directly, with no activation between, as in
    the source.
    """

    def __init__(self, weights: str | Path | None = None, n_classes: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, kernel_size=7, stride=2, padding=3, bias=False)
        self.resnet = _backbone("resnet18", weights)
        self.fc1 = nn.Linear(1000, 100)
        self.fc2 = nn.Linear(100, n_classes)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(p=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes) of RGB images (B, 3, H, W); the source uses 224 x 224."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"ResNet18Transfer expects images of shape (batch, 3, H, W), got {tuple(x.shape)}"
            )
        check_finite(x, "ResNet18Transfer")
        x = self.resnet(self.conv1(x))
        return self.fc2(self.dropout(self.activation(self.fc1(x))))


def resnet50_classifier(n_classes: int = 2, weights: str | Path | None = None) -> nn.Module:
    """The study 01 source's ResNet50: torchvision ResNet50 with its last fc replaced by ``n_classes`` outputs, all layers trainable."""
    model = _backbone("resnet50", weights)
    model.fc = nn.Linear(model.fc.in_features, n_classes)
    model.register_forward_pre_hook(_refuse_non_finite)  # torchvision's forward is not ours to edit
    return model


def _refuse_non_finite(module: nn.Module, args: tuple) -> None:
    check_finite(args[0], type(module).__name__)
