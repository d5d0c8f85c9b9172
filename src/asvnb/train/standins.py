"""The stand-ins of study 02's hub models, trained on the embedded corpus: a small SepFormer and a small WavLM.

Offline there is no hub, so the embedded profile loads small models of the
same families instead (:class:`asvnb.models.separation.SepformerNet`,
:func:`asvnb.models.wavlm.standin_config`), written in the hub models' formats
and loaded by the same calls. They are data like the corpus: trained once per
corpus by ``asvnb data standins`` (which ``asvnb book`` runs right after the
corpus, :func:`asvnb.book.prepare_embedded`) and cached beside it under
``data/models/<kind>-standin-<key>``, where the key hashes the corpus
fingerprint and the stand-in's configuration; a study that finds one missing
trains it here. Training goes through :class:`asvnb.train.Trainer`, so an
interrupted build resumes, and every draw depends on a seed and the epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from asvnb import audio, config, metrics
from asvnb.config import stable_hash
from asvnb.data.asvspoof import LA2019, SPOOF
from asvnb.data.commonvoice import CommonVoice
from asvnb.data.mixtures import DynamicMixtures
from asvnb.errors import json_object
from asvnb.models import wavlm
from asvnb.models.separation import SepformerNet, SepformerStandinConfig, write_sepformer
from asvnb.models.wavlm import WavLMStandinConfig
from asvnb.provenance import code_key
from asvnb.train.loop import TrainConfig, Trainer, publish_trained

CV_FOLDER = "cv-corpus-14.0-delta-2023-06-23"  # the embedded corpus's Common Voice release
# hex digits of a stand-in's key: those of the first builds (files.run_key has 10), so that the
# stand-ins already cached are found again
KEY_CHARS = 12
# waveforms at 16 kHz and their labels (1 = spoof)
Clips = tuple[Sequence[np.ndarray], Sequence[int]]

# the stand-ins `asvnb data standins` trains (frozen dataclasses: safe as defaults)
SEPFORMER = SepformerStandinConfig()
WAVLM = WavLMStandinConfig()
# the CI profile's: the same code paths (training, validation, export, the hub loaders), a few steps each
CI_SEPFORMER = SepformerStandinConfig(steps_per_epoch=4, epochs=2)
CI_WAVLM = WavLMStandinConfig(epochs=2)


def for_profile(profile: str) -> tuple[SepformerStandinConfig, WavLMStandinConfig]:
    """The stand-ins a generated profile trains: the book's, or the CI profile's few steps."""
    return (CI_SEPFORMER, CI_WAVLM) if profile == "ci" else (SEPFORMER, WAVLM)


# ----------------------------------------------------------------------------- where and on what


def models_dir(data_root: str | Path) -> Path:
    """Where stand-ins are cached: beside the corpus (``data/models`` for ``data/embedded``)."""
    return Path(data_root).parent / "models"


def standin_dir(data_root: str | Path, kind: str, conf: Any) -> Path:
    """The cache folder of stand-in ``kind`` (``sepformer``, ``wavlm``) of configuration ``conf`` on a corpus."""
    key = stable_hash(
        {
            "data": config.data_fingerprint(data_root),
            "config": asdict(conf),
            "code": code_key(__name__),  # the training code and the models' (it imports both)
        }
    )
    return models_dir(data_root) / f"{kind}-standin-{key[:KEY_CHARS]}"


def la_clips(data_root: str | Path, split: str, sr: int) -> Clips:
    """Every utterance of one LA 2019 split at ``sr`` and its label (1 = spoof)."""
    d = LA2019(data_root, split)
    waves = [audio.load_audio(d.audio_path(t.utt), sr=sr) for t in d.trials]
    return waves, [int(t.key == SPOOF) for t in d.trials]


def held_out_speech(data_root: str | Path, sr: int) -> list[np.ndarray]:
    """Common Voice clips (speakers in no LA split): the separator stand-in's validation speech (else LA dev, said)."""
    if not (Path(data_root) / CV_FOLDER).is_dir():
        warnings.warn(
            f"{data_root} has no Common Voice folder: the separator stand-in is validated on LA dev "
            "mixtures, whose speakers it also trains on",
            stacklevel=2,
        )
        return la_clips(data_root, "dev", sr)[0]
    cv = CommonVoice(data_root)
    return [audio.load_audio(cv.audio_path(c), sr=sr, expected=True) for c in cv.table("validated")]


