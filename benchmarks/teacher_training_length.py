"""How far training length carries study 03's teacher: LA19 dev EER per training attack and LA19 eval EER per arm.

The embedded profile fine-tunes each of the study's 21 networks (7 per seed)
for 8 epochs of 500 one-second crops (4,000 crops) with MUSAN/RIR augmentation
on one utterance in five, and the teacher then misses two attacks it trained
on (A05, A06). This script trains that teacher (G-ResNetSE, NLL only, from
scratch; study 03's own ``fine_tune``, data and LA19 dev selection rule) under
longer budgets, to tell an undertrained network from a blind one:

* ``1x``: the profile's settings;
* ``4.5x``: 12 epochs of 1,500 crops (every LA19 train utterance each epoch), no augmentation;
* ``9x``: 24 epochs of 1,500, the rate decayed x0.9 per epoch instead of x0.8, no augmentation;
* ``4.5x-no-norm``: ``4.5x`` without the instance normalisation the source prescribes
  (``ResNetSE(normalise=False)``): what the normalisation costs at equal training.

Per arm it prints the wall time, the best epoch (lowest EER on the 280 LA19
dev trials the study validates on), and that network's EER on 700
class-balanced LA19 dev trials (pooled, A01-A06) and on every LA19 eval trial
(pooled, unseen attacks A07-A19), against the corpus's LFCC-GMM.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/teacher_training_length.py [--arms 1x 4.5x 9x 4.5x-no-norm] [--seed 0]

Finished arms are read back from ``--out`` (the trainer resumes), so a rerun only evaluates. ``--json``
(default ``benchmarks/results/teacher_training_length.json``, committed) keeps every figure with its 95 %
interval (bootstrap over trials), the commit and the threads: the study 03 chapter shows that file.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from asvnb import config, metrics
from asvnb.models.resnetse import ResNetSE
from asvnb.results import eer_ci
from asvnb.studies import ge2e_aeg_kd as study
from asvnb.studies.ge2e_aeg_kd.sets import train_dataset
from asvnb.studies.ge2e_aeg_kd.training import BONAFIDE, dev_loader, fine_tune
from asvnb.train.adversarial import FineTuneSet
from asvnb.train.classify import predict

ARMS = {
    "1x": ({}, True),
    "4.5x": ({"epochs": 12, "train_per_epoch": 1500, "augment": False}, True),
    "9x": ({"epochs": 24, "train_per_epoch": 1500, "augment": False, "lr_decay": 0.9}, True),
    "4.5x-no-norm": ({"epochs": 12, "train_per_epoch": 1500, "augment": False}, False),
}


def per_system_eer(
    model: torch.nn.Module, loader: DataLoader, systems: list[str]
) -> dict[str, dict[str, object]]:
    """Pooled and per-attack EER, its 95 % interval and trial count, of ``model``'s bona fide log-odds on
    ``loader`` (trials in ``systems``' order)."""
    s = predict(model, loader).scores(BONAFIDE)
    sysn = np.array(systems)
    bona = s[sysn == "bonafide"]
    groups = {"pooled": sysn != "bonafide"} | {
        a: sysn == a for a in sorted(set(systems) - {"bonafide"})
    }
    return {
        a: {
            "eer": metrics.eer(bona, s[m])[0],
            "ci95": eer_ci(bona, s[m]),
            "n_trials": int(len(bona) + m.sum()),
        }
        for a, m in groups.items()
    }


def main() -> None:
    """Train and evaluate each arm; print one line per arm."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--data", type=Path, default=None, help="data root (default: the embedded corpus)"
    )
    ap.add_argument("--out", type=Path, default=Path("build/benchmarks/teacher_training_length"))
    ap.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/teacher_training_length.json")
    )
    args = ap.parse_args()
    root = args.data or config.embedded_root()
    print(f"torch threads {torch.get_num_threads()}; data {root}; seed {args.seed}", flush=True)
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "fingerprint": config.fingerprint(root),
        "threads": torch.get_num_threads(),
        "seed": args.seed,
        "model": "G-ResNetSE, NLL only, from scratch (study 03's embedded teacher)",
        "arms": {},
    }
    for arm in args.arms:
        overrides, normalise = ARMS[arm]
        cfg = study.GE2EAEGKDConfig.for_profile("embedded", root, **overrides)
        data = study.load_data(cfg, args.seed)
        torch.manual_seed(args.seed)
        model = ResNetSE(**cfg.model_kwargs(teacher=True), normalise=normalise)
        t0 = time.perf_counter()
        ds = FineTuneSet(train_dataset(cfg, data, args.seed), None, data.augmenter, args.seed)
        model, hist = fine_tune(
            cfg, model, ds, args.seed, args.out / arm, val=dev_loader(cfg, data), progress=False
        )
        wall = time.perf_counter() - t0
        best = int(hist.loc[hist["val_eer"].idxmin(), "epoch"])
        dev = dev_loader(cfg, data, limit=700)
        dev_eer = per_system_eer(model, dev, [t.system for t in dev.dataset.trials])
        ev = data.eval19
        ev_ds = data.dataset(
            ev.trials,
            ev.audio_dir,
            sr=cfg.sample_rate,
            n_samples=cfg.eval_samples,
            bonafide_label=BONAFIDE,
        )
        ev_eer = per_system_eer(
            model, DataLoader(ev_ds, batch_size=64), [t.system for t in ev.trials]
        )
        crops = cfg.epochs * cfg.train_per_epoch
        resumed = hist["seconds"].sum() if "seconds" in hist else float("nan")
        record["arms"][arm] = {
            "settings": overrides | {"normalise": normalise},
            "crops": crops,
            "epochs": cfg.epochs,
            "best_epoch": best,
            "train_seconds": float(resumed),  # the trainer's epoch times, also when read back
            "LA19 dev": dev_eer,
            "LA19 eval": ev_eer,
        }
        print(
            f"{arm:>13}: {crops:6d} crops, {resumed:6.0f} s ({wall:.0f} s this run), best epoch {best:2d}/"
            f"{cfg.epochs}; LA19 dev pooled {dev_eer['pooled']['eer']:.3f} | "
            + " ".join(f"{a} {v['eer']:.3f}" for a, v in dev_eer.items() if a != "pooled")
            + f"; LA19 eval pooled {ev_eer['pooled']['eer']:.3f} (max per attack "
            f"{max(v['eer'] for a, v in ev_eer.items() if a != 'pooled'):.3f})",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
