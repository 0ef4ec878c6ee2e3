"""The ``abkit`` command: demo, simulate, analyze, report, design (alias power), assign.

Exit codes: 0 ok; 2 bad input (spec, data, arguments); 3 a report notebook failed; 4 an analysis
or report has blocking trust findings; 5 (with --fail-on guardrail) a guardrail is breached.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from abkit.errors import AbkitError, ReportError, SpecError

if TYPE_CHECKING:
    from abkit.analysis.refresh import State
    from abkit.results import ExperimentResult

DEMO_SPEC = """\
# A simulated onboarding experiment (abkit demo): the treatment raises the daily return
# probability by 8% on every day after exposure. Units are returning users with 14 days of
# activity before exposure, which CUPED uses to narrow the intervals.
name: onboarding-demo
description: Simulated onboarding change; true effect +8% on daily return probability.
control: control
variants: {control: 0.5, treatment: 0.5}
segments: [channel]
primary_metric: retention_d7
cuped: 14
metrics:
  - retention: {day: 1}
  - retention: {day: 7}
  - retention: {day: 30}
  - retention: {days: [7, 13]}
  - active_days: {days: [1, 7]}
  - revenue: {days: [0, 29]}
guardrails:
  - {metric: retention_d1, margin: 0.01}   # D1 must not drop by more than 1 pp
design: {baseline: 0.22, mde: 0.08, daily_units: 1400}   # what abkit design was given
report:
  truth: data/truth.csv   # the simulation's true retention, shown beside the estimates
