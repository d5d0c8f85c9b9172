"""Model zoo of the four studies: one module per model family, plus parameter/MAC counting."""

from asvnb.models.cnn import SimpleCNN, SpectrogramCNN
from asvnb.models.complexity import count_macs, count_params
from asvnb.models.image_resnet import ResNet18Transfer, resnet50_classifier
from asvnb.models.resnetse import (
    ADVERSARIAL_CLASS,
    CLASSES,
    ResNetSE,
    g_resnetse,
    l_resnetse,
    resnetse,
)

__all__ = [
    "ADVERSARIAL_CLASS",
    "CLASSES",
    "ResNet18Transfer",
    "ResNetSE",
    "SimpleCNN",
    "SpectrogramCNN",
    "count_macs",
    "count_params",
    "g_resnetse",
    "l_resnetse",
    "resnetse",
    "resnet50_classifier",
]
