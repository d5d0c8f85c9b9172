"""The fixes the full-profile rehearsal (tests/test_full_profile.py) led to."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from asvnb import config
from asvnb.results import ResultRow


def test_spread_of_one_seed_is_said_not_formatted_as_a_number() -> None:
    one = ResultRow("t", "s", "d", "eer", 0.1)
    assert one.spread(100, 1) == "(one seed: no std)"
    assert ResultRow("t", "s", "d", "eer", 0.1, std=0.0123, n_seeds=3).spread(100, 1) == "± 1.2"


def test_fingerprint_names_the_resolved_device_not_auto() -> None:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    assert config.fingerprint(device="auto")["device"] == gpu == config.fingerprint()["device"]
    assert config.fingerprint(device="cpu")["device"] == "cpu"


def test_codec_conditions_without_both_classes_have_no_eer_row() -> None:
    from asvnb.studies import ge2e_aeg_kd as study

    keys = np.array(["bonafide", "spoof", "spoof", "bonafide", "spoof"], dtype=object)
    r = SimpleNamespace(keys=keys, systems=np.array(["-", "A07", "A08", "-", "A07"], dtype=object),
                        codecs=np.array(["none", "none", "alaw", "ulaw", "ulaw"], dtype=object))
    masks = study.groups(r, {"A07": "TTS", "A08": "VC"})
    assert list(masks) == ["", "family TTS", "family VC", "codec none", "codec ulaw"]  # alaw: spoofs only
