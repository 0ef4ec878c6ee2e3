"""The ``abkit`` command: demo, simulate, analyze, report, design (alias power), assign.

Exit codes: 0 ok; 2 bad input (spec, data, arguments); 3 a report notebook failed; 4 an analysis
or report has blocking trust findings; 5 (with --fail-on guardrail) a guardrail is breached.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from abkit.errors import AbkitError, ReportError

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
"""


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
        items = run_all(args.spec, out=args.out, force=args.force, timeout=args.timeout)
        for it in items:
            if it.status in ("failed", "invalid"):
                print(f"abkit: {it.spec.name}: {it.message}", file=sys.stderr)
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
    )
    _print_outcome(outcome)
    return outcome.exit_code


def _cmd_analyze(args: argparse.Namespace) -> int:
    import json

    from abkit.analysis import Experiment
    from abkit.report import build_summary, resolve_inputs, summary_exit_code, write_json_atomic

    spec, exposures, events, units = resolve_inputs(
        args.spec, args.exposures, args.events, args.units
    )
    exp = Experiment.from_spec(spec)
    if units is not None:
        res = exp.analyze(units=units)
    else:
        res = exp.analyze(exposures=exposures, events=events, as_of=args.as_of)
    summary = build_summary(res)
    if args.format == "json":
        print(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False))
    elif args.format == "csv":
        print(res.to_pandas().to_csv(index=False), end="")
    else:
        print(res)
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
    from abkit.report import run_design

    html_path = run_design(
        out=args.out,
        baseline=args.baseline,
        mde=args.mde,
        daily_units=args.daily_units,
        metric_day=args.metric_day,
        relative=not args.absolute,
        alpha=args.alpha,
        power=args.power,
        variance_reduction=args.variance_reduction,
        force=args.force,
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
    p.add_argument("--exposures", help="exposure log (Parquet or CSV)")
    p.add_argument("--events", help="activity log (Parquet or CSV)")
    p.add_argument("--units", help="per-unit table (Parquet or CSV) instead of logs")
    p.add_argument("--as-of", help="cut-off time, ISO 8601 with zone (default: last event)")
    p.add_argument(
        "--fail-on",
        action="append",
        choices=["guardrail"],
        help="exit 5 when a guardrail metric is breached or untested",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abkit", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="simulate an experiment and write its report")
    d.add_argument("--out", default="reports/demo", help="output folder (default: reports/demo)")
    d.add_argument("--n-units", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=7)
    d.set_defaults(func=_cmd_demo)

    s = sub.add_parser("simulate", help="write simulated exposures/events Parquet files")
    s.add_argument("--out", required=True)
    s.add_argument("--n-units", type=int, default=20_000)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument(
        "--pre-days", type=int, default=0, help="days of activity before exposure (for CUPED)"
    )
    s.set_defaults(func=_cmd_simulate)

    r = sub.add_parser("report", help="run the report notebook for one experiment spec")
    r.add_argument("spec", help="experiment spec (YAML), or a folder of specs with --all")
    r.add_argument("--all", action="store_true", help="run every spec in the folder SPEC")
    _data_arguments(r)
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--force", action="store_true", help="overwrite an existing report")
    r.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    r.set_defaults(func=_cmd_report)

    n = sub.add_parser(
        "analyze",
        help="analyse one experiment and print the results (no notebook)",
        description="Run the analysis of an experiment spec and print the verdicts (text), the "
        "comparison table (csv) or the summary document (json; the schema of the report's "
        "summary.json). Exit 4 on blocking trust findings.",
    )
    n.add_argument("spec", help="experiment spec (YAML)")
    _data_arguments(n)
    n.add_argument("--format", choices=["text", "csv", "json"], default="text")
    n.add_argument("--json", help="also write the summary document (summary.json) here")
    n.set_defaults(func=_cmd_analyze)

    g = sub.add_parser(
        "design",
        aliases=["power"],
        help="power / sample size / duration for a retention test",
    )
    g.add_argument("--baseline", type=float, required=True, help="control retention, e.g. 0.2")
    g.add_argument("--mde", type=float, required=True, help="effect to detect (relative)")
    g.add_argument("--absolute", action="store_true", help="--mde is absolute, not relative")
    g.add_argument("--daily-units", type=float, required=True, help="new units per day")
    g.add_argument("--metric-day", type=int, default=7, help="N of day-N retention (default 7)")
    g.add_argument("--alpha", type=float, default=0.05)
    g.add_argument("--power", type=float, default=0.8)
    g.add_argument("--variance-reduction", type=float, default=0.0, help="CUPED, in [0, 1)")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--force", action="store_true")
    g.set_defaults(func=_cmd_design)

    a = sub.add_parser("assign", help="assign units to variants (GrowthBook-compatible hashing)")
    a.add_argument("spec", help="experiment spec (YAML)")
    a.add_argument("units", help="CSV or Parquet file of unit ids")
    a.add_argument("--out", required=True, help="output CSV or Parquet file")
    a.add_argument("--id-column", default=None, help="id column (default: unit_id or the first)")
    a.set_defaults(func=_cmd_assign)
    return p


def _version() -> str:
    from abkit._version import __version__

    return f"abkit {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ReportError as exc:
        print(f"abkit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except AbkitError as exc:
        print(f"abkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("abkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
