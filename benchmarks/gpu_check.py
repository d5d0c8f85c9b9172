"""What the full profile costs on this machine's device: per-unit costs of its models at full size, and the whole book.

Measures, on whatever device is present (CUDA when there is one; printed), with
the full profile's architectures at their published sizes and random weights
(``asvnb.models.full_size``; the study-03 ResNetSE models as the study builds
them), at the full profile's batch sizes (read from the study configurations):

- SepFormer (``speechbrain/sepformer-wsj02mix`` size, 25.7 M) and ConvTasNet:
  separation, seconds per second of 8 kHz audio;
- WavLM Base detector (94.6 M): forward, and forward + backward + AdamW step,
  seconds per second of 16 kHz audio;
- G-ResNetSE (5.6 M) and L-ResNetSE (1.4 M): a training step per 4 s utterance
  at 22.05 kHz, a forward per evaluation utterance, and a BIM attack (AEG) per
  utterance;
- ResNet50, ResNet18 transfer and the two spectrogram CNNs: a training step and
  a forward per 224 px image.

Training steps use the trainer's precision (fp16 autocast on CUDA, fp32 on the
CPU); every unit is also counted in floating-point operations (torch's
FlopCounterMode: matrix products and convolutions, forward and backward), which
do not depend on the device.

Then it counts the work of the whole real-data book in those units: the full
profile's epochs, seeds, batch sizes, mixtures, crops and caps from the study
configurations and the notebooks' parameter defaults, and the sizes of the real
datasets (the published ones below, or counted from ``--data ROOT`` with the
book's adapters), and projects its cost on the measured device against the
issue's target of at most 1 GPU-hour for all four studies. On a GPU that is the
projection; on a CPU it says how far the CPU is from it, and the FLOP count over
an assumed sustained GPU throughput (``--gpu-tflops``, stated) estimates the
GPU-hours until the script runs on one. It prints, per study and for the whole
book, the work in PFLOP, the GPU-hours at that throughput and the hours on this
device, then the verdict against the target.

``--settings full`` (the default) counts the full profile, which the studies size
for the target (fewer epochs, utterances per epoch and mixtures than their
sources trained on; the architectures, hub models, seeds and eval sets kept);
``--settings source`` counts the sources' own settings (each study's
``source_settings()``), which the full profile used to be. Either way the other's
FLOP total is printed beside it for comparison. Not counted: decoding and augmenting
audio and drawing spectrogram images (CPU work beside the GPU's), study 01's
small speaker CNN, resemblyzer.

    .venv/bin/python benchmarks/gpu_check.py [--tiny] [--device auto] [--data ROOT] [--reps 3] [--gpu-tflops 30]
                                             [--settings full|source]

On the CPU the measured batches are capped at 4 items (``--batch-cap``), the
inputs keeping their lengths. ``--tiny`` (what CI runs, on the CPU): the same
full-size models on batches of 2 and half-second inputs, one repetition: it
checks that every measurement and the projection run; its per-unit figures
are rough.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from asvnb import book, config
from asvnb.models import full_size
from asvnb.studies import cnn_vs_resnet50 as s01
from asvnb.studies import ge2e_aeg_kd as s03
from asvnb.studies import overlap_pipeline as s02
from asvnb.studies import spectrogram_resnet18 as s04

TARGET_GPU_HOURS = 1.0  # issue 17: the whole real-data book in at most one GPU-hour
SETTINGS = {
    "full": 'the full profile (the notebooks\' defaults with profile = "full"), sized for the target',
    "source": "the sources' settings without a budget (each study's source_settings(); study 01's source states "
    "none: 20 epochs each; study 04's full profile is its source's)",
}

# The real datasets' sizes (used unless --data counts them): the published releases.
REAL = {
    # ASVspoof 2019 LA (Wang et al. 2020): utterances and bona fide ones per split
    "la_train": 25380,
    "la_train_bona": 2580,
    "la_dev": 24844,
    "la_dev_bona": 2548,
    "la_eval": 71237,
    "la_eval_bona": 7355,
    # ASVspoof 2021 LA eval, the keys' phase "eval" (the study's eval_phase); 181,566 trials in all phases
    "la21_eval": 148176,
    # mean LA utterance length in seconds: an estimate (about 3.3 s); --data measures it
    "la_seconds": 3.3,
    # DEEP-VOICE cut into 30 s segments: estimated from the source's 2,986 training images (LA train gives about
    # 2,790 of them at 3.3 s per utterance, DEEP-VOICE the rest, its train part being 64 % of its segments)
    "dv_segments_30s": 300,
    "imitation": 100,  # the Imitation clips the source scored (two batches, 64 + 36)
}


# ----------------------------------------------------------------------------- measuring


@dataclass
class Unit:
    """One measured unit of work: seconds on the device and FLOP per unit."""

    name: str
    what: str
    seconds: float
    flop: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    name: str, what: str, fn: Callable[[], None], units: float, device: torch.device, reps: int
) -> Unit:
    """Best-of-``reps`` seconds per unit of ``fn`` (a first, untimed call counts its FLOP and warms up)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    _sync(device)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    unit = Unit(name, what, best / units, counter.get_total_flops() / units)
    print(
        f"  {name:<16} {unit.seconds:10.4f} s  {unit.flop / 1e9:9.1f} GFLOP  per {what}", flush=True
    )
    return unit


