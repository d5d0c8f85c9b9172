"""Separators behind one interface: SI-SNR by hand, oracle and no-separation, the SepFormer stand-in's from_hparams path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asvnb.models import separation
from asvnb.models.separation import (
    NoSeparation,
    OracleSeparator,
    SepformerNet,
    SepformerStandinConfig,
    make_separator,
    si_snr,
    si_snr_improvement,
)
from asvnb.train.standins import train_sepformer_standin


def test_si_snr_by_hand():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(4000)
    ref -= ref.mean()
    noise = rng.standard_normal(4000)
    noise -= noise.mean()
    noise -= noise @ ref / (ref @ ref) * ref  # orthogonal to the reference
    noise *= np.sqrt((ref @ ref) / (noise @ noise)) / 10  # 1/100 of the reference's power: 20 dB
    assert si_snr(3.0 * (ref + noise), ref) == pytest.approx(20.0, abs=1e-6)  # scale invariant
    refs = np.stack([ref, noise * 10])
    mix = refs.sum(0)
    # perfect estimates in swapped order: the permutation is found; the mixture itself scores 0 dB each
    base = (si_snr(mix, refs[0]) + si_snr(mix, refs[1])) / 2
    assert base == pytest.approx(0.0, abs=1e-6)
    assert si_snr_improvement(refs[::-1], refs, mix) == pytest.approx(
        si_snr_improvement(refs, refs, mix)
    )
    assert si_snr_improvement(np.stack([mix, mix]), refs, mix) == pytest.approx(0.0, abs=1e-6)


def test_oracle_and_none():
    rng = np.random.default_rng(1)
    src = (0.2 * rng.standard_normal((2, 1600))).astype(np.float32)
    mix = src.sum(0)
    for sep in (OracleSeparator(), NoSeparation()):  # bad mixtures are refused by every separator
        with pytest.raises(ValueError, match=f"{sep.name}: mixture 0 is empty"):
            sep.separate([mix[:0]], [src[:, :0]])
        with pytest.raises(
            ValueError, match=f"{sep.name}: mixture 0: the input holds 1600 NaN/inf"
        ):
            sep.separate([mix * np.nan], [src])
    out = OracleSeparator().separate([mix], [src])[0]
    np.testing.assert_allclose(out, src / np.abs(src).max(axis=1, keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError, match="needs the true sources"):
        OracleSeparator().separate([mix])
    with pytest.raises(ValueError, match="do not match"):
        OracleSeparator().separate([mix[:100]], [src])
    # band-limited oracle: a 6 kHz tone (above 4 kHz) vanishes, a 1 kHz tone survives
    t = np.arange(16000) / 16000
    hi_lo = (
        np.stack([np.sin(2 * np.pi * 6000 * t), np.sin(2 * np.pi * 1000 * t)]).astype(np.float32)
        * 0.5
    )
    lim = OracleSeparator(band_limit=8000).separate([hi_lo.sum(0)], [hi_lo])[0]
    assert (
        np.sqrt(np.mean(lim[0, 2000:-2000] ** 2)) < 0.01
        and separation.si_snr(lim[1], hi_lo[1]) > 30
    )
    np.testing.assert_array_equal(NoSeparation().separate([mix])[0], np.stack([mix, mix]))
    with pytest.raises(ValueError, match="unknown separator"):
        make_separator("tasnet")


def test_sepformer_standin_roundtrip_through_from_hparams(tmp_path):
    rng = np.random.default_rng(2)
    waves = [
        (0.3 * np.sin(2 * np.pi * f * np.arange(6000) / 8000)).astype(np.float32)
        + 0.01 * rng.standard_normal(6000).astype(np.float32)
        for f in (120, 180, 250, 330)
    ]
    c = SepformerStandinConfig(
        channels=16, ffn=32, heads=2, steps_per_epoch=2, epochs=1, batch=2, seconds=0.5
    )
    out = train_sepformer_standin(waves, waves, tmp_path / "sep", c, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [
        "decoder.ckpt",
        "encoder.ckpt",
        "history.csv",
        "hyperparams.yaml",
        "masknet.ckpt",
        "standin.json",
    ]
    sep = make_separator("sepformer", out)
    assert sep.sample_rate == 8000 and sep.n_params() > 0
    # the speechbrain model loaded from the directory is the trained network
    net = SepformerNet(c)
    for name in ("encoder", "masknet", "decoder"):
        getattr(net, name).load_state_dict(torch.load(out / f"{name}.ckpt"))
    x = torch.from_numpy(waves[0][None] + waves[1][None])
    with torch.no_grad():
        torch.testing.assert_close(sep.model.separate_batch(x), net.eval()(x))
    # 16 kHz in, two peak-normalised 16 kHz streams out, for mixtures of different lengths in one batch
    mixes = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (8000, 5000)]
    streams = sep.separate(mixes)
    assert [s.shape for s in streams] == [(2, 8000), (2, 5000)]
    assert all(np.isclose(np.abs(s).max(axis=1), 1.0).all() for s in streams)
    # shorter than the encoder's 16-sample window at 8 kHz: zero-padded to MIN_MODEL_SECONDS, cropped back
    tiny = sep.separate([mixes[1][:10]])[0]
    assert tiny.shape == (2, 10) and np.isfinite(tiny).all()
    bad = mixes[1].copy()
    bad[3] = np.nan
    with pytest.raises(
        ValueError, match=r"sepformer: mixture 1: the input holds 1 NaN/inf value\(s\)"
    ):
        sep.separate([mixes[0], bad])
    with pytest.raises(FileNotFoundError, match="hyperparams.yaml"):
        make_separator("sepformer", tmp_path)


def test_a_separator_must_say_how_it_separates() -> None:
    """The bases are abstract: a separator without separate() (or a model without its forward) cannot be built."""
    from asvnb.models.separation import ModelSeparator, Separator

    with pytest.raises(TypeError, match="abstract"):
        Separator()

    class Half(ModelSeparator):
        pass

    with pytest.raises(TypeError, match="_separate_model_rate"):
        Half()
