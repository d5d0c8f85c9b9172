"""Time-frequency features shared by the studies: log-mel, linear spectrogram, instance norm, spectrogram images.

Presets are named for what they are (``logmel40_resnetse``, ``logspec_hann``). Spectrogram images (the study 04 source) come by
two routes that share one function, :func:`spectrogram_image`:

* ``route="source"``: what the source did, ``pyplot.specgram`` of the segment
  (NFFT 1024, noverlap 512, Fs the rate, viridis, axes off) saved as a JPEG
  and read back, resized to 224 x 224 and scaled to [0, 1] (torchvision's
  ``Resize((224, 224))`` + ``ToTensor``). The source saves the whole figure:
  the white margins around the axes stay in the image (``crop_axes=False``).
* ``route="tensor"``: :class:`SpecgramImage`, the same PSD in dB computed by
  ``torch.stft`` with matplotlib's conventions (symmetric Hann window, no
  centring, one-sided density), min-max scaled as ``imshow`` does, coloured by
  the same colour map and resized, with no files; batchable on the GPU.
  ``margins=True`` reproduces the figure's white margins.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from PIL import Image
from torch import nn
from torchvision import transforms

from asvnb.data.images import Clip, ImageSet

# ----------------------------------------------------------------------------- input checks


def check_finite(x: torch.Tensor | np.ndarray, what: str) -> None:
    """Raise ValueError if ``x`` holds NaN or inf: no feature or model turns them into a number."""
    t = torch.as_tensor(x)
    if t.is_floating_point() or t.is_complex():
        # a sum is finite only if every term is (NaN and inf propagate): one pass of a fast reduction instead of
        # an elementwise mask; huge finite values that overflow the sum fall through to the exact search
        if bool(torch.isfinite(t.detach().sum())):
            return
        bad = ~torch.isfinite(t.detach())
        if bool(bad.any()):
            first = tuple(int(i) for i in bad.nonzero()[0].tolist())
            raise ValueError(
                f"{what}: the input holds {int(bad.sum())} NaN/inf value(s), first at index "
                f"{first if len(first) > 1 else first[0]} (a corrupt file or a diverged model upstream)"
            )


def _check_overflow(x: torch.Tensor, wav: torch.Tensor, what: str) -> None:
    # finite samples of huge amplitude overflow the float32 power spectrum: refused rather than drawn or scored
    if not bool(torch.isfinite(x).all()):
        raise ValueError(
            f"{what}: the power spectrum overflows float32 (peak amplitude "
            f"{float(wav.detach().abs().max()):.3g}); scale the waveform to [-1, 1]"
        )


def check_length(n: int, minimum: int, what: str, why: str, unit: str = "samples") -> None:
    """Raise ValueError if an input of ``n`` samples (or frames, ``unit``) is shorter than ``minimum``, saying why."""
    if n < minimum:
        raise ValueError(
            f"{what}: input of {n} {unit} is shorter than the minimum of {minimum} {unit} ({why})"
        )


# ----------------------------------------------------------------------------- normalisation


def instance_norm(x: torch.Tensor, dim: int = -1, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance mean/variance normalisation over time (``dim``); a constant input gives zeros, not NaN.

    Written out rather than ``nn.InstanceNorm1d`` so that silent inputs are
    guarded explicitly: rows whose standard deviation is below ``eps`` (a
    constant row, up to rounding) become zeros instead of amplified rounding noise.
    NaN or inf in ``x`` is a ValueError (a NaN row would otherwise become zeros:
    a finite but meaningless input to the model).
    """
    check_finite(x, "instance_norm")
    mean = x.mean(dim=dim, keepdim=True)
    std = x.var(dim=dim, unbiased=False, keepdim=True).sqrt()
    return torch.where(std > eps, (x - mean) / std.clamp_min(eps), torch.zeros_like(x))


# ----------------------------------------------------------------------------- log-mel / linear


