# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tiny notebook that tests the runner
# It is not part of the book: the machinery tests execute it with papermill.

# %% tags=["parameters"]
profile = "embedded"  # embedded | full
n = 3  # how many squares to sum
scale = 1.0  # multiplies the sum
fail = False  # raise in the last cell, to test failure reporting
label = "tiny"

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
