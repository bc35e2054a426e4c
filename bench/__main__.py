"""`python -m bench` (or `tox -e bench`): the benchmark of issues 7 and 15.

    python -m bench            three shapes on a moto S3 server and on file://, against aws s3 sync, a
                               boto3 script, etcetera 0.0.12, DVC 3 and quilt3 (each in a cached venv)
    python -m bench --quick    a tiny smoke run (under a minute, built-in references only): checks the
                               harness still works
    python -m bench --scale    many 1 KiB files (default 100,000 and 1,300,000) on file://: peak RSS and
                               seconds per 10k files of each command, a partial pull, listing 10k datasets
    python -m bench --stream   reading without pulling (issue 14) on a moto S3 server: see bench/stream.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import data
from .report import cells, table, targets, verdict, write_json
from .server import moto_process
from .suite import Bench, find_aws
from .tools import TOOLS, default_cache, parse_tools

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny shapes, one repeat: a smoke test")
    p.add_argument("--scale", action="store_true", help="only the many-small-files scale run")
    p.add_argument("--scale-steps", default=",".join(map(str, data.SCALE_STEPS)), metavar="N,N",
                   help="file counts for --scale (default %(default)s)")
    p.add_argument("--scale-aws", default=None, metavar="N,N",
                   help="counts at which --scale also pushes and pulls on a moto S3 server, with aws s3 sync "
                        "(default: none)")
    p.add_argument("--scale-listing", type=int, default=10_000, metavar="N",
                   help="datasets and versions for the listing measures of --scale (default %(default)s; 0: skip)")
    p.add_argument("--scale-runs", type=int, default=3, metavar="N",
                   help="runs of each --scale step up to 200,000 files: medians, min-max (default %(default)s)")
    p.add_argument("--scale-big-runs", type=int, default=1, metavar="N",
                   help="runs of each --scale step above 200,000 files (default %(default)s)")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs per measurement; the table reports their median and min–max (default 3, quick 1)")
    p.add_argument("--tools", default=None, metavar="all|none|T,T",
                   help=f"other tools to install (once, cached) and compare: all, none or a comma list of "
                        f"{','.join(TOOLS)} (default: all; none with --quick)")
    p.add_argument("--tools-cache", default=None, metavar="DIR",
                   help="where the other tools' venvs are kept (default $XDG_CACHE_HOME/etcetera-bench/venvs)")
    p.add_argument("--workers", type=int, default=16, help="parallel transfers for etcetera and boto3 (default 16)")
    p.add_argument("--only", choices=["s3", "file"], help="run only the S3 or only the file:// part")
    p.add_argument("--shapes", default=None, help="comma-separated subset of small,medium,large")
    p.add_argument("--workdir", default=None, help="where data is generated (default: a temporary folder)")
    p.add_argument("--out", default=str(RESULTS), help="folder for the JSON results (default bench/results)")
    p.add_argument("--stream", action="store_true", help="only the etc:// streaming reads (bench/stream.py)")
    p.add_argument("--stream-files", type=int, default=200_000, metavar="N",
                   help="files in the --stream first-byte dataset (default %(default)s; 0: skip that part)")
    args = p.parse_args(argv)
    if args.stream:
        from .stream import main as stream_main
        return stream_main(args)

    need_aws = not args.scale or bool(args.scale_aws)
    if need_aws:
        find_aws()
    repeat = args.repeat or (1 if args.quick or args.scale else 3)
    tools = [] if args.scale or args.only == "file" else parse_tools(args.tools, args.quick)
    shapes = data.QUICK if args.quick else data.FULL
    if args.shapes:
        keep = set(args.shapes.split(","))
        shapes = [s for s in shapes if s.name in keep]
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)  # a folder named on the command line may be new
    work = Path(tempfile.mkdtemp(prefix="etc-bench-", dir=args.workdir))
    started = time.time()
    bench = Bench(work, repeat, args.workers, log=lambda s: print(s, file=sys.stderr, flush=True), aws=need_aws,
                  tools=tools, tools_cache=Path(args.tools_cache) if args.tools_cache else default_cache())
    try:
        if args.scale:
            steps = [int(x) for x in args.scale_steps.split(",")]
            aws_steps = [int(x) for x in args.scale_aws.split(",")] if args.scale_aws else []
            bench.scale(steps, aws_steps, args.scale_listing, args.scale_runs, args.scale_big_runs)
        else:
            if args.only in (None, "s3"):
                with moto_process() as endpoint:
                    for shape in shapes:
                        bench.s3_shape(endpoint, shape)
            if args.only in (None, "file"):
                for shape in shapes:
                    bench.file_shape(shape)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    large = next((s.label() for s in shapes if s.name == "large"), None) if not args.scale else None
    small = next((s.label() for s in shapes if s.name == "small"), None) if not args.scale else None
    found = targets(bench.rows, large, small)
    print(table(bench.rows, bench.unmeasured))
    print(f"\nseconds: median of {repeat} run(s) per row, min–max beside it; ratio: this row's median / the "
          f"median of the fastest other tool in the same cell (push = what a user runs to publish a folder)")
    if tools:
        print("other tools: " + ", ".join(t.requirement for t in tools))
    summary = cells(bench.rows, small)
    if summary:
        print("\n" + summary)
    print()
    if args.quick:
        # Tiny shapes are dominated by start-up: judging them against the targets would only print
        # misses that mean nothing.  The quick run checks that the harness works, not the figures.
        print("quick run: shapes too small to judge the performance targets (run `tox -e bench` for verdicts)")
    else:
        print(verdict(found))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kind = "quick" if args.quick else "scale" if args.scale else "full"
    out = Path(args.out) / f"{stamp}-{kind}.json"
    meta = {"started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(), "kind": kind,
            "seconds": round(time.time() - started, 1), "argv": sys.argv[1:], "repeat": repeat,
            "workers": args.workers, "tools": [t.requirement for t in tools], "python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count()}
    write_json(out, meta, bench.rows, found, bench.unmeasured)
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
