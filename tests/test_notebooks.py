"""Notebooks: committed without outputs, parameters cell first, jupytext twins in sync."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"experiment_report.ipynb", "experiment_design.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_clean_and_parameterized(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_jupytext_twin_in_sync(path):
    twin = path.with_suffix(".py")
    assert twin.is_file(), f"{twin.name} missing: run jupytext --sync"
    a = nbformat.read(path, as_version=4)
    b = jupytext.read(twin)
    assert [(c.cell_type, c.source) for c in a.cells] == [(c.cell_type, c.source) for c in b.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_hold_no_statistics(path):
    # presentation only: numbers come from the library
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    for banned in ("scipy", "statsmodels", "import numpy", "import pandas", "ibis", "duckdb"):
        assert banned not in source
