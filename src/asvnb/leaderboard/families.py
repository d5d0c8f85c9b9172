"""EER per attack family, and the floor the VC family sets under every detector's pooled EER."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from asvnb import metrics
from asvnb.leaderboard.scores import Scored, TrialSet
from asvnb.leaderboard.tables import over_seeds_with_ci
from asvnb.results import ResultRow, eer_ci


def family_table(
    scored: Sequence[Scored], sets: dict[str, TrialSet], families: dict[str, str], reps: int = 200
) -> pd.DataFrame:
    """EER per attack family (each family's spoofs against every bona fide trial), per run and set, with intervals."""
    rows = []
    for s in scored:
        for name, ss in s.sets.items():
            ts = sets[name]
            fam = np.array(
                [
                    families.get(x, "?") if y == 0 else ""
                    for x, y in zip(ts.systems, ts.labels, strict=True)
                ]
            )
            bona = ss.scores[ts.labels == 1]
            for f in sorted(set(fam) - {""}):
                spoof = ss.scores[fam == f]
                rows.append(
                    {
                        "study": s.entry.study,
                        "system": s.entry.name,
                        "seed": s.entry.seed,
                        "set": name,
                        "family": f,
                        "eer": metrics.eer(bona, spoof)[0],
                        "ci95": eer_ci(bona, spoof, reps),
                        "n_trials": int(len(bona) + len(spoof)),
                    }
                )
    return pd.DataFrame(rows)


def family_pivot(fam: pd.DataFrame) -> pd.DataFrame:
    """EER (%) per system (rows) and set and family (columns), mean over seeds."""
    df = fam.assign(study=fam["study"].str[:2], eer=100 * fam["eer"])
    return df.pivot_table(
        index=["study", "system"],
        columns=["set", "family"],
        values="eer",
        aggfunc="mean",
        sort=False,
    ).round(1)


def _over_seeds(df: pd.DataFrame, value: str) -> Iterator[tuple[str, str, pd.DataFrame, dict]]:
    """Per study, system, set and family of ``df``, in their order: the set, the family, the seeds' rows and the
    fields their results row shares with every such row (column ``value`` as an EER, mean over seeds, with the
    mean interval)."""
    for (study, system, name, fam), g in df.groupby(
        ["study", "system", "set", "family"], sort=False
    ):
        shared = {
            "system": f"{study[:2]} {system}",
            "metric": "eer",
            **over_seeds_with_ci(g[value], g["ci95"]),
            "n_trials": int(g["n_trials"].iloc[0]),
        }
        yield name, fam, g, shared


def family_rows(fam: pd.DataFrame) -> list[ResultRow]:
    """Results rows of :func:`family_table`: data ``"LA19 eval, family VC"``, mean over seeds, mean interval."""
    return [
        ResultRow(
            "leaderboard",
            data=f"{name}, family {f}",
            note="spoofs of one attack family against every bona fide trial",
            extra={"breakdown": "family", "group": f},
            **shared,
        )
        for name, f, _, shared in _over_seeds(fam, "eer")
    ]


def family_floor(
    scored: Sequence[Scored],
    sets: dict[str, TrialSet],
    families: dict[str, str],
    family: str = "VC",
    reps: int = 200,
) -> pd.DataFrame:
    """Per run and set: the pooled EER if every spoof outside ``family`` were rejected, with its interval.

    No change to the other attacks can bring a detector's pooled EER below
    this floor: the spoofs of ``family`` alone hold it there.
    """
    rows = []
    for s in scored:
        for name, ss in s.sets.items():
            ts = sets[name]
            spoof = ts.labels == 0
            inside = np.array([families.get(x) == family for x in ts.systems]) & spoof
            x = ss.scores.copy()
            x[spoof & ~inside] = x.min() - 1.0  # rejected at every threshold the DET visits
            bona, sp = x[ts.labels == 1], x[spoof]
            rows.append(
                {
                    "study": s.entry.study,
                    "system": s.entry.name,
                    "seed": s.entry.seed,
                    "set": name,
                    "family": family,
                    "share": float(inside.sum() / spoof.sum()),
                    "pooled": metrics.eer(ss.scores[ts.labels == 1], ss.scores[spoof])[0],
                    "floor": metrics.eer(bona, sp)[0],
                    "ci95": eer_ci(bona, sp, reps),
                    "n_trials": len(ts.utts),
                }
            )
    return pd.DataFrame(rows)


def floor_rows(floor: pd.DataFrame) -> list[ResultRow]:
    """Results rows of :func:`family_floor` (table ``floor``), mean over seeds."""
    return [
        ResultRow(
            "floor",
            data=name,
            note=f"pooled EER if every spoof outside the {fam} family were rejected "
            f"({100 * g['share'].iloc[0]:.0f} % of the spoofs are {fam})",
            **shared,
        )
        for name, fam, g, shared in _over_seeds(floor, "floor")
    ]


def floor_sentence(floor: pd.DataFrame) -> str:
    """What the floors say, generated from them."""
    fam = str(floor["family"].iloc[0])
    parts = []
    for name, g in floor.groupby("set", sort=False):
        best = g.loc[g["floor"].idxmin()]
        parts.append(
            f"{100 * best['floor']:.1f} % on {name} (study {best['study'][:2]}'s {best['system']}; the "
            f"{fam} spoofs are {100 * best['share']:.0f} % of the set's spoofs)"
        )
    return (
        f"If every spoof outside the {fam} family were rejected, no detector's pooled EER could fall below "
        + " or ".join(parts)
        + f": the {fam} attacks alone hold every detector there. Any pooled EER below "
        f"these floors needs the {fam} attacks detected far better than any detector here detects them; on "
        "this corpus, that is where progress has to come from."
    )
