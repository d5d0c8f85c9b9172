"""Score files with a decision column (``UTT SCORE DECISION``, what ``asvnb score`` writes)."""

from __future__ import annotations

import pytest

from asvnb import files
from asvnb import metrics as M


def test_round_trip_keeps_ids_scores_and_decisions(tmp_path):
    path = M.write_decisions(
        tmp_path / "out" / "s.txt", ["a.wav", "b/c.flac"], [0.1 + 0.2, -3.0], ["bonafide", "spoof"]
    )
    assert path.read_text() == "a.wav 0.30000000000000004 bonafide\nb/c.flac -3.0 spoof\n"
    table = M.read_decisions(path)
    assert table.to_dict("list") == {
        "utt": ["a.wav", "b/c.flac"],
        "score": [0.1 + 0.2, -3.0],
        "decision": ["bonafide", "spoof"],
    }
    assert not list((tmp_path / "out").glob(files.TEMP_GLOB))
    assert M.decision_lines(["x"], [1.5], ["spoof"]) == ["x 1.5 spoof\n"]


@pytest.mark.parametrize(
    "ids,scores,decisions,msg",
    [
        (["a", "b"], [1.0], ["spoof", "spoof"], "column lengths differ"),
        (["a b"], [1.0], ["spoof"], "whitespace-containing field 'a b'"),
        (["a", "a"], [1.0, 2.0], ["spoof", "spoof"], "1 duplicated utterance IDs"),
        (["a"], [float("nan")], ["spoof"], "1 NaN/inf score"),
        (["a"], [1.0], ["maybe"], "decisions must be 'bonafide' or 'spoof'"),
    ],
)
def test_writing_refuses_bad_columns(tmp_path, ids, scores, decisions, msg):
    with pytest.raises(ValueError, match=msg):
        M.write_decisions(tmp_path / "s.txt", ids, scores, decisions)
    assert not (tmp_path / "s.txt").exists()


# reading a bad or missing file: test_metrics.test_score_file_readers_name_file_and_line and
# test_score_file_readers_refuse_a_missing_file, with read_scores' cases


def test_write_scores_unchanged_by_the_shared_checks(tmp_path):
    # write_scores now shares its column checks with write_decisions: same files, same refusals
    p = M.write_scores(
        tmp_path / "s.txt", ["u1", "u2"], [1.0, -0.5], ["A07", "-"], ["spoof", "bonafide"]
    )
    assert p.read_text() == "u1 A07 spoof 1.0\nu2 - bonafide -0.5\n"
    with pytest.raises(ValueError, match="duplicated utterance IDs"):
        M.write_scores(tmp_path / "t.txt", ["u", "u"], [1.0, 2.0])
