"""Plain CNNs: ``SimpleCNN`` of the study 04 source and the spectrogram CNN of the study 01 source.

Both return logits (train them with ``nn.CrossEntropyLoss``, as the sources do).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from asvnb.features import check_finite, check_length


class SimpleCNN(nn.Module):
    """The study 04 source's baseline, layer for layer: 224x224 RGB spectrogram image -> 2 logits (real 1, fake 0)."""

    def __init__(self, n_classes: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        # 224 -conv5-> 220 -pool-> 110 -conv5-> 106 -pool-> 53: fc1 is tied to 224x224 inputs
        self.fc1 = nn.Linear(16 * 53 * 53, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes) of images (B, 3, 224, 224)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, 224, 224):
            raise ValueError(
                f"SimpleCNN expects images of shape (batch, 3, 224, 224), got {tuple(x.shape)}"
            )
        check_finite(x, "SimpleCNN")
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(
            x, 1
        )  # the source's view(-1, 16*53*53), without its silent batch reshaping
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class SpectrogramCNN(nn.Module):
    """The study 01 source's CNN: conv+ReLU+max-pool blocks, then fully connected layers to ``n_classes`` logits.

    The source describes it only as "several convolutional layers, pooling layers,
    and fully connected layers, finally ending with a classification layer", used
    twice: as the countermeasure (2 outputs, genuine 0 / spoofed 1) and, with the
    speakers as targets, as the ASV system. Sizes here are ours: three 3x3 conv
    blocks (16, 32, 64 channels, each halving both axes by max-pooling) and an
    adaptive average pool to a fixed 4x4 grid, so that any spectrogram size fits
    (the source states none), then fc(1024, 256), fc(256, emb_dim) and the
    classification layer. ``embed`` returns the penultimate layer (before its
    ReLU) for cosine-scoring speaker verification.

    Each block halves both axes, so an input needs at least ``min_size = 2 **
    len(channels)`` (8) frequency bins and frames: 1,120 samples (70 ms) of
    16 kHz audio through the ``logspec_hann`` spectrogram; shorter, or NaN/inf, is a
    ValueError.
    """

    def __init__(
        self,
        n_classes: int = 2,
        in_channels: int = 1,
        channels: tuple[int, ...] = (16, 32, 64),
        hidden: int = 256,
        emb_dim: int = 128,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        blocks, c_in = [], in_channels
        for c_out in channels:
            # batch_norm: a BatchNorm2d after each convolution (trains from random weights in a few epochs where the
            # plain blocks, measured on the embedded LA images, stay at the class prior)
            norm = [nn.BatchNorm2d(c_out)] if batch_norm else []
            blocks += [
                nn.Conv2d(c_in, c_out, 3, padding=1),
                *norm,
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c_in = c_out
        self.conv = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d((4, 4)))
        self.in_channels, self.min_size = in_channels, 2 ** len(channels)
        self.fc1 = nn.Linear(c_in * 16, hidden)
        self.fc2 = nn.Linear(hidden, emb_dim)
        self.fc3 = nn.Linear(emb_dim, n_classes)
        self.dropout = nn.Dropout(dropout)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embedding (B, emb_dim) of spectrograms (B, in_channels, F, T) or (B, F, T)."""
        if x.dim() == 3 and self.in_channels == 1:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SpectrogramCNN expects (batch, {self.in_channels}, freq, time) inputs, "
                f"got {tuple(x.shape)}"
            )
        why = f"{sum(isinstance(m, nn.MaxPool2d) for m in self.conv)} max-poolings each halve it"
        check_length(x.shape[2], self.min_size, "SpectrogramCNN", why, unit="frequency bins")
        check_length(x.shape[3], self.min_size, "SpectrogramCNN", why, unit="frames")
        check_finite(x, "SpectrogramCNN")
        x = torch.flatten(self.conv(x), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes)."""
        return self.fc3(self.dropout(F.relu(self.embed(x))))
