"""Table 3's sizes: parameters and MACs of the source's architectures and of the models trained here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import pandas as pd

from asvnb.models.complexity import count_macs, count_params
from asvnb.models.resnetse import ResNetSE
from asvnb.results import ResultRow
from asvnb.studies.ge2e_aeg_kd.published import RATIOS, TABLE3
from asvnb.studies.ge2e_aeg_kd.settings import GE2EAEGKDConfig


@dataclass
class Complexity:
    """Parameters and MACs of one model at a stated input (log-mel frames in, front-end excluded)."""

    model: str
    params: int
    macs: int
    frames: int


def complexity(model: ResNetSE, name: str, frames: int) -> Complexity:
    """Parameters and thop MACs on (1, 40, frames) log-mel features, front-end excluded (as in Table 3)."""
    frontend, model.frontend = model.frontend, None
    try:
        return Complexity(
            name, count_params(model), count_macs(model, (1, model.n_mels, frames)), frames
        )
    finally:
        model.frontend = frontend


def complexity_table(cfg: GE2EAEGKDConfig, seconds: float = 4.0) -> pd.DataFrame:
    """Params/MACs of the source's architectures at ``seconds`` of input, and of the models trained here."""
    frames = int(round(seconds * 100)) + 1  # 10 ms hop, centred frames
    # the source's architectures, at its 512-d embedding
    src = GE2EAEGKDConfig.source_settings(cfg.paths.data)
    rows = [
        complexity(src.teacher(), "G-ResNetSE, layout L (the text's description)", frames),
        complexity(replace(src, teacher_layout="V2").teacher(), "G-ResNetSE, layout V2", frames),
        complexity(src.student(), "L-ResNetSE, layout L", frames),
    ]
    if (cfg.layers, cfg.teacher_channels, cfg.student_channels) != (
        src.layers,
        src.teacher_channels,
        src.student_channels,
    ):
        blocks = "-".join(map(str, cfg.layers))
        rows += [
            complexity(cfg.teacher(), f"G-ResNetSE as trained here (blocks {blocks})", frames),
            complexity(cfg.student(), f"L-ResNetSE as trained here (blocks {blocks})", frames),
        ]
    df = pd.DataFrame([asdict(r) for r in rows])
    df["params (M)"] = (df["params"] / 1e6).round(3)
    df["MACs (G)"] = (df["macs"] / 1e9).round(3)
    df["input"] = f"{seconds:g} s = {frames} frames x 40 log-mel"
    return df


def ratios_text(cx: pd.DataFrame) -> str:
    """Student / teacher ratios of parameters and MACs of :func:`complexity_table`'s rows, in words."""
    teacher_l, teacher_v2, student = cx.iloc[0], cx.iloc[1], cx.iloc[2]
    lines = [
        f"student / teacher (layout L): params {student.params / teacher_l.params:.1%}, "
        f"MACs {student.macs / teacher_l.macs:.1%}",
        f"student / teacher (layout V2): params {student.params / teacher_v2.params:.1%}, "
        f"MACs {student.macs / teacher_v2.macs:.1%}  (source: {RATIOS['params']:.1%} / "
        f"{RATIOS['macs']:.1%}; its Table 3: 22.5% / 19.5%)",
    ]
    if len(cx) > 3:
        tt, ts = cx.iloc[3], cx.iloc[4]
        lines.append(
            f"as trained here: params {ts.params / tt.params:.1%}, MACs {ts.macs / tt.macs:.1%}"
        )
    return "\n".join(lines)


def complexity_rows(cx: pd.DataFrame) -> list[ResultRow]:
    """Table 3's parameters and MACs of every architecture of :func:`complexity_table`, and student / teacher ratios."""
    names = [
        "G-ResNetSE, layout L",
        "G-ResNetSE, layout V2",
        "L-ResNetSE, layout L",
        "G-ResNetSE, as trained",
        "L-ResNetSE, as trained",
    ]
    rows = []
    for (_, c), name in zip(cx.iterrows(), names):
        arch = name.split(",")[0]
        src = TABLE3[arch] if "as trained" not in name else (None, None)
        where = f"{c['frames']} frames x 40 log-mel"
        for metric, v, text in (("params", c["params"], src[0]), ("macs", c["macs"], src[1])):
            num = (
                None
                if text is None
                else float(text.split()[0]) * (1e6 if text.endswith("M") else 1e9)
            )
            rows.append(
                ResultRow(
                    "3",
                    name,
                    where,
                    metric,
                    float(v),
                    source=num,
                    note="thop, front-end excluded; a count, no interval",
                )
            )
    pairs = [("layout V2 teacher", 1, 2)] + ([("as trained", 3, 4)] if len(cx) > 4 else [])
    for what, t, st in pairs:
        where = f"{cx.iloc[t]['frames']} frames x 40 log-mel"
        for metric, col in (("params_ratio", "params"), ("macs_ratio", "macs")):
            rows.append(
                ResultRow(
                    "3",
                    f"L-ResNetSE / G-ResNetSE, {what}",
                    where,
                    metric,
                    float(cx.iloc[st][col] / cx.iloc[t][col]),
                    source=RATIOS[col],
                    note="source: the abstract's ratio (its Table 3 gives 19.5% for MACs)"
                    if col == "macs"
                    else "source: the abstract's ratio",
                )
            )
    return rows
