"""The source's published figures (Liao et al. 2021), ASVspoof 2021 LA eval: min t-DCF and EER in %."""

from __future__ import annotations

TABLE1 = {"NLL": (0.3143, 5.78), "GE2E + NLL": (0.3003, 5.10)}
TABLE2 = {
    ("G-ResNetSE", "none"): (0.3003, 5.10),
    ("G-ResNetSE", "static"): (0.2931, 5.05),
    ("G-ResNetSE", "active"): (0.2869, 4.59),
    ("L-ResNetSE", "none"): (0.2826, 4.44),
    ("L-ResNetSE", "static"): (0.2695, 3.54),
    ("L-ResNetSE", "active"): (0.2903, 4.76),
}
# model: (params, MACs, min t-DCF, EER %); the first three are other papers' systems the source quotes
TABLE3 = {
    "RawNet2": ("0.89 M", "1.47 G", 0.3445, 9.26),
    "SE-ResNet18": ("11.2 M", "1.82 G", 0.3129, None),
    "LFCC-LCNN": ("0.37 M", "0.26 G", 0.4257, 9.50),
    "G-ResNetSE": ("6.39 M", "4.62 G", 0.2869, 4.59),
    "L-ResNetSE": ("1.44 M", "0.90 G", 0.2695, 3.54),
}
# student / teacher, as the abstract states them: the source column of the ratio rows of Table 3
RATIOS = {"params": 0.225, "macs": 0.211}
