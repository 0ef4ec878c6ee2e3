"""The HTML every report page shares: the page shell and what survives sanitising."""

from __future__ import annotations

import re

__all__ = ["ALLOWED_ATTRIBUTES", "ALLOWED_TAGS"]

#: HTML that survives sanitising: enough for headings, tables and lists, nothing that runs.
ALLOWED_TAGS = [
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "li",
    "line",
    "ol",
    "p",
    "pre",
    "rect",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "svg",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
]
ALLOWED_ATTRIBUTES = {
    "*": ["class", "title"],
    "a": ["href"],
    "td": ["colspan"],
    "th": ["colspan"],
    # the inline intervals of the results table: geometry and colour only (no href, no style)
    "svg": ["width", "height", "role", "aria-label"],
    "line": ["x1", "y1", "x2", "y2", "stroke", "stroke-width"],
    "rect": ["x", "y", "width", "height", "fill"],
}
_DROP_ELEMENTS = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: .6em 0; font-size: 0.92em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #eee; }}
.jp-InputPrompt, .jp-OutputPrompt {{ display: none; }}
.abkit-ok {{ color: #1b7f3b; }} .abkit-blocking, tr.abkit-blocking td {{ color: #b00020; }}
tr.abkit-warning td {{ color: #a15c00; }} tr.abkit-info td {{ color: #444; }}
tr.abkit-sig td {{ font-weight: 600; }}
.abkit-good {{ color: #1a7f37; }} .abkit-bad {{ color: #cf222e; }} .abkit-neutral {{ color: #6e7781; }}
.abkit-headline h2 {{ margin-bottom: 0.2em; }} .abkit-headline li {{ font-size: 1.15em; }}
table.abkit-header th {{ text-align: left; padding-right: 2em; }}
table.abkit-header td {{ text-align: left; }}
table.abkit-trust td:nth-child(2), table.abkit-trust th:nth-child(2) {{ text-align: left; }}
</style></head>
<body>
{body}
</body></html>
"""