def standin_info(path: str | Path) -> dict:
    """``standin.json`` of a locally built stand-in (parameters, training seconds, ...), {} for hub models."""
    p = Path(path) / "standin.json"
    if not p.is_file():
        return {}
    return json_object(p, "delete the stand-in folder to rebuild it")


# ----------------------------------------------------------------------------- the SepFormer stand-in


def _pit_si_snr_loss(model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
    # speechbrain, an optional heavy dependency, loads only when a SepFormer trains
    from speechbrain.nnet.losses import get_si_snr_with_pitwrapper

    mix, src = batch
    loss = get_si_snr_with_pitwrapper(src, model(mix)).mean()
    return loss, {"si_snr": -float(loss.detach())}


def train_sepformer_standin(
    train_waves: Sequence[np.ndarray],
    val_waves: Sequence[np.ndarray],
    out: str | Path,
    c: SepformerStandinConfig = SEPFORMER,
    *,
    work: str | Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Train the SepFormer stand-in on dynamic A.1 mixtures of 8 kHz utterances; write a speechbrain model directory.

    ``out`` gets ``hyperparams.yaml``, the three ``.ckpt`` files, the training
    history and ``standin.json`` (config, parameters, seconds).
    """
    out = Path(out)
    work = Path(work or out.with_name(out.name + ".work"))
    torch.manual_seed(c.seed)
    net = SepformerNet(c)
    train = DynamicMixtures(
        train_waves, c.steps_per_epoch * c.batch, c.seconds, c.sample_rate, c.seed
    )
    val = list(DynamicMixtures(val_waves, 32, c.seconds, c.sample_rate, c.seed + 1))
    loader = torch.utils.data.DataLoader(train, batch_size=c.batch)
    val_loader = torch.utils.data.DataLoader(val, batch_size=8)
    opt = torch.optim.Adam(net.parameters(), lr=c.lr)
    trainer = Trainer(
        net,
        opt,
        loader,
        _pit_si_snr_loss,
        TrainConfig(
            work,
            epochs=c.epochs,
            seed=c.seed,
            max_grad_norm=c.max_grad_norm,
            progress=progress,
            cpu=True,
        ),
        val_loader=val_loader,
    )
    res = trainer.fit()
    net.load_state_dict(torch.load(Path(res.best_dir) / "model.pt", map_location="cpu"))
    return publish_trained(
        out,
        res,
        lambda folder: write_sepformer(net, c, folder),
        {
            "config": asdict(c),
            "steps": len(loader) * c.epochs,
            "val_si_snr_db": -float(res.best_metrics.get("val_loss", float("nan"))),
        },
        work,
    )


# ----------------------------------------------------------------------------- the WavLM stand-in


class LabelledClips(torch.utils.data.Dataset):
    """(waveform, label 1 = spoof) cropped or repeat-padded to a fixed length; random crops with ``train``."""

    def __init__(
        self, waves: Sequence[np.ndarray], labels: Sequence[int], n: int, train: bool, seed: int
    ):
        self.waves, self.labels, self.n = list(waves), list(labels), n
        self.train, self.seed, self.epoch = train, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Crop for ``epoch`` (0-based); the crops are drawn from ``epoch + 1``, as before the one protocol."""
        self.epoch = epoch + 1

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng((self.seed, self.epoch, i))
        wav = audio.crop_or_pad(self.waves[i], self.n, random_crop=self.train, rng=rng)
        return wav, self.labels[i]


def make_collate(fe: Any, max_samples: int | None = None) -> Callable[[list], dict]:
    """Collate ``(wav, label)`` items into feature-extractor inputs plus ``labels``."""

    def collate(items: list) -> dict:
        inputs = wavlm.featurize(fe, [w for w, _ in items], max_samples)
        inputs["labels"] = torch.tensor([y for _, y in items], dtype=torch.long)
        return inputs

    return collate


def hf_loss(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross entropy of a transformers classifier on a batch with ``labels``; also the batch accuracy."""
    out = model(**batch)
    return out.loss, {"acc": float((out.logits.argmax(-1) == batch["labels"]).float().mean())}


def detector_eval(model: nn.Module, loader: Any) -> dict[str, float]:
    """Validation over the whole set: loss, accuracy and EER (bona fide vs spoof)."""
    logits, labels = [], []
    for batch in loader:
        logits.append(model(**batch).logits.float().cpu())
        labels.append(batch["labels"].cpu())
    lg, y = torch.cat(logits), torch.cat(labels)
    s = wavlm.cm_scores(lg)
    e, _ = metrics.eer(s[y.numpy() == wavlm.BONAFIDE], s[y.numpy() == wavlm.SPOOF])
    return {
        "val_loss": float(F.cross_entropy(lg, y)),
        "val_acc": float((lg.argmax(-1) == y).float().mean()),
        "val_eer": e,
    }


def train_wavlm_standin(
    train: Clips,
    val: Clips,
    out: str | Path,
    c: WavLMStandinConfig = WAVLM,
    *,
    work: str | Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Train the small WavLM on clean single-speaker clips (labels 1 = spoof) and save it with ``save_pretrained``.

    AdamW, best model by validation EER; ``out`` receives the best model, the
    feature extractor, the history and ``standin.json``.
    """
    # transformers, an optional heavy dependency, loads only when a WavLM is built
    from transformers import WavLMForSequenceClassification

    out = Path(out)
    work = Path(work or out.with_name(out.name + ".work"))
    torch.manual_seed(c.seed)
    fe = wavlm.feature_extractor()
    model = WavLMForSequenceClassification(wavlm.standin_config(c))
    n = int(c.seconds * wavlm.SR)
    loader = torch.utils.data.DataLoader(
        LabelledClips(*train, n=n, train=True, seed=c.seed),
        batch_size=c.batch,
        shuffle=True,
        collate_fn=make_collate(fe),
        generator=torch.Generator().manual_seed(c.seed),
    )
    val_loader = torch.utils.data.DataLoader(
        LabelledClips(*val, n=n, train=False, seed=c.seed),  # no random crop: its epoch is unused
        batch_size=32,
        collate_fn=make_collate(fe),
    )
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
        evaluate_fn=detector_eval,
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


# ----------------------------------------------------------------------------- trained once, then found


def _once(out: Path, marker: str, kind: str, train: Callable[[Path], object]) -> Path:
    if not (out / marker).is_file():
        print(f"training the {kind} stand-in once (cached in {out})")
        train(out)
    return out


def sepformer_standin(
    data_root: str | Path,
    c: SepformerStandinConfig = SEPFORMER,
    progress: bool | None = None,
) -> Path:
    """The SepFormer stand-in of a corpus, trained once when missing.

    The hub model learnt on WSJ0, not on LA: the stand-in learns on every LA
    speaker outside eval (train and dev, bona fide and spoofed speech alike) and
    is validated on Common Voice clips of held-out speakers.
    """
    sr = c.sample_rate
    return _once(
        standin_dir(data_root, "sepformer", c),
        "hyperparams.yaml",
        "sepformer",
        lambda out: train_sepformer_standin(
            la_clips(data_root, "train", sr)[0] + la_clips(data_root, "dev", sr)[0],
            held_out_speech(data_root, sr),
            out,
            c,
            progress=progress,
        ),
    )


def wavlm_standin(
    data_root: str | Path,
    c: WavLMStandinConfig = WAVLM,
    progress: bool | None = None,
) -> Path:
    """The WavLM stand-in of a corpus (trained on LA train, validated on LA dev), trained once when missing."""
    return _once(
        standin_dir(data_root, "wavlm", c),
        "config.json",
        "wavlm",
        lambda out: train_wavlm_standin(
            la_clips(data_root, "train", wavlm.SR),
            la_clips(data_root, "dev", wavlm.SR),
            out,
            c,
            progress=progress,
        ),
    )


def ensure_standins(
    data_root: str | Path | None = None,
    sepformer: SepformerStandinConfig = SEPFORMER,
    detector: WavLMStandinConfig = WAVLM,
    progress: bool | None = None,
) -> dict[str, str]:
    """Train (once) both stand-ins of a corpus (default: the embedded one); their directories by role."""
    root = data_root or config.embedded_root()
    return {
        "sepformer": str(sepformer_standin(root, sepformer, progress)),
        "detector": str(wavlm_standin(root, detector, progress)),
    }
