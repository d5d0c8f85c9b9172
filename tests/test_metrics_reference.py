"""asvnb.metrics against the official ASVspoof evaluation code, on seeded random score sets.

The official code is not in this repository: it was run once, outside it, on
the score sets :func:`draw` makes, and its figures were kept as fixtures
(tests/fixtures/asvspoof5_reference.json, asvspoof2021_reference.json; how:
tests/fixtures/README.md). Each test regenerates the same scores from the
stored seed and parameters and asserts our figure equals the official one to 1e-9.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from asvnb import metrics as M

FIXTURES = Path(__file__).parent / "fixtures"
TOL = 1e-9


def _fixture_maker():
    """The script that made the fixtures: its ``draw`` regenerates their inputs (one copy of the recipe)."""
    spec = importlib.util.spec_from_file_location(
        "make_asvspoof_reference", FIXTURES / "make_asvspoof_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


draw = _fixture_maker().draw


def _cases(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())["cases"]


ASV5 = _cases("asvspoof5_reference.json")
ASV21 = _cases("asvspoof2021_reference.json")


def test_fixtures_cover_sizes_separations_and_ties():
    names = {c["case"]["name"] for c in ASV5}
    assert len(ASV5) >= 8 and len(ASV21) >= 5
    assert any(c["case"].get("decimals") is not None for c in ASV5)  # ties
    assert any(c["case"].get("decimals") is not None for c in ASV21)
    assert {"tiny", "inverted", "overlapping, large"} <= names
    # the draws really tie: fewer distinct values than trials
    s = draw(next(c["case"] for c in ASV5 if c["case"]["name"] == "heavy ties, integers"))
    assert np.unique(np.concatenate([s["bonafide"], s["spoof"]])).size < 30


@pytest.mark.parametrize("row", ASV5, ids=[c["case"]["name"] for c in ASV5])
def test_asvspoof5_track1_metrics_match_the_official_package(row):
    s, ref = draw(row["case"]), row["official"]
    got = M.asvspoof5_metrics(s["bonafide"], s["spoof"])
    for key in ("min_dcf", "act_dcf", "cllr", "eer"):
        assert got[key] == pytest.approx(ref[key], abs=TOL, rel=0), key
    assert M.eer(s["bonafide"], s["spoof"])[1] == pytest.approx(
        ref["eer_threshold"], abs=TOL, rel=0
    )
    assert M.bayes_threshold() == pytest.approx(ref["act_dcf_threshold"], abs=TOL, rel=0)


@pytest.mark.parametrize("row", ASV21, ids=[c["case"]["name"] for c in ASV21])
def test_asvspoof2021_eer_and_tdcf_match_the_official_package(row):
    s, ref = draw(row["case"]), row["official"]
    e, thr = M.eer(s["bonafide"], s["spoof"])
    assert (e, thr) == (
        pytest.approx(ref["eer"], abs=TOL, rel=0),
        pytest.approx(ref["eer_threshold"], abs=TOL, rel=0),
    )
    asv = M.asv_error_rates(s["target"], s["nontarget"], s["asv_spoof"])
    for ours, key in (
        (asv.eer, "asv_eer"),
        (asv.threshold, "asv_threshold"),
        (asv.Pfa_asv, "Pfa_asv"),
        (asv.Pmiss_asv, "Pmiss_asv"),
        (asv.Pmiss_spoof_asv, "Pmiss_spoof_asv"),
        (asv.Pfa_spoof_asv, "Pfa_spoof_asv"),
    ):
        assert ours == pytest.approx(ref[key], abs=TOL, rel=0), key
    args = (s["bonafide"], s["spoof"], s["target"], s["nontarget"], s["asv_spoof"])
    assert M.min_tdcf(*args) == pytest.approx(ref["min_tdcf"], abs=TOL, rel=0)
    assert M.min_tdcf(*args, legacy=True) == pytest.approx(ref["min_tdcf_legacy"], abs=TOL, rel=0)
