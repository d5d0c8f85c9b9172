"""One trainer for every study, built on Hugging Face accelerate.

The same loop runs on the CPU here, on one GPU with mixed precision on Colab,
and on several GPUs or machines under ``accelerate launch``. What each study
trains differs only in the functions it passes: ``loss_fn`` for one step
(cross entropy, GE2E, distillation with a teacher, permutation-invariant loss
over two streams) and ``evaluate_fn`` for validation over the whole set.

Every epoch ends with an atomic checkpoint (model, optimiser, scheduler, RNG
states, history) so that a killed run resumes from its last finished epoch and,
with the same seed, ends exactly where an uninterrupted run ends.

Under several processes (``accelerate launch --multi_gpu --num_processes N``;
on the CPU with ``ACCELERATE_USE_CPU=1``, which uses gloo) the same code runs
unchanged: each process trains on its own shard of every epoch's batches (the
shuffle is drawn from the seed and the epoch, so the shards are disjoint and a
resumed run draws what an uninterrupted one would), each process seeds its own
random crops and augmentations (seed + process index), the logged train
metrics are averaged over every process's samples, and validation runs the
whole validation set on every process with the unwrapped model so that any
``evaluate_fn`` (an EER over the whole set included) gives the number a single
process would; the main process's row is sent to the others, so every process
keeps the same history and makes the same best-model choice. Only the main
process writes the checkpoint's model, optimiser and scheduler, the trainer
state, the history and the best model; each process adds its own RNG state to
the one checkpoint folder. With one process nothing of this applies and the
loop is what it always was.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from accelerate import Accelerator
from accelerate.data_loader import prepare_data_loader
from accelerate.utils import broadcast_object_list, set_seed
from torch import nn
from tqdm.auto import tqdm

from asvnb import files

LossFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, dict[str, float]] | torch.Tensor"]
EvalFn = Callable[[nn.Module, Any], "dict[str, float]"]


@dataclass
class TrainConfig:
    """How to train: epochs, accumulation, clipping, precision, what "best" means, where to write."""

    out_dir: Path
    epochs: int = 10
    seed: int = 0
    grad_accum: int = 1
    max_grad_norm: float | None = None
    mixed_precision: str = "auto"  # "auto": fp16 on CUDA, none on the CPU; or "no", "fp16", "bf16"
    monitor: str = "val_loss"  # a key of the history used to choose the best model
    mode: str = "min"  # "min" or "max"
    scheduler_interval: str = "epoch"  # scheduler.step() after every "epoch" or optimiser "step"
    resume: bool = True  # continue from out_dir/checkpoint when present
    progress: bool | None = None  # None: a progress bar unless run non-interactively (papermill)
    cpu: bool = False  # force the CPU even when CUDA is present
    # first epoch that is validated and may be chosen as best: under a one-cycle rate the early epochs, trained
    # at the warm-up's high rates, are never the best, and validating them costs time
    validate_from: int = 1

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")
        if self.scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"scheduler_interval must be 'epoch' or 'step', got {self.scheduler_interval!r}"
            )
        if self.epochs < 1 or self.grad_accum < 1:
            raise ValueError("epochs and grad_accum must be at least 1")
        if not 1 <= self.validate_from <= self.epochs:
            raise ValueError(
                f"validate_from must be an epoch from 1 to epochs ({self.epochs}), got {self.validate_from}"
            )


@dataclass
class TrainResult:
    """What fit() returns: the history table, the best epoch and its metrics, where the best model is."""

    history: pd.DataFrame
    best_epoch: int | None
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_dir: Path | None = None
    resumed_from: int = 0


def _as_loss(out: Any) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(out, tuple):
        return out[0], dict(out[1])
    return out, {}


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_size(next(iter(batch.values())))
    return 1


def mean_loss_eval(loss_fn: LossFn) -> EvalFn:
    """An evaluate_fn that averages loss_fn over a loader, weighted by batch size (not averaged over batches)."""

    @torch.no_grad()
    def evaluate(model: nn.Module, loader: Any) -> dict[str, float]:
        total, n = 0.0, 0
        for batch in loader:
            loss, _ = _as_loss(loss_fn(model, batch))
            bs = _batch_size(batch)
            total += float(loss) * bs
            n += bs
        return {"val_loss": total / max(n, 1)}

    return evaluate


def set_epoch(loader: Any, epoch: int) -> None:
    """The one epoch protocol: ``set_epoch(epoch)`` on a loader and on its sampler, batch sampler and dataset.

    ``epoch`` counts finished epochs (0 for the first), as PyTorch's
    DistributedSampler does. Only the :class:`Trainer` calls it, at the start of
    every epoch, from its own counter: accelerate's loader counts its passes
    from 0 again in a resumed run, so crops, augmentations and shuffles that
    depend on (seed, epoch) would repeat the first epochs' draws after a resume.
    """
    seen: set[int] = set()
    base = getattr(loader, "base_dataloader", loader)  # accelerate's shard wraps the user's loader
    batch_sampler = getattr(base, "batch_sampler", None)
    for obj in (
        loader,
        getattr(base, "sampler", None),
        batch_sampler,
        getattr(batch_sampler, "sampler", None),
        getattr(base, "dataset", None),
    ):
        if obj is not None and id(obj) not in seen and hasattr(obj, "set_epoch"):
            seen.add(id(obj))
            obj.set_epoch(epoch)


class Trainer:
    """Train a model with checkpoints, resume, metric history and best-model export."""

    CHECKPOINT = "checkpoint"
    BEST = "best"
    HISTORY = "history.csv"

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train_loader: Any,
        loss_fn: LossFn,
        config: TrainConfig,
        *,
        val_loader: Any = None,
        evaluate_fn: EvalFn | None = None,
        scheduler: Any = None,
        model_config: dict[str, Any] | None = None,
        on_epoch_start: Callable[[Trainer, int], None] | None = None,
        on_epoch_end: Callable[[Trainer, int, dict[str, float]], None] | None = None,
    ) -> None:
        self.cfg = config
        precision = config.mixed_precision
        if precision == "auto":
            precision = "fp16" if torch.cuda.is_available() and not config.cpu else "no"
        set_seed(config.seed)
        self.accelerator = Accelerator(
            gradient_accumulation_steps=config.grad_accum, mixed_precision=precision, cpu=config.cpu
        )
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > 1 and self.accelerator.num_processes == 1:
            # `accelerate launch --multi_gpu` on a machine without GPUs starts N processes that each train alone
            # and overwrite each other's checkpoints: refuse, and say how to run them together on the CPU
            raise RuntimeError(
                f"launched as one of {launched} processes, but accelerate sees a single process "
                "(no GPU here?): to train on the CPU across processes, set ACCELERATE_USE_CPU=1 "
                "(accelerate then uses the gloo backend)"
            )
        self.distributed = self.accelerator.num_processes > 1
        if self.distributed:
            # every process draws the same shuffle from (seed, epoch), so the shards are disjoint, and a resumed
            # run draws the shuffle an uninterrupted run would; random crops and augmentations differ per process
            self.accelerator.dataloader_config.use_seedable_sampler = True
            self.accelerator.dataloader_config.data_seed = config.seed
            set_seed(config.seed, device_specific=True)
        self.model, self.optimizer, self.train_loader = self.accelerator.prepare(
            model, optimizer, train_loader
        )
        if val_loader is not None and self.distributed:
            # not sharded: each process validates on the whole set (see the module docstring)
            self.val_loader = prepare_data_loader(
                val_loader,
                self.accelerator.device,
                num_processes=1,
                process_index=0,
                put_on_device=True,
                dispatch_batches=False,
            )
        else:
            self.val_loader = (
                self.accelerator.prepare(val_loader) if val_loader is not None else None
            )
        # The scheduler stays unprepared (we step it ourselves, per epoch or per optimiser step) but is
        # registered so that its state is checkpointed with the rest.
        self.scheduler = scheduler
        if scheduler is not None:
            self.accelerator.register_for_checkpointing(scheduler)
        self.loss_fn = loss_fn
        self.evaluate_fn = evaluate_fn or (
            mean_loss_eval(loss_fn) if val_loader is not None else None
        )
        self.model_config = model_config or {}
        self.on_epoch_start = on_epoch_start
        self.on_epoch_end = on_epoch_end
        self.history: list[dict[str, Any]] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.epoch = 0  # epochs finished

    # ------------------------------------------------------------------ checkpoints
    @property
    def device(self) -> torch.device:
        """The device the model is on (CPU here, CUDA on Colab)."""
        return self.accelerator.device

    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "history": self.history,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "seed": self.cfg.seed,
            "config": {k: str(v) for k, v in dataclasses.asdict(self.cfg).items()},
        }

    def save_checkpoint(self) -> Path:
        """Write out_dir/checkpoint atomically: a crash mid-write leaves the previous one intact.

        Every process must call it: accelerate writes the model, optimiser and scheduler from the main process
        and each process's RNG state from that process; the main process alone renames the folder into place.
        """
        acc = self.accelerator
        final = self.cfg.out_dir / self.CHECKPOINT
        tmp = final.with_name(final.name + ".tmp")
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        acc.wait_for_everyone()  # (a no-op in a single process, as are the two below)
        acc.save_state(str(tmp), safe_serialization=False)
        acc.wait_for_everyone()
        if acc.is_main_process:
            (tmp / "trainer_state.json").write_text(
                json.dumps(self._state(), indent=2, default=str)
            )
            files.replace_dir(tmp, final)  # load_checkpoint falls back on the .old it may leave
        acc.wait_for_everyone()
        return final

    def load_checkpoint(self) -> bool:
        """Resume from out_dir/checkpoint (or the .old one a crash may have left); False when there is none."""
        out = self.cfg.out_dir
        for cand in (out / self.CHECKPOINT, out / (self.CHECKPOINT + ".old")):
            state_file = cand / "trainer_state.json"
            if state_file.is_file():
                state = json.loads(state_file.read_text())
                self.accelerator.load_state(str(cand))
                self.epoch, self.history = state["epoch"], state["history"]
                self.best, self.best_epoch = state["best"], state["best_epoch"]
                return True
        return False

    def export_best(self, metrics: dict[str, float]) -> Path:
        """Save the current model as the best one, with its config and metrics, so it can be reloaded.

        Under several processes every process calls it and the main process alone writes.
        """
        dst = self.cfg.out_dir / self.BEST
        if self.accelerator.is_main_process:
            self._write_best(dst, metrics)
        self.accelerator.wait_for_everyone()
        return dst

    def _write_best(self, dst: Path, metrics: dict[str, float]) -> None:
        meta = {
            "model_config": self.model_config,
            "epoch": self.epoch,
            "metrics": metrics,
            "monitor": self.cfg.monitor,
            "seed": self.cfg.seed,
        }
        model = self.accelerator.unwrap_model(self.model)
        with files.staged_dir(dst) as tmp:
            if hasattr(model, "save_pretrained"):  # transformers models keep their own format
                model.save_pretrained(str(tmp))
            else:
                torch.save(model.state_dict(), tmp / "model.pt")
            (tmp / "asvnb_model.json").write_text(json.dumps(meta, indent=2, default=str))

    # ------------------------------------------------------------------ training
    def _progress(self) -> bool:
        if self.cfg.progress is not None:
            return self.cfg.progress
        # papermill runs (the book build, CI) set this: a per-epoch line reads better there than a bar
        return os.environ.get("ASVNB_NONINTERACTIVE") != "1"

    def _improved(self, value: float) -> bool:
        if self.best is None or math.isnan(self.best):
            return not math.isnan(value)
        return value < self.best if self.cfg.mode == "min" else value > self.best

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training loader; returns the sample-weighted mean loss and step metrics."""
        self.model.train()
        sums: dict[str, float] = {}
        n = 0
        bar = tqdm(
            self.train_loader,
            desc=f"epoch {epoch}/{self.cfg.epochs}",
            leave=False,
            disable=not self._progress() or not self.accelerator.is_local_main_process,
        )
        for batch in bar:
            with self.accelerator.accumulate(self.model):
                loss, logs = _as_loss(self.loss_fn(self.model, batch))
                self.accelerator.backward(loss)
                if self.accelerator.sync_gradients and self.cfg.max_grad_norm:
                    self.accelerator.clip_grad_norm_(
                        self.model.parameters(), self.cfg.max_grad_norm
                    )
                self.optimizer.step()
                self.optimizer.zero_grad()
                if (
                    self.scheduler is not None
                    and self.cfg.scheduler_interval == "step"
                    and self.accelerator.sync_gradients
                ):
                    self.scheduler.step()
            bs = _batch_size(batch)
            n += bs
            for k, v in {
                "train_loss": float(loss.detach()),
                **{f"train_{k}": float(v) for k, v in logs.items()},
            }.items():
                sums[k] = sums.get(k, 0.0) + v * bs
            bar.set_postfix(loss=f"{sums['train_loss'] / n:.4f}")
        if self.distributed:  # means over every process's samples (each process saw its own shard)
            totals = self.accelerator.reduce(
                torch.tensor(
                    [float(n), *sums.values()], dtype=torch.float64, device=self.accelerator.device
                ),
                "sum",
            ).tolist()
            n, sums = int(totals[0]), dict(zip(sums, totals[1:]))
        return {k: v / max(n, 1) for k, v in sums.items()}

    def _evaluate(self) -> dict[str, float]:
        model = self.model
        if (
            self.distributed
        ):  # the unwrapped replica: no collective calls inside evaluate_fn's forward passes
            model = self.accelerator.unwrap_model(self.model)
        model.eval()
        # validation draws nothing training sees (a DataLoader takes a seed from torch's generator even unshuffled):
        # how often a run validates leaves its training unchanged
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            return self.evaluate_fn(model, self.val_loader)

    def fit(self, stop_after: int | None = None) -> TrainResult:
        """Train until cfg.epochs (resuming when a checkpoint exists); stop_after ends early, as a kill would."""
        self.cfg.out_dir.mkdir(parents=True, exist_ok=True)
        resumed_from = 0
        if self.cfg.resume and self.load_checkpoint():
            resumed_from = self.epoch
            self.accelerator.print(
                f"resumed from {self.cfg.out_dir / self.CHECKPOINT} after epoch {self.epoch}"
            )
        while self.epoch < self.cfg.epochs:
            epoch = self.epoch + 1
            if self.on_epoch_start:
                self.on_epoch_start(self, epoch)
            set_epoch(self.train_loader, epoch - 1)
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch, **self.train_epoch(epoch)}
            validated = (
                self.evaluate_fn is not None
                and self.val_loader is not None
                and epoch >= self.cfg.validate_from
            )
            if validated:
                row.update(self._evaluate())
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            row["seconds"] = round(time.perf_counter() - t0, 2)
            if (
                self.distributed
            ):  # one history and one best-model choice on every process: the main process's
                row = broadcast_object_list([row])[0]
            if self.scheduler is not None and self.cfg.scheduler_interval == "epoch":
                self.scheduler.step()
            self.epoch = epoch
            self.history.append(row)
            monitored = row.get(self.cfg.monitor)
            skipped = (
                epoch < self.cfg.validate_from
            )  # not validated: not a candidate for the best model
            if monitored is None and not skipped:
                raise KeyError(
                    f"monitor {self.cfg.monitor!r} is not among the epoch's metrics {sorted(row)}"
                )
            if monitored is not None and not skipped and self._improved(float(monitored)):
                self.best, self.best_epoch = float(monitored), epoch
                self.export_best({k: v for k, v in row.items() if isinstance(v, (int, float))})
            self.save_checkpoint()
            if self.accelerator.is_main_process:
                pd.DataFrame(self.history).to_csv(self.cfg.out_dir / self.HISTORY, index=False)
            self.accelerator.print(
                " ".join(
                    [f"epoch {epoch}/{self.cfg.epochs}"]
                    + [
                        f"{k}={v:.4g}"
                        for k, v in row.items()
                        if k != "epoch" and isinstance(v, float)
                    ]
                )
            )
            if self.on_epoch_end:
                self.on_epoch_end(self, epoch, row)
            if stop_after is not None and epoch >= stop_after:
                break
        best_dir = self.cfg.out_dir / self.BEST
        best_metrics = next((r for r in self.history if r["epoch"] == self.best_epoch), {})
        return TrainResult(
            history=pd.DataFrame(self.history),
            best_epoch=self.best_epoch,
            best_metrics=best_metrics,
            best_dir=best_dir if best_dir.exists() else None,
            resumed_from=resumed_from,
        )


