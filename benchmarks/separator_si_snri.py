"""SI-SNRi of a SepFormer folder on study 02's eval mixtures, through the study's own code path (issue 29).

The mixtures are the embedded profile's (``n_mixtures.eval``, ``mixture_seed``), read from the study's run folder
(the notebook writes them; the plan is checked against :func:`asvnb.data.mixtures.plan_mixtures`); the folder is
loaded as the study loads it (:class:`asvnb.models.separation.SepformerSeparator`), the streams are cached by
:func:`ensure_streams` in a folder of their own and scored by :func:`si_snri_values` (8 kHz), with the 95 %
bootstrap interval over mixtures of the study's results table. Prints one JSON line.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/separator_si_snri.py src/asvnb/standins/sepformer-v2 [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from asvnb.models.separation import SepformerSeparator
from asvnb.results import bootstrap_ci
from asvnb.studies import overlap_pipeline as study
from asvnb.studies.overlap_pipeline.separate_and_score import StreamCache, ensure_streams


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a speechbrain SepFormer folder (e.g. a stand-in release)")
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="first n eval mixtures (default: the profile's si_snr_n)",
    )
    p.add_argument(
        "--streams", default=None, help="stream cache root (default: a temporary folder)"
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = study.OverlapConfig.for_profile("embedded")
    try:
        ms = study.saved_mixtures(cfg, "eval", args.n or cfg.si_snr_n)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    sep = SepformerSeparator(args.folder)
    with tempfile.TemporaryDirectory() as tmp:
        cache = StreamCache(args.streams or tmp, sep)
        t = time.perf_counter()
        done = ensure_streams(sep, ms, cache, batch_size=cfg.sep_batch)
        seconds = time.perf_counter() - t
        v = study.si_snri_values(ms, cache, len(ms))
    lo, hi = bootstrap_ci(lambda i: float(v[i].mean()), len(v))
    print(
        json.dumps(
            {
                "folder": args.folder,
                "n": len(v),
                "si_snri_db": float(v.mean()),
                "ci95": [lo, hi],
                "separated_now": done,
                "separate_seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
