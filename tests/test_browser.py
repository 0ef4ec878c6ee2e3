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
