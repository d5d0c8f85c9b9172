"""MUSAN / RIR augmentation against replicas of the MUSAN and RIRS_NOISES layouts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from replicas import tone, write_musan, write_rirs

from asvnb.audio import rms_db
from asvnb.data import DatasetMissing
from asvnb.data.augment import Augmenter


@pytest.fixture()
def aug(tmp_path):
    write_musan(tmp_path)
    write_rirs(tmp_path)
    return Augmenter(tmp_path / "musan", tmp_path / "RIRS_NOISES", seed=1)


@pytest.mark.parametrize(
    "kind, lo, hi",
    [
        ("noise", 0, 15),
        ("music", 5, 15),
        # 3-7 babble speakers each at 13-20 dB: the sum is 0-8.5 dB louder
        ("speech", 13 - 10 * np.log10(7), 20),
    ],
)
def test_snr_in_category_range(aug, kind, lo, hi):
    clean = tone(440, 1.0)
    for seed in range(5):
        out = aug(clean, kind=kind, rng=np.random.default_rng(seed))
        snr = rms_db(clean) - rms_db(out - clean)
        assert lo - 0.5 <= snr <= hi + 0.5


def test_reverb_is_normalised_convolution(aug):
    x = tone(300, 0.2)
    y = aug(x, kind="reverb")
    ref = (x + 0.5 * np.r_[np.zeros(400), x[:-400]]) / np.sqrt(
        1.25
    )  # RIR: 1 at 0, 0.5 at 400, unit energy
    np.testing.assert_allclose(y, ref, atol=1e-4)


def test_seeded_torch_and_silence(aug, tmp_path):
    x = tone(300, 0.5)
    a = Augmenter(tmp_path / "musan", tmp_path / "RIRS_NOISES", seed=7)
    b = Augmenter(tmp_path / "musan", tmp_path / "RIRS_NOISES", seed=7)
    outs_a, outs_b = [a(x) for _ in range(6)], [b(x) for _ in range(6)]
    assert all(np.array_equal(u, v) for u, v in zip(outs_a, outs_b))
    assert any(not np.array_equal(u, x) for u in outs_a)
    t = aug(torch.from_numpy(x), kind="noise")
    assert isinstance(t, torch.Tensor) and t.shape == (len(x),)
    for kind in ("noise", "speech", "music", "reverb"):
        assert np.isfinite(aug(np.zeros(8000, np.float32), kind=kind)).all()


def test_missing_folders(tmp_path):
    write_rirs(tmp_path)
    with pytest.raises(DatasetMissing, match="MUSAN.*openslr.org/17"):
        Augmenter(tmp_path / "musan", tmp_path / "RIRS_NOISES")
    write_musan(tmp_path)
    shutil.rmtree(tmp_path / "musan" / "speech")
    with pytest.raises(
        DatasetMissing, match=f"speech folder not found at {tmp_path / 'musan' / 'speech'}"
    ):
        Augmenter(tmp_path / "musan", tmp_path / "RIRS_NOISES")
    with pytest.raises(DatasetMissing, match="RIRS_NOISES.*openslr.org/28.*Apache"):
        Augmenter(tmp_path / "musan", tmp_path / "nowhere", kinds=("none", "reverb"))


def test_unknown_kinds_list_the_valid_ones(aug, tmp_path):
    with pytest.raises(
        ValueError,
        match=r"unknown augmentation kind\(s\) \['babble'\]; valid: none, reverb, music, "
        "speech, noise",
    ):
        Augmenter(tmp_path / "musan", tmp_path / "RIRS_NOISES", kinds=("none", "babble"))
    with pytest.raises(
        ValueError,
        match="unknown augmentation kind 'reverberation'; valid here: none, reverb, music",
    ):
        aug(np.zeros(800, np.float32), kind="reverberation")
    music_only = Augmenter(tmp_path / "musan", tmp_path / "RIRS_NOISES", kinds=("music",))
    with pytest.raises(
        ValueError, match="unknown augmentation kind 'noise'; valid here: none, music$"
    ):
        music_only(np.zeros(800, np.float32), kind="noise")  # its noise files were never listed
