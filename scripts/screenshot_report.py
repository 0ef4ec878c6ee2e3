#!/usr/bin/env python3
"""Render an abkit HTML report in headless Chromium (Debian's `chromium` package) to a PNG.

    python scripts/screenshot_report.py reports/demo/report.html /tmp/report.png [--height 6000]

Used by tests/test_browser.py as a layout smoke test, and by people to look at a report the way
a reader's browser shows it. Chromium runs with no network access beyond the file itself.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: Path, png: Path, *, width: int = 1200, height: int = 6000) -> Path:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                exe,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return png


def dump_dom(html: Path) -> str:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", html.resolve().as_uri()],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return out.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("html", type=Path)
    p.add_argument("png", type=Path)
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=6000)
    args = p.parse_args(argv)
    screenshot(args.html, args.png, width=args.width, height=args.height)
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