def train_step(
    model: torch.nn.Module,
    loss: Callable[[torch.nn.Module], torch.Tensor],
    device: torch.device,
    opt: str = "adam",
) -> Callable[[], None]:
    """One optimiser step as the trainer takes it: fp16 autocast and a gradient scaler on CUDA, fp32 on the CPU."""
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = (
        torch.optim.AdamW(params, lr=1e-5) if opt == "adamw" else torch.optim.Adam(params, lr=1e-5)
    )
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None

    def step() -> None:
        optim.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            value = loss(model)
        if scaler is None:
            value.backward()
            optim.step()
        else:
            scaler.scale(value).backward()
            scaler.step(optim)
            scaler.update()

    return step


def forward(
    model: torch.nn.Module, x: Callable[[], object], device: torch.device
) -> Callable[[], None]:
    """One forward pass in eval mode without gradients (how the notebooks score)."""
    model.to(device).eval()

    @torch.no_grad()
    def run() -> None:
        model(x())

    return run


def measure_units(
    device: torch.device, tiny: bool, reps: int, batch_cap: int | None = None
) -> dict[str, Unit]:
    """Every unit of the projection, at the full profile's batch sizes (at most ``batch_cap``) and input lengths
    (``tiny``: batches of 2 and 0.5 s inputs)."""
    c01 = s01.CnnVsResnet50Config.for_profile("full", data_root="/real-data")
    c02 = s02.OverlapConfig.for_profile("full", data_root="/real-data")
    c03 = s03.GE2EAEGKDConfig.for_profile("full", data_root="/real-data")
    c04 = s04.SpectrogramResNet18Config.for_profile("full", data_root="/real-data")
    seconds = 0.5 if tiny else 4.0  # audio per item: about an LA utterance or a mixture (3-4 s)

    cap = 2 if tiny else batch_cap

    def batch(n: int) -> int:
        return min(n, cap) if cap else n

    torch.manual_seed(0)
    units: dict[str, Unit] = {}

    def add(name: str, what: str, fn: Callable[[], None], per: float) -> None:
        """Measure ``fn`` on the device, ``per`` units a call (best of ``reps``), and keep it as ``name``."""
        units[name] = measure(name, what, fn, per, device, reps)

    print(
        f"per-unit costs ({'0.5 s inputs, ' if tiny else ''}batch sizes of the full profile"
        f"{f', capped at {cap}' if cap else ''}; best of {reps}):"
    )

    # --- study 02: separators and the WavLM detector
    import torchaudio

    sep = full_size.sepformer_net().to(device).eval()
    b = batch(c02.sep_batch)
    mix8 = torch.randn(b, int(seconds * 8000), device=device) * 0.1
    add(
        "sepformer",
        "s of 8 kHz audio separated (SepFormer, wsj02mix size)",
        torch.no_grad()(lambda m=sep: m(mix8)),
        b * seconds,
    )
    del sep
    tasnet = (
        torchaudio.models.conv_tasnet_base(num_sources=2).to(device).eval()
    )  # CONVTASNET_BASE_LIBRI2MIX's
    add(
        "convtasnet",
        "s of 8 kHz audio separated (ConvTasNet base)",
        torch.no_grad()(lambda m=tasnet: m(mix8.unsqueeze(1))),
        b * seconds,
    )
    del tasnet

    det = full_size.wavlm_base()
    n = batch(c02.det_batch)
    wav = torch.randn(n, int(seconds * 16000), device=device)
    add(
        "wavlm_fwd",
        "s of 16 kHz audio scored (WavLM Base)",
        forward(det, lambda: wav, device),
        n * seconds,
    )
    n = batch(
        2 * c02.batch_size
    )  # a micro-batch of the fine-tuning: both streams of batch_size mixtures
    wav_t = torch.randn(n, int(seconds * 16000), device=device)
    labels = torch.zeros(n, dtype=torch.long, device=device)
    add(
        "wavlm_train",
        "s of 16 kHz audio trained on (WavLM Base, AdamW)",
        train_step(det, lambda m: m(input_values=wav_t, labels=labels).loss, device, "adamw"),
        n * seconds,
    )
    del det

    # --- study 03: ResNetSE teacher and student at 22.05 kHz (units of one c03.crop_s utterance)
    crop = 0.5 if tiny else c03.crop_s
    n = batch(c03.batch_size)
    per_crop = n * crop / c03.crop_s
    x = torch.randn(n, int(crop * c03.sample_rate), device=device) * 0.1
    y = torch.randint(0, 7, (n,), device=device)
    teacher, student = c03.teacher(), c03.student()
    resnetse = {"g": (teacher, "G-ResNetSE"), "l": (student, "L-ResNetSE")}
    for tag, (model, label) in resnetse.items():
        add(
            f"{tag}_resnetse_train",
            f"{c03.crop_s:g} s utterance, training step ({label})",
            train_step(model, lambda m: F.nll_loss(m(x), y), device),
            per_crop,
        )
    for tag, (model, label) in resnetse.items():
        add(
            f"{tag}_resnetse_fwd",
            f"{c03.crop_s:g} s utterance scored ({label})",
            forward(model, lambda: x, device),
            per_crop,
        )
    from asvnb.train.adversarial import generate_adversarial

    speakers = [
        f"s{i // 2}" for i in range(n)
    ]  # pairs of one speaker: BIM needs a same-speaker partner
    add(
        "g_resnetse_bim",
        f"{c03.crop_s:g} s utterance attacked ({c03.aeg_iters} BIM steps, G-ResNetSE)",
        lambda m=teacher: generate_adversarial(
            m,
            x,
            speakers,
            alpha=c03.aeg_alpha,
            iters=c03.aeg_iters,
            threshold=math.inf,
            batch_size=n,
        ),
        per_crop,
    )
    del teacher, student, model, resnetse

    # --- studies 01 and 04: image classifiers on 224 px spectrogram images
    from asvnb.models.cnn import SimpleCNN, SpectrogramCNN
    from asvnb.models.image_resnet import ResNet18Transfer, resnet50_classifier

    nets = {
        "resnet50": (
            lambda: resnet50_classifier(2, None),
            c01.setups["ResNet50"].batch_size,
            c01.sizes["ResNet50"],
        ),
        "resnet18": (
            lambda: ResNet18Transfer(None),
            c04.setups["ResNet18 transfer"].batch_size,
            c04.resnet_size,
        ),
        "cnn": (
            lambda: SpectrogramCNN(n_classes=2, in_channels=3, batch_norm=True),
            c01.setups["CNN"].batch_size,
            c01.sizes["CNN"],
        ),
        "simplecnn": (lambda: SimpleCNN(), c04.setups["SimpleCNN"].batch_size, c04.size),
    }
    for name, (build, bs, side) in nets.items():
        model, n = build(), batch(bs)
        img = torch.rand(n, 3, side, side, device=device)
        lab = torch.zeros(n, dtype=torch.long, device=device)
        add(
            f"{name}_train",
            f"{side} px image, training step (batch {n})",
            train_step(model, lambda m, img=img, lab=lab: F.cross_entropy(m(img), lab), device),
            n,
        )
        add(
            f"{name}_fwd", f"{side} px image scored", forward(model, lambda img=img: img, device), n
        )
        del model
    return units