@dataclass(frozen=True)
class SpecConfig:
    """STFT settings in milliseconds (so one preset serves any rate) and the mel/normalisation options."""

    sr: int = 16000  # Hz of the waveform
    n_fft: int = 512  # FFT points, raised to the next power of two that holds the window (frames())
    win_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # frame shift
    n_mels: int = 40  # mel bands of LogMel (0 in the presets for LinearSpectrogram, which has none)
    f_min: float = 0.0  # Hz, lowest mel band edge
    f_max: float | None = None  # Hz, highest mel band edge (None: sr / 2)
    window: str = "hamming"
    instance_norm: bool = True  # each band normalised over the utterance's frames
    log_eps: float = 1e-6  # added to the mel energies before the log

    def frames(self) -> tuple[int, int, int]:
        """``(n_fft, win_length, hop_length)`` in samples at ``sr``.

        The study 03 source states a 25 ms window with a 512-point FFT at 22,050 Hz,
        where 25 ms is 551 samples: the FFT is raised to the next power of two
        that holds the window rather than silently shortening the window.
        """
        win = int(round(self.win_ms * self.sr / 1000))
        hop = int(round(self.hop_ms * self.sr / 1000))
        n_fft = self.n_fft if win <= self.n_fft else 2 ** math.ceil(math.log2(win))
        return n_fft, win, hop


PRESETS: dict[str, SpecConfig] = {
    # 40 log-mel, 25 ms / 10 ms, FFT 512, instance norm (voxceleb_trainer ResNetSE front end)
    "logmel40_resnetse": SpecConfig(),
    "logmel40_resnetse_22k": SpecConfig(sr=22050),  # the rate the paper states
    # the study 01 source does not give its settings: a common log-power spectrogram, 25 ms / 10 ms, FFT 512
    "logspec_hann": SpecConfig(n_mels=0, window="hann", instance_norm=False),
}


def preset(name: str, **overrides) -> SpecConfig:
    """A named preset, with fields overridden (e.g. ``sr=22050``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown feature preset {name!r}; known: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


_WINDOWS = {"hamming": torch.hamming_window, "hann": torch.hann_window}


def _stft_input(wav: torch.Tensor, cfg: SpecConfig, what: str) -> None:
    """The checks both STFT front-ends make: finite samples and at least ``n_fft // 2 + 1`` of them."""
    check_finite(wav, what)
    n_fft = cfg.frames()[0]
    # the centred STFT reflects half a window at each end, which needs more samples than that half
    check_length(
        wav.shape[-1],
        n_fft // 2 + 1,
        what,
        f"n_fft // 2 + 1 = {1000 * (n_fft // 2 + 1) / cfg.sr:.1f} ms at {cfg.sr} Hz; crop_or_pad "
        "repeat-pads a short clip",
    )


class LogMel(nn.Module):
    """``(batch, samples)`` -> ``(batch, n_mels, frames)`` log-mel energies (natural log), optionally instance-normalised.

    The input must be finite and hold at least ``min_samples = n_fft // 2 + 1``
    samples (257 at 16 kHz with the ``logmel40_resnetse`` preset); else ValueError.
    """

    def __init__(self, cfg: SpecConfig = PRESETS["logmel40_resnetse"]):
        super().__init__()
        n_fft, win, hop = cfg.frames()
        self.cfg, self.min_samples = cfg, n_fft // 2 + 1
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sr,
            n_fft=n_fft,
            win_length=win,
            hop_length=hop,
            f_min=cfg.f_min,
            f_max=cfg.f_max,
            n_mels=cfg.n_mels,
            window_fn=_WINDOWS[cfg.window],
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """Features of a batch (or of one 1-D waveform)."""
        _stft_input(wav, self.cfg, "log-mel")
        x = torch.log(self.mel(wav) + self.cfg.log_eps)
        _check_overflow(x, wav, "log-mel")
        return instance_norm(x) if self.cfg.instance_norm else x


