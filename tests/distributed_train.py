"""A tiny training run for `accelerate launch` (used by tests/test_train_distributed.py; not a test itself).

    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 tests/distributed_train.py OUT LOG \\
        [--epochs N] [--stop-after K]

trains a small classifier on a learnable problem through the shared Trainer, exactly as a study does, and
writes LOG/rank<i>.json per process: the dataset indices the process saw in each epoch, every file it wrote
(torch.save, Path.write_text, DataFrame.to_csv), the history, the resume point and the final weights.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

N_TRAIN, N_VAL, BATCH = 64, 40, 8


class Indexed(Dataset):
    """x in R^4, y = [x0 + 0.5 x1 > 0]; each item also carries its index, so a process can record what it saw."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = (self.x[:, 0] + 0.5 * self.x[:, 1] > 0).long()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return i, self.x[i], self.y[i]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("log")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--stop-after", type=int, default=None)
    args = ap.parse_args()

    rank = int(os.environ.get("RANK", "0"))
    writes: list[str] = []

    def logged(fn, name, path_arg):
        def wrapper(*a, **k):
            writes.append(f"{name} {a[path_arg]}")
            return fn(*a, **k)

        return wrapper

    torch.save = logged(
        torch.save, "torch.save", 1
    )  # accelerate's checkpoint and the best model go through it
    pathlib.Path.write_text = logged(
        pathlib.Path.write_text, "write_text", 0
    )  # trainer_state.json, asvnb_model.json
    pd.DataFrame.to_csv = logged(pd.DataFrame.to_csv, "to_csv", 1)  # history.csv

    from asvnb.train import TrainConfig, Trainer, model_config

    seen: dict[int, list[int]] = {}
    epoch_now = [0]

    def start(trainer: Trainer, epoch: int) -> None:
        epoch_now[0] = epoch
        seen[epoch] = []

    def loss_fn(model: nn.Module, batch) -> torch.Tensor:
        idx, x, y = batch
        seen[epoch_now[0]].extend(int(i) for i in idx)
        return nn.functional.cross_entropy(model(x), y)

    @torch.no_grad()
    def evaluate(model: nn.Module, loader) -> dict[str, float]:
        loss, correct, n = 0.0, 0, 0
        for _, x, y in loader:
            logits = model(x)
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
        return {"val_loss": loss / n, "val_acc": correct / n, "val_n": float(n)}

    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    cfg = TrainConfig(
        out_dir=Path(args.out),
        epochs=args.epochs,
        seed=0,
        monitor="val_loss",
        mode="min",
        progress=False,
        cpu=True,
    )
    trainer = Trainer(
        model,
        opt,
        DataLoader(Indexed(N_TRAIN, 0), batch_size=BATCH, shuffle=True),
        loss_fn,
        cfg,
        val_loader=DataLoader(Indexed(N_VAL, 1), batch_size=16),
        evaluate_fn=evaluate,
        scheduler=sched,
        model_config=model_config(nn.Linear, in_features=4, out_features=2),
        on_epoch_start=start,
    )
    result = trainer.fit(stop_after=args.stop_after)
    weights = [
        float(v)
        for p in trainer.accelerator.unwrap_model(trainer.model).parameters()
        for v in p.detach().flatten()
    ]
    log = Path(args.log)
    log.mkdir(parents=True, exist_ok=True)
    (log / f"rank{rank}.json.tmp").open("w").write(
        json.dumps(
            {
                "rank": rank,
                "processes": trainer.accelerator.num_processes,
                "backend": trainer.accelerator.state.backend,
                "seen": seen,
                "writes": writes,
                "resumed_from": result.resumed_from,
                "best_epoch": result.best_epoch,
                "history": result.history.drop(columns="seconds").to_dict(orient="list"),
                "weights": weights,
            }
        )
    )
    os.replace(log / f"rank{rank}.json.tmp", log / f"rank{rank}.json")


if __name__ == "__main__":
    main()
