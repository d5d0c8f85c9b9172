"""Audio utilities added for the adapters: partial reads, truncation checks, concatenation by group and cutting."""

from __future__ import annotations

import numpy as np
import pytest

from asvnb.audio import AudioError, concat_segments, concatenate_by, load_audio, load_segment
from replicas import tone, write


@pytest.fixture()
def files(tmp_path):
    return [write(tmp_path / f"u{i}.flac", tone(200 * (i + 1), s)) for i, s in enumerate((0.3, 0.4, 0.5))]


def test_concatenate_by_group(files):
    out = concatenate_by({("LA_0001", "bonafide"): files[:2], ("LA_0001", "spoof"): files[2:]})
    np.testing.assert_array_equal(out[("LA_0001", "bonafide")], np.r_[load_audio(files[0]), load_audio(files[1])])
    assert len(out[("LA_0001", "spoof")]) == 8000
    with pytest.raises(ValueError, match="no files"):
        concatenate_by({"x": []})


def test_concat_segments_cuts_like_the_source(files):
    whole = np.concatenate([load_audio(p) for p in files])  # 1.2 s
    pieces = list(concat_segments({"spk": files}, seconds=0.5))
    assert [(k, i, len(p)) for k, i, p in pieces] == [("spk", 0, 8000), ("spk", 1, 8000), ("spk", 2, 3200)]
    np.testing.assert_array_equal(np.concatenate([p for *_, p in pieces]), whole)
    assert len(list(concat_segments({"spk": files}, seconds=0.5, drop_last=True))) == 2
    assert [len(p) for *_, p in concat_segments({"a": files[:1], "b": files[1:2]}, seconds=0.25)] == [4000, 800, 4000, 2400]


def test_load_segment_stereo_and_truncation(tmp_path, caplog):
    left = tone(440, 1.0, sr=44100)
    p = write(tmp_path / "st.wav", np.stack([left, np.zeros_like(left)], axis=1), sr=44100)
    seg = load_segment(p, 44100 // 2, 44100, sr=None)
    np.testing.assert_allclose(seg, left[22050:] / 2, atol=1 / 2 ** 15)  # channels averaged
    assert load_segment(p, 0, 44100).shape == (16000,)
    with pytest.raises(AudioError, match="st.wav: truncated"):
        load_segment(p, 0, 50000)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    for read in (lambda: load_audio(p), lambda: load_segment(p, 0, 100)):
        with pytest.raises(AudioError, match=r"st.wav: truncated audio \(header declares"):
            read()
