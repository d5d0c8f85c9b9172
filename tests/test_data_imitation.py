"""Imitation (Mendeley) adapter against a replica of ``Fake_voice_recordings_Imitation/{real,fake}``."""

from __future__ import annotations

import pytest
from replicas import write_imitation

from asvnb.data import DatasetMissing, ProtocolError
from asvnb.data.imitation import ImitationDataset, list_imitation


def test_whole_clips_and_labels(tmp_path):
    write_imitation(tmp_path)
    assert [(p.name, lab) for p, lab in list_imitation(tmp_path)] == [
        ("r01.wav", "real"),
        ("r02.wav", "real"),
        ("f01.wav", "fake"),
    ]
    ds = ImitationDataset(tmp_path)
    assert ds.labels == [1, 1, 0]
    assert [len(ds[i][0]) for i in range(3)] == [
        8000,
        11200,
        6400,
    ]  # 0.7 s at 22.05 kHz resampled to 16 kHz
    assert ds[2][2] == "fake/f01"
    assert ImitationDataset(tmp_path / "Fake_voice_recordings_Imitation", real_label=0).labels == [
        0,
        0,
        1,
    ]


def test_missing_and_empty(tmp_path):
    with pytest.raises(DatasetMissing) as e:
        list_imitation(tmp_path)
    assert "https://data.mendeley.com/datasets/ytkv9w92t6/1" in str(e.value) and "CC BY 4.0" in str(
        e.value
    )
    d = write_imitation(tmp_path)
    for p in (d / "fake").iterdir():
        p.unlink()
    with pytest.raises(ProtocolError, match="fake: no .wav files"):
        list_imitation(tmp_path)