"""

#: what each exit code means (the values are abkit.report.exit_codes'; tests/test_cli.py checks)
EXIT_CODES = {
    0: "the result is trustworthy (no blocking trust finding)",
    2: "bad input: the spec, the data or the arguments (the message says which and how to fix it)",
    3: "the notebook failed (the executed notebook is kept as failed.ipynb)",
    4: "a blocking trust finding (e.g. a sample ratio mismatch): the output is written, but its "
    "lifts must not be used",
    5: "with --fail-on guardrail: a guardrail metric is breached or could not be tested",
}

#: how the library's Python-worded advice reads on the command line (pattern, replacement)
CLI_WORDS: tuple[tuple[str, str], ...] = (
    (r"pass force=True \(--force\)", "pass --force"),
    (
        r"[Pp]ass columns=\{'(\w+)': '([^']*)'\}",
        r"Map it in the spec under columns: (columns: {\1: \2})",
    ),
    (
        r"map it with columns=\{'(\w+)': [^}]*\}",
        r"map it in the spec under columns: (columns: {\1: your_column})",
    ),
    (r"are exposures= and events= swapped\?", "are --exposures and --events swapped?"),
    (r"pass id_column= \(CLI: --id-column\)", "pass --id-column"),
    (r"pass as_of= explicitly", "pass --as-of"),
    (r"default as_of:", "default --as-of:"),
    (r"\bas_of=(?=[\s,;.)]|$)", "--as-of"),
    (r"\bas_of=", "--as-of "),
    (r"set tz= on the Experiment", "set tz: in the spec"),
    (r"Pass tz='UTC'", "Set tz: UTC in the spec"),
    (r"\btz='([^']*)'", r"tz: \1"),
    (r"\(no tz=\)", "(no tz: in the metrics)"),
    (
        r"pass exposures= \(and events=\) or units=",
        "pass --exposures (and --events) or --units, or add a data: section to the spec",
    ),
    (r"units= \(a per-unit table\) or exposures=/events=", "--units or --exposures/--events"),
    (r"pass events=", "pass --events (or data: events: in the spec)"),
    (r"\(exposures=, events=\)", "(--exposures, --events)"),
    (r"\bcuped= ", "cuped: "),
    (r"fixed cap= instead", "fixed cap: in the metric instead"),
    (r"pass control= one of them", "set control: in the spec to one of them"),
    (r"pass name=… to tell them apart", "give each its own name: in the spec"),
    (r"parse it first \(e\.g\. pd\.to_datetime\([^)]*\)\) or store", "store"),
    (r" \(e\.g\. pd\.\w+\([^)]*\)\)", ""),
    (r" \(df\[[^)]*\)\)", ""),
    (r"; in Python, parse it with its format.*? and pass the frame", ""),
    (r"\b(exposures|events|units)=(?=[\s,;.)/]|$)", r"--\1"),
)

#: the design options as the library names them (a message about ``metric_day`` is about
#: ``--metric-day``)
DESIGN_WORDS = (
    (r"\b(metric_day|daily_units|variance_reduction)\b", lambda m: "--" + m[1].replace("_", "-")),
    (r"\b(baseline|mde|alpha|power)(?= must)", lambda m: f"--{m[1]}"),
    (r"\b(baseline|mde|alpha|power)=", lambda m: f"--{m[1]} "),
)


def cli_words(message: str, command: str | None = None) -> str:
    """A library message as the CLI says it: ``--force``, ``columns:`` in the spec, ``--as-of``."""
    for pattern, replacement in CLI_WORDS:
        message = re.sub(pattern, replacement, message)
    if command in ("design", "power"):
        for pattern, fn in DESIGN_WORDS:
            message = re.sub(pattern, fn, message)
    return message


def _epilog(examples: Sequence[str], codes: Sequence[int], *, ok: str = "", more: str = "") -> str:
    """The examples and exit codes at the end of a ``--help`` (``ok``: what 0 means here)."""
    lines = ["examples:", *(f"  {e}" for e in examples), "", "exit codes:"]
    for c in codes:
        text = ok if c == 0 and ok else EXIT_CODES[c]
        lines.append(textwrap.fill(text, 79, initial_indent=f"  {c}  ", subsequent_indent=" " * 5))
    return "\n".join(lines) + (f"\n\n{textwrap.fill(more, 79)}" if more else "")


def _simulate_to(out: Path, n_units: int, seed: int, pre_days: int = 0) -> tuple[Path, Path]:
    from abkit.simulate import retention_experiment

    sim = retention_experiment(n_units=n_units, seed=seed, pre_days=pre_days)
    out.mkdir(parents=True, exist_ok=True)
    exposures, events = out / "exposures.parquet", out / "events.parquet"
    sim.exposures.to_parquet(exposures, index=False)
    sim.events.to_parquet(events, index=False)
    sim.truth.to_csv(out / "truth.csv", index=False)
    return exposures, events


def _cmd_demo(args: argparse.Namespace) -> int:
    from abkit.report import run_report

    out = Path(args.out)
    data = out / "data"
    exposures, events = _simulate_to(data, args.n_units, args.seed, pre_days=14)
    spec_path = out / "spec.yaml"
    spec_path.write_text(DEMO_SPEC, encoding="utf-8")
    outcome = run_report(spec_path, out=out, exposures=exposures, events=events, force=True)
    _print_outcome(outcome)
    return outcome.exit_code


def _cmd_simulate(args: argparse.Namespace) -> int:
    exposures, events = _simulate_to(Path(args.out), args.n_units, args.seed, args.pre_days)
    print(f"wrote {exposures} and {events}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from abkit.report import batch_exit_code, run_all, run_report

    if args.all:
        if args.state is not None:
            raise SpecError("--state DIR holds one experiment's state; give it without --all")
        items = run_all(args.spec, out=args.out, force=args.force, timeout=args.timeout)
        for it in items:
            if it.status in ("failed", "invalid"):
                print(f"abkit: {it.spec.name}: {cli_words(it.message)}", file=sys.stderr)
        print(f"index: {Path(args.out).resolve() / 'index.html'}")
        return batch_exit_code(items)

    outcome = run_report(
        args.spec,
        out=args.out,
        exposures=args.exposures,
        events=args.events,
        units=args.units,
        as_of=args.as_of,
        force=args.force,
        timeout=args.timeout,
        fail_on=tuple(args.fail_on or ()),
        state=_state(args),
    )
    _print_outcome(outcome)
    return outcome.exit_code


def _lift(x: float | None, kind: str, relative: bool, signed: bool = True) -> str:
    from abkit._format import fmt_abs, fmt_rel

    return fmt_rel(x, signed) if relative else fmt_abs(x, kind, signed)


def _guardrail_lines(res: ExperimentResult) -> list[str]:
    """One line per guardrail test: metric, variant, margin, and passed / BREACHED / no test."""
    from abkit._format import p_clause

    out = []
    for g in res.guardrails:
        kind, rel = res.metric(g.metric).kind, g.relative
        # a margin is the user's own number: shown as given (3 significant digits), not rounded
        shown = f"{100 * g.margin:.3g}" + ("%" if rel else " pp" if kind == "proportion" else "")
        if not rel and kind != "proportion":
            shown = f"{g.margin:.3g}"
        margin = f"margin {shown}" + (" relative" if rel else "")
        margin += "" if g.higher_is_better else " (lower is better)"
        if g.passed is None:
            state = "no test" + (f" ({g.note})" if g.note else "")
        else:
            detail = [
                f"lift {_lift(g.estimate, kind, rel)}",
                f"{100 * (1 - res.alpha):.0f}% bound {_lift(g.bound, kind, rel)}",
            ]
            if g.pvalue is not None:
                detail.append(p_clause(g.pvalue))
            state = f"{'passed' if g.passed else 'BREACHED'} ({', '.join(detail)})"
        out.append(f"guardrail {g.metric}, {g.variant} vs {res.control}: {margin} — {state}")
    return out


def _state(args: argparse.Namespace) -> State | None:
    """The refresh state of ``--state`` (with ``--state-buffer``, ``--rebuild``), or None."""
    from abkit.analysis.refresh import State

    if args.state is None:
        if args.rebuild or args.state_buffer is not None or args.state_seal_every is not None:
            raise SpecError("--rebuild, --state-buffer and --state-seal-every go with --state DIR")
        return None
    buffer = 48.0 if args.state_buffer is None else args.state_buffer
    every = 72.0 if args.state_seal_every is None else args.state_seal_every
    return State(args.state, buffer_hours=buffer, rebuild=args.rebuild, seal_every_hours=every)


def _cmd_analyze(args: argparse.Namespace) -> int:
    import json

    from abkit.analysis import Experiment
    from abkit.report import build_summary, resolve_inputs, summary_exit_code, write_json_atomic

    if args.json and Path(args.json).is_dir():
        raise ReportError(
            f"--json {args.json} is a folder; give the file to write, e.g. summary.json"
        )
    spec, exposures, events, units = resolve_inputs(
        args.spec, args.exposures, args.events, args.units, as_of=args.as_of
    )
    exp = Experiment.from_spec(spec)
    state = _state(args)
    if units is not None:
        res = exp.analyze(units=units, state=state)
    else:
        res = exp.analyze(exposures=exposures, events=events, as_of=args.as_of, state=state)
    summary = build_summary(res)
    if args.format == "json":
        print(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False))
    elif args.format == "csv":
        from abkit._files import neutralise_csv_frame

        # labels are the user's strings: none may run as a formula when the CSV is opened
        print(neutralise_csv_frame(res.to_pandas()).to_csv(index=False), end="")
    else:
        print(res)
        for line in _guardrail_lines(res):
            print(line)
    if args.json:
        write_json_atomic(Path(args.json), summary)
        print(f"summary: {Path(args.json).resolve()}", file=sys.stderr)
    code = summary_exit_code(summary, tuple(args.fail_on or ()))
    if summary["status"] == "blocked":
        print(
            f"status: BLOCKED — blocking trust findings: {', '.join(summary['blocking_findings'])}",
            file=sys.stderr,
        )
    return code


def _cmd_design(args: argparse.Namespace) -> int:
    from abkit.design import plan_retention_test
    from abkit.report import run_design

    options = {
        "baseline": args.baseline,
        "mde": args.mde,
        "daily_units": args.daily_units,
        "metric_day": args.metric_day,
        "relative": not args.absolute,
        "alpha": args.alpha,
        "power": args.power,
        "variance_reduction": args.variance_reduction,
    }
    html_path = run_design(out=args.out, force=args.force, **options)
    plan = plan_retention_test(options.pop("baseline"), options.pop("mde"), **options)
    r = plan.result
    n_c, n_t = math.ceil(r.nobs_control), math.ceil(r.nobs_treatment)
    print(f"units per arm: {n_c:,} in control, {n_t:,} in treatment ({n_c + n_t:,} in all)")
    print(
        f"days needed: {r.duration_days} ({r.enrollment_days} days of enrolment at "
        f"{plan.daily_units:,.0f} new units a day, then {plan.metric_day + 1} days until the last "
        f"units' day {plan.metric_day} has ended)"
    )
    print(f"design: {html_path}")
    return 0


def _cmd_assign(args: argparse.Namespace) -> int:
    from abkit.assign import assign_file

    n = assign_file(args.spec, args.units, args.out, id_column=args.id_column)
    print(f"wrote {n:,} assignments to {args.out}")
    return 0


def _print_outcome(outcome: object) -> None:
    from abkit.report import ReportOutcome

    assert isinstance(outcome, ReportOutcome)
    print(f"report: {outcome.html}")
    print(f"summary: {outcome.summary}")
    if outcome.status == "blocked":
        print("status: BLOCKED — blocking trust findings (see the trust panel)", file=sys.stderr)
    else:
        print("status: ok")
    if outcome.guardrails_breached:
        print(f"guardrails breached: {', '.join(outcome.guardrails_breached)}", file=sys.stderr)


def _data_arguments(p: argparse.ArgumentParser) -> None:
    """The data and outcome options of ``report`` and ``analyze`` (default: the spec's data)."""
    p.add_argument(
        "--exposures", help="exposure log, Parquet or CSV (default: data: exposures: in the spec)"
    )
    p.add_argument("--events", help="activity log, Parquet or CSV (default: data: events:)")
    p.add_argument("--units", help="per-unit table, Parquet or CSV, instead of the two logs")
    p.add_argument("--as-of", help="cut-off time, ISO 8601 with zone (default: the last event)")
    p.add_argument(
        "--state",
        metavar="DIR",
        help="incremental refresh: keep a per-unit state of the logs in DIR and read only the "
        "rows newer than its sealed watermark (docs/scale.md)",
    )
    p.add_argument(
        "--state-buffer",
        type=float,
        metavar="HOURS",
        help="restate buffer of --state: rows this many hours old are read again (default 48)",
    )
    p.add_argument(
        "--state-seal-every",
        type=float,
        metavar="HOURS",
        help="move the --state watermark in steps of at least this many hours; the refreshes "
        "in between only read (default 72; 0: every refresh)",
    )
    p.add_argument("--rebuild", action="store_true", help="rebuild the --state from the full logs")
    p.add_argument(
        "--fail-on",
        action="append",
        choices=["guardrail"],
        help="exit 5 when a guardrail metric is breached or untested",
    )


def _sub(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    epilog: str,
    aliases: Sequence[str] = (),
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        aliases=list(aliases),
        help=summary,
        description=textwrap.fill(description, 79),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


SPEC_HELP = "experiment spec (YAML; every key is described in docs/spec.md)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="abkit",
        description="A/B-test analysis for user retention: simulate, analyze, report, design "
        "(alias power) and assign.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_epilog(
            [
                "abkit demo --out reports/demo",
                "abkit analyze spec.yaml --exposures exposures.parquet --events events.parquet",
                "abkit report spec.yaml --out reports/onboarding --fail-on guardrail",
                "abkit report --all experiments/ --out reports/nightly",
                "abkit design --baseline 0.20 --mde 0.05 --daily-units 4000 --out reports/design",
                "abkit assign spec.yaml users.parquet --out assignments.parquet",
            ],
            [0, 2, 3, 4, 5],
            more="Run 'abkit COMMAND --help' for a command's options. The spec keys are in "
            "docs/spec.md.",
        ),
    )
    p.add_argument("--version", action="version", version=_version(), help="print the version")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = _sub(
        sub,
        "demo",
        "simulate an experiment and write its report",
        description="Simulate an onboarding experiment with a known effect (+8% daily return) "
        "and write its spec, data and report.",
        epilog=_epilog(["abkit demo --out reports/demo --n-units 50000"], [0, 2, 3, 4]),
    )
    d.add_argument("--out", default="reports/demo", help="output folder (default: reports/demo)")
    d.add_argument("--n-units", type=int, default=20_000, help="units to simulate (default 20000)")
    d.add_argument("--seed", type=int, default=7, help="random seed of the simulation (default 7)")
    d.set_defaults(func=_cmd_demo)

    s = _sub(
        sub,
        "simulate",
        "write simulated exposures/events Parquet files",
        description="Write exposures.parquet, events.parquet and truth.csv of a simulated "
        "retention experiment.",
        epilog=_epilog(
            ["abkit simulate --out data/sim --n-units 50000 --pre-days 14"],
            [0, 2],
            ok="the files are written",
        ),
    )
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--n-units", type=int, default=20_000, help="units to simulate (default 20000)")
    s.add_argument("--seed", type=int, default=7, help="random seed of the simulation (default 7)")
    s.add_argument(
        "--pre-days", type=int, default=0, help="days of activity before exposure (for CUPED)"
    )
    s.set_defaults(func=_cmd_simulate)

    r = _sub(
        sub,
        "report",
        "run the report notebook for one experiment spec",
        description="Run the report notebook of an experiment spec and write report.html, "
        "report.ipynb and summary.json into --out.",
        epilog=_epilog(
            [
                "abkit report spec.yaml --exposures exposures.parquet --events events.parquet \\\n"
                "      --out reports/onboarding",
                "abkit report spec.yaml --out reports/onboarding --force   # data: from the spec",
                "abkit report --all experiments/ --out reports/nightly     # + index.html",
            ],
            [0, 2, 3, 4, 5],
        ),
    )
    r.add_argument("spec", help=SPEC_HELP + ", or a folder of specs with --all")
    r.add_argument("--all", action="store_true", help="run every spec in the folder SPEC")
    _data_arguments(r)
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--force", action="store_true", help="overwrite an existing report")
    r.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    r.set_defaults(func=_cmd_report)

    n = _sub(
        sub,
        "analyze",
        "analyse one experiment and print the results (no notebook)",
        description="Run the analysis of an experiment spec and print the verdicts and one line "
        "per guardrail (text), the comparison table (csv) or the summary document (json; the "
        "schema of the report's summary.json).",
        epilog=_epilog(
            [
                "abkit analyze spec.yaml --exposures exposures.parquet --events events.parquet",
                "abkit analyze spec.yaml --format json --json summary.json   # data: from the spec",
                "abkit analyze spec.yaml --units units.csv --format csv",
            ],
            [0, 2, 4, 5],
        ),
    )
    n.add_argument("spec", help=SPEC_HELP)
    _data_arguments(n)
    n.add_argument(
        "--format",
        choices=["text", "csv", "json"],
        default="text",
        help="what to print: verdicts and guardrails (text, the default), the comparison table "
        "(csv) or the summary document (json)",
    )
    n.add_argument("--json", help="also write the summary document (summary.json) here")
    n.set_defaults(func=_cmd_analyze)

    g = _sub(
        sub,
        "design",
        "power / sample size / duration for a retention test",
        aliases=["power"],
        description="Plan a day-N retention test: print the units per arm and the days needed "
        "(enrolment plus the wait until the last units' day N has ended), and write "
        "design.html with the MDE for other durations.",
        epilog=_epilog(
            [
                "abkit design --baseline 0.20 --mde 0.05 --daily-units 4000 --out reports/design",
                "abkit design --baseline 0.35 --mde 0.01 --absolute --daily-units 800 \\\n"
                "      --metric-day 1 --variance-reduction 0.3 --out reports/design --force",
            ],
            [0, 2, 3],
            ok="the plan is printed and design.html written",
        ),
    )
    g.add_argument("--baseline", type=float, required=True, help="control retention, e.g. 0.2")
    g.add_argument("--mde", type=float, required=True, help="effect to detect (relative)")
    g.add_argument("--absolute", action="store_true", help="--mde is absolute, not relative")
    g.add_argument("--daily-units", type=float, required=True, help="new units per day")
    g.add_argument("--metric-day", type=int, default=7, help="N of day-N retention (default 7)")
    g.add_argument("--alpha", type=float, default=0.05, help="test size (default 0.05)")
    g.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    g.add_argument(
        "--variance-reduction",
        type=float,
        default=0.0,
        help="expected CUPED variance reduction, in [0, 1) (default 0)",
    )
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--force", action="store_true", help="overwrite an existing design")
    g.set_defaults(func=_cmd_design)

    a = _sub(
        sub,
        "assign",
        "assign units to variants (GrowthBook-compatible hashing)",
        description="Assign the ids of a CSV or Parquet file and write them with their variant "
        "and status; the output keeps the id column's name.",
        epilog=_epilog(
            [
                "abkit assign spec.yaml users.parquet --out assignments.parquet",
                "abkit assign spec.yaml users.csv --id-column user_id --out assignments.csv",
            ],
            [0, 2],
            ok="the assignments are written",
        ),
    )
    a.add_argument("spec", help=SPEC_HELP)
    a.add_argument("units", help="CSV or Parquet file of unit ids")
    a.add_argument("--out", required=True, help="output CSV or Parquet file")
    a.add_argument(
        "--id-column",
        default=None,
        help="id column (default: the spec's columns: unit_id:, else unit_id, else the only one)",
    )
    a.set_defaults(func=_cmd_assign)
    return p


def _version() -> str:
    from abkit._version import __version__

    return f"abkit {__version__}"


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM / SIGHUP unwind like Ctrl-C, so the run's work folder and kernel go with it."""
    raise SystemExit(128 + signum)


def _on_signals() -> Callable[[], None]:
    """Install :func:`_terminate` (main thread only); the function that restores the old ones."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    names = [n for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    old = {n: signal.signal(getattr(signal, n), _terminate) for n in names}

    def restore() -> None:
        for n, handler in old.items():
            signal.signal(getattr(signal, n), handler)

    return restore


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    restore = _on_signals()
    try:
        return int(args.func(args))
    except ReportError as exc:
        print(f"abkit: error: {cli_words(str(exc), args.command)}", file=sys.stderr)
        return exc.exit_code
    except AbkitError as exc:
        print(f"abkit: error: {cli_words(str(exc), args.command)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the command reads or writes: named, not a traceback
        name = exc.filename2 or exc.filename  # os.replace(tmp, dst): dst is the one to name
        where = f" ({name})" if name else ""
        print(f"abkit: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("abkit: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if exc.code in (143, 129):
            print("abkit: terminated", file=sys.stderr)
        raise
    finally:
        restore()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
