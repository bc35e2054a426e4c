"""Demo: create a sample dataset, push it to a file:// remote in a temp dir, pull it into a fresh home.

Needs no configuration file and no cloud account:  python examples/demo.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import etcetera as etc
from etcetera import api


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="etc-demo-") as tmp:
        tmp = Path(tmp)
        remote = f"file://{tmp / 'remote'}"
        alice = etc.Config(remote, home=str(tmp / "alice"))
        bob = etc.Config(remote, home=str(tmp / "bob"))

        src = tmp / "sample"
        for partition, count in (("train", 200), ("test", 50)):
            folder = src / "data" / partition
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"data{i:05}.txt").write_bytes(os.urandom(2048))
        (src / "meta.json").write_text(json.dumps({"description": "random demo data", "classes": 3}))
        print(f"created {src}: 250 files in data/train and data/test, plus meta.json")

        etc.register(src, config=alice)
        report = api.push_report("sample", config=alice)
        print(f"alice pushed {report.ref} to {remote}: {report.files} files, "
              f"{report.uploaded_bytes} bytes in {report.seconds:.2f}s")
        again = api.push_report("sample", config=alice)
        print(f"alice pushed again: up to date = {again.up_to_date}, {again.uploaded_bytes} bytes uploaded")

        started = time.monotonic()
        ds = etc.dataset("sample", auto_pull=True, config=bob)
        print(f"bob pulled {ds.ref} into {ds.path} in {time.monotonic() - started:.2f}s")
        print(f"  partitions: {ds.keys()}")
        print(f"  train files: {len(list(ds['train'].iterdir()))}, test files: {len(list(ds['test'].iterdir()))}")
        print(f"  meta: {ds.meta}")

        (Path(alice.home_path) / "sample" / "data" / "train" / "data00000.txt").write_text("fixed label\n")
        print(f"alice changed one file and pushed {etc.push('sample', config=alice)}")
        update = api.pull_report("sample", config=bob)
        print(f"bob updated to {update.dataset.ref}: {update.downloaded_bytes} bytes downloaded, "
              f"{update.reused_files} files reused")
        print(f"remote versions of sample: {etc.versions('sample', config=bob)}")
        assert (ds["train"] / "data00000.txt").read_text() == "fixed label\n"
        print("ok")


if __name__ == "__main__":
    main()