class LinearSpectrogram(nn.Module):
    """``(batch, samples)`` -> ``(batch, n_fft // 2 + 1, frames)`` log power in dB (floored), optionally normalised.

    The input must be finite and hold at least ``min_samples = n_fft // 2 + 1``
    samples (257 at 16 kHz with the ``logspec_hann`` preset); else ValueError.
    """

    def __init__(self, cfg: SpecConfig = PRESETS["logspec_hann"], floor_db: float = -100.0):
        super().__init__()
        n_fft, win, hop = cfg.frames()
        self.cfg, self.floor, self.min_samples = cfg, 10 ** (floor_db / 10), n_fft // 2 + 1
        self.spec = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, win_length=win, hop_length=hop, power=2.0, window_fn=_WINDOWS[cfg.window]
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """Features of a batch (or of one 1-D waveform)."""
        _stft_input(wav, self.cfg, "linear spectrogram")
        x = 10 * torch.log10(self.spec(wav).clamp_min(self.floor))
        _check_overflow(x, wav, "linear spectrogram")
        return instance_norm(x) if self.cfg.instance_norm else x


def log_mel(
    wav: np.ndarray | torch.Tensor, name: str = "logmel40_resnetse", **overrides
) -> torch.Tensor:
    """Log-mel features of one waveform with a named preset: ``(n_mels, frames)``; see :class:`LogMel` for limits."""
    return LogMel(preset(name, **overrides))(torch.as_tensor(np.asarray(wav, dtype=np.float32)))


def linear_spectrogram(
    wav: np.ndarray | torch.Tensor, name: str = "logspec_hann", **overrides
) -> torch.Tensor:
    """Log-power linear spectrogram of one waveform with a named preset: ``(bins, frames)``; see LinearSpectrogram."""
    return LinearSpectrogram(preset(name, **overrides))(
        torch.as_tensor(np.asarray(wav, dtype=np.float32))
    )


def _image_input(wav: np.ndarray | torch.Tensor, what: str) -> None:
    """Spectrogram images need finite samples and at least one; shorter than a window is zero-padded as mlab does."""
    check_finite(wav, what)
    if wav.shape[-1] == 0:
        raise ValueError(f"{what}: empty waveform (0 samples); at least 1 sample is needed")


# ----------------------------------------------------------------------------- spectrogram images (the study 04 source)

# The source's JPEGs are 539 x 542 (rows x columns): a 5.42 x 5.39 inch figure at 100 dpi.
SOURCE_FIGSIZE, SOURCE_DPI = (5.42, 5.39), 100
# matplotlib's default subplot box (figure fractions): where the axes sit in the saved figure
_AXES_BOX = dict(left=0.125, right=0.9, bottom=0.11, top=0.88)


def specgram_jpeg(
    wav: np.ndarray,
    sr: int,
    path: str | Path,
    nfft: int = 1024,
    noverlap: int = 512,
    figsize: tuple[float, float] = SOURCE_FIGSIZE,
    dpi: int = SOURCE_DPI,
    cmap: str = "viridis",
) -> Path:
    """Render a segment as the source did (``plt.specgram`` + ``plt.axis('off')`` + ``plt.savefig(..., format='jpg')``).

    NaN/inf samples or an empty segment are a ValueError; a segment shorter than
    ``nfft`` is zero-padded to ``nfft`` by matplotlib (one column, with its warning).
    """
    # pyplot only here, where the source's own route needs it: importing it picks a matplotlib backend and
    # sets up global figure state, which every importer of this module would otherwise get
    import matplotlib.pyplot as plt

    _image_input(np.asarray(wav), "spectrogram image")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pyplot's state machine as in the source's loop, so the route costs what the source's did; only this
    # figure is closed (the source's close("all") would also drop the caller's open figures)
    fig = plt.figure(figsize=figsize, dpi=dpi)
    try:
        with np.errstate(
            divide="ignore"
        ):  # digital silence: log10(0) is masked and drawn white, as in the source
            plt.specgram(
                np.asarray(wav, dtype=np.float64), NFFT=nfft, Fs=sr, noverlap=noverlap, cmap=cmap
            )
        plt.axis("off")
        plt.savefig(path, format="jpg")
    finally:
        plt.close(fig)
    return path


