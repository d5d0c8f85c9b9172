"""The spoof detector of the study 02 source: transformers ``WavLMForSequenceClassification`` + ``Wav2Vec2FeatureExtractor``.

Full profile: ``abhishtagatya/wavlm-base-960h-asv19-deepfake`` (16 kHz, logit
index 1 = spoof). Offline, a small WavLM configuration trained here on the
embedded LA train split (clean, single speaker; :func:`train_wavlm_standin`),
saved with ``save_pretrained`` and loaded by the same ``from_pretrained`` call.
Scores follow the ASVspoof convention: ``logit[bona fide] - logit[spoof]``,
higher = more bona fide; labels follow the source: 1 = spoof, 0 = bona fide.
:func:`predict_logits` refuses NaN/inf waveforms and waveforms shorter than the
model's convolutional receptive field (:func:`min_samples`: 400 samples, 25 ms,
for WavLM Base and the stand-in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
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
    """A small WavLM (the hub model is WavLM Base: 512-channel CNN, 12 layers of 768, 12 heads)."""

    conv_channels: int = 32
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    ffn: int = 128
    epochs: int = 10
    batch: int = 16
    seconds: float = 3.0
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0


def standin_config(c: WavLMStandinConfig):
    """The transformers ``WavLMConfig`` of the stand-in (WavLM Base's conv kernels/strides: 20 ms frames)."""
    from transformers import WavLMConfig

    return WavLMConfig(
        conv_dim=(c.conv_channels,) * 7,
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


class _Clips(torch.utils.data.Dataset):
    """(waveform, label 1 = spoof) cropped or repeat-padded to a fixed length; random crops with ``train``."""

    def __init__(
        self, waves: Sequence[np.ndarray], labels: Sequence[int], n: int, train: bool, seed: int
    ):
        self.waves, self.labels, self.n = list(waves), list(labels), n
        self.train, self.seed, self.epoch = train, seed, 0

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int):
        from asvnb.audio import crop_or_pad

        rng = np.random.default_rng((self.seed, self.epoch, i))
        return crop_or_pad(self.waves[i], self.n, random_crop=self.train, rng=rng), self.labels[i]


def make_collate(fe, max_samples: int | None = None):
    """Collate ``(wav, label)`` items into feature-extractor inputs plus ``labels``."""

    def collate(items):
        inputs = featurize(fe, [w for w, _ in items], max_samples)
        inputs["labels"] = torch.tensor([y for _, y in items], dtype=torch.long)
        return inputs

    return collate


def hf_loss(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross entropy of a transformers classifier on a batch with ``labels``; also the batch accuracy."""
    out = model(**batch)
    return out.loss, {"acc": float((out.logits.argmax(-1) == batch["labels"]).float().mean())}


def make_detector_eval():
    """Validation over the whole set: loss, accuracy and EER (bona fide vs spoof)."""
    from asvnb import metrics

    def evaluate(model: nn.Module, loader: Any) -> dict[str, float]:
        logits, labels = [], []
        for batch in loader:
            logits.append(model(**batch).logits.float().cpu())
            labels.append(batch["labels"].cpu())
        lg, y = torch.cat(logits), torch.cat(labels)
        s = cm_scores(lg)
        e, _ = metrics.eer(s[y.numpy() == BONAFIDE], s[y.numpy() == SPOOF])
        return {
            "val_loss": float(F.cross_entropy(lg, y)),
            "val_acc": float((lg.argmax(-1) == y).float().mean()),
            "val_eer": e,
        }

    return evaluate


Clips = tuple[
    Sequence[np.ndarray], Sequence[int]
]  # waveforms at 16 kHz and their labels (1 = spoof)


def train_wavlm_standin(
    train: Clips,
    val: Clips,
    out: str | Path,
    c: WavLMStandinConfig = WavLMStandinConfig(),
    *,
    work: str | Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Train the small WavLM on clean single-speaker clips (labels 1 = spoof) and save it with ``save_pretrained``.

    Goes through :class:`asvnb.train.Trainer` (AdamW, checkpoints, resume,
    best model by validation EER); ``out`` receives the best model, the
    feature extractor, the history and ``standin.json``.
    """
    from transformers import Wav2Vec2FeatureExtractor, WavLMForSequenceClassification

    from asvnb.train import TrainConfig, Trainer, publish_trained

    out = Path(out)
    work = Path(work or out.with_name(out.name + ".work"))
    torch.manual_seed(c.seed)
    fe = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SR,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )
    model = WavLMForSequenceClassification(standin_config(c))
    n = int(c.seconds * SR)
    tr = _Clips(*train, n=n, train=True, seed=c.seed)
    va = _Clips(*val, n=n, train=False, seed=c.seed)
    loader = torch.utils.data.DataLoader(
        tr,
        batch_size=c.batch,
        shuffle=True,
        collate_fn=make_collate(fe),
        generator=torch.Generator().manual_seed(c.seed),
    )
    val_loader = torch.utils.data.DataLoader(va, batch_size=32, collate_fn=make_collate(fe))
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    trainer = Trainer(
        model,
        opt,
        loader,
        hf_loss,
        TrainConfig(
            work,
            epochs=c.epochs,
            seed=c.seed,
            monitor="val_eer",
            mode="min",
            progress=progress,
            cpu=True,
        ),
        val_loader=val_loader,
        evaluate_fn=make_detector_eval(),
        on_epoch_start=lambda _t, e: setattr(tr, "epoch", e),
    )
    res = trainer.fit()

    def write(folder: Path) -> int:
        best = WavLMForSequenceClassification.from_pretrained(str(res.best_dir))
        best.save_pretrained(str(folder))
        fe.save_pretrained(str(folder))
        return sum(p.numel() for p in best.parameters())

    return publish_trained(
        out,
        res,
        write,
        {
            "config": asdict(c),
            "steps": len(loader) * c.epochs,
            "best_val_eer": res.best_metrics.get("val_eer"),
        },
        work,
    )