# ----------------------------------------------------------------------------- the work of the whole book


def count_real(root: Path) -> dict[str, float]:
    """The dataset sizes of :data:`REAL`, counted under ``root`` with the book's adapters (a sample of file headers
    for the mean LA utterance length)."""
    from asvnb import audio
    from asvnb.data.asvspoof import LA2019, LA2021Eval
    from asvnb.data.deepvoice import DeepVoiceSegments, list_deepvoice
    from asvnb.data.imitation import list_imitation

    out: dict[str, float] = {}
    lengths = []
    for split in ("train", "dev", "eval"):
        la = LA2019(root, split)
        out[f"la_{split}"] = len(la.trials)
        out[f"la_{split}_bona"] = sum(t.is_bonafide for t in la.trials)
        for t in la.trials[:: max(1, len(la.trials) // 100)]:
            info = audio.audio_info(la.audio_path(t.utt))
            lengths.append(info.frames / info.samplerate)
    out["la_seconds"] = float(np.mean(lengths))
    out["la21_eval"] = len(LA2021Eval(root, phase="eval").trials)
    out["dv_segments_30s"] = len(
        DeepVoiceSegments(list_deepvoice(root), seconds=s04.source_settings()["seconds"])
    )
    out["imitation"] = len(list_imitation(root))
    return out


def _defaults(stem: str) -> dict:
    nb = config.project_root() / "notebooks" / f"{stem}.ipynb"
    return {k: d["default"] for k, d in book.declared_parameters(nb).items()}


def _study_configs(settings: str, d01: dict, d02: dict, d03: dict, d04: dict) -> tuple:
    """The four study configurations of ``settings`` (:data:`SETTINGS`) under the notebooks' parameter defaults."""
    root = "/real-data"
    if settings not in SETTINGS:
        raise ValueError(f"unknown settings {settings!r}; valid: {', '.join(SETTINGS)}")
    src = settings == "source"
    kw01 = {"epochs": d01["epochs"], "weights": d01["weights"]}
    c01 = (
        s01.CnnVsResnet50Config.source_settings(root, **kw01)
        if src
        else s01.CnnVsResnet50Config.for_profile("full", data_root=root, **kw01)
    )
    c02 = (
        s02.OverlapConfig.source_settings(root, epochs=d02["epochs"])
        if src
        else s02.OverlapConfig.for_profile("full", data_root=root, epochs=d02["epochs"])
    )
    kw03 = {} if d03["seeds"] is None else {"seeds": tuple(d03["seeds"])}
    c03 = (
        s03.GE2EAEGKDConfig.source_settings(root, **kw03)
        if src
        else s03.GE2EAEGKDConfig.for_profile("full", data_root=root, **kw03)
    )
    # study 04's full profile is its source's settings (they cost about 1 PFLOP)
    c04 = s04.SpectrogramResNet18Config.for_profile("full", data_root=root, epochs=d04["epochs"])
    return c01, c02, c03, c04


def book_work(real: dict[str, float], settings: str = "full") -> list[tuple[str, str, str, float]]:
    """``(notebook, step, unit, count)`` of the whole real-data book under the notebooks' defaults, at the full
    profile's settings or the sources' (:data:`SETTINGS`)."""
    rows: list[tuple[str, str, str, float]] = []
    d01, d02, d03, d04 = (
        _defaults(stem)
        for stem in (
            "01_cnn_vs_resnet50",
            "02_overlap_pipeline",
            "03_ge2e_aeg_kd",
            "04_spectrogram_resnet18",
        )
    )
    c01, c02, c03, c04 = _study_configs(settings, d01, d02, d03, d04)

    def add(nb: str, step: str, unit: str, count: float) -> None:
        rows.append((nb, step, unit, float(count)))

    # 01: CNN (with and without Common Voice) and ResNet50, per seed: epochs x train steps + a validation pass per
    # epoch, then val and test scored once
    seeds = len(d01["seeds"])
    cv_train = round(c01.cv_max_clips * c01.cv_train_fraction) if c01.cv_max_clips else 0
    cv_test = (c01.cv_max_clips or 0) - cv_train
    train, val, test = real["la_train"] + cv_train, real["la_dev"], real["la_eval"] + cv_test
    recipes = [("CNN", "cnn", train)] + (
        [("CNN without CV", "cnn", real["la_train"])] if d01["cv_control"] else []
    )
    recipes.append(("ResNet50", "resnet50", train))
    for label, unit, n_train in recipes:
        setup = c01.setups["ResNet50" if unit == "resnet50" else "CNN"]
        per_epoch = min(setup.samples_per_epoch or n_train, n_train)
        add(
            "01",
            f"{label}: {seeds} seeds x {setup.epochs} epochs x {per_epoch:,.0f} images",
            f"{unit}_train",
            seeds * setup.epochs * per_epoch,
        )
        add(
            "01",
            f"{label}: validation every epoch, then val + test scored",
            f"{unit}_fwd",
            seeds * (setup.epochs * val + val + test),
        )

    # 02: separation once per mixture (the stream cache), the detector before and after fine-tuning
    seeds, sec = (
        len(d02["seeds"]),
        real["la_seconds"],
    )  # a mixture: about one utterance long (trimmed, delayed)
    n = c02.n_mixtures
    for name in ("sepformer", "convtasnet"):
        if name in c02.separators:
            add(
                "02",
                f"{name}: {sum(n.values()):,} mixtures separated once",
                name,
                sum(n.values()) * sec,
            )
    add(
        "02",
        f"detector on clean LA eval ({real['la_eval']:,.0f} utterances)",
        "wavlm_fwd",
        real["la_eval"] * sec,
    )
    add(
        "02",
        f"pre-trained pipeline: {len(c02.separators)} separators x {n['eval']:,} eval mixtures x 2 streams",
        "wavlm_fwd",
        len(c02.separators) * n["eval"] * 2 * sec,
    )
    add(
        "02",
        f"fine-tuning: {seeds} seeds x {c02.epochs} epochs x {n['train']:,} mixtures x 2 streams",
        "wavlm_train",
        seeds * c02.epochs * n["train"] * 2 * sec,
    )
    add(
        "02",
        f"validation every epoch ({n['dev']:,} mixtures) and the fine-tuned eval",
        "wavlm_fwd",
        seeds * (c02.epochs * n["dev"] + n["eval"]) * 2 * sec,
    )

    # 03: per seed, GE2E, 4 teachers and 3 students, static + active AEG, every model scored on the 2021 eval
    seeds = len(c03.seeds)
    per_epoch = c03.train_per_epoch or real["la_train"]
    pool = c03.aeg_pool or real["la_train_bona"]
    sv = c03.sv_crop_s / c03.crop_s  # the speaker-verification crops, in 4 s utterances
    add(
        "03",
        f"GE2E: {seeds} seeds x {c03.ge2e_epochs} batches of {c03.ge2e_speakers} x {c03.ge2e_utts}",
        "g_resnetse_train",
        seeds * c03.ge2e_epochs * c03.ge2e_speakers * c03.ge2e_utts,
    )
    add(
        "03",
        f"speaker EER before and after GE2E ({real['la_dev_bona']:,.0f} dev bona fide)",
        "g_resnetse_fwd",
        seeds * 2 * real["la_dev_bona"] * sv,
    )
    add(
        "03",
        f"4 teachers: {seeds} seeds x {c03.epochs} epochs x {per_epoch:,.0f} utterances",
        "g_resnetse_train",
        4 * seeds * c03.epochs * per_epoch,
    )
    add(
        "03",
        f"3 students: {seeds} seeds x {c03.epochs} epochs x {per_epoch:,.0f} utterances",
        "l_resnetse_train",
        3 * seeds * c03.epochs * per_epoch,
    )
    add(
        "03",
        "3 students: the teacher's forward on every distillation batch",
        "g_resnetse_fwd",
        3 * seeds * c03.epochs * per_epoch,
    )
    add(
        "03",
        f"AEG: {pool:,.0f} bona fide attacked once (static) and before each of {c03.epochs} epochs (active)",
        "g_resnetse_bim",
        seeds * (1 + c03.epochs) * pool,
    )
    eval_trials = c03.n_eval or real["la21_eval"]
    add(
        "03",
        f"4 teachers scored on {eval_trials:,.0f} LA 2021 eval trials, and LA 2019 dev once",
        "g_resnetse_fwd",
        seeds * (4 * eval_trials + real["la_dev"]),
    )
    add(
        "03",
        f"3 students scored on {eval_trials:,.0f} LA 2021 eval trials",
        "l_resnetse_fwd",
        seeds * 3 * eval_trials,
    )

    # 04: 30 s segments of LA (each speaker's bona fide and spoofed speech joined) and DEEP-VOICE (80/20, 80/20)
    seeds = len(d04["seeds"])
    seg = {s: real[f"la_{s}"] * real["la_seconds"] / c04.seconds for s in ("train", "dev", "eval")}
    dv = real["dv_segments_30s"] * (s04.source_settings()["seconds"] / c04.seconds)
    dv_test = dv * c04.test_fraction
    dv_val = (dv - dv_test) * c04.val_fraction
    dv_train = dv - dv_test - dv_val
    train, val, test = seg["train"] + dv_train, seg["dev"] + dv_val, seg["eval"] + dv_test
    for name, unit in (("SimpleCNN", "simplecnn"), ("ResNet18 transfer", "resnet18")):
        setup = c04.setups[name]
        add(
            "04",
            f"{name}: {seeds} seeds x {setup.epochs} epochs x {train:,.0f} images",
            f"{unit}_train",
            seeds * setup.epochs * train,
        )
        add(
            "04",
            f"{name}: validation every epoch, then every set scored",
            f"{unit}_fwd",
            seeds * (setup.epochs * val + val + test + 2 * real["imitation"]),
        )
    versions = 3 if d04["leak_demo"] else 2
    add(
        "04",
        f"leak runs: SimpleCNN on DEEP-VOICE alone, {versions} versions x {seeds} seeds x "
        f"{c04.leak_epochs} epochs",
        "simplecnn_train",
        versions * seeds * c04.leak_epochs * dv_train,
    )
    return rows


# ----------------------------------------------------------------------------- report


def main() -> None:
    """Measure the units, count the book's work in them, print the projection against the target."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--tiny",
        action="store_true",
        help="batches of 2 and 0.5 s inputs, one repetition (CI, CPU)",
    )
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    ap.add_argument(
        "--data", type=Path, default=None, help="count the datasets' sizes under this data root"
    )
    ap.add_argument(
        "--reps", type=int, default=None, help="best of this many timed runs (default 3; --tiny 1)"
    )
    ap.add_argument(
        "--gpu-tflops",
        type=float,
        default=30.0,
        help="assumed sustained GPU throughput for the FLOP-based estimate (default 30 TFLOP/s: an A100 "
        "with fp16 at about 10 %% of its peak; a T4: about 5)",
    )
    ap.add_argument(
        "--settings",
        choices=tuple(SETTINGS),
        default="full",
        help="whose work to project: the full profile's (default) or the sources' settings without the "
        "budget; the other's FLOP total is printed for comparison",
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    ap.add_argument(
        "--batch-cap",
        type=int,
        default=None,
        help="at most this many items per measured batch, input lengths kept (default: none on a GPU, "
        "4 on the CPU, whose memory the full batches of ResNet18 or WavLM could exhaust)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(config.resolve_device(args.device))
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"device: {device.type} - {name}; torch {torch.__version__}"
        + ("; tiny sizes (a check that everything runs, not a measurement)" if args.tiny else "")
    )
    cap = args.batch_cap or (4 if device.type == "cpu" else None)
    units = measure_units(device, args.tiny, args.reps or (1 if args.tiny else 3), cap)

    real = dict(REAL)
    if args.data:
        real.update(count_real(args.data))
    print(
        f"\ndataset sizes ({'counted under ' + str(args.data) if args.data else 'the published releases'}): "
        + ", ".join(f"{k} {v:,.6g}" for k, v in real.items())
    )
    work = book_work(real, args.settings)
    print(f"\nthe work of {SETTINGS[args.settings]}, and its cost on this device:")
    per_nb, flop_nb = cost(work, units)
    for nb, step, unit, count in work:
        print(
            f"  {nb}  {step:<92} {count:>14,.0f} x {unit:<16} {count * units[unit].seconds / 3600:9.2f} h"
        )
    report(per_nb, flop_nb, args.gpu_tflops, device, args.settings)
    other = "source" if args.settings == "full" else "full"
    _, flop_other = cost(book_work(real, other), units)
    tf = args.gpu_tflops * 1e12 * 3600
    print(
        f"\nfor comparison, {SETTINGS[other]} (--settings {other}): "
        + ", ".join(f"{nb} {f / 1e15:,.1f}" for nb, f in flop_other.items())
        + f" PFLOP; all four {sum(flop_other.values()) / 1e15:,.0f} PFLOP = {sum(flop_other.values()) / tf:.2f} "
        f"GPU-hours at {args.gpu_tflops:g} TFLOP/s ({sum(flop_other.values()) / tf / TARGET_GPU_HOURS:.1f} x "
        "the target)"
    )


def cost(
    work: list[tuple[str, str, str, float]], units: dict[str, Unit]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per notebook: hours on the measured device and FLOP of ``work`` (:func:`book_work`) in ``units``."""
    per_nb: dict[str, float] = {}
    flop_nb: dict[str, float] = {}
    for nb, _, unit, count in work:
        per_nb[nb] = per_nb.get(nb, 0.0) + count * units[unit].seconds / 3600
        flop_nb[nb] = flop_nb.get(nb, 0.0) + count * units[unit].flop
    return per_nb, flop_nb


def report(
    per_nb: dict[str, float],
    flop_nb: dict[str, float],
    gpu_tflops: float,
    device: torch.device,
    settings: str,
) -> None:
    """Per study and for the whole book: the work in PFLOP, the GPU-hours at ``gpu_tflops``, the hours on the
    measured device; then the verdict against :data:`TARGET_GPU_HOURS`."""
    total, flop = sum(per_nb.values()), sum(flop_nb.values())
    tf = gpu_tflops * 1e12 * 3600  # FLOP per GPU-hour
    gpu_hours = flop / tf
    print(f"\nprojection, {settings} settings ({SETTINGS[settings]}):")
    print(
        f"  {'study':<10} {'PFLOP':>8} {f'GPU-hours at {gpu_tflops:g} TFLOP/s':>26} {'share':>7} "
        f"{f'hours on this {device.type}':>18}"
    )
    for nb, hours in per_nb.items():
        print(
            f"  {nb:<10} {flop_nb[nb] / 1e15:8.1f} {flop_nb[nb] / tf:26.2f} {100 * flop_nb[nb] / flop:6.0f} % "
            f"{hours:18.1f}"
        )
    print(f"  {'all four':<10} {flop / 1e15:8.1f} {gpu_hours:26.2f} {100:6.0f} % {total:18.1f}")
    # the lines below are what CI and the tests read
    print(
        "projection on this device: "
        + ", ".join(f"{nb} {h:.1f} h" for nb, h in per_nb.items())
        + f"; all four studies {total:.1f} h (this device sustained {flop / max(total * 3600, 1e-9) / 1e12:.2f}"
        " TFLOP/s)"
    )
    print(
        "work in floating-point operations: "
        + ", ".join(f"{nb} {f / 1e15:,.1f}" for nb, f in flop_nb.items())
        + f"; all four {flop / 1e15:,.1f} PFLOP = {gpu_hours:.2f} GPU-hours at {gpu_tflops:g} TFLOP/s"
    )
    print(f"target: at most {TARGET_GPU_HOURS:g} GPU-hour for all four studies")

    def verdict(hours: float) -> str:
        if hours <= TARGET_GPU_HOURS:
            return f"WITHIN the target ({100 * (1 - hours / TARGET_GPU_HOURS):.0f} % to spare)"
        return f"EXCEEDS the target {hours / TARGET_GPU_HOURS:.1f}-fold"

    if device.type == "cuda":
        print(
            f"verdict (measured on this GPU): {total:.2f} GPU-hours, {verdict(total)}; from the FLOP count at "
            f"{gpu_tflops:g} TFLOP/s: {gpu_hours:.2f} GPU-hours, {verdict(gpu_hours)}"
        )
    else:
        print(
            f"verdict (from the FLOP count; measured on a CPU, {total:.0f} h here, so no GPU measurement: run this "
            f"script on a GPU for one): {gpu_hours:.2f} GPU-hours at {gpu_tflops:g} TFLOP/s, {verdict(gpu_hours)}"
        )


if __name__ == "__main__":
    main()
