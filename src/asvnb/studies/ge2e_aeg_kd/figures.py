"""Study 03's figure: the cosine similarities GE2E learns and AEG's attack moves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from asvnb import plots
from asvnb.studies.ge2e_aeg_kd.runs import SeedRun
from asvnb.studies.ge2e_aeg_kd.tables import table2_runs

# each panel's legend under its axes, where it covers no bar (tight_layout makes room for it)
BELOW = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.18), "ncols": 2, "frameon": False}


def plot_similarities(runs: Sequence[SeedRun]) -> Figure:
    """Histograms: the GE2E embedding's same- and different-speaker cosines on held-out speakers (before and after
    pre-training), and the AEG pairs' cosines before and after BIM with the keep threshold (static and active)."""
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    r0 = runs[0]
    bins = np.linspace(-1, 1, 41)
    if r0.speaker:
        for when, ls in (("before", ":"), ("after", "-")):
            sv = r0.speaker[when]
            for scores, label, colour in (
                (sv.target, "same speaker", "C0"),
                (sv.nontarget, "different", "C1"),
            ):
                axes[0].hist(
                    scores,
                    bins=bins,
                    density=True,
                    histtype="step",
                    ls=ls,
                    color=colour,
                    label=f"{label}, {when}",
                )
        axes[0].set_title(f"GE2E, held-out speakers (seed {r0.seed})")
        axes[0].legend(fontsize=7, **BELOW)
    t2 = table2_runs(runs)
    if t2:
        sims = t2[0].aeg["static_similarity"]
        axes[1].hist(sims["before"], bins=bins, alpha=0.5, label="before BIM")
        axes[1].hist(sims["after"], bins=bins, alpha=0.5, label="after BIM")
        axes[1].axvline(sims["threshold"].iloc[0], color="k", ls="--", label="keep threshold")
        axes[1].set_title(f"static AEG: kept {int(sims['kept'].sum())} of {len(sims)}")
        axes[1].legend(fontsize=7, **BELOW)
        act = t2[0].aeg["active"]
        for e in act:
            axes[2].hist(
                e["after"],
                bins=bins,
                histtype="step",
                label=f"epoch {e['epoch']}: kept {e['kept']}",
            )
        if act:
            axes[2].axvline(
                np.mean([e["threshold"] for e in act]), color="k", ls="--", label="mean threshold"
            )
        axes[2].set_title("active AEG: cosine after BIM, per epoch")
        axes[2].legend(fontsize=6, **BELOW)
    for ax in axes:
        ax.set_xlabel("cosine similarity")
    fig.tight_layout()
    return plots.with_caption(
        fig,
        "Left: cosine similarity of same- and different-speaker pairs of held-out speakers, before (dotted) and "
        "after (solid) GE2E pre-training; the further apart the two kinds, the better the embedding tells "
        "speakers apart. Middle and right: the attacked pairs' similarity before and after BIM; the examples "
        "left of the dashed threshold are kept.",
    )
