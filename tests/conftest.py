"""Shared fixtures. Seeds are fixed; data sets are small so the suite stays fast."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")

#: the project's shared real data sets live beside the repository (../shared/data)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COOKIE_CATS = SHARED_DATA / "cookie_cats.csv"

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
# derandomized everywhere: a property test that fails must fail again on the next run
settings.load_profile("ci")


@pytest.fixture(scope="session")
def cookie_cats() -> pd.DataFrame:
    if not COOKIE_CATS.is_file():
        pytest.skip(f"real data set not found at {COOKIE_CATS}")
    return pd.read_csv(COOKIE_CATS)


@pytest.fixture(scope="session")
def small_sim():
    from abkit.simulate import retention_experiment

    return retention_experiment(n_units=3_000, seed=11)


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")
