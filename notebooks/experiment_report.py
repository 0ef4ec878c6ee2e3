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
display(HTML(ctx.headline_html()))
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

# %%
truth = ctx.truth_html()
if truth:
    display(Markdown("## Estimates beside the simulation's truth"))
    display(HTML(truth))

# %%
guardrails = ctx.guardrails_html()
if guardrails:
    display(Markdown("## Guardrails"))
    display(HTML(guardrails))

# %% [markdown]
# ## Verdicts

# %%
display(HTML(ctx.verdicts_html()))

# %% [markdown]
# ## Lifts with confidence intervals

# %%
ax = res.plot()

# %%
# Sections that do not apply (no event logs, switched off in the spec) are left out.
curve = ctx.curve()
if curve is not None:
    display(Markdown(
        "## Retention curve\nDayN retention per variant with 95% Wilson bands, and the lift on "
        "each day (only units whose day N has ended by `as_of` count for day N)."
    ))
    curve.plot()
    curve.plot_lift()

# %%
cohorts = ctx.cohorts()
if cohorts is not None:
    display(Markdown(
        "## Cohorts\nRetention by date of first exposure; blank cells are cohorts whose day N "
        "has not ended yet."
    ))
    for variant in ctx.result.variants:
        cohorts.plot(variant)

# %%
churn = ctx.churn()
if churn is not None:
    display(Markdown("## Time to churn"))
    churn.plot()
    display(HTML(ctx.churn_html(churn)))
elif ctx.skipped_html("churn"):
    display(Markdown("## Time to churn"))
    display(HTML(ctx.skipped_html("churn")))

# %%
forecasts, novelty, hazards = ctx.forecasts(), ctx.novelty(), ctx.hazards()
notes = "".join(ctx.skipped_html(s) for s in ("novelty", "forecast", "hazards"))
if forecasts or novelty is not None or hazards is not None or notes:
    display(Markdown(
        "## Long-term\nDoes the lift fade or grow with the days since exposure (novelty, "
        "primacy)? What do the first days' activity forecast for the long-term metrics (the "
        "surrogate index: a forecast, not a measurement)? Does the treatment delay churn once "
        "the segments are adjusted for (Cox model)? Definitions: docs/long_term.md."
    ))
    if novelty is not None:
        display(novelty)
        novelty.plot()
    for forecast in forecasts:
        display(forecast)
    if hazards is not None:
        display(hazards)
    display(HTML(notes))

# %%
segments = ctx.segments_html()
if segments:
    display(Markdown(
        "## Segments\nWithin each segment value; p-values adjusted with Benjamini–Hochberg "
        "across the values of a segment dimension."
    ))
    display(HTML(segments))

# %%
sequential = ctx.sequential_html()
if sequential:
    display(Markdown("## Sequential monitoring: can we stop yet?"))
    display(HTML(sequential))

# %% [markdown]
# ## Metric definitions

# %%
display(HTML(ctx.definitions_html()))

# %%
summary_path = ctx.write_summary()
