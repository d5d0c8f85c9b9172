"""The shared trainer across processes: `accelerate launch` with two CPU processes (gloo), unchanged code.

accelerate's own `--cpu --num_processes 2` starts a single process unless MPI is installed (its multi-CPU
launcher is mpirun), so the test uses accelerate's torchrun-based launcher (`--multi_gpu`) with
ACCELERATE_USE_CPU=1, which puts every process on the CPU with the gloo backend. The script it launches,
tests/distributed_train.py, trains a small classifier through the Trainer as a study does and logs, per
process, the dataset indices it saw and every file it wrote.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("distributed_train.py")
N_TRAIN = 64  # distributed_train.N_TRAIN: a multiple of 2 processes x batch 8, so no process pads its shard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out: Path, log: Path, *args: str) -> list[dict]:
    """Run the script under `accelerate launch` with 2 CPU processes; return each process's log, rank order."""
    env = dict(
        os.environ,
        ACCELERATE_USE_CPU="1",
        OMP_NUM_THREADS="1",
        ASVNB_NONINTERACTIVE="1",
        HF_HOME=str(out.parent / "hf"),
    )  # no accelerate config file of the user's
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.accelerate_cli",
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(SCRIPT),
        str(out),
        str(log),
        *args,
    ]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    logs = [json.loads((log / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r, d in enumerate(logs):
        assert (d["rank"], d["processes"], d["backend"]) == (r, 2, "gloo"), d
    return logs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[dict]]]:
    """Three launches: 3 epochs uninterrupted; 3 epochs stopped after epoch 1; the same run again (resumes)."""
    tmp = tmp_path_factory.mktemp("distributed")
    return {
        "full": (tmp / "full", launch(tmp / "full", tmp / "log_full", "--epochs", "3")),
        "first": (
            tmp / "split",
            launch(tmp / "split", tmp / "log_first", "--epochs", "3", "--stop-after", "1"),
        ),
        "rest": (tmp / "split", launch(tmp / "split", tmp / "log_rest", "--epochs", "3")),
    }


@pytest.mark.slow
def test_it_trains_and_every_process_keeps_the_same_history(runs) -> None:
    out, (r0, r1) = runs["full"]
    assert r0["history"] == r1["history"]  # the main process's row, on both
    h = r0["history"]
    assert h["epoch"] == [1, 2, 3]
    assert h["train_loss"][0] > h["train_loss"][1] > h["train_loss"][2]
    assert (
        min(h["val_loss"]) < 0.35 and max(h["val_acc"]) >= 0.95
    )  # a separable problem: it learned it
    # validation ran on the whole set (40 items), not on a shard of it
    assert h["val_n"] == [40.0] * 3
    assert r0["weights"] == r1["weights"]  # DDP kept the replicas equal
    saved = [line.split(",") for line in (out / "history.csv").read_text().splitlines()]
    assert saved[0][:2] == ["epoch", "train_loss"] and len(saved) == 4


@pytest.mark.slow
def test_every_process_sees_its_own_shard(runs) -> None:
    _, (r0, r1) = runs["full"]
    for epoch in ("1", "2", "3"):
        a, b = r0["seen"][epoch], r1["seen"][epoch]
        assert len(a) == len(b) == N_TRAIN // 2
        assert not set(a) & set(b), f"epoch {epoch}: both processes saw {sorted(set(a) & set(b))}"
        assert sorted(a + b) == list(range(N_TRAIN))
    assert r0["seen"]["1"] != r0["seen"]["2"]  # reshuffled every epoch


@pytest.mark.slow
def test_checkpoints_are_written_once_by_the_main_process(runs) -> None:
    out, (r0, r1) = runs["full"]
    ckpt = sorted(p.name for p in (out / "checkpoint").iterdir())
    assert ckpt == [
        "custom_checkpoint_0.pkl",
        "optimizer.bin",
        "pytorch_model.bin",
        "random_states_0.pkl",
        "random_states_1.pkl",
        "trainer_state.json",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "best",
        "checkpoint",
        "history.csv",
    ]  # no .tmp / .old left

    def names(writes: list[str]) -> list[str]:
        return [w.split(" ", 1)[0] + " " + Path(w.split(" ", 1)[1]).name for w in writes]

    # the other process writes nothing but its own RNG state, once per epoch
    assert names(r1["writes"]) == ["torch.save random_states_1.pkl"] * 3
    per_epoch = [
        "torch.save pytorch_model.bin",
        "torch.save optimizer.bin",
        "torch.save random_states_0.pkl",
        "torch.save custom_checkpoint_0.pkl",
        "write_text trainer_state.json",
        "to_csv history.csv",
    ]
    best = ["torch.save model.pt", "write_text asvnb_model.json"]
    main = names(r0["writes"])
    assert (
        main.count("torch.save pytorch_model.bin") == 3
        and main.count("write_text trainer_state.json") == 3
    )
    assert main.count("torch.save model.pt") == sum(
        v == min(r0["history"]["val_loss"][: i + 1])
        for i, v in enumerate(r0["history"]["val_loss"])
    )
    assert [w for w in main if w not in best] == per_epoch * 3


@pytest.mark.slow
def test_resume_continues_from_epoch_2_with_the_same_state(runs) -> None:
    _, full = runs["full"]
    out, first = runs["first"]
    _, rest = runs["rest"]
    assert [d["history"]["epoch"] for d in first] == [[1], [1]]
    assert [d["resumed_from"] for d in rest] == [1, 1]
    for r in (0, 1):
        assert sorted(rest[r]["seen"]) == ["2", "3"]  # epoch 1 is not trained again
        assert first[r]["seen"]["1"] == full[r]["seen"]["1"]
        assert (
            rest[r]["seen"]["2"] == full[r]["seen"]["2"]
            and rest[r]["seen"]["3"] == full[r]["seen"]["3"]
        )
        # the same state: the resumed run ends bit for bit where the uninterrupted one ends
        assert rest[r]["history"] == full[r]["history"]
        assert rest[r]["weights"] == full[r]["weights"]
        assert rest[r]["best_epoch"] == full[r]["best_epoch"]
    assert json.loads((out / "checkpoint" / "trainer_state.json").read_text())["epoch"] == 3


def test_processes_that_do_not_see_each_other_are_refused(tmp_path: Path, monkeypatch) -> None:
    """`accelerate launch --multi_gpu` without GPUs and without ACCELERATE_USE_CPU=1: each process would train
    alone and overwrite the others' checkpoints; the trainer refuses and says what to set."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from asvnb.train import TrainConfig, Trainer

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    model = torch.nn.Linear(2, 2)
    loader = DataLoader(
        TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)), batch_size=2
    )
    with pytest.raises(RuntimeError, match="ACCELERATE_USE_CPU=1"):
        Trainer(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            loader,
            lambda m, b: m(b[0]).sum(),
            TrainConfig(out_dir=tmp_path, epochs=1),
        )
