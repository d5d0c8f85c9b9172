"""The shared trainer: history, checkpoints, resume after a kill, best-model export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from asvnb.train import TrainConfig, Trainer, load_best, model_config


class TinyNet(nn.Module):
    """A two-layer classifier small enough to train in a second."""

    def __init__(self, n_in: int = 4, n_hidden: int = 8, n_out: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(n_hidden, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_data(seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return TensorDataset(x, y)


def loss_fn(model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
    x, y = batch
    logits = model(x)
    return nn.functional.cross_entropy(logits, y), {
        "acc": float((logits.argmax(1) == y).float().mean())
    }


@torch.no_grad()
def evaluate(model: nn.Module, loader) -> dict[str, float]:
    correct = n = 0
    loss = 0.0
    for x, y in loader:
        logits = model(x)
        loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        n += len(y)
    return {"val_loss": loss / n, "val_acc": correct / n}


def quiet_config(out: Path, epochs: int, seed: int = 0, **settings) -> TrainConfig:
    """The trainer's settings for a test: no progress bar, the rest as given."""
    return TrainConfig(out_dir=out, epochs=epochs, seed=seed, progress=False, **settings)


def make_trainer(out: Path, epochs: int = 4, seed: int = 0) -> Trainer:
    torch.manual_seed(seed)
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    data = make_data()
    train = DataLoader(data, batch_size=16, shuffle=True)
    val = DataLoader(make_data(1), batch_size=32)
    cfg = quiet_config(out, epochs, seed, monitor="val_acc", mode="max", max_grad_norm=1.0)
    return Trainer(
        model,
        opt,
        train,
        loss_fn,
        cfg,
        val_loader=val,
        evaluate_fn=evaluate,
        scheduler=sched,
        model_config=model_config(TinyNet, n_in=4, n_hidden=8, n_out=2),
    )


def weights(trainer: Trainer) -> torch.Tensor:
    return torch.cat(
        [p.detach().flatten() for p in trainer.accelerator.unwrap_model(trainer.model).parameters()]
    )


def test_history_checkpoint_and_best_export(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    result = trainer.fit()
    hist = pd.read_csv(tmp_path / "history.csv")
    assert list(hist["epoch"]) == [1, 2, 3, 4]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"} <= set(hist.columns)
    # StepLR(step_size=2, gamma=0.5): the lr used in epochs 1-2 is 0.05, in epochs 3-4 0.025
    assert hist["lr"].tolist() == pytest.approx([0.05, 0.05, 0.025, 0.025])
    assert result.best_epoch == int(hist.loc[hist["val_acc"].idxmax(), "epoch"])
    state = json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())
    assert state["epoch"] == 4 and len(state["history"]) == 4
    assert not (tmp_path / "checkpoint.tmp").exists() and not (tmp_path / "checkpoint.old").exists()
    # the exported best model reloads from its config and scores like the trainer's evaluation said
    model = load_best(tmp_path / "best")
    reloaded = evaluate(model, DataLoader(make_data(1), batch_size=32))
    assert reloaded["val_acc"] == pytest.approx(result.best_metrics["val_acc"])
    assert (
        result.best_metrics["val_acc"] > 0.75
    )  # the task is linearly separable: it learned something


def test_resume_after_stop_matches_uninterrupted_run(tmp_path: Path) -> None:
    full = make_trainer(tmp_path / "full")
    full_result = full.fit()

    first = make_trainer(tmp_path / "split")
    first.fit(stop_after=2)
    # a new process would build a fresh model with another init: resume must overwrite all of it
    second = make_trainer(tmp_path / "split", seed=0)
    torch.manual_seed(123)
    second_result = second.fit()
    assert second_result.resumed_from == 2
    pd.testing.assert_frame_equal(
        full_result.history.drop(columns="seconds"), second_result.history.drop(columns="seconds")
    )
    assert torch.equal(weights(full), weights(second))


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from test_train_loop import make_trainer
    def slow(trainer, epoch, row):
        print(f"EPOCH {{epoch}} DONE", flush=True)
        time.sleep(30 if epoch == 2 else 0)   # the parent kills us here, after the epoch-2 checkpoint
    t = make_trainer(Path({out!r}))
    t.on_epoch_end = slow
    t.fit()
""")


def test_resume_after_sigkill(tmp_path: Path) -> None:
    """A run killed with SIGKILL resumes from its last checkpoint and ends like an uninterrupted one."""
    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out))
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, ASVNB_NONINTERACTIVE="1"),
    )
    deadline = time.time() + 120
    for line in proc.stdout:
        if "EPOCH 2 DONE" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["epoch"] == 2

    resumed = make_trainer(out).fit()
    reference = make_trainer(tmp_path / "reference").fit()
    assert resumed.resumed_from == 2
    pd.testing.assert_frame_equal(
        reference.history.drop(columns="seconds"), resumed.history.drop(columns="seconds")
    )


def test_bad_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        TrainConfig(out_dir=tmp_path, mode="best")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(out_dir=tmp_path, epochs=0)


def test_validation_starts_at_validate_from_and_only_validated_epochs_can_be_best(
    tmp_path: Path,
) -> None:
    calls = []

    def counted(model, loader):
        calls.append(1)
        return evaluate(model, loader)

    trainer = make_trainer(tmp_path, epochs=4)
    trainer.evaluate_fn = counted
    trainer.cfg.validate_from = 3
    result = trainer.fit()
    hist = pd.read_csv(tmp_path / "history.csv")
    assert len(calls) == 2  # epochs 3 and 4 only
    assert hist["val_acc"].isna().tolist() == [True, True, False, False]
    assert hist["train_loss"].notna().all()
    assert result.best_epoch == int(hist.loc[hist["val_acc"].idxmax(), "epoch"])
    assert result.best_epoch in (3, 4)
    # the same run validated every epoch trains the same weights: skipping validation changes no draw
    full = make_trainer(tmp_path / "every", epochs=4)
    full.fit()
    assert torch.equal(weights(full), weights(trainer))


def test_validate_from_outside_the_epochs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="validate_from"):
        TrainConfig(out_dir=tmp_path, epochs=4, validate_from=5)
    with pytest.raises(ValueError, match="validate_from"):
        TrainConfig(out_dir=tmp_path, epochs=4, validate_from=0)


def test_unknown_monitor_is_an_error(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, epochs=1)
    trainer.cfg.monitor = "val_f1"
    with pytest.raises(KeyError, match="val_f1"):
        trainer.fit()


class EpochAware(TensorDataset):
    """A dataset whose items depend on the epoch (like random crops): records the epochs it was told."""

    def __init__(self) -> None:
        data = make_data()
        super().__init__(*data.tensors)
        self.epochs: list[int] = []
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)
        self.epoch = epoch

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return x + 0.01 * self.epoch, y


def epoch_aware_trainer(out: Path, data: EpochAware) -> Trainer:
    torch.manual_seed(0)
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    cfg = quiet_config(out, 4, monitor="train_loss")
    return Trainer(model, opt, DataLoader(data, batch_size=16, shuffle=True), loss_fn, cfg)


def test_resume_continues_the_epoch_count_of_epoch_dependent_data(tmp_path: Path) -> None:
    full_data = EpochAware()
    full = epoch_aware_trainer(tmp_path / "full", full_data).fit()
    assert sorted(set(full_data.epochs)) == [0, 1, 2, 3]

    epoch_aware_trainer(tmp_path / "split", EpochAware()).fit(stop_after=2)
    resumed_data = EpochAware()
    resumed = epoch_aware_trainer(tmp_path / "split", resumed_data).fit()
    assert sorted(set(resumed_data.epochs)) == [2, 3]  # not 0 and 1 again
    pd.testing.assert_frame_equal(
        full.history.drop(columns="seconds"), resumed.history.drop(columns="seconds")
    )


class EpochSampler(torch.utils.data.Sampler):
    """A shuffle drawn from (seed, epoch), recording the epochs the trainer gave it."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch, self.epochs = n, 0, []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(
            torch.randperm(self.n, generator=torch.Generator().manual_seed(self.epoch)).tolist()
        )


def test_the_trainer_alone_tells_sampler_and_dataset_the_epoch(tmp_path: Path) -> None:
    data, sampler = EpochAware(), EpochSampler(96)
    torch.manual_seed(0)
    model = TinyNet()
    cfg = quiet_config(tmp_path, 3, monitor="train_loss")
    loader = DataLoader(data, batch_size=16, sampler=sampler)
    Trainer(model, torch.optim.Adam(model.parameters(), lr=0.05), loader, loss_fn, cfg).fit()
    # each epoch's number reaches both, 0-based, and no call gives any other number
    assert sorted(set(sampler.epochs)) == [0, 1, 2]
    assert sorted(set(data.epochs)) == [0, 1, 2]


def test_publish_trained_replaces_the_folder_whole_and_removes_the_work(tmp_path):
    from asvnb.train import TrainResult, publish_trained

    out, work = tmp_path / "model", tmp_path / "model.work"
    out.mkdir(), work.mkdir()
    (out / "stale.ckpt").write_text("old")
    hist = pd.DataFrame({"epoch": [1, 2], "seconds": [1.25, 2.5]})
    res = TrainResult(history=hist, best_epoch=2)

    def write(folder):
        (folder / "weights.ckpt").write_text("new")
        return 42

    assert publish_trained(out, res, write, {"steps": 7}, work) == out
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "standin.json", "weights.ckpt"]
    assert json.loads((out / "standin.json").read_text()) == {
        "steps": 7,
        "parameters": 42,
        "train_seconds": 3.8,
        "best_epoch": 2,
    }
    assert not work.exists() and not (tmp_path / "model.tmp").exists()


def test_a_classifier_skips_the_share_of_epochs_its_setup_names() -> None:
    from asvnb.train.classify import ClassifierSetup

    # the second half of 16, 8, 2 and 1 epoch(s), and every epoch by default
    assert [
        ClassifierSetup(epochs=e, skip_validation=0.5).validate_from for e in (16, 8, 2, 1)
    ] == [
        9,
        5,
        2,
        1,
    ]
    assert ClassifierSetup(epochs=16).validate_from == 1
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="skip_validation"):
            ClassifierSetup(skip_validation=bad)
