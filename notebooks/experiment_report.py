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
# Parameters (papermill). One path to a JSON config written by `abkit report`;
# nothing else is passed in, so no user string is ever written into this notebook's code.
config_path = ""

# %%
# %matplotlib inline
from IPython.display import HTML, Markdown, display

from abkit.report import ReportContext

ctx = ReportContext.load(config_path)
res = ctx.result
display(Markdown("# Experiment report"))
display(HTML(ctx.header_html()))

# %% [markdown]
# ## Trust checks
# Sample-ratio check and data-quality findings come first: a red line here means the lifts below
# should not be trusted until its cause is fixed.

# %%
display(HTML(ctx.trust_html()))

# %% [markdown]
# ## Results
# Each treatment against control. Proportions in %, absolute lifts of rates in percentage points,
# relative lifts with delta-method intervals.

# %%
display(res)

# %% [markdown]
# ## Guardrails

# %%
display(HTML(ctx.guardrails_html()))

# %% [markdown]
# ## Verdicts

# %%
display(HTML(ctx.verdicts_html()))

# %% [markdown]
# ## Lifts with confidence intervals

# %%
ax = res.plot()

# %% [markdown]
# ## Retention curve
# DayN retention per variant with 95% Wilson bands, and the lift on each day (only units whose
# day N has ended by `as_of` count for day N).

# %%
curve = ctx.curve()
if curve is None:
    display(Markdown("_Skipped: needs exposure and event logs (and `report.curve_days` > 0)._"))
else:
    curve.plot()
    curve.plot_lift()

# %% [markdown]
# ## Cohorts
# Retention by date of first exposure; blank cells are cohorts whose day N has not ended yet.

# %%
cohorts = ctx.cohorts()
if cohorts is None:
    display(Markdown("_Skipped: needs exposure and event logs (and `report.cohort_days`)._"))
else:
    for variant in ctx.result.variants:
        cohorts.plot(variant)

# %% [markdown]
# ## Time to churn

# %%
churn = ctx.churn()
if churn is None:
    display(Markdown("_Skipped: needs exposure and event logs (and `report.churn_inactive_days`)._"))
else:
    churn.plot()
    display(HTML(ctx.churn_html(churn)))

# %% [markdown]
# ## Segments
# Within each segment value; p-values adjusted with Benjamini–Hochberg across the values of a
# segment dimension.

# %%
display(HTML(ctx.segments_html()))

# %% [markdown]
# ## Sequential monitoring: can we stop yet?

# %%
display(HTML(ctx.sequential_html()))

# %% [markdown]
# ## Metric definitions

# %%
display(HTML(ctx.definitions_html()))

# %%
summary_path = ctx.write_summary()
