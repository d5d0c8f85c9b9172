"""The spoof detector of the study 02 source: transformers ``WavLMForSequenceClassification`` + ``Wav2Vec2FeatureExtractor``.

Full profile: ``abhishtagatya/wavlm-base-960h-asv19-deepfake`` (16 kHz, logit
index 1 = spoof). Offline, a small WavLM configuration (:func:`standin_config`)
trained on the embedded LA train split (clean, single speaker) by
:mod:`asvnb.train.standins`, saved with ``save_pretrained`` and loaded by the
same ``from_pretrained`` call.
Scores follow the ASVspoof convention: ``logit[bona fide] - logit[spoof]``,
higher = more bona fide; labels follow the source: 1 = spoof, 0 = bona fide.
:func:`predict_logits` refuses NaN/inf waveforms and waveforms shorter than the
model's convolutional receptive field (:func:`min_samples`: 400 samples, 25 ms,
for WavLM Base and the stand-in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from asvnb.features import check_finite, check_length

SR = 16000
HUB_WAVLM = "abhishtagatya/wavlm-base-960h-asv19-deepfake"
SPOOF, BONAFIDE = (
    1,
    0,
)  # logit indices of the hub model (the source: 'spoof' if probs[1] > probs[0])


def load_detector(source: str | Path, device: str = "cpu"):
    """``(feature_extractor, model)`` from a hub id or a local ``save_pretrained`` directory."""
    # transformers, an optional heavy dependency, loads only when a WavLM is used
    from transformers import Wav2Vec2FeatureExtractor, WavLMForSequenceClassification

    if Path(source).exists() and not (Path(source) / "config.json").is_file():
        raise FileNotFoundError(f"{source}: not a transformers model directory (no config.json)")
    fe = Wav2Vec2FeatureExtractor.from_pretrained(str(source))
    model = WavLMForSequenceClassification.from_pretrained(str(source)).to(device).eval()
    if model.config.num_labels != 2:
        raise ValueError(
            f"{source}: expected a 2-class detector, the config has {model.config.num_labels} labels"
        )
    return fe, model


def min_samples(config) -> int:
    """The receptive field of a wav2vec2/WavLM feature encoder (``conv_kernel``/``conv_stride``): its shortest input."""
    n = 1
    for k, s in reversed(list(zip(config.conv_kernel, config.conv_stride))):
        n = (n - 1) * s + k
    return n


def featurize(
    fe, wavs: Sequence[np.ndarray], max_samples: int | None = None
) -> dict[str, torch.Tensor]:
    """Feature-extractor inputs of a batch of 16 kHz waveforms (cropped to ``max_samples``, padded to the longest)."""
    wavs = [np.asarray(w[:max_samples] if max_samples else w, dtype=np.float32) for w in wavs]
    return dict(fe(wavs, sampling_rate=SR, padding=True, return_tensors="pt"))


def cm_scores(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """CM scores (higher = bona fide) from (N, 2) logits: ``logit[bona fide] - logit[spoof]``."""
    lg = torch.as_tensor(logits, dtype=torch.float64)
    return (lg[..., BONAFIDE] - lg[..., SPOOF]).numpy()


def spoof_probability(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """P(spoof) = softmax(logits)[1], the score the source thresholded."""
    return torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=-1)[..., SPOOF].numpy()


class LazyWaves(Sequence):
    """Waveforms loaded only when indexed (``get(i)``), with their lengths known up front: the full profile's
    sets do not fit in memory."""

    def __init__(self, get, lengths: Sequence[int]):
        self.get, self.lengths = get, list(lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.get(i)


@torch.no_grad()
def predict_logits(
    fe,
    model: nn.Module,
    wavs: Sequence[np.ndarray],
    batch_size: int = 16,
    max_samples: int | None = None,
) -> np.ndarray:
    """(N, 2) logits of many waveforms (a list or :class:`LazyWaves`); batched by similar length (little padding).

    A waveform with NaN/inf, or shorter than :func:`min_samples` of the model's config (else 1), is a ValueError.
    """
    model.eval()
    device = next(model.parameters()).device
    lengths = wavs.lengths if isinstance(wavs, LazyWaves) else [len(w) for w in wavs]
    config = getattr(
        model, "config", None
    )  # any classifier with a transformers call signature is scored here
    need = min_samples(config) if hasattr(config, "conv_kernel") else 1
    why = "the receptive field of its convolutional encoder"
    if max_samples is not None:
        check_length(max_samples, need, "WavLM detector: max_samples", why)
    short = [i for i, n in enumerate(lengths) if n < need]
    if short:  # known from the lengths, before any waveform is loaded
        check_length(lengths[short[0]], need, f"WavLM detector: waveform {short[0]}", why)
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(wavs), 2), dtype=np.float32)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        batch = [wavs[i] for i in idx]
        for i, w in zip(idx, batch):
            check_finite(np.asarray(w), f"WavLM detector: waveform {i}")
        inputs = {k: v.to(device) for k, v in featurize(fe, batch, max_samples).items()}
        out[idx] = model(**inputs).logits.float().cpu().numpy()
    return out


# --------------------------------------------------------------------------- stand-in detector


@dataclass(frozen=True)
class WavLMStandinConfig:
    """A small WavLM (the hub model is WavLM Base: 512-channel CNN, 12 layers of 768, 12 heads).

    The last fields say how :mod:`asvnb.train.standins` trains it; all of them
    name its cached folder, so none may be renamed or dropped.
    """

    conv_channels: int = 32  # each convolution of the feature encoder (Base: 512)
    hidden: int = 64  # transformer width (Base: 768)
    layers: int = 2  # transformer layers (Base: 12)
    heads: int = 2  # attention heads (Base: 12)
    ffn: int = 128  # feed-forward width (Base: 3072)
    epochs: int = 10
    batch: int = 16  # utterances per step
    seconds: float = 3.0  # training crop
    lr: float = 1e-3  # AdamW
    weight_decay: float = 0.01
    seed: int = 0
    # cross entropy weighted by inverse class frequency (LA train: 1 bona fide in 5): without it the first
    # epochs predict "spoof" everywhere (training accuracy stuck at 0.80)
    class_weighted: bool = False
    # the feature encoder's kernels and strides, one pair per convolution (default: WavLM Base's, 20 ms frames).
    # A first kernel of 400 at stride 160 is a learnt 25 ms / 10 ms filter bank with a 40 Hz resolution: Base's
    # 10-sample first kernel cannot resolve harmonics, where Griffin-Lim's phase leaves its trace
    conv_kernels: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_strides: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)

    def __post_init__(self) -> None:
        if len(self.conv_kernels) != len(self.conv_strides):
            raise ValueError(
                f"WavLMStandinConfig: {len(self.conv_kernels)} conv_kernels but {len(self.conv_strides)} "
                "conv_strides (one of each per convolution)"
            )


def standin_config(c: WavLMStandinConfig):
    """The transformers ``WavLMConfig`` of the stand-in (its feature encoder's kernels and strides from ``c``)."""
    from transformers import WavLMConfig  # heavy: as in load_detector

    return WavLMConfig(
        conv_dim=(c.conv_channels,) * len(c.conv_kernels),
        conv_kernel=tuple(c.conv_kernels),
        conv_stride=tuple(c.conv_strides),
        hidden_size=c.hidden,
        num_hidden_layers=c.layers,
        num_attention_heads=c.heads,
        intermediate_size=c.ffn,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        num_buckets=32,
        max_bucket_distance=100,
        classifier_proj_size=c.hidden,
        feat_extract_norm="layer",
        num_labels=2,
        id2label={BONAFIDE: "bonafide", SPOOF: "spoof"},
        label2id={"bonafide": BONAFIDE, "spoof": SPOOF},
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        final_dropout=0.0,
        layerdrop=0.0,
    )


def feature_extractor():
    """WavLM Base's feature extractor (zero-mean unit-variance inputs, an attention mask for padded batches)."""
    from transformers import Wav2Vec2FeatureExtractor  # heavy: as in load_detector

    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SR,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )
