"""Why a better separator can give worse streams: ``benchmarks/stream_quality.py``'s measurement, read from the
file it writes (committed with the code), as a table, result rows and sentences.

The separator stand-in's release v2 separates better than v1 (higher SI-SNRi)
and yet the detector does worse on its streams. The benchmark scores both
releases' streams of the same eval mixtures per stream and per class, so that
the chapter can say where the difference comes from instead of guessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from asvnb.results import ResultRow, benchmark_record

BENCHMARK = "benchmarks/stream_quality.py"
RECORD = "benchmarks/results/stream_quality.json"
SEPARATORS = ("v1", "v2", "none", "oracle", "oracle@8k")
NEEDED = ("summary", "per_class", "bootstrap", "tests")


def load_stream_quality(path: str | Path | None = None) -> dict[str, Any] | None:
    """The benchmark's record (``RECORD`` under the project root), or None when it has not been run there."""

    def required(record: dict) -> str | None:
        missing = [k for k in NEEDED if not isinstance(record.get(k), dict)]
        if missing:
            return ", ".join(missing)
        return None if {"v1", "v2"} <= set(record["summary"]) else "v1/v2 summary"

    return benchmark_record(RECORD, BENCHMARK, required, path)


def _interval(d: dict[str, Any]) -> str:
    return f"{d['value']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"


def stream_quality_table(record: dict[str, Any]) -> pd.DataFrame:
    """One row per separator: SI-SNRi, stream SI-SNR against its own and the other source, stream EER, and per
    class the mean CM score and the share called spoof at the detector's LA19 dev threshold."""
    rows = []
    for name in SEPARATORS:
        s, c = record["summary"].get(name), record["per_class"].get(name)
        if s is None or c is None:
            continue
        rows.append(
            {
                "streams": name,
                "SI-SNRi (dB)": None if s.get("si_snri_db") is None else round(s["si_snri_db"], 2),
                "SI-SNR own / other (dB)": f"{s['mean_si_snr_db']:.1f} / {s['mean_leak_si_snr_db']:.1f}",
                "stream EER": round(s["stream_eer"], 4),
                "bona fide: score": round(c["bonafide"]["all"]["mean_score"], 2),
                "bona fide: called spoof": round(c["bonafide"]["all"]["called_spoof"], 3),
                "spoof: score": round(c["spoof"]["all"]["mean_score"], 2),
                "spoof: called spoof": round(c["spoof"]["all"]["called_spoof"], 3),
            }
        )
    return pd.DataFrame(rows).set_index("streams")


def _row(record: dict[str, Any], system: str, data: str, metric: str, d: dict, n: int) -> ResultRow:
    commit = str(record.get("fingerprint", {}).get("git_commit", "unknown"))[:10]
    return ResultRow(
        "stream quality",
        system,
        data,
        metric,
        float(d["value"]),
        None,
        1,
        (float(d["ci95"][0]), float(d["ci95"][1])),
        n,
        None,
        f"{BENCHMARK} at {commit}: separator releases v1 and v2, the pre-trained detector, paired bootstrap "
        "over mixtures",
    )


def stream_quality_rows(record: dict[str, Any]) -> list[ResultRow]:
    """The benchmark's paired differences (v2 minus v1) as result rows: table "stream quality"."""
    b, n = record["bootstrap"], int(record["n_mixtures"])
    data = "LA19 eval mixtures"
    out = [
        _row(
            record, "v2 minus v1, pre-trained", data, "stream_eer", b["stream_eer v2 minus v1"], n
        ),
        _row(
            record,
            "v2 minus v1, bona fide streams",
            data,
            "called_spoof",
            b["bonafide called_spoof v2 minus v1"],
            n,
        ),
        _row(
            record,
            "v2 minus v1, spoof streams",
            data,
            "called_spoof",
            b["spoof called_spoof v2 minus v1"],
            n,
        ),
    ]
    groups = record["tests"].get("attack_groups", {})
    for part, label in (("missed", "attacks missed on clean speech"), ("caught", "other attacks")):
        if part in groups:
            out.append(
                _row(
                    record,
                    f"v2 minus v1, {label}",
                    data,
                    "stream_eer",
                    groups[part]["v2_minus_v1"],
                    n,
                )
            )
    return out


def stream_quality_text(record: dict[str, Any]) -> str:
    """What the record shows, in numbers read from it and decided by its paired intervals: which class of
    streams moves, which attacks carry the difference, and whether stream SI-SNR tracks the detector's score."""
    s, b, t = record["summary"], record["bootstrap"], record["tests"]
    diff = b["stream_eer v2 minus v1"]
    lo, hi = diff["ci95"]
    verdict = (
        "an interval that excludes 0"
        if lo > 0 or hi < 0
        else "an interval that includes 0: resampling the mixtures can reverse it"
    )
    out = [
        f"Release v2 separates better than v1 (SI-SNRi {s['v2']['si_snri_db']:.2f} dB against "
        f"{s['v1']['si_snri_db']:.2f} dB on the same {record['n_mixtures']:,} eval mixtures), and its streams "
        f"give a stream EER of {s['v2']['stream_eer']:.3f} against {s['v1']['stream_eer']:.3f}: v2 minus v1 is "
        f"{_interval(diff)}, {verdict}."
    ]
    shift = t.get("v2_minus_v1_per_stream", {})
    if shift:
        out.append(
            "Stream by stream, v2's gain in SI-SNR does not track the change in the detector's score (Spearman "
            f"{shift['bonafide']['spearman_shift_vs_gain']:+.2f} on bona fide streams, "
            f"{shift['spoof']['spearman_shift_vs_gain']:+.2f} on spoofed ones): fidelity is not what the "
            "detector reads."
        )
    out.append(
        "Separation artefacts do not make bona fide streams look spoofed: at the detector's LA19 dev "
        f"threshold v2 calls a smaller share of them spoofed than v1 ({_interval(b['bonafide called_spoof v2 minus v1'])}). "
        f"But v2 also calls fewer spoofed streams spoofed ({_interval(b['spoof called_spoof v2 minus v1'])}), "
        "and these carry the difference"
    )
    crossed = t.get("crossed_eer", {})
    if crossed:
        out[-1] += (
            f": v1's bona fide streams with v2's spoofed ones give {crossed['bonafide v1, spoof v2']:.3f}, v2's "
            f"bona fide with v1's spoofed {crossed['bonafide v2, spoof v1']:.3f}"
        )
    out[-1] += "."
    groups = t.get("attack_groups", {})
    if {"missed", "caught", "missed_on_clean"} <= set(groups):
        miss, caught = groups["missed"], groups["caught"]
        names = ", ".join(groups["missed_on_clean"])
        attacks = t.get("per_attack", {})
        example = next((a for a in groups["missed_on_clean"] if a in attacks), None)
        out.append(
            f"The spoofed streams that move belong to the attacks the detector misses on clean speech ({names}: "
            f"their true sources score as bona fide on average; EER against every bona fide stream "
            f"{miss['eer']['oracle']:.2f} on the oracle streams). On their {miss['n_spoof_streams']} spoofed "
            f"streams v2 minus v1 is {_interval(miss['v2_minus_v1'])}; on the other attacks' "
            f"{caught['n_spoof_streams']}, {_interval(caught['v2_minus_v1'])}."
        )
        if example:
            a = attacks[example]
            out.append(
                f"v1's distortion pushes them towards 'spoof' ({example}: mean score {a['oracle']['mean_score']:+.2f} "
                f"on the true source, {a['v1']['mean_score']:+.2f} after v1, {a['v2']['mean_score']:+.2f} after "
                "v2), which rescues a blind spot by accident; a separator that keeps the speech as it was hands "
                "the detector back its own errors on clean speech."
            )
    out.append(
        f"The detector sets the floor of the stream EER: {s['oracle']['stream_eer']:.3f} with the true "
        "sources as streams. A better separator lowers it only once the detector catches those attacks on "
        "clean speech."
    )
    return " ".join(out)
