"""Parameter and multiply-accumulate counts, for the complexity columns of Table 3 (the study 03 source).

Two MAC counters, same call:

- ``"thop"`` (default): module hooks of the thop package (pytorch-OpCounter), the
  counter speaker-verification papers of the source's time report. It counts
  convolutions and linear layers (no bias) plus 4 operations per element of an
  affine batch-norm (normalise, then scale and shift), and misses functional ops (the small attention product of
  self-attentive pooling). It is the default because it reproduces Table 3:
  ResNetSE at 4 s of input gives 0.897 G and 4.618 G, the source's 0.90 G and
  4.62 G to its rounding (``asvnb.models.resnetse``), so the book compares like
  with like.
- ``"torch"``: ``torch.utils.flop_counter``, which counts at the dispatcher every
  matmul and convolution, functional ones included, but no element-wise work;
  FLOPs with a multiply-add as 2, halved here into MACs. Ships with torch.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

with warnings.catch_warnings():  # thop 0.1.1 still imports distutils' LooseVersion
    warnings.simplefilter("ignore", DeprecationWarning)
    import thop

COUNTERS = ("thop", "torch")


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: Sequence[int], counter: str = "thop") -> int:
    """Multiply-accumulates of one forward pass in eval mode on a zero input of ``input_shape`` (batch included)."""
    if counter not in COUNTERS:
        raise ValueError(f"unknown MAC counter {counter!r}; valid: {', '.join(COUNTERS)}")
    if len(input_shape) == 0 or any(int(s) <= 0 for s in input_shape):
        raise ValueError(
            f"input_shape must be a non-empty sequence of positive sizes, got {tuple(input_shape)}"
        )
    param = next(model.parameters(), None)
    x = torch.zeros(
        tuple(int(s) for s in input_shape), device=param.device if param is not None else "cpu"
    )
    was_training = model.training
    model.eval()  # batch-norm statistics untouched, dropout off
    try:
        with torch.no_grad():
            if counter == "thop":
                # on a copy: thop leaves total_ops/total_params buffers on container
                # modules, which would then leak into the model's state_dict
                macs, _ = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)
                return int(macs)
            flops = FlopCounterMode(display=False)
            with flops:
                model(x)
            return flops.get_total_flops() // 2
    finally:
        model.train(was_training)
