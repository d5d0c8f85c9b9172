"""How far a detector trained on the embedded LA training attacks (A01-A06) generalises to the eval attacks.

A probe, not one of the studies' models: a small 1-D CNN with mean/std pooling
over LFCC frames (20 linear filters, 20 coefficients with deltas and
delta-deltas, 20 ms windows: the ASVspoof baseline's front end), trained with a
class-balanced cross entropy on 2 s crops. It answers three questions about
the corpus, each printed as EER per eval attack and per 2021 codec condition:

- **What does training data buy?** ``--frac 0.25 0.5 1`` trains on a share of
  LA train (every system kept in proportion), at the same number of steps.
- **What do the field's generalisation aids buy?** ``--augment`` adds, each
  with probability 1/2, a telephone channel (8 kHz, optionally mu-law) or a
  random low-pass, and a random multi-band FIR filter (RawBoost's linear
  convolutive noise, Tak et al. 2022).
- **Is an attack learnable at all?** ``--seen`` moves the eval trials of five
  of the nine eval speakers (every attack) into training and tests on the other
  four: an attack that stays near chance even when seen leaves nothing this
  front end can learn at this data size.

    .venv/bin/python benchmarks/attack_generalisation.py [--frac 1] [--augment] [--seen] [--seeds 0] [--epochs 12]

About 1.5 minutes per run on 2 idle cores (features and 12 epochs).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.signal as ss
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from asvnb.audio import load_audio
from asvnb.data.asvspoof import LA2019, LA2021Eval
from asvnb.metrics import eer

SR = 16000
CROP = 2 * SR


@dataclass
class Split:
    """Waveforms of one protocol with their labels (1 = bona fide), systems and codec conditions."""

    wav: list[np.ndarray]
    y: np.ndarray
    system: list[str]
    speaker: list[str]
    codec: list[str] = field(default_factory=list)

    def take(self, keep: np.ndarray) -> Split:
        """The trials where ``keep`` is true."""
        idx = np.flatnonzero(keep)
        return Split(
            [self.wav[i] for i in idx],
            self.y[idx],
            [self.system[i] for i in idx],
            [self.speaker[i] for i in idx],
            [self.codec[i] for i in idx] if self.codec else [],
        )

    def __add__(self, other: Split) -> Split:
        return Split(
            self.wav + other.wav,
            np.r_[self.y, other.y],
            self.system + other.system,
            self.speaker + other.speaker,
            [],
        )


def load(root: Path) -> dict[str, Split]:
    """LA19 train, dev, eval and LA21 eval of the corpus at ``root``."""
    out = {}
    for name, proto in (
        ("train", LA2019(root, "train")),
        ("dev", LA2019(root, "dev")),
        ("eval", LA2019(root, "eval")),
        ("la21", LA2021Eval(root)),
    ):
        t = proto.trials
        out[name] = Split(
            [load_audio(proto.audio_path(x.utt), SR) for x in t],
            np.array([int(x.is_bonafide) for x in t]),
            ["bonafide" if x.is_bonafide else x.system for x in t],
            [x.speaker for x in t],
            [getattr(x, "codec", "") for x in t],
        )
    return out


class Lfcc(nn.Module):
    """``(batch, samples)`` -> ``(batch, 60, frames)``: LFCC with deltas and delta-deltas."""

    def __init__(self) -> None:
        super().__init__()
        self.lfcc = torchaudio.transforms.LFCC(
            SR,
            n_filter=20,
            n_lfcc=20,
            speckwargs={"n_fft": 512, "win_length": 320, "hop_length": 160, "center": False},
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.lfcc(x)
        d = torchaudio.functional.compute_deltas(c)
        return torch.cat([c, d, torchaudio.functional.compute_deltas(d)], 1)


class Probe(nn.Module):
    """Three 1-D convolutions over LFCC frames, mean and std pooling, two logits (bona fide = 1)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, width: int = 128) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        layers: list[nn.Module] = []
        for i, k in enumerate((5, 5, 3)):
            layers += [
                nn.Conv1d(60 if i == 0 else width, width, k, padding=k // 2),
                nn.BatchNorm1d(width),
                nn.ReLU(),
            ]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(2 * width, 2)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h = self.body((feats - self.mean) / self.std)
        return self.out(torch.cat([h.mean(-1), h.std(-1)], 1))


def crop(w: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """A random (training) or central 2 s crop; short files are repeated."""
    if len(w) < CROP:
        w = np.tile(w, CROP // len(w) + 1)
    s = int(rng.integers(0, len(w) - CROP + 1)) if rng is not None else (len(w) - CROP) // 2
    return w[s : s + CROP]


def mu_law(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """An 8-bit mu-law round trip."""
    y = np.sign(x) * np.log1p(mu * np.abs(np.clip(x, -1, 1))) / np.log1p(mu)
    y = np.round((y + 1) / 2 * mu) / mu * 2 - 1
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


def augment(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A channel (telephone band, mu-law, or low-pass) and RawBoost-style random FIR filtering, each with p = 1/2."""
    if rng.random() < 0.5:
        k = rng.integers(3)
        if k == 0:
            w = ss.resample_poly(mu_law(ss.resample_poly(w, 1, 2)), 2, 1)
        elif k == 1:
            w = ss.resample_poly(ss.resample_poly(w, 1, 2), 2, 1)
        else:
            w = ss.lfilter(ss.firwin(101, rng.uniform(3400, 7000), fs=SR), 1, w)
    if rng.random() < 0.5:
        g = np.zeros(101)
        g[50] = 1
        for _ in range(int(rng.integers(1, 5))):
            fc, bw = rng.uniform(20, 7900), rng.uniform(100, 1000)
            band = [max(fc - bw / 2, 10), min(fc + bw / 2, SR / 2 - 10)]
            g += rng.uniform(-0.5, 0.5) * ss.firwin(101, band, pass_zero=False, fs=SR)
        w = ss.lfilter(g, 1, w)
    return w.astype(np.float32)


def subset(train: Split, frac: float, seed: int) -> Split:
    """``frac`` of the training trials, every system kept in proportion."""
    if frac >= 1:
        return train
    rng = np.random.default_rng(100 + seed)
    systems = np.array(train.system)
    keep = np.zeros(len(systems), bool)
    for s in sorted(set(systems)):
        idx = np.flatnonzero(systems == s)
        keep[rng.choice(idx, round(len(idx) * frac), replace=False)] = True
    return train.take(keep)


def per_group_eer(scores: np.ndarray, split: Split, groups: list[str]) -> dict[str, float]:
    """EER of each group's spoofs (and every bona fide trial of the group's condition)."""
    out = {}
    for g in sorted(set(groups) - {"bonafide"}):
        gs = np.array(groups)
        if (
            split.codec and g in split.codec
        ):  # a codec condition: its own bona fide and spoof trials
            m = gs == g
            bona, spoof = scores[m & (split.y == 1)], scores[m & (split.y == 0)]
        else:
            bona, spoof = scores[split.y == 1], scores[gs == g]
        if len(bona) and len(spoof):
            out[g] = eer(bona, spoof)[0]
    return out


def run(
    data: dict[str, Split], frac: float, use_augment: bool, seen: bool, seed: int, epochs: int
) -> dict:
    """Train the probe once and score LA19 dev, eval and LA21 eval."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train, ev = subset(data["train"], frac, seed), data["eval"]
    if seen:
        speakers = sorted(set(ev.speaker))[:5]
        moved = np.array([s in speakers for s in ev.speaker])
        train, ev = train + ev.take(moved), ev.take(~moved)
    fe = Lfcc()
    with torch.no_grad():
        feats = {
            k: fe(torch.from_numpy(np.stack([crop(w, None) for w in s.wav]).astype(np.float32)))
            for k, s in (("dev", data["dev"]), ("eval", ev), ("la21", data["la21"]))
        }
        tr = fe(torch.from_numpy(np.stack([crop(w, None) for w in train.wav]).astype(np.float32)))
    model = Probe(tr.mean((0, 2))[None, :, None], tr.std((0, 2))[None, :, None])
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=1e-4)
    y = torch.from_numpy(train.y)
    weight = len(y) / (2 * torch.bincount(y, minlength=2).float())
    n_epochs = max(1, round(epochs / min(frac, 1.0)))  # the same number of updates at every share
    t0 = time.perf_counter()
    for _ in range(n_epochs):
        for b in torch.randperm(len(y)).split(32):
            wav = [crop(train.wav[i], rng) for i in b.tolist()]
            wav = [augment(w, rng) if use_augment else w for w in wav]
            with torch.no_grad():
                x = fe(torch.from_numpy(np.stack(wav).astype(np.float32)))
            loss = F.cross_entropy(model(x), y[b], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        scores = {
            k: torch.cat([model(f[i : i + 256]) for i in range(0, len(f), 256)])
            .diff(dim=1)[:, 0]
            .numpy()
            for k, f in feats.items()
        }
    splits = {"dev": data["dev"], "eval": ev, "la21": data["la21"]}
    pooled = {k: eer(s[splits[k].y == 1], s[splits[k].y == 0])[0] for k, s in scores.items()}
    return {
        "pooled": pooled,
        "eval_attacks": per_group_eer(scores["eval"], ev, ev.system),
        "la21_codecs": per_group_eer(scores["la21"], data["la21"], data["la21"].codec),
        "seconds": time.perf_counter() - t0,
        "train_trials": len(y),
    }


def main() -> None:
    """Parse the options, run every (share, seed), print the EERs."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/embedded"))
    ap.add_argument("--frac", type=float, nargs="+", default=[1.0])
    ap.add_argument("--augment", action="store_true")
    ap.add_argument("--seen", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load(a.data)
    print(f"corpus {a.data}; augment={a.augment} seen={a.seen} epochs={a.epochs}")
    for frac in a.frac:
        for seed in a.seeds:
            r = run(data, frac, a.augment, a.seen, seed, a.epochs)
            p = r["pooled"]
            print(
                f"share {frac:g} seed {seed}: {r['train_trials']} training trials, {r['seconds']:.0f} s; EER "
                f"LA19 dev {100 * p['dev']:.1f} %, LA19 eval {100 * p['eval']:.1f} %, LA21 eval {100 * p['la21']:.1f} %"
            )
            print(
                "  LA19 eval per attack (%):",
                " ".join(f"{k} {100 * v:.0f}" for k, v in r["eval_attacks"].items()),
            )
            print(
                "  LA21 eval per codec (%):",
                " ".join(f"{k} {100 * v:.0f}" for k, v in r["la21_codecs"].items()),
            )


if __name__ == "__main__":
    main()