def model_config(factory: Callable[..., nn.Module], **kwargs: Any) -> dict[str, Any]:
    """Describe how to rebuild a model: the importable factory and its keyword arguments."""
    return {"factory": f"{factory.__module__}:{factory.__qualname__}", "kwargs": kwargs}


def load_best(best_dir: str | Path, map_location: str = "cpu") -> nn.Module:
    """Rebuild a model exported by Trainer.export_best from its config and weights."""
    best_dir = Path(best_dir)
    meta_file = best_dir / "asvnb_model.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{best_dir}: not an exported model (no asvnb_model.json)")
    meta = json.loads(meta_file.read_text())
    cfg = meta["model_config"]
    if "factory" not in cfg:
        raise ValueError(
            f"{meta_file}: model_config has no 'factory'; export with model_config=model_config(...)"
        )
    module, _, name = cfg["factory"].partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if hasattr(obj, "from_pretrained") and (best_dir / "config.json").is_file():
        return obj.from_pretrained(str(best_dir))
    model = obj(**cfg.get("kwargs", {}))
    model.load_state_dict(torch.load(best_dir / "model.pt", map_location=map_location))
    return model.eval()


def publish_trained(
    out: str | Path,
    res: TrainResult,
    write: Callable[[Path], int],
    info: dict[str, Any],
    work: str | Path | None = None,
) -> Path:
    """Put a trained model's folder at ``out`` in one rename: ``write(folder)`` saves the model and returns its
    parameter count; ``history.csv`` and ``standin.json`` (``info`` plus parameters, training seconds over resumed
    runs too, best epoch) are added; the trainer's ``work`` folder is removed once ``out`` is in place."""
    out = Path(out)
    with files.staged_dir(out) as tmp:
        n_params = write(tmp)
        res.history.to_csv(tmp / "history.csv", index=False)
        card = {
            **info,
            "parameters": n_params,
            "train_seconds": round(float(res.history["seconds"].sum()), 1),
            "best_epoch": res.best_epoch,
        }
        (tmp / "standin.json").write_text(json.dumps(card, indent=1))
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
    return out