def axes_box_pixels(size_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` pixel rows/columns of the axes in a saved default-layout figure."""
    h, w = size_hw
    return (
        round((1 - _AXES_BOX["top"]) * h),
        round((1 - _AXES_BOX["bottom"]) * h),
        round(_AXES_BOX["left"] * w),
        round(_AXES_BOX["right"] * w),
    )


def read_image(path: str | Path, size: int = 224, crop_axes: bool = False) -> torch.Tensor:
    """A JPEG as the source read it: RGB, ``Resize((size, size))``, ``ToTensor`` -> float ``(3, size, size)`` in [0, 1]."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if crop_axes:
            top, bottom, left, right = axes_box_pixels((im.height, im.width))
            im = im.crop((left, top, right, bottom))
        return transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])(im)


class SpecgramImage(nn.Module):
    """The tensor route: waveform batch ``(B, T)`` -> coloured spectrogram images ``(B, 3, size, size)`` in [0, 1].

    Minimum length: 1 sample; a waveform shorter than ``nfft`` is zero-padded
    to ``nfft`` (one column), as matplotlib's ``mlab`` does. NaN/inf samples, an
    empty waveform or a spectrogram that overflows float32 are a ValueError.
    """

    def __init__(
        self,
        sr: int,
        nfft: int = 1024,
        noverlap: int = 512,
        size: int = 224,
        cmap: str = "viridis",
        margins: bool = False,
        figsize: tuple[float, float] = SOURCE_FIGSIZE,
        dpi: int = SOURCE_DPI,
        precision: str = "float32",
    ):
        super().__init__()
        if precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
        self.precision = precision

        if not 0 <= noverlap < nfft:
            raise ValueError(f"noverlap must be in [0, nfft), got {noverlap} with nfft {nfft}")
        self.sr, self.nfft, self.hop, self.size, self.margins = (
            sr,
            nfft,
            nfft - noverlap,
            size,
            margins,
        )
        self.fig_hw = (round(figsize[1] * dpi), round(figsize[0] * dpi))
        # matplotlib's window_hanning is numpy's symmetric Hann window
        self.register_buffer(
            "window", torch.from_numpy(np.hanning(nfft).astype(np.float32)), persistent=False
        )
        lut = matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3].T.astype(
            np.float32
        )  # (3, 256)
        self.register_buffer("lut", torch.from_numpy(lut), persistent=False)
        # the same colours as 8-bit pixels: rounding each entry once equals rounding every pixel of a float image
        self.register_buffer(
            "lut_uint8", torch.from_numpy(np.round(lut * 255)).to(torch.uint8), persistent=False
        )
        # mlab's density scaling 1 / (Fs sum(w^2)) and the one-sided doubling, as a dB offset per bin
        offset = np.full((nfft // 2 + 1, 1), -10 * np.log10(sr * np.sum(np.hanning(nfft) ** 2)))
        offset[1 : -1 if nfft % 2 == 0 else None] += 10 * np.log10(2.0)
        self.register_buffer(
            "db_offset", torch.from_numpy(offset.astype(np.float32)), persistent=False
        )
        self._work = torch.empty(0)  # forward's dB buffer (_db_by_frame), kept between calls

    def psd_db(self, wav: torch.Tensor) -> torch.Tensor:
        """``(B, nfft//2+1, frames)`` one-sided power spectral density in dB, scaled as ``matplotlib.mlab``."""
        return self._db_range(wav)[0].transpose(1, 2)

    def _db_range(
        self, wav: torch.Tensor, reuse: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # (B, frames, bins) dB, the layout rfft writes (the image is resized in it and transposed when small),
        # and each image's lowest and highest dB, (B, 1, 1)
        db = self._db_by_frame(wav, reuse)
        if self.precision == "float64":
            return db, db.amin(dim=(1, 2), keepdim=True), db.amax(dim=(1, 2), keepdim=True)
        # float32: the extremes of the unclipped dB; clipping at hi - FLOOR_DB leaves the maximum and raises the
        # minimum to max(min, hi - FLOOR_DB), exactly what a pass over the clipped values gives
        lo, hi = db.amin(dim=(1, 2), keepdim=True), db.amax(dim=(1, 2), keepdim=True)
        floor = hi - self.FLOOR_DB
        return db.clamp_min_(floor), torch.maximum(lo, floor), hi

    def _db_by_frame(self, wav: torch.Tensor, reuse: bool = False) -> torch.Tensor:
        # float64: clipped at neither end; float32: not yet clipped at hi - FLOOR_DB (_db_range clips it).
        # reuse: written into this imager's work buffer (overwritten by its next call), for forward
        _image_input(wav, "spectrogram image")
        if wav.shape[-1] < self.nfft:  # mlab zero-pads a signal shorter than one window
            wav = F.pad(wav, (0, self.nfft - wav.shape[-1]))
        offset = self.db_offset.T
        if self.precision == "float64":
            # as matplotlib: the image is min-max scaled, so a float32 rounding floor
            # (about -140 dB) would set the scale for clean synthetic signals
            spec = torch.fft.rfft(
                wav.double().unfold(-1, self.nfft, self.hop) * self.window.double()
            )
            power = spec.real.square() + spec.imag.square()
            return (10 * torch.log10(power.clamp_min(1e-300)) + offset.double()).float()
        # Framing by unfold + rfft, |X|^2 as re^2 + im^2 (complex abs is slow; squared in place), the log taken in
        # place, the density scaling added as a dB offset per bin. float32 rounding leaves a floor FLOOR_DB under
        # the peak, so the PSD is clipped there and the min-max scaling never depends on rounding noise. Recorded
        # speech (noise floor far above -140 dB) draws the same image as in float64; only digitally clean
        # synthetic signals differ.
        frames = wav.float().unfold(
            -1, self.nfft, self.hop
        )  # a view: no copy of the overlapping frames
        shape = frames.shape[:2] + (self.nfft // 2 + 1,)
        if reuse:
            # a fresh 2 MB buffer per clip costs the kernel ~500 new zeroed pages (0.3-0.8 ms of a 30 s clip's
            # 4 ms); the work buffer keeps its pages from one clip to the next
            if self._work.device != frames.device:
                self._work = torch.empty(0, device=frames.device)
            db = self._work.resize_(shape)
        else:
            db = torch.empty(shape, device=frames.device)
        # BLOCK frames at a time, so each block's frames, spectrum and dB stay in the core's cache through the
        # whole chain (a 30 s clip's full spectrogram is 4 MB of complex values, and every step went to memory);
        # every step is elementwise per frame and the FFT of a block equals that of the whole, so the values are
        # bit for bit those of the whole-clip chain (tests/test_features.py holds the images to a reference)
        for b in range(frames.shape[0]):
            for s in range(0, frames.shape[1], self.BLOCK):
                reim = torch.view_as_real(
                    torch.fft.rfft(frames[b, s : s + self.BLOCK] * self.window)
                )
                reim.mul_(reim)
                out = db[b, s : s + self.BLOCK]
                torch.add(reim[..., 0], reim[..., 1], out=out)
                out.clamp_min_(1e-30).log10_().mul_(10).add_(offset)
        return db

    BLOCK = 192  # frames per block of the float32 chain: 192 x 1024 samples (0.75 MB), within a core's L2 cache

    FLOOR_DB = 140.0

    def forward(self, wav: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Images of a batch of equal-length waveforms (a 1-D waveform gives a batch of one).

        ``dtype`` float32: values in [0, 1]; uint8: the same image as 8-bit pixels
        (``round(255 x float image)``), looked up directly, as a JPEG would hold it.
        """
        if dtype not in (torch.float32, torch.uint8):
            raise ValueError(f"dtype must be torch.float32 or torch.uint8, got {dtype}")
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        z, lo, hi = self._db_range(wav, reuse=True)
        z, lo, hi = (
            z.unsqueeze(1),
            lo.unsqueeze(1),
            hi.unsqueeze(1),
        )  # (B, 1, frames, bins), (B, 1, 1, 1)
        _check_overflow(
            torch.cat([lo, hi]), wav, "spectrogram image"
        )  # the colour lookup must never see inf/NaN
        span = (hi - lo).clamp_min(1e-12)  # silent input: a flat image, no 0/0
        # Resizing first: the antialiased bilinear weights sum to one and are symmetric, so min-max scaling,
        # the transpose and the flip (high frequencies at the top, as imshow draws specgram) commute with it
        # and run on the small image instead of the full spectrogram.
        if self.margins:
            h, w = self.fig_hw
            top, bottom, left, right = axes_box_pixels((h, w))
            z = F.interpolate(
                z,
                size=(right - left, bottom - top),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            rgb = self._colour(((z - lo) / span).transpose(2, 3).flip(2), self.lut)
            canvas = torch.ones(rgb.shape[0], 3, h, w, device=rgb.device)
            canvas[:, :, top:bottom, left:right] = rgb
            img = F.interpolate(
                canvas,
                size=(self.size, self.size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            ).clamp(0, 1)
            return img if dtype == torch.float32 else (img * 255).round().to(torch.uint8)
        z = F.interpolate(
            z, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
        )
        # scaled in place (the same operations as (z - lo) / span), transposed and flipped as colour indices
        return self._colour(
            z.sub_(lo).div_(span), self.lut if dtype == torch.float32 else self.lut_uint8, True
        )

    @staticmethod
    def _colour(z: torch.Tensor, lut: torch.Tensor, by_frame: bool = False) -> torch.Tensor:
        # colour-map lookup after resizing the data, as imshow resamples data before colouring: the index is
        # floor(256 z) of z clipped to [0, 1], at most 255 (clipping the float at 255 before the truncation
        # gives the same integer); by_frame: z is (B, 1, frames, bins), and the uint8 indices (not the floats)
        # are transposed and flipped to the image's layout, high frequencies at the top
        idx = z.squeeze(1).clamp(0, 1).mul_(256).clamp_max_(255).to(torch.uint8)
        if by_frame:
            idx = idx.transpose(1, 2).flip(1)
        # a gather from each channel's 256 entries (numpy's take on a small table is several times faster than
        # torch's index_select on CPU); a GPU tensor is looked up by torch
        if idx.device.type != "cpu":
            return lut[:, idx.long()].transpose(0, 1).contiguous()
        table, index = lut.numpy(), idx.numpy()
        out = np.empty((index.shape[0], 3) + index.shape[1:], dtype=table.dtype)
        for c in range(3):
            np.take(table[c], index, out=out[:, c])
        return torch.from_numpy(out)


def spectrogram_image(
    wav: np.ndarray | torch.Tensor,
    sr: int,
    route: str = "tensor",
    nfft: int = 1024,
    noverlap: int = 512,
    size: int = 224,
    jpeg_path: str | Path | None = None,
    crop_axes: bool = False,
    margins: bool = False,
) -> torch.Tensor:
    """One segment as a float ``(3, size, size)`` image in [0, 1] by the ``source`` (JPEG) or ``tensor`` route.

    ``jpeg_path`` keeps the source route's JPEG (else it is written to a
    temporary folder and removed); ``crop_axes`` drops its white margins,
    ``margins`` adds them to the tensor route. Both routes need finite samples
    and at least one; shorter than ``nfft`` is zero-padded to ``nfft``.
    """
    if route == "tensor":
        return SpecgramImage(sr, nfft, noverlap, size, margins=margins)(
            torch.as_tensor(np.asarray(wav, np.float32))
        )[0]
    if route != "source":
        raise ValueError(f"route must be 'source' or 'tensor', got {route!r}")
    x = np.asarray(wav, dtype=np.float32)
    if jpeg_path is not None:
        return read_image(specgram_jpeg(x, sr, jpeg_path, nfft, noverlap), size, crop_axes)
    with tempfile.TemporaryDirectory() as d:
        return read_image(
            specgram_jpeg(x, sr, Path(d) / "spec.jpg", nfft, noverlap), size, crop_axes
        )


# ----------------------------------------------------------------------------- clips drawn into an image set

ROUTES = ("tensor", "source")


@contextmanager
def single_thread(threads: int | None = 1) -> Iterator[None]:
    """Run torch on ``threads`` threads (default one; None: unchanged) inside the block, then restore the count.

    One is the default for loops over one small clip at a time: handing each op
    to the thread pool costs more than it saves, worst on a busy machine, where
    every hand-off waits for a time slice (measured: 100 four-second clips drawn
    in 26 s with 2 threads on a loaded 2-core machine, 0.45 s with one). On an
    idle machine long clips draw faster on every core.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def render(
    clips: Iterable[Clip],
    sr: int,
    route: str = "tensor",
    size: int = 224,
    jpeg_dir: str | Path | None = None,
    threads: int | None = 1,
) -> ImageSet:
    """Draw every clip as a ``size`` x ``size`` spectrogram image by the ``tensor`` or the source's ``source`` route.

    noverlap is half the FFT size: the source's 1024/512, and matplotlib's
    defaults 256/128 where the source left NFFT unset. ``jpeg_dir`` keeps the
    source route's JPEGs. ``threads``: torch threads while drawing (None: the
    current setting); see :func:`single_thread` for why the default is one.
    The set is held in memory; :func:`render_rows` gives the images one at a
    time, for a cache on disk (:func:`asvnb.data.images.cached_images`).
    """
    rows = list(render_rows(clips, sr, route, size, jpeg_dir, threads))
    if not rows:
        raise ValueError("no clips to render")
    images, labels, ids, groups = zip(*rows)
    return ImageSet(torch.stack(images), labels, ids, groups)


def render_rows(
    clips: Iterable[Clip],
    sr: int,
    route: str = "tensor",
    size: int = 224,
    jpeg_dir: str | Path | None = None,
    threads: int | None = 1,
) -> Iterator[tuple[torch.Tensor, int, str, str]]:
    """:func:`render`, one ``(uint8 image, label, id, group)`` at a time as each clip is drawn.

    ``threads`` holds while the rows are being drawn (the count is restored
    when the iterator is exhausted or closed).
    """
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    return _rows(clips, sr, route, size, jpeg_dir, threads)


def _rows(
    clips: Iterable[Clip],
    sr: int,
    route: str,
    size: int,
    jpeg_dir: str | Path | None,
    threads: int | None,
) -> Iterator[tuple[torch.Tensor, int, str, str]]:
    imagers: dict[int, SpecgramImage] = {}
    with single_thread(threads):
        for c in clips:
            if route == "tensor":
                if (
                    c.nfft not in imagers
                ):  # one imager per FFT size: building one looks up the colour map
                    imagers[c.nfft] = SpecgramImage(sr, c.nfft, c.nfft // 2, size)
                img = imagers[c.nfft](
                    torch.from_numpy(np.ascontiguousarray(c.wav, dtype=np.float32)), torch.uint8
                )[0]
            else:
                path = Path(jpeg_dir) / f"{c.id.replace('/', '_')}.jpg" if jpeg_dir else None
                img = spectrogram_image(
                    c.wav, sr, "source", c.nfft, c.nfft // 2, size, jpeg_path=path
                )
                img = (img * 255).round().to(torch.uint8)
            yield img, c.label, c.id, c.group
