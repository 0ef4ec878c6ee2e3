"""The package layout, checked from source (see /work/shared/LAYOUT.md).

Every ``abkit/**/*.py`` is read with ``ast`` -- nothing is imported -- so the rules hold whatever
modules exist while the tree is reshaped. A module's layer is its top-level name under ``abkit``
(``abkit/query/plan.py`` -> ``query``). The checkers take a mapping ``{module name: source}``;
the tests apply them to the real tree, and ``test_checker_catches_violations`` to synthetic trees.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: one line per layer, lowest first: lower never imports higher; ties are allowed (but no cycles)
LAYER_TABLE = """
errors _version _format _display quality plot simulate _duckdb_udf _files _spill
stats metrics engine
spec data query results design
analysis assign
retention
report
cli
"""
LAYERS = {name: n for n, line in enumerate(LAYER_TABLE.split("\n")[1:-1]) for name in line.split()}
FACE = "abkit"  # abkit/__init__.py: exempt as an importer, forbidden as an import
MAX_FILE_LINES, MAX_CLASS_LINES = 650, 500
COLUMN_NAME_HOME = "abkit.query.frame"

Sources = dict[str, str]
Edge = tuple[str, str, int]  # importer, imported module, line


def load_tree(root: Path = ROOT) -> Sources:
    """``abkit/query/plan.py`` -> ``abkit.query.plan``; ``abkit/query/__init__.py`` -> ``abkit.query``."""
    sources = {}
    for path in sorted((root / "abkit").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        sources[".".join(parts)] = path.read_text(encoding="utf-8")
    return sources


def packages_of(sources: Sources) -> set[str]:
    """A module is a package if something lives under it (the face ``abkit`` always is)."""
    return {FACE} | {m.rsplit(".", i)[0] for m in sources for i in range(1, m.count(".") + 1)}


def top(module: str) -> str:
    """The layer key: ``abkit.query.plan`` -> ``query``; the face itself -> ``abkit``."""
    return module.split(".")[1] if "." in module else module


def imports(module: str, source: str, known: set[str], packages: set[str]) -> list[Edge]:
    """Every abkit import anywhere in ``source`` (functions, ``TYPE_CHECKING``, ``import_module``)."""

    def resolve(name: str) -> str:  # the longest known module prefix: a name, not an attribute
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in known:
                return ".".join(parts[:i])
        return name

    def ours(name: str) -> bool:
        return name == FACE or name.startswith(FACE + ".")

    found: list[Edge] = []
    for node in ast.walk(ast.parse(source, filename=module)):
        if isinstance(node, ast.Import):
            found += [(module, resolve(a.name), node.lineno) for a in node.names if ours(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: against the file's package (itself, for an __init__)
                package = module if module in packages else module.rpartition(".")[0]
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            if ours(base):
                for alias in node.names:  # `from abkit.query import plan` imports the module plan
                    sub = f"{base}.{alias.name}"
                    target = sub if sub in known or sub in packages else resolve(base)
                    found.append((module, target, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and ours(node.args[0].value)
        ):
            found.append((module, resolve(node.args[0].value), node.lineno))
    return found


def all_imports(sources: Sources) -> list[Edge]:
    """Imports of every module but the face (it is exempt as an importer)."""
    known, packages = set(sources), packages_of(sources)
    edges = [e for m, src in sources.items() if m != FACE for e in imports(m, src, known, packages)]
    return sorted(set(edges), key=lambda e: (e[0], e[2], e[1]))


def fmt(edge: Edge) -> str:
    return f"{edge[0]} -> {edge[1]} (line {edge[2]})"


def layer_violations(sources: Sources) -> list[str]:
    """Unplaced names, imports of the lazy face, and imports of a higher layer."""
    found = []
    names = {top(m) for m in sources if m != FACE} | {top(e[1]) for e in all_imports(sources)}
    for name in sorted(names - set(LAYERS) - {FACE}):
        found.append(f"abkit.{name}: not in LAYERS -- place it in the table deliberately")
    for edge in all_imports(sources):
        low, high = top(edge[0]), top(edge[1])
        if high == FACE:
            found.append(f"{fmt(edge)}: imports the lazy face; import from the defining module")
        elif low in LAYERS and high in LAYERS and LAYERS[high] > LAYERS[low]:
            found.append(f"{fmt(edge)}: layer {LAYERS[low]} {low} imports layer {LAYERS[high]}")
    return found


def cycle_violations(sources: Sources) -> list[str]:
    """Strongly connected components (iterative Tarjan) of the module graph, one cycle each."""
    graph: dict[str, dict[str, int]] = {m: {} for m in sources}
    for importer, imported, line in all_imports(sources):
        if imported in graph and imported != importer:
            graph[importer].setdefault(imported, line)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while not component or component[-1] != node:
                        component.append(stack.pop())
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                work.append((child, iter(graph[child])))
            elif child in stack:
                low[node] = min(low[node], index[child])
    found = []
    for component in sorted(components):
        path = _cycle_through(component[0], set(component), graph)
        edges = [fmt((a, b, graph[a][b])) for a, b in itertools.pairwise(path)]
        inside = [fmt((a, b, n)) for a in component for b, n in graph[a].items() if b in component]
        extra = sorted(set(inside) - set(edges))
        also = f" [other edges inside: {'; '.join(extra)}]" if extra else ""
        found.append(f"cycle among {', '.join(component)}: " + "; ".join(edges) + also)
    return found


def _cycle_through(start: str, members: set[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest path start -> ... -> start inside one component (breadth-first)."""
    parent: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if child in members and child not in parent:
                parent[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a component but on no cycle")


def stats_purity_violations(sources: Sources) -> list[str]:
    """stats/ is pure functions: it may lean on abkit.errors and on itself, nothing else."""
    allowed = {"errors", "stats"}
    return [
        fmt(e) for e in all_imports(sources) if top(e[0]) == "stats" and top(e[1]) not in allowed
    ]


def size_violations(sources: Sources) -> list[str]:
    """A file over 650 lines or a class over 500 is a sign to split (LAYOUT: ~600 lines)."""
    found = []
    for module, source in sources.items():
        if (lines := len(source.splitlines())) > MAX_FILE_LINES:
            found.append(f"{module}: {lines} lines (max {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(source, filename=module)):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    found.append(f"{module}.{node.name} (line {node.lineno}): {size} lines")
    return found


def fstring_column_violations(sources: Sources) -> list[str]:
    """``f"{name}__sum"`` spells a statistics-frame column; only query/frame.py may (stat_col()).

    Nothing dunder-looking is skipped: a formatted value followed by ``__`` is a column name in
    this code base (error messages too -- they should name columns through the frame's helper).
    """
    found: list[tuple[str, int, str]] = []
    for module, source in sources.items():
        if module == COLUMN_NAME_HOME:
            continue
        for node in ast.walk(ast.parse(source, filename=module)):
            if isinstance(node, ast.JoinedStr):
                for value, after in itertools.pairwise(node.values):
                    if (
                        isinstance(value, ast.FormattedValue)
                        and isinstance(after, ast.Constant)
                        and str(after.value).startswith("__")
                    ):
                        found.append((module, node.lineno, ast.unparse(node)))
                        break
    return [f"{module}: {text} (line {line})" for module, line, text in sorted(set(found))]


def report(title: str, violations: list[str]) -> str:
    return f"{len(violations)} {title}:\n  " + "\n  ".join(violations)


def test_layers():
    """Lower layers never import higher ones, so each layer can be read and tested alone."""
    violations = layer_violations(load_tree())
    assert not violations, report("layer violations", violations)


def test_no_import_cycles():
    """No cycles, also not inside functions or under TYPE_CHECKING: they hide a tangled design."""
    violations = cycle_violations(load_tree())
    assert not violations, report("import cycles", violations)


def test_stats_is_pure():
    """stats/ is the model: pure functions and frozen results, independent of the rest of abkit."""
    violations = stats_purity_violations(load_tree())
    assert not violations, report("impure stats imports", violations)


def test_file_and_class_sizes():
    """Big files and classes are where the tangles grew (analysis.py, Experiment)."""
    violations = size_violations(load_tree())
    assert not violations, report("oversized files/classes", violations)


def test_no_stat_column_fstrings():
    """One owner for the statistics-frame schema: abkit/query/frame.py."""
    violations = fstring_column_violations(load_tree())
    assert not violations, report("f-string column names outside query/frame.py", violations)


def test_checker_catches_violations():
    """The checkers on a synthetic tree: each planted violation is reported, clean code is not."""
    tree = {
        "abkit": "from abkit.cli import main\nfrom abkit import report\n",  # exempt importer
        "abkit.errors": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import abkit.cli\n",
        "abkit.cli": "",
        "abkit.stats": "from . import power\n",
        "abkit.stats.power": "from ..data import load\nfrom . import _common\nimport abkit.errors\n",
        "abkit.stats._common": "def f():\n    import abkit.data.x\n",
        "abkit.data": "from abkit.spec import Spec\n",
        "abkit.spec": "def f():\n    from abkit import data\n",
        "abkit.query": "from .plan import build\n",
        "abkit.query.plan": "import abkit.query\n",
        "abkit.query.frame": "col = f'{name}__sum'\n",
        "abkit.analysis": "import importlib\nm = importlib.import_module('abkit.report.html')\n",
        "abkit.report.html": "",
        "abkit.retention.curve": "from abkit import Retention\nx = f'{a}__{b}'\ny = f'{a:__>5}'\n",
        "abkit.newthing": "",
        "abkit.assign.a": "from . import b\n",  # a longer cycle, relative and package imports
        "abkit.assign.b": "from .c import f\n",
        "abkit.assign.c": "from abkit.assign import a\n",
        "abkit.design": "class Big:\n" + "    x = 1\n" * 500 + "\n" * 150,
    }
    layers = layer_violations(tree)
    assert layers == [
        "abkit.newthing: not in LAYERS -- place it in the table deliberately",
        "abkit.analysis -> abkit.report.html (line 2): layer 3 analysis imports layer 5",
        "abkit.errors -> abkit.cli (line 3): layer 0 errors imports layer 6",
        "abkit.retention.curve -> abkit (line 1): imports the lazy face; "
        "import from the defining module",
        "abkit.stats._common -> abkit.data (line 2): layer 1 stats imports layer 2",
        "abkit.stats.power -> abkit.data (line 1): layer 1 stats imports layer 2",
    ], layers
    cycles = cycle_violations(tree)
    assert cycles == [
        "cycle among abkit.assign.a, abkit.assign.b, abkit.assign.c: abkit.assign.a -> "
        "abkit.assign.b (line 1); abkit.assign.b -> abkit.assign.c (line 1); "
        "abkit.assign.c -> abkit.assign.a (line 1)",
        "cycle among abkit.data, abkit.spec: "
        "abkit.data -> abkit.spec (line 1); abkit.spec -> abkit.data (line 2)",
        "cycle among abkit.query, abkit.query.plan: "
        "abkit.query -> abkit.query.plan (line 1); abkit.query.plan -> abkit.query (line 1)",
    ], cycles
    assert stats_purity_violations(tree) == [
        "abkit.stats._common -> abkit.data (line 2)",
        "abkit.stats.power -> abkit.data (line 1)",
    ]
    assert size_violations(tree) == [
        "abkit.design: 651 lines (max 650)",
        "abkit.design.Big (line 1): 501 lines",
    ]
    assert fstring_column_violations(tree) == ["abkit.retention.curve: f'{a}__{b}' (line 2)"]
