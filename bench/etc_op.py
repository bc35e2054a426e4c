"""One etcetera operation in a process of its own, reporting JSON on stdout.

    python -m bench.etc_op push CONFIG NAME
    python -m bench.etc_op pull CONFIG NAME
    python -m bench.etc_op open CONFIG NAME     # latency of etc.dataset() and etc.ls(remote=True)
    python -m bench.etc_op repush CONFIG NAME   # two unchanged pushes in one process: the second is
                                                # what a pipeline calling etc.push() again pays
    python -m bench.etc_op publish CONFIG NAME SRC  # what the plugins do with a source folder
"""

from __future__ import annotations

import json
import sys
import time

import etcetera as etc
from etcetera import api


def main(argv: list[str]) -> None:
    op, config_path, name, *rest = argv
    config = etc.Config.load(config_path)
    if op == "publish":
        # What EtcHook.push(source=...) (Airflow), push_dataset(source=...) (Prefect) and
        # EtcIOManager.handle_output (Dagster) call: publish the folder where it is, no home copy.
        r = api.push_report(name, config=config, quiet=True, source=rest[0])
        out = {"seconds": r.seconds, "uploaded_bytes": r.uploaded_bytes, "version": r.version,
               "path": "etcetera.push_report(name, source=folder)"}
    elif op == "push":
        r = api.push_report(name, config=config, quiet=True)
        out = {"seconds": r.seconds, "uploaded_bytes": r.uploaded_bytes, "total_bytes": r.total_bytes,
               "version": r.version, "up_to_date": r.up_to_date}
    elif op == "pull":
        r = api.pull_report(name, config=config, quiet=True)
        out = {"seconds": r.seconds, "downloaded_bytes": r.downloaded_bytes, "files": r.files,
               "version": r.dataset.version}
    elif op == "repush":
        first = api.push_report(name, config=config, quiet=True)
        second = api.push_report(name, config=config, quiet=True)
        out = {"first_seconds": first.seconds, "seconds": second.seconds, "up_to_date": second.up_to_date,
               "uploaded_bytes": first.uploaded_bytes + second.uploaded_bytes}
    elif op == "open":
        t0 = time.perf_counter()
        ds = etc.dataset(name, config=config)
        n = len(ds.keys())
        t1 = time.perf_counter()
        names = etc.ls(remote=True, config=config)
        t2 = time.perf_counter()
        out = {"dataset_seconds": t1 - t0, "partitions": n, "ls_remote_seconds": t2 - t1, "remote_names": len(names)}
    else:
        raise SystemExit(f"unknown operation {op}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
