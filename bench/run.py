"""Run the benchmarks and print (and write) the results table.

    python -m bench.run [--only B1,B3] [--smoke] [--duration 20]

DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/blocktime_bench)
names a scratch database that each benchmark empties and migrates; REDIS_URL
(default redis://127.0.0.1:6379/6) a scratch Redis database. The table goes to
stdout and, as markdown with the machine and the command, to bench/results/latest.md
(or --output).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from sqlalchemy import make_url

from bench import harness
from bench.harness import Row, Run, Target

BENCHMARKS = {
    "B1": "bench.b1_balance",
    "B2": "bench.b2_ingest",
    "B3": "bench.b3_month_end",
    "B4": "bench.b4_listing",
    "B5": "bench.b5_notify",
    "B6": "bench.b6_allowances",
}


def run_benchmarks(ctx: Run, names: list[str]) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        print(f"==> {name} ({BENCHMARKS[name]})", flush=True)
        began = time.perf_counter()
        try:
            rows.extend(importlib.import_module(BENCHMARKS[name]).run(ctx))
        except Exception as exc:  # noqa: BLE001 - one failed benchmark is a row; the others still run
            traceback.print_exc()
            rows.append(Row(name, "FAILED", f"{type(exc).__name__}: {exc}"[:200], met=False, check=True))
        print(f"    ({time.perf_counter() - began:.0f} s)", flush=True)
    return rows


def _verdict(row: Row) -> str:
    return "" if row.met is None else ("yes" if row.met else "**no**")


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | measure | Blocktime | baseline | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.bench} | {r.measure} | {r.value} | {r.baseline} | {r.goal} | {_verdict(r)} |" for r in rows
    ]
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    header = ("benchmark", "measure", "Blocktime", "baseline", "goal", "met")
    cells = [header] + [
        (r.bench, r.measure, r.value, r.baseline, r.goal, _verdict(r).strip("*")) for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells)


def report(ctx: Run, rows: list[Row], machine: dict[str, str], command: str, elapsed: float) -> str:
    lines = [
        f"# Blocktime benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (what `make bench` runs)"
        + (" (smoke sizes: not figures)" if ctx.smoke else ""),
        "",
        *(f"- {k}: {v}" for k, v in machine.items()),
        f"- load: {ctx.client_processes} client process(es); `blocktime serve` with "
        f"{ctx.serve_workers} uvicorn worker(s); measured window {ctx.duration:g} s after "
        f"{ctx.warmup:g} s warm-up",
        f"- whole run: {elapsed:.0f} s",
        "",
        markdown_table(rows),
        "",
    ]
    if ctx.notes:
        lines += ["Notes:", "", *(f"- {n}" for n in ctx.notes), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated, e.g. B1,B3")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 1 s loads: checks, not figures")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load in B1/B2 (default 20)")
    parser.add_argument("--client-processes", type=int, default=1, help="load generator processes")
    parser.add_argument("--serve-workers", type=int, default=1, help="uvicorn workers of blocktime serve")
    parser.add_argument(
        "--b3-entries",
        default="100000,1000000",
        help="B3's sizes, time entries (100 per agreement), comma-separated; e.g. 100000 for a quick run",
    )
    parser.add_argument("--output", type=Path, default=harness.ROOT / "bench" / "results" / "latest.md")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL") or harness.DEFAULT_DATABASE_URL
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or harness.DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)

    names = [n.strip().upper() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    logs = args.output.parent / "logs"
    target = Target(database_url=args.database_url, redis_url=args.redis_url, logs=logs)
    ctx = Run(
        target=target,
        duration=args.duration if args.duration is not None else (1.0 if args.smoke else 20.0),
        smoke=args.smoke,
        client_processes=args.client_processes,
        serve_workers=args.serve_workers,
        b3_entries=[int(n.replace("_", "")) for n in args.b3_entries.split(",") if n.strip()],
    )
    shown = make_url(target.database_url).render_as_string(hide_password=True)
    command = shlex.join(
        [
            f"DATABASE_URL={shown}",
            f"REDIS_URL={target.redis_url}",
            "python",
            "-m",
            "bench.run",
            *(sys.argv[1:] if argv is None else argv),
        ]
    )
    began = time.perf_counter()
    harness.prepare_database(target.database_url)
    machine = harness.machine(target)
    rows = run_benchmarks(ctx, names)
    text = report(ctx, rows, machine, command, time.perf_counter() - began)
    print()
    print(text_table(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"\nwritten to {args.output}")
    return 0 if all(r.measure != "FAILED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
