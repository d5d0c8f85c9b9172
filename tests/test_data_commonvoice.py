"""Common Voice adapter against a replica of the 14.0 delta layout (48 kHz MP3, tab-separated tables)."""

from __future__ import annotations

import numpy as np
import pytest
from replicas import CV_HEADER, SPK_A, SPK_B, write_commonvoice

from asvnb.data import DatasetMissing, ProtocolError
from asvnb.data.commonvoice import CommonVoice, read_cv_tsv


def test_tables_and_speakers(tmp_path):
    write_commonvoice(tmp_path)
    cv = CommonVoice(tmp_path)
    rows = cv.table("validated")
    assert [r.path for r in rows] == [f"common_voice_en_3700000{i}.mp3" for i in (1, 2, 3)]
    assert rows[0].sentence == 'He said "no" twice.'  # quotes are text, not CSV quoting
    assert rows[0].meta["accents"] == "England English" and rows[1].meta["age"] == ""
    assert {k: len(v) for k, v in cv.speakers().items()} == {SPK_A: 2, SPK_B: 1}
    assert cv.table("other") == []
    with pytest.raises(
        ValueError, match=r"no table 'valdated'; valid: invalidated, other, validated$"
    ):
        cv.table("valdated")


def test_mp3_clips_decode_to_16k_mono(tmp_path):
    write_commonvoice(tmp_path)
    ds = CommonVoice(tmp_path / "cv-corpus-14.0-delta-2023-06-23" / "en").dataset()
    wav, label, utt = ds[2]
    assert (label, utt) == (1, "common_voice_en_37000003")
    assert abs(len(wav) - 0.6 * 16000) < 0.05 * 16000  # MP3 adds a few ms of encoder padding
    spec = np.abs(np.fft.rfft(wav.numpy()))
    assert abs(np.argmax(spec) * 16000 / len(wav) - 660) < 5  # the 660 Hz tone written at 48 kHz


def test_malformed_rows_name_file_and_line(tmp_path):
    p = tmp_path / "validated.tsv"
    p.write_text(
        CV_HEADER
        + "\n"
        + "\t".join([SPK_A, "x.mp3", "ok"] + [""] * 8)
        + "\n"
        + f"{SPK_A}\ty.mp3\tshort row\n"
    )
    with pytest.raises(ProtocolError, match=rf"{p}:3: expected 11 tab-separated fields, found 3"):
        read_cv_tsv(p)
    p.write_text("path\tsentence\nx.mp3\thello\n")
    with pytest.raises(ProtocolError, match=rf"{p}:1: header lacks column\(s\) client_id"):
        read_cv_tsv(p)


def test_tables_with_a_bom_or_in_latin_1(tmp_path):
    p = tmp_path / "validated.tsv"
    row = "\t".join([SPK_A, "x.mp3", "Café au lait."] + [""] * 8) + "\n"
    p.write_bytes(b"\xef\xbb\xbf" + (CV_HEADER + "\n" + row).encode())
    assert [(c.client_id, c.sentence) for c in read_cv_tsv(p)] == [
        (SPK_A, "Café au lait.")
    ]  # header still found
    p.write_bytes((CV_HEADER + "\n" + row).encode("latin-1"))
    with pytest.raises(ProtocolError, match=rf"{p}:2: not UTF-8 text \(byte 0xe9"):
        read_cv_tsv(p)


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetMissing) as e:
        CommonVoice(tmp_path)
    msg = str(e.value)
    assert (
        "Common Voice" in msg and "https://commonvoice.mozilla.org/datasets" in msg and "CC0" in msg
    )
    assert str(tmp_path / "cv-corpus-14.0-delta-2023-06-23" / "en" / "clips") in msg
