"""ResNetSE countermeasure of the study 03 source (G-ResNetSE teacher, L-ResNetSE student).

Squeeze-excitation basic blocks, layers 3-4-6-3, self-attentive pooling (SAP),
an embedding layer (the pooled speaker embedding that GE2E and the adversarial
attack use) and an 8-way head (bona fide, A01-A06, adversarial) that returns
log-probabilities for ``nn.NLLLoss``. The blocks and the pooling follow the
ResNetSE34 models of clovaai/voxceleb_trainer, which the study 03 source cites as [18, 19]
and whose code it builds on (its own code was never released).

API: ``embed(x)`` -> (B, emb_dim) embedding; ``classify(emb)`` -> (B, 8)
log-probabilities; ``forward(x) = classify(embed(x))``. One call of ``embed``
followed by ``classify`` gives both without a second pass. ``x`` is a waveform
batch (B, samples) when the model has a front-end, else log-mel features
(B, n_mels, frames); instance normalisation is applied in both cases (it is
idempotent on features that were normalised already).

Two layouts:

- ``"L"`` (default, the paper's text: "the difference between G-ResNetSE and
  L-ResNetSE is the number of channels"): voxceleb_trainer's ResNetSE34L, first
  conv 7x7 stride (2, 1), stage strides 1, 2, 2, 1, SAP over time after a mean
  over frequency.
- ``"V2"``: voxceleb_trainer's ResNetSE34V2, first conv 3x3 stride 1, stage
  strides 1, 2, 2, 2, attention over channel x frequency before the time sum.

Complexity against Table 3 of the study 03 source (``asvnb.models.complexity``: thop's
MAC convention, which reproduces the source's figures; features in, front-end
excluded; embedding size 512, voxceleb_trainer's default for both models; 4 s of
audio = 401 frames at a 10 ms hop; the 8-way head included):

===============================  ========  =======  ===============
model                            params    MACs     source
===============================  ========  =======  ===============
L-ResNetSE, layout L (16..128)   1.441 M   0.897 G  1.44 M / 0.90 G
G-ResNetSE, layout L (32..256)   5.607 M   3.557 G  6.39 M / 4.62 G
G-ResNetSE, layout V2 (32..256)  6.393 M   4.618 G  6.39 M / 4.62 G
===============================  ========  =======  ===============

The default layout-L teacher falls short by 12% in parameters and 23% in MACs,
and no embedding size or input length closes that: each 256 extra embedding
dimensions add only 0.07 M parameters, and halving every channel quarters every
convolution, so the student stays at 25-26% of this teacher in parameters and
MACs at any input length; the source's 22.5% cannot come from two models that
differ only in channels. Its figures are met to their rounding by the student
in layout L and the teacher in layout V2, both at 512 dimensions and 4 s of
input: the authors most likely took voxceleb_trainer's ResNetSE34L and
ResNetSE34V2, changed only ``num_filters`` and counted with thop.
``g_resnetse(layout="V2")`` reproduces Table 3; the default keeps the text's
description. Table 3 itself gives a student/teacher MAC ratio of
0.90 / 4.62 = 19.5%, not the 21.1% of its abstract; parameters give
1.44 / 6.39 = 22.5% as stated.

Front-end: ``asvnb.features.LogMel`` with the ``logmel40_resnetse`` preset (40 log-mel
bands, 25 ms window, 10 ms hop, FFT 512, Hamming window; 22,050 Hz by default
here, the source's rate; see ``asvnb.features`` for how its 551-sample window
at that rate is reconciled with the 512-point FFT). The model applies instance
normalisation itself (``asvnb.features.instance_norm``), once, on either input.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from asvnb.features import (
    PRESETS,
    LogMel,
    SpecConfig,
    check_finite,
    check_length,
    instance_norm,
    preset,
)

CLASSES = ("bonafide", "A01", "A02", "A03", "A04", "A05", "A06", "adversarial")
ADVERSARIAL_CLASS = CLASSES.index("adversarial")
LAYOUTS = ("L", "V2")
# the source's channels per stage: the student is the teacher with half the channels
TEACHER_CHANNELS = (32, 64, 128, 256)
STUDENT_CHANNELS = (16, 32, 64, 128)


class SELayer(nn.Module):
    """Squeeze-excitation: channel gates from the global average (reduction 8 as in voxceleb_trainer)."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        if channels < reduction:
            raise ValueError(
                f"SE layer needs at least {reduction} channels (reduction {reduction}), got {channels}"
            )
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale each channel by its gate."""
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class SEBasicBlock(nn.Module):
    """Two 3x3 convolutions, SE gate, residual; conv-ReLU-BN order as in voxceleb_trainer's ResNetBlocks."""

    def __init__(self, inplanes: int, planes: int, stride: int | tuple[int, int] = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        out = self.bn1(self.relu(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class SAP(nn.Module):
    """Self-attentive pooling over time of (B, T, C) frames (ResNetSE34L): tanh(Wx), dot with a learnt vector, softmax."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.attention = nn.Parameter(torch.empty(dim, 1))
        nn.init.xavier_normal_(self.attention)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention-weighted sum over time."""
        w = F.softmax(torch.tanh(self.linear(x)) @ self.attention, dim=1)
        return (x * w).sum(dim=1)


class ChannelSAP(nn.Module):
    """Self-attentive pooling of (B, D, T) with one attention map per dimension (ResNetSE34V2)."""

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.attention = nn.Sequential(
            nn.Conv1d(dim, hidden, 1),
            nn.ReLU(),
            nn.BatchNorm1d(hidden),
            nn.Conv1d(hidden, dim, 1),
            nn.Softmax(dim=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention-weighted sum over time."""
        return (x * self.attention(x)).sum(dim=2)


class ResNetSE(nn.Module):
    """ResNetSE34 trunk, self-attentive pooling, embedding layer and an n-way log-probability head."""

    def __init__(
        self,
        channels: tuple[int, int, int, int],
        layers: tuple[int, int, int, int] = (3, 4, 6, 3),
        emb_dim: int = 512,
        n_classes: int = len(CLASSES),
        n_mels: int = 40,
        layout: str = "L",
        frontend: SpecConfig | dict | None = PRESETS["logmel40_resnetse_22k"],
        normalise: bool = True,
    ):
        super().__init__()
        if isinstance(frontend, dict):  # as saved in a JSON model config
            frontend = SpecConfig(**frontend)
        if layout not in LAYOUTS:
            raise ValueError(f"unknown ResNetSE layout {layout!r}; valid: {', '.join(LAYOUTS)}")
        if frontend is not None and frontend.n_mels != n_mels:
            raise ValueError(
                f"front-end gives {frontend.n_mels} mel bands but the model expects n_mels={n_mels}"
            )
        self.layout, self.n_mels = layout, n_mels
        # the source's instance normalisation; False only for the ablation that measures what it removes
        # (benchmarks/teacher_training_length.py)
        self.normalise = normalise
        # normalised below, once, whether features come from the front-end or from outside
        self.frontend = (
            LogMel(replace(frontend, instance_norm=False)) if frontend is not None else None
        )
        if layout == "L":
            self.conv1 = nn.Conv2d(1, channels[0], 7, stride=(2, 1), padding=3, bias=False)
            strides = (1, 2, 2, 1)
        else:
            self.conv1 = nn.Conv2d(1, channels[0], 3, stride=1, padding=1)
            strides = (1, 2, 2, 2)
        self.bn1 = nn.BatchNorm2d(channels[0])
        stages, inplanes = [], channels[0]
        for planes, n_blocks, stride in zip(channels, layers, strides):
            blocks = [SEBasicBlock(inplanes, planes, stride)]
            blocks += [SEBasicBlock(planes, planes) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            inplanes = planes
        self.stages = nn.Sequential(*stages)
        if layout == "L":
            pooled = channels[3]
            self.pool = SAP(pooled)
        else:
            bands = n_mels
            for _ in range(3):  # three stride-2 stages (padding 1) leave ceil(n_mels / 8) bands
                bands = (bands + 1) // 2
            pooled = channels[3] * bands
            self.pool = ChannelSAP(pooled)
        self.embedding = nn.Linear(pooled, emb_dim)
        self.head = nn.Linear(emb_dim, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Instance-normalised log-mel (B, n_mels, T) of a waveform batch, or of given features."""
        if self.frontend is not None:
            if x.dim() != 2:
                raise ValueError(
                    f"ResNetSE with a front-end expects waveforms (batch, samples), got {tuple(x.shape)}"
                )
            check_finite(x, "ResNetSE")
            sr = self.frontend.cfg.sr
            check_length(
                x.shape[-1],
                self.frontend.min_samples,
                "ResNetSE",
                f"its log-mel front-end at {sr} Hz needs n_fft // 2 + 1 samples",
            )
            x = self.frontend(x)
        if x.dim() != 3 or x.shape[1] != self.n_mels:
            raise ValueError(
                f"ResNetSE expects features of shape (batch, {self.n_mels}, frames), "
                f"got {tuple(x.shape)}"
            )
        check_length(x.shape[-1], 1, "ResNetSE", "features need at least one frame", unit="frames")
        if not self.normalise:
            check_finite(x, "ResNetSE")
            return x
        return instance_norm(x)  # refuses NaN/inf features

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled utterance embedding (B, emb_dim): the GE2E and attack target."""
        x = self.features(x).unsqueeze(1)
        if self.layout == "L":
            x = self.stages(F.relu(self.bn1(self.conv1(x))))
            x = self.pool(x.mean(dim=2).transpose(1, 2))  # (B, C, F, T) -> (B, T, C)
        else:
            x = self.stages(self.bn1(F.relu(self.conv1(x))))
            x = self.pool(x.reshape(x.shape[0], -1, x.shape[-1]))  # (B, C*F, T)
        return self.embedding(x)

    def classify(self, emb: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, n_classes) from embeddings, for ``nn.NLLLoss``."""
        return F.log_softmax(self.head(emb), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, n_classes) of waveforms or features."""
        return self.classify(self.embed(x))


def resnetse(
    channels: tuple[int, int, int, int],
    layout: str = "L",
    emb_dim: int = 512,
    n_classes: int = len(CLASSES),
    sample_rate: int | None = 22050,
    normalise: bool = True,
) -> ResNetSE:
    """A ResNetSE countermeasure with the source's defaults (512-d embedding, three classes, 22,050 Hz).

    ``sample_rate`` sets the log-mel front-end (waveform input); ``None`` takes
    40-band log-mel features instead; ``normalise=False`` drops the instance normalisation (an ablation).
    Plain arguments, so a JSON model config rebuilds it.
    """
    frontend = None if sample_rate is None else preset("logmel40_resnetse", sr=sample_rate)
    return ResNetSE(
        channels,
        emb_dim=emb_dim,
        n_classes=n_classes,
        layout=layout,
        frontend=frontend,
        normalise=normalise,
    )


def g_resnetse(**options: Any) -> ResNetSE:
    """Teacher G-ResNetSE, channels :data:`TEACHER_CHANNELS`; ``layout="V2"`` matches Table 3 (6.39 M).

    ``options`` as :func:`resnetse` takes them.
    """
    return resnetse(TEACHER_CHANNELS, **options)


def l_resnetse(**options: Any) -> ResNetSE:
    """Student L-ResNetSE, channels :data:`STUDENT_CHANNELS` (Table 3: 1.44 M); ``options`` as :func:`resnetse`."""
    return resnetse(STUDENT_CHANNELS, **options)
