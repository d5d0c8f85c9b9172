"""Kaggle DEEP-VOICE adapter against a replica: stereo 44.1 kHz real files, ``<a>-to-<b>.wav`` fakes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from replicas import tone, write, write_deepvoice

from asvnb.data import DatasetMissing, ProtocolError
from asvnb.data.deepvoice import DeepVoiceSegments, list_deepvoice, parse_deepvoice_name


def test_parse_names():
    assert parse_deepvoice_name("biden-original.wav") == ("real", "biden", "biden")
    assert parse_deepvoice_name("/x/Linus-to-Musk.wav") == ("fake", "linus", "musk")
    with pytest.raises(ProtocolError, match="neither"):
        parse_deepvoice_name("biden_original.wav")


def test_listing(tmp_path):
    write_deepvoice(tmp_path)
    files = list_deepvoice(tmp_path)
    assert [(f.label, f.source, f.target) for f in files] == [
        ("real", "biden", "biden"),
        ("real", "musk", "musk"),
        ("fake", "biden", "musk"),
        ("fake", "musk", "biden"),
    ]
    write(tmp_path / "KAGGLE" / "AUDIO" / "REAL" / "obama-to-trump.wav", tone(100, 0.1))
    with pytest.raises(
        ProtocolError, match="obama-to-trump.wav: a fake file name in the REAL folder"
    ):
        list_deepvoice(tmp_path)


def test_segments_cut_like_the_source(tmp_path, caplog):
    write_deepvoice(tmp_path, seconds=2.5)
    ds = DeepVoiceSegments(list_deepvoice(tmp_path), seconds=1.0)
    assert len(ds) == 12  # 4 files x (1 s, 1 s, 0.5 s): the shorter last piece is kept
    assert [i for _, _, i in ds.items[:3]] == [
        "biden-original_1",
        "biden-original_2",
        "biden-original_3",
    ]
    assert ds.labels == [1] * 6 + [0] * 6
    with caplog.at_level(logging.INFO, logger="asvnb.audio"):
        wav, label, _ = ds[1]
    assert (
        "2 channels, averaged to mono" in caplog.text
        and "resampled from 44100 Hz to 16000 Hz" in caplog.text
    )
    assert wav.shape == (16000,) and label == 1
    spec = np.abs(np.fft.rfft(wav.numpy()))
    assert abs(np.argmax(spec) - 300) <= 1  # 1 s at 16 kHz: bin k is k Hz
    assert ds[2][0].shape == (8000,)
    assert (
        len(DeepVoiceSegments(list_deepvoice(tmp_path), seconds=1.0, min_seconds=0.6, real_label=0))
        == 8
    )


def test_missing_and_truncated(tmp_path):
    with pytest.raises(
        DatasetMissing, match="kaggle.com/datasets/birdy654/deep-voice-deepfake-voice-recognition"
    ):
        list_deepvoice(tmp_path)
    audio = write_deepvoice(tmp_path)
    p = audio / "FAKE" / "musk-to-biden.wav"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # header still claims the full length
    ds = DeepVoiceSegments(list_deepvoice(tmp_path), seconds=1.0)
    with pytest.raises(Exception, match="musk-to-biden.wav"):
        ds[len(ds) - 1]
