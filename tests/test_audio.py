"""Audio utilities added for the adapters: partial reads, truncation checks, concatenation by group and cutting."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from replicas import tone, write

from asvnb import audio
from asvnb.audio import (
    AudioConversionWarning,
    AudioError,
    concat_segments,
    concatenate_by,
    expected_conversions,
    load_audio,
    load_segment,
)


@pytest.fixture()
def files(tmp_path):
    return [
        write(tmp_path / f"u{i}.flac", tone(200 * (i + 1), s))
        for i, s in enumerate((0.3, 0.4, 0.5))
    ]


def test_concatenate_by_group(files):
    out = concatenate_by({("LA_0001", "bonafide"): files[:2], ("LA_0001", "spoof"): files[2:]})
    np.testing.assert_array_equal(
        out[("LA_0001", "bonafide")], np.r_[load_audio(files[0]), load_audio(files[1])]
    )
    assert len(out[("LA_0001", "spoof")]) == 8000
    with pytest.raises(ValueError, match="no files"):
        concatenate_by({"x": []})


def test_concat_segments_cuts_like_the_source(files):
    whole = np.concatenate([load_audio(p) for p in files])  # 1.2 s
    pieces = list(concat_segments({"spk": files}, seconds=0.5))
    assert [(k, i, len(p)) for k, i, p in pieces] == [
        ("spk", 0, 8000),
        ("spk", 1, 8000),
        ("spk", 2, 3200),
    ]
    np.testing.assert_array_equal(np.concatenate([p for *_, p in pieces]), whole)
    assert len(list(concat_segments({"spk": files}, seconds=0.5, drop_last=True))) == 2
    assert [
        len(p) for *_, p in concat_segments({"a": files[:1], "b": files[1:2]}, seconds=0.25)
    ] == [4000, 800, 4000, 2400]


def test_load_segment_stereo_and_truncation(tmp_path, caplog):
    left = tone(440, 1.0, sr=44100)
    p = write(tmp_path / "st.wav", np.stack([left, np.zeros_like(left)], axis=1), sr=44100)
    seg = load_segment(p, 44100 // 2, 44100, sr=None)
    np.testing.assert_allclose(seg, left[22050:] / 2, atol=1 / 2**15)  # channels averaged
    assert load_segment(p, 0, 44100).shape == (16000,)
    with pytest.raises(AudioError, match="st.wav: truncated"):
        load_segment(p, 0, 50000)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    for read in (lambda: load_audio(p), lambda: load_segment(p, 0, 100)):
        with pytest.raises(AudioError, match=r"st.wav: truncated audio \(header declares"):
            read()


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_an_error_naming_the_file(tmp_path, bad):
    x = tone(440, 0.5)
    x[1000] = bad
    p = write(tmp_path / "corrupt.wav", x, subtype="FLOAT")  # only float files can hold NaN/inf
    with pytest.raises(
        AudioError, match=r"corrupt.wav: 1 frame\(s\) with NaN or inf samples, first at frame 1000"
    ):
        load_audio(p)
    with pytest.raises(
        AudioError, match="first at frame 1000"
    ):  # frames counted in the file, not in the segment
        load_segment(p, 500, 2000)
    assert load_segment(p, 2000, 4000).shape == (2000,)  # a clean part of the file still loads


@pytest.fixture()
def fresh_reports(monkeypatch):
    """Forget which conversions this process has already reported."""
    monkeypatch.setattr(audio, "_REPORTED", set())


def conversion_warnings(read) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read()
    return [str(w.message) for w in caught if issubclass(w.category, AudioConversionWarning)]


def test_conversions_warn_once_per_kind_naming_the_first_file(tmp_path, fresh_reports):
    st = [
        write(tmp_path / f"st{i}.wav", tone(440, 0.2, sr=44100, channels=2), sr=44100)
        for i in range(2)
    ]
    hi = write(tmp_path / "hi.wav", tone(440, 0.2, sr=48000), sr=48000)
    with pytest.warns(
        AudioConversionWarning,
        match="st0.wav: 2 channels averaged to mono and resampled from 44100 Hz to 16000 Hz",
    ) as rec:
        load_audio(st[0])
    assert rec[0].filename == __file__  # the warning points at the caller's line
    assert conversion_warnings(lambda: load_audio(st[1])) == []  # the same kind again: not repeated
    assert conversion_warnings(lambda: load_audio(hi)) == [
        f"{hi}: resampled from 48000 Hz to 16000 Hz (further files converted the same way are not reported)"
    ]
    assert conversion_warnings(lambda: load_audio(hi, sr=None)) == []  # nothing converted
    assert conversion_warnings(lambda: load_audio(st[0], sr=None)) == [
        f"{st[0]}: 2 channels averaged to mono (further files converted the same way are not reported)"
    ]


def test_expected_conversions_are_logged_not_warned(tmp_path, fresh_reports, caplog):
    p = write(tmp_path / "tts.wav", tone(440, 0.2, sr=22050), sr=22050)
    with caplog.at_level("INFO", logger="asvnb.audio"):
        assert conversion_warnings(lambda: load_audio(p, expected=True)) == []
        with expected_conversions():
            assert conversion_warnings(lambda: load_audio(p)) == []
    assert caplog.text.count("tts.wav: resampled from 22050 Hz to 16000 Hz") == 2
    # an expected conversion does not use up the warning a user's own load gets
    assert len(conversion_warnings(lambda: load_audio(p))) == 1
