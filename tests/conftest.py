"""Shared fixtures. Seeds are fixed; data sets are small so the suite stays fast."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
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


#: PySpark 4.0 (the version Ibis 12 allows) runs on Java 17 or later
JAVA_FOR_SPARK = 17


def java_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why Spark cannot start here (no Java, or one older than 17), or None when it can.

    Looks where PySpark does: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java`` on
    PATH.
    """
    env = os.environ if env is None else env
    home = env.get("JAVA_HOME")
    if home:
        java = str(Path(home) / "bin" / "java")
        if not os.access(java, os.X_OK):
            return f"JAVA_HOME is {home}, but {java} is not an executable"
    else:
        found = shutil.which("java", path=env.get("PATH", ""))
        if found is None:
            return "no java on PATH and JAVA_HOME is not set"
        java = found
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{java} -version failed: {exc}"
    # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (Java 8: "1.8.0_412")
    m = re.search(r'version "(?:1\.)?(\d+)', done.stderr + done.stdout)
    if m is None:
        return f"could not read a version from `{java} -version`"
    if int(m.group(1)) < JAVA_FOR_SPARK:
        return f"{java} is Java {m.group(1)}; PySpark 4 needs Java {JAVA_FOR_SPARK} or later"
    return None


def require_spark(env: Mapping[str, str] | None = None) -> None:
    """Skip a Spark test on a machine without PySpark or Java 17, saying why; fail it in CI.

    CI (``CI`` set, as ``.ci/run`` runs) must run the Spark tests — they are the check of the
    distributed engine — so there a missing PySpark or Java is an error, not a skip.
    """
    import importlib.util

    env = os.environ if env is None else env
    if importlib.util.find_spec("pyspark") is None:
        problem = "PySpark is not installed (`make setup` installs the spark extra)"
    else:
        java = java_problem(env)
        if java is None:
            return
        problem = (
            f"Spark needs Java {JAVA_FOR_SPARK}: {java} (`.ci/run` installs it; on Debian/Ubuntu "
            "`apt-get install openjdk-17-jre-headless`, or set JAVA_HOME)"
        )
    if env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI must run the Spark tests: {problem}", pytrace=False)
    pytest.skip(problem)


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")
