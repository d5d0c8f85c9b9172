"""The notebooks' ``max_items`` (a quick run through every step) and the fixes the full-profile rehearsal led to."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from asvnb import config
from asvnb.data import balanced_subset
from asvnb.results import ResultRow


def test_balanced_subset_draws_every_group_in_turn_and_keeps_the_order() -> None:
    items = [("a", i) for i in range(10)] + [("b", i) for i in range(3)] + [("c", 0)]
    pick = balanced_subset(items, 7, key=lambda x: x[0], seed=1)
    assert len(pick) == 7 and pick == sorted(pick, key=items.index)  # original order
    counts = {g: sum(x[0] == g for x in pick) for g in "abc"}
    assert counts == {"a": 3, "b": 3, "c": 1}  # round robin until a group runs out
    assert pick == balanced_subset(items, 7, key=lambda x: x[0], seed=1)  # seeded
    assert (
        balanced_subset(items, None, key=lambda x: x[0])
        == items
        == balanced_subset(items, 99, lambda x: x[0])
    )
    assert (
        balanced_subset(items, 2, key=lambda x: x[0]) != []
        and len(balanced_subset(items, 0, lambda x: x)) == 0
    )
    with pytest.raises(ValueError, match="at least 0"):
        balanced_subset(items, -1, key=lambda x: x[0])


def test_spread_of_one_seed_is_said_not_formatted_as_a_number() -> None:
    one = ResultRow("t", "s", "d", "eer", 0.1)
    assert one.spread(100, 1) == "(one seed: no std)"
    assert ResultRow("t", "s", "d", "eer", 0.1, std=0.0123, n_seeds=3).spread(100, 1) == "± 1.2"


def test_fingerprint_names_the_resolved_device_not_auto() -> None:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    assert config.fingerprint(device="auto")["device"] == gpu == config.fingerprint()["device"]
    assert config.fingerprint(device="cpu")["device"] == "cpu"


def test_cnn_vs_resnet50_max_items_caps_la_and_cv_and_keeps_the_embedded_run_folders() -> None:
    from asvnb.studies import cnn_vs_resnet50 as study

    cfg = study.CnnVsResnet50Config.for_profile("full", data_root="/nowhere", max_items=8)
    assert cfg.max_items == 8 and cfg.settings()["max_items"] == 8
    emb = study.CnnVsResnet50Config.for_profile("embedded")
    assert (
        emb.max_items is None and "max_items" not in emb.settings()
    )  # run folders of the book unchanged


def test_overlap_max_items_caps_every_split() -> None:
    from asvnb.studies import overlap_pipeline as study

    cfg = study.OverlapConfig.for_profile("full", data_root="/nowhere", max_items=4)
    assert cfg.n_mixtures == {"train": 4, "dev": 4, "eval": 4}
    cfg = study.OverlapConfig.for_profile(
        "full", data_root="/nowhere", max_items=4, n_mixtures={"train": 2, "dev": 2, "eval": 9}
    )
    assert cfg.n_mixtures == {"train": 2, "dev": 2, "eval": 4}
    assert study.OverlapConfig.for_profile("full", data_root="/nowhere").max_items is None


def test_ge2e_max_items_sets_the_aeg_pool_is_reported_and_leaves_the_run_key() -> None:
    from asvnb.studies import ge2e_aeg_kd as study

    plain = study.GE2EAEGKDConfig.for_profile("full", data_root="/nowhere")
    quick = study.GE2EAEGKDConfig.for_profile("full", data_root="/nowhere", max_items=16)
    assert quick.aeg_pool == 16 and "at most 16 utterances per evaluation set" in quick.reductions
    assert (
        study.GE2EAEGKDConfig.for_profile(
            "full", data_root="/nowhere", max_items=16, aeg_pool=5
        ).aeg_pool
        == 5
    )
    # an evaluation cap does not change what is trained: only the AEG pool it implies does
    from dataclasses import replace

    assert replace(quick, aeg_pool=None).run_key() == plain.run_key()
    emb = study.GE2EAEGKDConfig.for_profile("embedded")
    assert emb.max_items is None and emb.aeg_pool == 32


def test_codec_conditions_without_both_classes_have_no_eer_row() -> None:
    from asvnb.studies import ge2e_aeg_kd as study

    keys = np.array(["bonafide", "spoof", "spoof", "bonafide", "spoof"], dtype=object)
    r = SimpleNamespace(
        keys=keys,
        systems=np.array(["-", "A07", "A08", "-", "A07"], dtype=object),
        codecs=np.array(["none", "none", "alaw", "ulaw", "ulaw"], dtype=object),
    )
    masks = study.groups(r, {"A07": "TTS", "A08": "VC"})
    assert list(masks) == [
        "",
        "family TTS",
        "family VC",
        "codec none",
        "codec ulaw",
    ]  # alaw: spoofs only
