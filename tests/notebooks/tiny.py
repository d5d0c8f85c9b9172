# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tiny notebook that tests the runner
# It is not part of the book: the machinery tests execute it with papermill.

# %% tags=["parameters"]
# fmt: off
profile = "embedded"  # {embedded, full}
n = 3  # int: how many squares to sum
scale = 1.0  # float: multiplies the sum
fail = False  # bool: raise in the last cell, to test failure reporting
label = "tiny"  # str | None: printed before the sum
seeds = [0, 1]  # list[int]: not used; a list parameter for the runner's tests
# fmt: on

# %%
from asvnb import config

config.seed_everything(0)
fp = config.fingerprint()
config.show_fingerprint(fp)

# %%
total = scale * sum(i * i for i in range(n))
print(f"{label}: sum of squares below {n} times {scale} = {total}")

# %%
if fail:
    raise ValueError(f"asked to fail after computing {total}")
