# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Parameters (papermill): numbers only, validated by abkit before they reach this notebook.
baseline = 0.20  # expected control retention (fraction)
mde = 0.05  # smallest effect worth detecting
relative = True  # mde relative to baseline (True) or in absolute terms (False)
daily_units = 4000  # new units per day entering the experiment (all arms)
metric_day = 7  # N of the day-N retention metric
alpha = 0.05
power = 0.8
variance_reduction = 0.0  # expected CUPED variance reduction, in [0, 1)

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from abkit.design import plan_retention_test

plan = plan_retention_test(
    baseline, mde, daily_units=daily_units, metric_day=metric_day, relative=relative,
    alpha=alpha, power=power, variance_reduction=variance_reduction,
)
display(Markdown("# Experiment design: day-%d retention" % metric_day))
display(Markdown(plan.summary()))

# %% [markdown]
# ## Minimum detectable effect against duration
# Each extra day of enrolment adds units; every plan also waits `metric_day + 1` days for the
# last units' window to end.

# %%
ax = plan.plot()

# %%
display(plan.mde_by_duration().round(4))
