"""ASVspoof 2019 LA / 2021 LA adapters against miniature replicas of the official layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from replicas import LA2019_TRIALS, tone, write, write_la2021

from asvnb.audio import AudioError
from asvnb.data import DatasetMissing, ProtocolError
from asvnb.data.asvspoof import (
    LA2019,
    CMDataset,
    CMTrial,
    LA2021Eval,
    read_asv_scores,
    read_cm_protocol,
    speaker_label_groups,
)


def test_cm_protocol_read_with_quirks(la2019_root):
    la = LA2019(la2019_root, "train")
    assert [(t.speaker, t.utt, t.key) for t in la.trials] == [
        (s, u, k) for s, u, _, k in LA2019_TRIALS["train"]
    ]
    # '-' of bona fide trials becomes 'bonafide'; attacks are kept
    assert [t.system for t in la.trials] == ["bonafide", "A01", "bonafide", "A04", "A06"]
    assert (
        la.audio_path("LA_T_1138215")
        == la2019_root / "LA" / "ASVspoof2019_LA_train" / "flac" / "LA_T_1138215.flac"
    )
    # the LA folder itself is accepted as root
    assert len(LA2019(la2019_root / "LA", "eval")) == 3


@pytest.mark.parametrize("bonafide_label", [1, 0])
def test_cm_dataset_labels_and_audio(la2019_root, bonafide_label):
    ds = LA2019(la2019_root, "train").dataset(n_samples=None, bonafide_label=bonafide_label)
    expect = [
        bonafide_label if k == "bonafide" else 1 - bonafide_label
        for *_, k in LA2019_TRIALS["train"]
    ]
    assert ds.labels == expect
    wav, label, utt = ds[1]
    assert (label, utt) == (1 - bonafide_label, "LA_T_1271820")
    assert isinstance(wav, torch.Tensor) and wav.dtype == torch.float32
    ref = tone(300, 0.4)  # the second file of the replica: 300 Hz, 0.4 s, stored as 16-bit PCM
    assert wav.shape == (len(ref),)
    np.testing.assert_allclose(wav.numpy(), ref, atol=1 / 2**15)


def test_cm_dataset_fixed_length_and_deterministic_crops(la2019_root):
    ds = LA2019(la2019_root, "train").dataset(n_samples=6000, random_crop=True, seed=3)
    w0, *_ = ds[0]  # 0.3 s = 4800 samples: repeat-padded
    assert w0.shape == (6000,)
    np.testing.assert_allclose(w0[4800:].numpy(), w0[:1200].numpy())
    w4a, w4b = ds[4][0], ds[4][0]  # 0.7 s = 11200 samples: cropped at a seeded offset
    assert torch.equal(w4a, w4b)
    ds.set_epoch(1)
    assert not torch.equal(ds[4][0], w4a)


def test_cm_dataset_class_of(la2019_root):
    classes = {"bonafide": 0, **{f"A0{i}": i for i in range(1, 7)}}
    ds = LA2019(la2019_root, "train").dataset(class_of=classes)
    assert ds.labels == [0, 1, 0, 4, 6]
    with pytest.raises(ValueError, match="A11"):
        LA2019(la2019_root, "eval").dataset(class_of=classes)


def test_asv_protocols_and_scores(la2019_root):
    dev = LA2019(la2019_root, "dev")
    assert dev.asv_enrolment() == {
        "LA_0069": ["LA_X_0000001", "LA_X_0000002", "LA_X_0000003"],
        "LA_0070": ["LA_X_0000004", "LA_X_0000005"],
    }
    assert [t.key for t in dev.asv_trials()] == ["target", "nontarget", "spoof"]
    s = dev.asv_scores()
    np.testing.assert_array_equal(s.target, [2.31, 1.5])
    np.testing.assert_array_equal(s.nontarget, [-3.25])
    np.testing.assert_array_equal(s.spoof, [-0.4])
    assert list(s.frame["system"]) == ["bonafide", "bonafide", "bonafide", "A02"]
    with pytest.raises(ValueError, match="dev and eval only"):
        LA2019(la2019_root, "train").asv_scores()


@pytest.mark.parametrize(
    "bad, message",
    [
        ("LA_0079 LA_T_1 - bonafide\n", "expected 5 fields, found 4"),
        ("LA_0079 LA_T_1 - - Bonafide\n", "key 'Bonafide'"),
        ("LA_0079 LA_T_1 x - bonafide\n", "third field"),
        ("LA_0079 LA_T_1 - - spoof\n", "without an attack"),
        ("LA_0079 LA_T_1 - A01 bonafide\n", "bona fide trial with attack"),
        ("LA_0079 LA_T_1138215 - - bonafide\n", "listed twice"),
    ],
)
def test_malformed_cm_line_names_file_and_line(tmp_path, bad, message):
    p = tmp_path / "proto.txt"
    p.write_text("LA_0079 LA_T_1138215 - - bonafide\n\nLA_0079 LA_T_1271820 - A01 spoof\n" + bad)
    with pytest.raises(ProtocolError, match=message) as e:
        read_cm_protocol(p)
    assert f"{p}:4:" in str(e.value) and e.value.line_no == 4  # the blank line 2 still counts


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_cm_protocol_is_an_error_naming_the_file(tmp_path, la2019_root, text):
    p = tmp_path / "proto.txt"
    p.write_text(text)
    with pytest.raises(ProtocolError, match=rf"{p}: no trial: the file is empty"):
        read_cm_protocol(p)
    dev = LA2019(la2019_root, "dev").protocol_path
    dev.write_text(text)  # the split itself: no longer a dataset of 0 trials
    with pytest.raises(ProtocolError, match=rf"{dev}: no trial"):
        LA2019(la2019_root, "dev")


def test_bad_asv_score_and_wrong_split_protocol(tmp_path, la2019_root):
    p = tmp_path / "scores.txt"
    p.write_text("bonafide target 1.0\nA07 spoof abc\n")
    with pytest.raises(ProtocolError, match=rf"{p}:2: score 'abc' is not a number"):
        read_asv_scores(p)
    proto = la2019_root / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt"
    proto.write_text("LA_0069 LA_T_1047731 - - bonafide\n")
    with pytest.raises(ProtocolError, match="not of the dev split"):
        LA2019(la2019_root, "dev")


def test_missing_dataset_names_dataset_path_and_download(tmp_path):
    with pytest.raises(DatasetMissing) as e:
        LA2019(tmp_path, "train")
    msg = str(e.value)
    assert "ASVspoof 2019 LA" in msg and str(tmp_path / "LA") in msg
    assert "https://datashare.ed.ac.uk/handle/10283/3336" in msg and "ODC-By" in msg
    with pytest.raises(DatasetMissing, match="zenodo.org/record/4837263"):
        LA2021Eval(tmp_path)


def test_bad_audio_is_an_error_naming_the_file(la2019_root):
    la = LA2019(la2019_root, "train")
    truncated = la.audio_path("LA_T_1138215")
    truncated.write_bytes(truncated.read_bytes()[:60])
    empty = la.audio_path("LA_T_1271820")
    write(empty, np.zeros(0, dtype=np.float32))
    la.audio_path("LA_T_1004644").unlink()
    ds = la.dataset()
    for i, name in ((0, "LA_T_1138215"), (1, "LA_T_1271820"), (2, "LA_T_1004644")):
        with pytest.raises(AudioError, match=name):
            ds[i]


def test_speaker_label_groups_follow_protocol_order(la2019_root):
    la = LA2019(la2019_root, "train")
    g = speaker_label_groups(la.trials, la.audio_dir)
    assert list(g) == [
        ("LA_0079", "bonafide"),
        ("LA_0079", "spoof"),
        ("LA_0080", "bonafide"),
        ("LA_0080", "spoof"),
    ]
    assert [p.stem for p in g[("LA_0079", "spoof")]] == ["LA_T_1271820", "LA_T_2000001"]


@pytest.mark.parametrize("keys", ["stage-1", "full"])
def test_la2021_keys_metadata_and_asv_scores(tmp_path, keys):
    write_la2021(tmp_path, keys)
    ev = LA2021Eval(tmp_path)
    assert [(t.utt, t.system, t.key, t.codec, t.phase) for t in ev.trials] == [
        ("LA_E_9332881", "A07", "spoof", "alaw", "eval"),
        ("LA_E_1000048", "bonafide", "bonafide", "none", "progress"),
        ("LA_E_5013670", "bonafide", "bonafide", "g722", "eval"),
        ("LA_E_7417804", "A19", "spoof", "opus", "hidden_track"),
    ]
    assert [t.utt for t in LA2021Eval(tmp_path, phase="eval").trials] == [
        "LA_E_9332881",
        "LA_E_5013670",
    ]
    wav, label, utt = ev.dataset(n_samples=1000)[1]
    assert (wav.shape, label, utt) == ((1000,), 1, "LA_E_1000048")
    s = ev.asv_scores("eval")
    np.testing.assert_array_equal(s.target, [3.5])
    np.testing.assert_array_equal(s.nontarget, [-4.0])
    np.testing.assert_array_equal(s.spoof, [-1.25])
    assert len(ev.asv_scores(None).spoof) == 2
    assert [t.key for t in ev.asv_trials(None)] == ["target", "nontarget", "spoof", "spoof"]


def test_la2021_inconsistent_files_are_errors(tmp_path):
    ev_dir = write_la2021(tmp_path)
    kd = tmp_path / "LA-keys-stage-1" / "keys"
    score = kd / "ASV" / "ASVTorch_Kaldi" / "score.txt"
    score.write_text("\n".join(score.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(ProtocolError, match="no score for ASV trial .*LA_E_1103494"):
        LA2021Eval(tmp_path).asv_scores()
    (ev_dir / "ASVspoof2021.LA.cm.eval.trl.txt").write_text("LA_E_9332881\n")
    with pytest.raises(ProtocolError, match="3 keyed trials are not in"):
        LA2021Eval(tmp_path)
    (kd / "CM" / "trial_metadata.txt").write_text(
        "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim\n"
    )
    with pytest.raises(ProtocolError, match=r"trial_metadata.txt:1: expected 8 fields"):
        LA2021Eval(tmp_path)


def test_cm_dataset_rejects_bad_label_value(tmp_path):
    with pytest.raises(ValueError, match="bonafide_label"):
        CMDataset([CMTrial("s", "u", "bonafide", "bonafide")], tmp_path, bonafide_label=2)


# ----------------------------------------------------------------------------- bad input

PROTOCOL = "LA_0079 LA_T_1138215 - - bonafide\nLA_0079 LA_T_1271820 - A01 spoof\n"


def test_protocol_with_a_utf8_bom_keeps_one_speaker(tmp_path):
    p = tmp_path / "proto.txt"
    p.write_bytes(b"\xef\xbb\xbf" + PROTOCOL.encode())  # what Notepad writes as "UTF-8 with BOM"
    trials = read_cm_protocol(p)
    assert [t.speaker for t in trials] == [
        "LA_0079",
        "LA_0079",
    ]  # the mark no longer sticks to the first ID
    assert trials[0].utt == "LA_T_1138215"


@pytest.mark.parametrize(
    "data, where, message",
    [
        (
            PROTOCOL.encode() + "LA_0080 LA_T_Café - - bonafide\n".encode("latin-1"),
            ":3:",
            r"not UTF-8 text \(byte 0xe9 at column 17; Latin-1 or another encoding\?\); save it as UTF-8",
        ),
        (
            PROTOCOL.encode("utf-16"),
            ": ",
            r"UTF-16 text \(it starts with a UTF-16 byte-order mark\)",
        ),
        (PROTOCOL.encode("utf-16-le"), ":1:", "NUL bytes: UTF-16 or binary data, not UTF-8 text"),
    ],
    ids=["latin-1", "utf-16", "utf-16-without-bom"],
)
def test_protocol_in_another_encoding_names_file_and_line(tmp_path, data, where, message):
    p = tmp_path / "proto.txt"
    p.write_bytes(data)
    with pytest.raises(ProtocolError, match=message) as e:
        read_cm_protocol(p)
    assert str(e.value).startswith(f"{p}{where}")
    assert not isinstance(e.value.__cause__, UnicodeDecodeError)  # not a bare decoding error


def test_unknown_2021_phase_is_an_error_listing_the_valid_ones(tmp_path):
    write_la2021(tmp_path)
    for call in (
        lambda: LA2021Eval(tmp_path, phase="evaluation"),
        lambda: LA2021Eval(tmp_path).asv_trials("Eval"),
        lambda: LA2021Eval(tmp_path).asv_scores("hidden"),
        lambda: LA2021Eval(tmp_path / "absent", "evl"),
    ):
        with pytest.raises(
            ValueError,
            match=r"unknown ASVspoof 2021 LA phase '\w+'; valid: progress, eval, "
            r"hidden_track \(or None: all\)",
        ):
            call()
    meta = tmp_path / "LA-keys-stage-1" / "keys" / "CM" / "trial_metadata.txt"
    meta.write_text(meta.read_text().replace("notrim progress", "notrim prog"))
    with pytest.raises(
        ProtocolError, match=r"trial_metadata.txt:2: phase 'prog' is not one of progress, eval"
    ):
        LA2021Eval(tmp_path)


def test_2021_asv_score_without_a_key_names_file_and_line(tmp_path):
    write_la2021(tmp_path)
    score = tmp_path / "LA-keys-stage-1" / "keys" / "ASV" / "ASVTorch_Kaldi" / "score.txt"
    score.write_text(score.read_text() + "LA_0099-alaw-ita_tx LA_E_0000001-alaw-ita_tx 1.5\n")
    with pytest.raises(
        ProtocolError,
        match=r"score.txt:5: 1 scored trial\(s\) have no key in .*trial_metadata.txt; "
        r"the first: 'LA_0099-alaw-ita_tx LA_E_0000001-alaw-ita_tx 1.5'",
    ):
        LA2021Eval(tmp_path).asv_scores("eval")
