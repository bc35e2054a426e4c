"""The benchmark harness's own logic (bench/): medians of repeats, the best other tool, extra disk.

The benchmark's timings are not tested (tox -e bench-quick smoke-runs it); what is tested here is
what would silently mislead a reader of its table: a row's median and spread, which tool a cell is
compared with, and the extra-disk sampler's accounting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import disk
from bench.measure import Measured, both
from bench.report import cells, targets
from bench.suite import ETC, PUSH_ONLY, Bench, Row, metadata_bytes

SMALL = "2000 x 4 KiB"


def recorder() -> Bench:
    """A Bench with only its recording half (no bytecode compilation, no servers)."""
    bench = Bench.__new__(Bench)
    bench.rows, bench.unmeasured, bench.log = {}, {}, lambda s: None
    return bench


def test_a_row_reports_the_median_of_its_repeats_with_min_max_and_the_worst_memory():
    bench = recorder()
    for seconds, rss in ((3.0, 50.0), (1.0, 90.0), (2.0, 60.0)):
        bench.record("s3", SMALL, "push", "aws s3 sync", Measured(seconds, rss, ""), 100, uploaded_bytes=int(seconds))
    row = bench.rows[("s3", SMALL, "push", "aws s3 sync")]
    assert row.seconds == 2.0 and row.runs == [3.0, 1.0, 2.0]
    assert row.spread == "1.00–3.00"
    assert row.max_rss_mb == 90.0
    assert row.extra["uploaded_bytes"] == 2


def test_two_commands_add_up_and_keep_the_larger_peak():
    m = both(Measured(0.25, 40.0, "a"), Measured(1.0, 70.0, "b"))
    assert (m.seconds, m.max_rss_mb) == (1.25, 70.0)


def test_etcetera_is_judged_against_the_fastest_other_tool_and_the_small_cells_against_half():
    rows = {}
    for tool, seconds in ((ETC, 1.0), ("aws s3 sync", 4.0), ("dvc 3", 2.5), ("quilt3", 9.0)):
        rows[("s3", SMALL, "push", tool)] = Row("s3", SMALL, "push", tool, seconds, 1, runs=[seconds])
    rows[("s3", SMALL, PUSH_ONLY, ETC)] = Row("s3", SMALL, PUSH_ONLY, ETC, 0.9, 1, runs=[0.9])
    found = {t["target"]: t for t in targets(rows, None, SMALL)}
    main = next(t for name, t in found.items() if name.startswith(f"s3 push {SMALL}"))
    assert "dvc 3" in main["target"] and main["value"] == 0.4 and main["limit"] == 0.5 and main["holds"]
    assert f"| {SMALL} push (register + push) | 1.00 s [one run] | dvc 3: 2.50 s [one run] | 0.40 (<= 0.5) |" \
        in cells(rows, SMALL)
    rows[("s3", SMALL, "push", "dvc 3")].seconds = 1.5
    main = next(t for t in targets(rows, None, SMALL) if t["target"].startswith(f"s3 push {SMALL}"))
    assert not main["holds"]


def test_extra_disk_counts_new_files_at_their_peak_but_not_hard_links_to_the_source(tmp_path: Path):
    src, home = tmp_path / "src", tmp_path / "home"
    (src / "data").mkdir(parents=True)
    home.mkdir()
    (src / "data" / "a.bin").write_bytes(os.urandom(1 << 20))
    os.link(src / "data" / "a.bin", home / "linked.bin")  # shares the source's blocks: not extra
    script = ("import os, sys, time; p = os.path.join(sys.argv[1], 'copy.bin');"
              "open(p, 'wb').write(os.urandom(2 << 20)); time.sleep(0.3); os.unlink(p)")
    with disk.Sampler([home], exclude=src) as sampler:
        subprocess.run([sys.executable, "-c", script, str(home)], check=True)
    assert 2 << 20 <= sampler.peak < 3 << 20
    assert sampler.last == 0


def test_other_tools_run_without_this_checkout_on_their_path():
    """etcetera 0.0.12's `etc` imports `etcetera`: with the PYTHONPATH that points etcetera's own
    commands at this checkout, the "0.0.12" rows would have measured this tree."""
    bench = Bench.__new__(Bench)
    bench.env = {**os.environ, "PYTHONPATH": "/somewhere/this-checkout"}
    probe = (sys.executable, "-c", "import os; print(os.environ.get('PYTHONPATH'))")
    assert Bench.exec(bench, *probe).stdout.strip() == "/somewhere/this-checkout"
    assert Bench.exec(bench, *probe, other_tool=True, cwd="/").stdout.strip() == "None"  # found from anywhere


def test_metadata_bytes_reads_the_latest_root_and_the_shards_a_pull_needs(tmp_path: Path):
    """What --scale reports as the metadata a (partial) pull reads, on a remote that also holds the
    dataset's _index.json (which sorts after the version files)."""
    import etcetera as etc

    src = tmp_path / "src" / "m"
    for part, n in (("a", 3), ("b", 1)):
        (src / "data" / part).mkdir(parents=True)
        for i in range(n):
            (src / "data" / part / f"f{i}").write_bytes(os.urandom(100))
    cfg = etc.Config(f"file://{tmp_path / 'remote'}", home=str(tmp_path / "home"))
    etc.push("m", config=cfg, source=src)
    (src / "data" / "a" / "f0").write_bytes(b"changed")
    etc.push("m", config=cfg, source=src)
    folder = tmp_path / "remote" / "datasets" / "m"
    assert (folder / "_index.json").exists()
    root = (folder / "0000000002.json.gz").stat().st_size
    whole, only_b = metadata_bytes(tmp_path / "remote", "m", None), metadata_bytes(tmp_path / "remote", "m", "b")
    assert root < only_b < whole
