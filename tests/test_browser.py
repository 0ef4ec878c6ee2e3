"""The HTML report as a browser shows it: headless Chromium renders it, we look at the pixels.

Needs Debian's `chromium` (installed by .ci/run); skipped where it is absent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import screenshot_report

# Skipped on a developer machine without Chromium; in CI (.ci/run installs it) a missing browser
# is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    screenshot_report.chromium() is None and not os.environ.get("CI"),
    reason="chromium not installed (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    from abkit.report import run_report
    from abkit.simulate import retention_experiment

    d = tmp_path_factory.mktemp("browser")
    sim = retention_experiment(n_units=3_000, seed=9)
    sim.exposures.to_parquet(d / "e.parquet")
    sim.events.to_parquet(d / "v.parquet")
    spec = {
        "name": "browser <check> 留存",
        "control": "control",
        "variants": ["control", "treatment"],
        "segments": ["channel"],
        "metrics": [{"retention": {"day": 1}}, {"retention": {"day": 7}}],
    }
    return run_report(spec, out=d / "out", exposures=d / "e.parquet", events=d / "v.parquet").html


def test_rendered_page_has_content_and_plots(report_html, tmp_path):
    import matplotlib.image as mpimg

    png = screenshot_report.screenshot(report_html, tmp_path / "r.png", height=5000)
    img = mpimg.imread(png)[..., :3]
    assert img.shape[1] == 1200 and img.shape[0] == 5000
    non_white = (img < 0.95).any(axis=2)
    # text and tables across the page, not a blank or collapsed layout
    rows_with_ink = non_white.any(axis=1).mean()
    assert rows_with_ink > 0.3
    # plots are colour images: many saturated pixels (the grey text alone has none)
    saturation = img.max(axis=2) - img.min(axis=2)
    assert (saturation > 0.3).sum() > 5_000
    # nothing runs off the right edge: the last 40 columns stay blank
    assert not non_white[:, -40:].any()


def test_dom_after_rendering(report_html):
    dom = screenshot_report.dump_dom(report_html)
    assert "Trust checks" in dom and "Retention curve" in dom and "Time to churn" in dom
    assert "browser &lt;check&gt; 留存" in dom  # escaped, and CJK text survives
    assert "<script" not in dom.lower()
    assert dom.count("<img") >= 4  # forest plot, curve, lift, cohorts, KM
    assert np.isfinite(len(dom))


def test_first_screen_holds_the_headline_decision(tmp_path):
    # the demo report as a team reads it at 9 am: the primary metric's decision, in its colour
    # (green: a significant change in the good direction), within the first 900 pixels
    import matplotlib.image as mpimg

    from abkit.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    html_path = out / "report.html"
    dom = screenshot_report.dump_dom(html_path)
    head = dom.index("abkit-headline")
    assert head < dom.index("Trust checks")
    assert "Day-7 retention" in dom[head : head + 2000]
    assert "significantly higher" in dom[head : head + 2000]
    png = screenshot_report.screenshot(html_path, tmp_path / "first.png", height=900)
    img = mpimg.imread(png)[..., :3]
    green = np.array([0x1A, 0x7F, 0x37]) / 255  # the "good" tone of abkit._format.TONE_COLORS
    near = (np.abs(img - green) < 0.08).all(axis=2)
    rows = np.flatnonzero(near.any(axis=1))
    assert len(rows) and rows.max() < 900  # green text (trust line, headline) on the first screen
    assert near.sum() > 200
