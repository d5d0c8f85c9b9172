"""Study 03 from parameters to trained and scored models: the notebook's setup, one seed's seven models, all seeds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn as nn

from asvnb import config
from asvnb.models.resnetse import ResNetSE
from asvnb.studies.chapter import start
from asvnb.studies.ge2e_aeg_kd.aeg import ActiveAEG, static_aeg
from asvnb.studies.ge2e_aeg_kd.evaluation import (
    CMResult,
    describe_model,
    evaluate,
    evaluate_dev,
    evaluate_la19_eval,
)
from asvnb.studies.ge2e_aeg_kd.sets import StudyData, aeg_pool, sv_set, train_dataset
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig
from asvnb.studies.ge2e_aeg_kd.speaker import SpeakerEER, speaker_eer
from asvnb.studies.ge2e_aeg_kd.training import dev_loader, fine_tune, pretrain_ge2e
from asvnb.train.adversarial import AdversarialSet, FineTuneSet, load_adversarial

AEG_MODES = ("none", "static", "active")
# The seven models of one seed: name -> (architecture, GE2E pre-training, AEG mode)
MODELS = {
    "G NLL": ("teacher", False, "none"),
    "G GE2E+NLL": ("teacher", True, "none"),
    "G static": ("teacher", True, "static"),
    "G active": ("teacher", True, "active"),
    "L none": ("student", True, "none"),
    "L static": ("student", True, "static"),
    "L active": ("student", True, "active"),
}
TABLE1_MODELS = ("G NLL", "G GE2E+NLL")


def setup(
    profile: str,
    data_root: str | Path | None = None,
    *,
    threads: int | None = None,
    aeg_threshold: float | None = None,
    **overrides: Any,
) -> tuple[GE2EAEGKDConfig, dict]:
    """The notebook's first step: its parameters as the profile's settings, torch's threads, an empty detector
    index, the seed, the environment fingerprint, the departures from the source and the profile banner shown;
    returns the configuration and the fingerprint.

    ``aeg_threshold`` also switches the keep rule to a fixed cosine; every other
    parameter is a key of the profile file. None keeps the profile's value.
    """
    rule = None if aeg_threshold is None else "fixed"
    cfg = GE2EAEGKDConfig.for_profile(
        profile, data_root, aeg_threshold=aeg_threshold, aeg_threshold_rule=rule, **overrides
    )
    notes = [
        "\ndepartures from the source's settings: " + ("; ".join(cfg.reductions) or "none"),
        f"seeds: {list(cfg.seeds)}; torch threads: {threads or torch.get_num_threads()}; "
        f"runs under {cfg.run_root(0).parent}",
    ]
    fp = start(profile, cfg.paths.out, cfg.paths.data, cfg.seeds[0], threads, cfg.device, notes)
    return cfg, fp


@dataclass
class SeedRun:
    """The models of one seed: eval results, training histories, AEG counts and the GE2E speaker EERs."""

    seed: int
    results: dict[str, CMResult] = field(default_factory=dict)
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)
    aeg: dict[str, Any] = field(default_factory=dict)
    speaker: dict[str, SpeakerEER] = field(default_factory=dict)  # "before" / "after" GE2E
    dev: dict[str, CMResult] = field(default_factory=dict)  # LA19 dev scores of G GE2E+NLL
    eval19: dict[str, CMResult] = field(default_factory=dict)  # LA19 eval scores of G GE2E+NLL


def run_seed(
    cfg: GE2EAEGKDConfig,
    data: StudyData,
    seed: int,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    table2: bool = True,
) -> SeedRun:
    """Train and evaluate the models of Table 1 for one seed, and with ``table2`` the other five of Table 2."""
    root = cfg.run_root(seed)
    run = SeedRun(seed)

    def finish(name: str, model: nn.Module, hist: pd.DataFrame) -> nn.Module:
        run.histories[name] = hist
        t0 = time.perf_counter()
        run.results[name] = r = evaluate(cfg, model, data)
        log(
            f"seed {seed} {name}: min t-DCF {r.min_tdcf:.4f}, EER {100 * r.eer:.2f}% "
            f"(training {hist['seconds'].sum():.0f} s, evaluation {time.perf_counter() - t0:.0f} s)"
        )
        describe_model(cfg, data, name, model, seed, root / name / "best")
        return model

    def ft_set(adv: AdversarialSet | None) -> FineTuneSet:
        return FineTuneSet(train_dataset(cfg, data, seed), adv, data.augmenter, seed)

    def same_as(name: str, other: str) -> None:
        run.results[name], run.histories[name] = run.results[other], run.histories[other]

    val = dev_loader(cfg, data)  # every run's best epoch: lowest EER on these LA19 dev trials
    config.seed_everything(seed)
    sv = sv_set(cfg, data) if data.dev is not None else None
    if sv is not None:
        torch.manual_seed(
            seed
        )  # the initial model GE2E starts from (pretrain_ge2e seeds the same way)
        run.speaker["before"] = speaker_eer(cfg, cfg.teacher(), sv, seed)
    ge2e, run.histories["GE2E"] = pretrain_ge2e(cfg, data, seed, root / "GE2E", progress)
    if sv is not None:
        run.speaker["after"] = speaker_eer(cfg, ge2e, sv, seed)
        log(
            f"seed {seed} GE2E: speaker EER on LA19 dev bona fide {100 * run.speaker['before'].eer:.1f}% "
            f"before, {100 * run.speaker['after'].eer:.1f}% after pre-training"
        )
    ge2e_state = {k: v.detach().clone() for k, v in ge2e.state_dict().items()}

    def from_ge2e() -> ResNetSE:
        m = cfg.teacher()
        m.load_state_dict(ge2e_state)
        return m

    teachers: dict[str, nn.Module] = {}
    config.seed_everything(seed)
    finish(
        "G NLL",
        *fine_tune(
            cfg, cfg.teacher(), ft_set(None), seed, root / "G NLL", progress=progress, val=val
        ),
    )
    teachers["none"] = finish(
        "G GE2E+NLL",
        *fine_tune(
            cfg, from_ge2e(), ft_set(None), seed, root / "G GE2E+NLL", progress=progress, val=val
        ),
    )
    if data.dev is not None:
        run.dev["G GE2E+NLL"] = evaluate_dev(cfg, teachers["none"], data)
    if data.eval19 is not None:
        run.eval19["G GE2E+NLL"] = evaluate_la19_eval(cfg, teachers["none"], data)
    if not table2:
        return run
    pool = aeg_pool(cfg, data, seed)
    static, run.aeg["static_similarity"] = static_aeg(cfg, ge2e, pool, seed, root / "static_aeg.pt")
    run.aeg["static"] = (static.n_tried, len(static))
    if len(static):
        teachers["static"] = finish(
            "G static",
            *fine_tune(
                cfg,
                from_ge2e(),
                ft_set(static),
                seed,
                root / "G static",
                progress=progress,
                val=val,
            ),
        )
    else:
        # no example kept: the static run would see exactly the data, seed and initial model of the run
        # without AEG, so it would repeat it bit for bit; its result is reused instead of recomputed
        log(f"seed {seed}: static AEG kept no example; G static = G GE2E+NLL and L static = L none")
        teachers["static"] = teachers["none"]
        same_as("G static", "G GE2E+NLL")
    ds = ft_set(None)
    last = root / "active_aeg_last.pt"
    active = ActiveAEG(cfg, ds, pool, seed, last, root / "active_aeg_log.json")
    teachers["active"] = finish(
        "G active",
        *fine_tune(
            cfg, from_ge2e(), ds, seed, root / "G active", active=active, progress=progress, val=val
        ),
    )
    run.aeg["active"] = active.log
    # the student learns from the data its teacher was fine-tuned on (the source does not say)
    student_adv = {
        "none": None,
        "static": static,
        "active": load_adversarial(last) if last.is_file() else None,
    }
    for mode in AEG_MODES:
        if mode == "static" and not len(static):
            same_as("L static", "L none")
            continue
        torch.manual_seed(seed)
        finish(
            f"L {mode}",
            *fine_tune(
                cfg,
                cfg.student(),
                ft_set(student_adv[mode]),
                seed,
                root / f"L {mode}",
                teacher=teachers[mode],
                progress=progress,
                val=val,
            ),
        )
    return run


def run_all(
    cfg: GE2EAEGKDConfig,
    data: StudyData,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> list[SeedRun]:
    """Every seed's Table 1 models; the first ``table2_seeds`` seeds also train Table 2's other five."""
    n2 = len(cfg.seeds) if cfg.table2_seeds is None else cfg.table2_seeds
    runs = []
    for k, seed in enumerate(cfg.seeds):
        t0 = time.perf_counter()
        runs.append(run_seed(cfg, data, seed, progress, log, table2=k < n2))
        log(f"seed {seed}: {time.perf_counter() - t0:.0f} s")
    return runs
