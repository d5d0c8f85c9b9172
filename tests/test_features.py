"""Features against hand-computed cases: tone peaks, normalisation statistics, matplotlib's PSD, the two image routes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import mlab
from PIL import Image
from replicas import tone

from asvnb import features as fe

SR = 16000


def test_linear_spectrogram_tone_peak_bin():
    x = tone(1000, 1.0)
    spec = fe.linear_spectrogram(x)  # FFT 512 at 16 kHz: 31.25 Hz per bin, 1000 Hz is bin 32
    assert spec.shape == (257, 1 + 16000 // 160)
    assert (spec[:, 5:-5].argmax(dim=0) == 32).all()


def test_log_mel_shape_and_tone_band():
    x = tone(1000, 1.0)
    m = fe.LogMel(fe.preset("logmel40_resnetse", instance_norm=False))(torch.from_numpy(x))
    assert m.shape == (40, 101)
    # the band whose centre is nearest 1000 Hz on torchaudio's HTK mel scale carries the tone
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    centres = np.linspace(mel(0), mel(8000), 42)[1:-1]
    assert int(m[:, 50].argmax()) == int(np.argmin(np.abs(centres - mel(1000))))


def test_presets():
    assert fe.preset("logmel40_resnetse").frames() == (512, 400, 160)
    # 25 ms at 22,050 Hz is 551 samples: the FFT grows to 1024 rather than cutting the window
    assert fe.preset("logmel40_resnetse", sr=22050).frames() == (1024, 551, 220)
    with pytest.raises(ValueError, match="unknown feature preset"):
        fe.preset("nope")


def test_instance_norm_statistics_and_guard():
    x = torch.randn(2, 40, 300) * 5 + 3
    y = fe.instance_norm(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 40), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(2, 40), atol=1e-4, rtol=0)
    assert torch.equal(fe.instance_norm(torch.full((3, 10), 7.0)), torch.zeros(3, 10))


def test_silent_audio_gives_finite_features():
    z = np.zeros(SR, np.float32)
    assert torch.equal(fe.log_mel(z), torch.zeros(40, 101))  # constant rows normalise to zero
    assert torch.isfinite(fe.linear_spectrogram(z)).all()
    for route in ("tensor", "source"):
        img = fe.spectrogram_image(z, SR, route=route)
        assert img.shape == (3, 224, 224) and torch.isfinite(img).all()


def test_tensor_route_psd_equals_matplotlib():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    ref, freqs, _ = mlab.specgram(x.astype(np.float64), NFFT=1024, Fs=SR, noverlap=512)
    exact = (
        fe.SpecgramImage(SR, precision="float64")
        .psd_db(torch.from_numpy(x)[None])[0]
        .double()
        .numpy()
    )
    assert exact.shape == ref.shape == (513, (SR - 512) // 512)
    np.testing.assert_allclose(exact, 10 * np.log10(ref), atol=1e-3)
    # the fast float32 default: the same PSD of noise to a few thousandths of a dB
    fast = fe.SpecgramImage(SR).psd_db(torch.from_numpy(x)[None])[0].double().numpy()
    np.testing.assert_allclose(fast, 10 * np.log10(ref), atol=2e-2)


def test_float32_psd_is_clipped_at_its_rounding_floor():
    x = torch.from_numpy(tone(1000.0, 1.0))[None]
    db = fe.SpecgramImage(SR).psd_db(x)
    assert float(db.amax() - db.amin()) == pytest.approx(fe.SpecgramImage.FLOOR_DB)
    with pytest.raises(ValueError, match="precision"):
        fe.SpecgramImage(SR, precision="float16")


def _peak_row(img: torch.Tensor) -> int:
    # viridis: the loudest pixels are yellow (high red + green, little blue)
    return int((img[0] + img[1] - img[2]).mean(-1).argmax())


def recorded_tone(freq: float, seconds: float) -> np.ndarray:
    """A tone over a -80 dB noise floor: like any recording, far above float32's rounding floor."""
    rng = np.random.default_rng(int(freq))
    return (tone(freq, seconds) + 1e-4 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.mark.parametrize("freq", [1000.0, 2000.0, 6000.0])
def test_routes_agree_on_where_the_energy_is(freq):
    x = recorded_tone(freq, 2.0)
    src = fe.spectrogram_image(x, SR, route="source", crop_axes=True)
    ten = fe.spectrogram_image(x, SR, route="tensor")
    expect = 224 * (1 - freq / (SR / 2))  # top row = Nyquist, bottom row = 0 Hz
    assert abs(_peak_row(src) - expect) <= 3 and abs(_peak_row(ten) - expect) <= 3
    assert (src - ten).abs().mean() < 0.05  # same picture, JPEG artefacts apart


def test_source_route_jpeg_and_margins(tmp_path):
    x = recorded_tone(2000, 2.0)
    path = tmp_path / "seg_1.jpg"
    src = fe.spectrogram_image(x, SR, route="source", jpeg_path=path)
    with Image.open(path) as im:
        assert (im.format, im.size, im.mode) == (
            "JPEG",
            (542, 539),
            "RGB",
        )  # the source's 539 x 542 images
    assert torch.allclose(
        src[:, :5, :], torch.ones(3, 5, 224), atol=0.02
    )  # white margin kept, as saved
    ten = fe.spectrogram_image(x, SR, route="tensor", margins=True)
    assert (src - ten).abs().mean() < 0.05


def test_tensor_route_batches():
    xs = torch.from_numpy(np.stack([tone(500, 1.0), tone(3000, 1.0)]))
    mod = fe.SpecgramImage(SR)
    batch = mod(xs)
    assert batch.shape == (2, 3, 224, 224) and batch.min() >= 0 and batch.max() <= 1
    torch.testing.assert_close(batch[1], mod(xs[1])[0])
    with pytest.raises(ValueError, match="route"):
        fe.spectrogram_image(xs[0].numpy(), SR, route="png")


def test_tensor_route_uint8_is_the_rounded_float_image():
    xs = torch.from_numpy(np.stack([tone(500, 1.0), tone(3000, 1.0)]))
    for margins in (False, True):
        mod = fe.SpecgramImage(SR, margins=margins)
        as_float, as_uint8 = mod(xs), mod(xs, torch.uint8)
        assert as_uint8.dtype == torch.uint8 and as_uint8.shape == as_float.shape
        assert torch.equal(as_uint8, (as_float * 255).round().to(torch.uint8))
    with pytest.raises(ValueError, match="dtype must be"):
        fe.SpecgramImage(SR)(xs, torch.float64)


# ----------------------------------------------------------------------------- bad input


def _with_nan(n: int = 8000) -> np.ndarray:
    x = tone(440, n / SR)
    x[123] = np.nan
    return x


@pytest.mark.parametrize(
    "extract",
    [
        fe.log_mel,
        fe.linear_spectrogram,
        lambda x: fe.spectrogram_image(x, SR),
        lambda x: fe.spectrogram_image(x, SR, route="source"),
        lambda x: fe.SpecgramImage(SR)(torch.from_numpy(x), dtype=torch.uint8),
        lambda x: fe.SpecgramImage(SR).psd_db(torch.from_numpy(x)[None]),
    ],
    ids=["log_mel", "linear", "image-tensor", "image-source", "image-uint8", "psd"],
)
def test_no_feature_turns_nan_into_a_number(extract):
    with pytest.raises(ValueError, match=r"the input holds 1 NaN/inf value\(s\), first at index"):
        extract(_with_nan())
    x = tone(440, 0.5)
    x[7] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        extract(x)


def test_instance_norm_refuses_a_nan_row_instead_of_zeroing_it():
    x = torch.randn(2, 40, 50)
    x[1, 3, :] = float("nan")
    with pytest.raises(
        ValueError,
        match=r"instance_norm: the input holds 50 NaN/inf value\(s\), first at index "
        r"\(1, 3, 0\)",
    ):
        fe.instance_norm(x)


def test_overflowing_amplitudes_are_refused():
    loud = np.full(4000, 1e25, dtype=np.float32)  # finite, but its power is not a float32
    for extract in (fe.linear_spectrogram, lambda x: fe.spectrogram_image(x, SR)):
        with pytest.raises(
            ValueError, match=r"power spectrum overflows float32 \(peak amplitude 1e\+25\)"
        ):
            extract(loud)


@pytest.mark.parametrize(
    "name, rate, minimum",
    [
        ("logmel40_resnetse", 16000, 257),
        ("logmel40_resnetse", 22050, 513),
        ("logspec_hann", 16000, 257),
    ],
)
def test_stft_features_state_their_minimum_length(name, rate, minimum):
    extract = fe.log_mel if name == "logmel40_resnetse" else fe.linear_spectrogram
    module = (fe.LogMel if name == "logmel40_resnetse" else fe.LinearSpectrogram)(
        fe.preset(name, sr=rate)
    )
    assert module.min_samples == minimum
    assert extract(np.zeros(minimum, np.float32), name, sr=rate).shape[-1] >= 1
    for n in (0, 1, minimum - 1):
        # never torch's "Padding size should be less than the corresponding input dimension"
        with pytest.raises(
            ValueError,
            match=rf"input of {n} samples is shorter than the minimum of {minimum} "
            r"samples \(n_fft // 2 \+ 1",
        ):
            extract(np.zeros(n, np.float32), name, sr=rate)


def test_spectrogram_images_zero_pad_short_input_and_refuse_empty():
    short = tone(1000, 100 / SR)  # 100 samples, far below one 1024-point window
    img = fe.spectrogram_image(short, SR)
    padded = fe.spectrogram_image(np.r_[short, np.zeros(1024 - 100, np.float32)], SR)
    torch.testing.assert_close(img, padded)  # the stated rule: zero-padded to nfft
    with pytest.warns(
        UserWarning, match="Only one segment is calculated"
    ):  # matplotlib pads the same way
        assert fe.spectrogram_image(short, SR, route="source").shape == (3, 224, 224)
    for route in ("tensor", "source"):
        with pytest.raises(
            ValueError, match=r"empty waveform \(0 samples\); at least 1 sample is needed"
        ):
            fe.spectrogram_image(np.zeros(0, np.float32), SR, route=route)


def reference_clips() -> list:
    """Six clips of a harmonic chirp in noise: 4 s at FFT 1024 and 256, 30 s (the route benchmark's length),
    30 ms (shorter than one window), 1.3 s at FFT 512, 2 s whose first half is digital silence."""
    from asvnb.data.images import Clip

    rng = np.random.default_rng(2026)
    out = []
    for i, (sec, nfft) in enumerate(
        [(4.0, 1024), (4.0, 256), (30.0, 1024), (0.03, 1024), (1.3, 512), (2.0, 1024)]
    ):
        n = int(sec * SR)
        t = np.arange(n) / SR
        phase = 2 * np.pi * np.cumsum(120 + 60 * np.sin(2 * np.pi * 0.3 * t + i)) / SR
        w = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.1 + 0.01 * rng.standard_normal(n)
        if i == 5:
            w[: n // 2] = 0.0
        out.append(Clip(f"c{i}", i % 2, "g", w.astype(np.float32), nfft))
    return out


def test_tensor_route_images_equal_the_reference():
    # tests/fixtures/spectrogram_images_reference.npz holds the tensor route's images of reference_clips() as
    # drawn by the code of commit 4e547be, before the route was made faster (issue 28, item 6): 96 px for all
    # six clips, 224 px for the 30 s, 30 ms and half-silent ones. Speed-ups must leave every pixel as it was.
    from pathlib import Path

    ref = np.load(Path(__file__).parent / "fixtures" / "spectrogram_images_reference.npz")
    for size, want, which in ((96, ref["images96"], range(6)), (224, ref["images224"], [2, 3, 5])):
        got = fe.render([reference_clips()[i] for i in which], SR, "tensor", size).images.numpy()
        assert got.shape == want.shape
        differ = [
            (i, int((g != w).sum()))
            for i, g, w in zip(which, got, want)
            if not np.array_equal(g, w)
        ]
        assert not differ, f"{size} px: (clip, pixels that differ from the reference): {differ}"
    # a batch draws the same images as one clip at a time
    clips = reference_clips()[:1]
    batch = fe.SpecgramImage(SR, size=96)(
        torch.from_numpy(np.stack([clips[0].wav, clips[0].wav[::-1].copy()])), torch.uint8
    )
    assert np.array_equal(batch[0].numpy(), ref["images96"][0])
