"""The scenarios: each shape pushed and pulled by etcetera and by the references, in one run."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import data, disk, others
from .data import Shape
from .measure import Measured, both, run
from .server import REGION, aws_env, make_bucket, moto_process
from .tools import Tool, ensure

from etcetera.testing import TEST_KEY_ID, TEST_SECRET

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
ETC = "etcetera"
AWS = "aws s3 sync"
BOTO = "boto3 parallel"
CP = "cp -r"
PUSH_ONLY = "push only"  # etcetera's push of an already registered copy (push = register + push)
FLOOR = "start-up floor"  # `etc list -r` (S3) or `etc list` (file://): the fixed cost of a command
REPUSH_WARM = "re-push unchanged, in-process"  # etc.push() again in a process that already pushed


@dataclass
class Row:
    mode: str  # s3 | file | scale
    shape: str  # e.g. "2000 x 4 KiB"
    op: str  # push | pull | re-push unchanged | re-push 1 file | list ...
    tool: str
    seconds: float
    nbytes: int  # payload the operation is about (for MB/s)
    max_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)  # seconds of every repeat; `seconds` is their median

    @property
    def spread(self) -> str:
        """min–max of the repeats ('' for a single run)."""
        return f"{min(self.runs):.2f}–{max(self.runs):.2f}" if len(self.runs) > 1 else ""

    @property
    def mbps(self) -> float | None:
        return self.nbytes / 1e6 / self.seconds if self.nbytes and self.seconds > 0 else None


def find_aws() -> str:
    """The awscli next to this interpreter (a tox env), else the one on PATH."""
    local = Path(PY).parent / "aws"
    found = str(local) if local.exists() else shutil.which("aws")
    if not found:
        raise SystemExit("awscli is not installed: run the benchmark with `tox -e bench` (or pip install awscli)")
    return found


def compile_bytecode() -> None:
    """Compile every module the measured commands import, in place, as `pip install` does.

    tox sets PYTHONDONTWRITEBYTECODE and uv installs no .pyc files, so without this every
    measured command (etc, aws, the boto3 script) would compile botocore and the rest from
    source at each start: about 0.2 s more per command than on an installed machine.
    """
    import compileall
    import sysconfig

    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], str(REPO / "etcetera"),
                   str(REPO / "bench")}:
        compileall.compile_dir(folder, quiet=2, workers=0)


class Bench:
    """Runs operations in child processes; each row reports the median of its repeats, with min–max."""

    def __init__(self, work: Path, repeat: int, workers: int, log=print, aws: bool = True,
                 tools: list[Tool] | None = None, tools_cache: Path | None = None) -> None:
        self.work, self.repeat, self.workers, self.log = work, repeat, workers, log
        self.discarded = 0  # folders set aside by `discard`, deleted with the run's folder
        self.rows: dict[tuple[str, str, str, str], Row] = {}
        self.unmeasured: dict[tuple[str, str], str] = {}  # (shape, tool): why that tool could not run it
        # The other tools' commands, installed (or found) in their cached venvs before anything is timed.
        self.tools = {t.label: ensure(t, tools_cache, log) for t in tools or []} if tools else {}
        self.env = aws_env(str(work))
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), self.env.get("PYTHONPATH")]))
        self.env.pop("ETC_CONFIG", None)
        compile_bytecode()
        self.aws = find_aws() if aws else ""

    # ------------------------------------------------------------ recording
    def record(self, mode: str, shape: str, op: str, tool: str, m: Measured, nbytes: int, **extra: Any) -> None:
        key = (mode, shape, op, tool)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(mode, shape, op, tool, m.seconds, nbytes, m.max_rss_mb, {})
        row.runs.append(m.seconds)
        row.seconds = statistics.median(row.runs)
        row.max_rss_mb = max(row.max_rss_mb or 0, m.max_rss_mb or 0) or None  # memory: the worst repeat
        for k, v in extra.items():  # numbers: the median of the repeats too; anything else: the latest
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                runs = row.extra.setdefault("_runs", {}).setdefault(k, [])
                runs.append(v)
                v = statistics.median(runs)
            row.extra[k] = v
        inner = f"  (in-process {extra['in_process_seconds']:.2f}s)" if "in_process_seconds" in extra else ""
        self.log(f"  {mode:5} {shape:15} {op:18} {tool:15} {m.seconds:8.2f}s  rss {m.max_rss_mb:6.0f} MB{inner}")

    def exec(self, *cmd: str, env: dict[str, str] | None = None, cwd: str | Path | None = None,
             other_tool: bool = False) -> Measured:
        """Run and measure `cmd` (with `env` added to the bench's environment, in `cwd`).  An other
        tool runs without the PYTHONPATH that points etcetera's commands at this checkout: etcetera
        0.0.12's `etc` script does `from etcetera.cli import main`, which would load this tree."""
        os.sync()  # earlier writes are flushed outside every measured window
        full = {**self.env, **(env or {})}
        if other_tool:
            full.pop("PYTHONPATH", None)
        return run(cmd, env=full, cwd=str(cwd or REPO))

    # ------------------------------------------------------------ contenders
    def etc_config(self, name: str, url: str, endpoint: str | None) -> Path:
        lines = [f'url = "{url}"', f'home = "{self.work / name}"', f"workers = {self.workers}"]
        if endpoint:
            lines += [f'endpoint_url = "{endpoint}"', f'aws_access_key_id = "{TEST_KEY_ID}"',
                      f'aws_secret_access_key = "{TEST_SECRET}"', f'region_name = "{REGION}"']
        path = self.work / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        self.discard(self.work / name)
        return path

    def etc(self, op: str, config: Path, name: str) -> tuple[Measured, dict]:
        m = self.exec(PY, "-m", "bench.etc_op", op, str(config), name)
        rep = json.loads(m.stdout.strip().splitlines()[-1])
        if "seconds" in rep:
            rep["in_process_seconds"] = rep["seconds"]
        return m, rep

    def etc_cli(self, config: Path, *args: str) -> Measured:
        return self.exec(PY, "-m", "etcetera", "--config", str(config), "-q", *args)

    def discard(self, path: Path) -> None:
        """Set `path` aside (a rename) instead of deleting it: the run's folder is deleted at the end.
        Deleting thousands of files just before a measured command slows the files that command
        creates (ext4 skips recently freed inodes when it allocates), which would penalise whichever
        tool creates the most files, not measure it."""
        if path.exists() or path.is_symlink():
            trash = self.work / ".trash"
            trash.mkdir(exist_ok=True)
            self.discarded += 1
            path.rename(trash / f"{self.discarded}-{path.name}")

    def verify(self, src: Path, copy: Path, what: str) -> None:
        if data.fingerprint(src) != data.fingerprint(copy):
            raise SystemExit(f"{what}: the pulled copy differs from the source: benchmark aborted")

    # ------------------------------------------------------------ scenarios
    def s3_shape(self, endpoint: str, shape: Shape, verify: bool = True) -> None:
        """push/pull of one shape by each tool; a bucket per shape keeps moto's listings short.

        The order of the tools alternates between repeats, so none always runs first or last.
        """
        src = data.generate(self.work / f"src-{shape.name}", shape)
        bucket = make_bucket(endpoint)
        for r in range(self.repeat):
            runs = [
                lambda: self.aws_sync(endpoint, shape, src, f"s3://{bucket}/aws-{shape.name}-{r}", verify),
                lambda: self.boto3_parallel(endpoint, shape, src, f"s3://{bucket}/boto-{shape.name}-{r}", verify),
                lambda: self.etc_scenario("s3", shape, src, f"s3://{bucket}/etc-{shape.name}-{r}", endpoint, verify),
            ]
            runs += [others.scenario(self, label, command, endpoint, shape, src, bucket, r, verify)
                     for label, command in self.tools.items()]
            for run_tool in runs if r % 2 == 0 else reversed(runs):
                run_tool()
        self.extra_disk(shape, src, f"s3://{bucket}/disk-{shape.name}", endpoint)
        self.discard(src)

    def extra_disk(self, shape: Shape, src: Path, url: str, endpoint: str | None) -> None:
        """Publish `src` as the plugins do (`push(name, source=src)`, no home copy; `bench.etc_op publish`)
        while sampling the disk the home and the temporary folder take: the peak extra bytes."""
        cfg = self.etc_config("home-disk", url, endpoint)
        tmp = self.work / "tmp-disk"
        tmp.mkdir(exist_ok=True)
        os.sync()
        with disk.Sampler([self.work / "home-disk", tmp], exclude=src) as sampler:
            m = self.exec(PY, "-m", "bench.etc_op", "publish", str(cfg), f"disk-{shape.name}", str(src),
                          env={"TMPDIR": str(tmp)})
        rep = json.loads(m.stdout.strip().splitlines()[-1])
        self.record("s3" if endpoint else "file", shape.label(), disk.OP, ETC, m, shape.total,
                    extra_bytes=sampler.peak, extra_bytes_after=sampler.last, fs_used_peak=sampler.fs_peak,
                    samples=sampler.count, path=rep["path"])
        self.log(f"    extra disk: peak {sampler.peak / 1e6:.1f} MB ({sampler.peak / shape.total:.1%} of the dataset), "
                 f"after {sampler.last / 1e6:.1f} MB, {sampler.count} samples")
        self.discard(self.work / "home-disk")
        self.discard(tmp)

    def aws_sync(self, endpoint: str, shape: Shape, src: Path, url: str, verify: bool) -> None:
        """aws s3 sync both ways, then its own incremental runs (unchanged, one file changed)."""
        label, dst = shape.label(), self.work / "dst"
        sync = (self.aws, "s3", "sync", "--endpoint-url", endpoint, "--only-show-errors", "--no-progress")
        self.record("s3", label, "push", AWS, self.exec(*sync, str(src), url), shape.total)
        self.record("s3", label, "pull", AWS, self.exec(*sync, url, str(dst)), shape.total)
        if verify:
            self.verify(src, dst, AWS)
        self.discard(dst)
        self.record("s3", label, "re-push unchanged", AWS, self.exec(*sync, str(src), url), 0)
        changed = data.change_one_file(src)
        self.record("s3", label, "re-push 1 file", AWS, self.exec(*sync, str(src), url), changed)

    def boto3_parallel(self, endpoint: str, shape: Shape, src: Path, url: str, verify: bool) -> None:
        label, dst = shape.label(), self.work / "dst"
        ref = (PY, "-m", "bench.boto3_ref")
        self.record("s3", label, "push", BOTO, self.exec(*ref, "up", str(src), url, endpoint, str(self.workers)),
                    shape.total)
        self.record("s3", label, "pull", BOTO, self.exec(*ref, "down", url, str(dst), endpoint, str(self.workers)),
                    shape.total)
        if verify:
            self.verify(src, dst, BOTO)
        self.discard(dst)

    def etc_scenario(self, mode: str, shape: Shape, src: Path, url: str, endpoint: str | None, verify: bool) -> None:
        label, name = shape.label(), f"bench-{shape.name}"
        up = self.etc_config("home-push", url, endpoint)
        reg = self.etc_cli(up, "register", str(src), name)
        m, rep = self.etc("push", up, name)
        self.record(mode, label, PUSH_ONLY, ETC, m, shape.total, uploaded_bytes=rep["uploaded_bytes"],
                    in_process_seconds=rep["in_process_seconds"])
        # Publishing a folder, as a user does it: `etc register DIR NAME` + `etc push NAME`.
        self.record(mode, label, "push", ETC, both(reg, m), shape.total, register_seconds=reg.seconds,
                    command="etc register + etc push")
        down = self.etc_config("home-pull", url, endpoint)
        m, rep = self.etc("pull", down, name)
        self.record(mode, label, "pull", ETC, m, shape.total, downloaded_bytes=rep["downloaded_bytes"],
                    in_process_seconds=rep["in_process_seconds"])
        if verify:
            self.verify(src, self.work / "home-pull" / name, ETC)
        self.discard(self.work / "home-pull")
        if mode == "s3":
            m, rep = self.etc("push", up, name)
            assert rep["up_to_date"], rep
            self.record(mode, label, "re-push unchanged", ETC, m, 0, uploaded_bytes=rep["uploaded_bytes"],
                        in_process_seconds=rep["in_process_seconds"])
            m, rep = self.etc("repush", up, name)
            assert rep["up_to_date"] and rep["uploaded_bytes"] == 0, rep
            # The same re-push from a process that already has its client (a DAG task, a notebook).
            self.record(mode, label, REPUSH_WARM, ETC, Measured(rep["seconds"], m.max_rss_mb, ""), 0,
                        uploaded_bytes=0, in_process_seconds=rep["seconds"])
            changed = data.change_one_file(self.work / "home-push" / name)
            m, rep = self.etc("push", up, name)
            self.record(mode, label, "re-push 1 file", ETC, m, changed, uploaded_bytes=rep["uploaded_bytes"],
                        file_bytes=shape.size, in_process_seconds=rep["in_process_seconds"])
        # What any etc command costs before doing anything: interpreter, imports, client, one request.
        floor = ("list", "-r") if mode == "s3" else ("list",)
        self.record(mode, label, FLOOR, ETC, self.etc_cli(up, *floor), 0, command="etc " + " ".join(floor))
        self.discard(self.work / "home-push")

    def file_shape(self, shape: Shape, verify: bool = True) -> None:
        src = data.generate(self.work / f"src-{shape.name}", shape)
        for r in range(self.repeat):
            dst = self.work / "dst"
            self.record("file", shape.label(), "push", CP, self.exec("cp", "-r", str(src), str(dst)), shape.total)
            self.discard(dst)
            remote = self.work / "file-remote"
            self.discard(remote)
            self.etc_scenario("file", shape, src, f"file://{remote}", None, verify)
            self.discard(remote)
        self.discard(src)

    def scale(self, steps: list[int], aws_steps: list[int], listing: int = 10_000, runs: int = 3,
              big_runs: int = 1, big: int = 200_000) -> None:
        """Many tiny files in 10 equal partitions on file://, at each step: seconds per 10k files
        and peak RSS of every command (issue 13), a partial pull of 1 partition against the full
        pull (time and metadata bytes read), then listing with `listing` datasets and versions.
        Each step runs `runs` times (`big_runs` above `big` files): rows hold the median seconds,
        the min-max and the worst peak RSS.  At the `aws_steps`, the same push and pull on a moto S3
        server, and aws s3 sync's push.  Ends with what 10 M files would need, on paper."""
        for n in steps:
            self.log(f"generating {n} files")
            src = data.generate_many(self.work / f"src-scale-{n}", n)
            samples: dict[str, list[tuple[Measured, dict]]] = {}
            for r in range(big_runs if n > big else runs):
                self.log(f"  run {r + 1} of {big_runs if n > big else runs} at {n} files")
                for op, m, extra in self.scale_step(n, src, verify=r == 0):
                    samples.setdefault(op, []).append((m, extra))
            for op, got in samples.items():
                self.record_median("scale", f"{n} x 1 KiB", op, got)
            if n in aws_steps:
                self.scale_s3(n, src)
            self.discard(src)
        if listing:
            self.scale_listing(listing)
        if steps:
            for line in on_paper(self.rows, max(steps)):
                self.log(line)

    def record_median(self, mode: str, label: str, op: str, got: list[tuple[Measured, dict]]) -> None:
        """One row per operation of a scale step: the median seconds of its runs, their min and max
        and count, the worst peak RSS; per-file figures from the median."""
        secs = sorted(m.seconds for m, _ in got)
        mid = statistics.median(secs)
        extra = dict(got[0][1])
        nbytes = extra.pop("nbytes", 0)
        if "files" in extra and op in ("register", "push", "pull"):
            extra["per_10k_files"] = mid * 10_000 / extra["files"]
        extra.update(runs=len(secs), min_seconds=secs[0], max_seconds=secs[-1], statistic="median")
        if "in_process_seconds" in extra:
            extra["in_process_seconds"] = statistics.median(e["in_process_seconds"] for _, e in got)
        row = Row(mode, label, op, ETC, mid, nbytes, max(m.max_rss_mb for m, _ in got), extra)
        self.rows[(mode, label, op, ETC)] = row
        self.log(f"  {mode:5} {label:15} {op:18} median {mid:8.2f}s  (min {secs[0]:.2f}, max {secs[-1]:.2f}, "
                 f"{len(secs)} run{'s' if len(secs) > 1 else ''})  rss {row.max_rss_mb:6.0f} MB")

    def scale_step(self, n: int, src: Path, verify: bool) -> list[tuple[str, Measured, dict]]:
        """One run of every command at `n` files: (operation, measure, extra) triples.  The
        unchanged re-push runs three times per run (it is short, and its cost swings with the
        kernel's caches): all three are samples.  Folders are set aside, not deleted (`discard`):
        deleting 100,000s of files slows the files the next command creates, by tens of seconds here."""
        label, name, size = f"{n} x 1 KiB", f"scale-{n}", data.SCALE_SIZE
        out: list[tuple[str, Measured, dict]] = []

        def log(op: str, m: Measured, **extra: Any) -> None:
            out.append((op, m, extra))
            self.log(f"    {op:18} {m.seconds:8.2f}s  rss {m.max_rss_mb:6.0f} MB")

        remote = self.work / "scale-remote"
        self.discard(remote)
        url = f"file://{remote}"
        up = self.etc_config("home-push", url, None)
        log("register", self.etc_cli(up, "register", str(src), name), nbytes=n * size, files=n)
        m, rep = self.etc("push", up, name)
        log("push", m, nbytes=n * size, files=n, in_process_seconds=rep["in_process_seconds"])
        for _ in range(3):
            m, rep = self.etc("push", up, name)
            assert rep["up_to_date"], rep
            log("re-push unchanged", m, in_process_seconds=rep["in_process_seconds"])
        state = sum(f.stat().st_size for f in (self.work / "home-push" / ".etc" / "state").rglob("*") if f.is_file())
        down = self.etc_config("home-pull", url, None)
        m, rep = self.etc("pull", down, name)
        full_meta = metadata_bytes(remote, name, None)
        log("pull", m, nbytes=n * size, files=n, in_process_seconds=rep["in_process_seconds"],
            metadata_bytes=full_meta, state_bytes=state)
        if verify and n <= 200_000:
            self.verify(src, self.work / "home-pull" / name, ETC)
        self.discard(self.work / "home-pull")
        part = self.etc_config("home-part", url, None)
        log("partial pull", self.etc_cli(part, "pull", name, "-p", "p03"), nbytes=n * size // 10, files=n // 10,
            metadata_bytes=metadata_bytes(remote, name, "p03"), full_metadata_bytes=full_meta)
        self.discard(self.work / "home-part")
        log("info -r", self.etc_cli(down, "info", "-r", name))
        log(FLOOR, self.etc_cli(down, "list"), command="etc list")
        self.discard(self.work / "home-push")
        self.discard(remote)
        return out

    def scale_s3(self, n: int, src: Path) -> None:
        label, name, size = f"{n} x 1 KiB", f"scale-{n}", data.SCALE_SIZE
        with moto_process() as endpoint:
            bucket = make_bucket(endpoint)
            url = f"s3://{bucket}/etc-{n}"
            up = self.etc_config("home-push", url, endpoint)
            self.etc_cli(up, "register", str(src), name)
            m, rep = self.etc("push", up, name)
            self.record("scale-s3", label, "push", ETC, m, n * size, files=n, per_10k_files=m.seconds * 10_000 / n)
            down = self.etc_config("home-pull", url, endpoint)
            m, rep = self.etc("pull", down, name)
            self.record("scale-s3", label, "pull", ETC, m, n * size, files=n, per_10k_files=m.seconds * 10_000 / n)
            shutil.rmtree(self.work / "home-push")
            shutil.rmtree(self.work / "home-pull")
            m = self.exec(self.aws, "s3", "sync", str(src), f"s3://{bucket}/aws-{n}",
                          "--endpoint-url", endpoint, "--only-show-errors", "--no-progress")
            self.record("scale-s3", label, "push", AWS, m, n * size, files=n, per_10k_files=m.seconds * 10_000 / n)

    def scale_listing(self, count: int) -> None:
        """`etc list -r` with `count` datasets and `etc versions` with `count` versions: one small
        version's root copied under many names and numbers (listing reads keys only)."""
        remote = self.work / "list-remote"
        shutil.rmtree(remote, ignore_errors=True)
        src = data.generate_many(self.work / "src-tiny", 10)
        cfg = self.etc_config("home-list", f"file://{remote}", None)
        self.etc_cli(cfg, "register", str(src), "tiny")
        self.etc_cli(cfg, "push", "tiny")
        root = next((remote / "datasets" / "tiny").iterdir())
        for i in range(count):
            folder = remote / "datasets" / f"d{i:05d}"
            folder.mkdir()
            os.link(root, folder / root.name)
        for v in range(2, count + 1):
            os.link(root, root.parent / f"{v:010d}.json.gz")
        label = f"{count} datasets / versions"
        self.record("scale", label, "etc list -r", ETC, self.etc_cli(cfg, "list", "-r"), 0, datasets=count + 1)
        self.record("scale", label, "etc versions", ETC, self.etc_cli(cfg, "versions", "tiny"), 0, versions=count)
        shutil.rmtree(remote)
        shutil.rmtree(src)
        shutil.rmtree(self.work / "home-list")


def metadata_bytes(remote: Path, name: str, partition: str | None) -> int:
    """Bytes of metadata a pull of `partition` (None: all) reads from a file:// remote: the latest
    root and the shards of the groups it needs, as the format prescribes (docs/format.md)."""
    from etcetera.catalog import Root, read_version

    folder = remote / "datasets" / name
    raw = max(folder.glob("[0-9]*.json.gz")).read_bytes()  # the latest version's root, not the _index.json beside it
    doc = read_version(raw, name)
    if not isinstance(doc, Root):
        return len(raw)
    groups = doc.select(None if partition is None else [partition])
    return len(raw) + sum(s.size for g in groups for s in g.shards)


def on_paper(rows: dict, n: int) -> list[str]:
    """What 10 M files of 1 KiB would need, from the per-file costs measured at `n` files."""
    def row(op: str) -> Row | None:
        return rows.get(("scale", f"{n} x 1 KiB", op, ETC))

    push, pull, repush = row("push"), row("pull"), row("re-push unchanged")
    if not (push and pull and repush):
        return []
    k = 10_000_000 / n
    part = row("partial pull")
    lines = [f"10 M files (1 KiB each) on paper, from the medians measured at {n:,} files "
             f"(push {push.extra['runs']} run(s); see their spread above):",
             f"  push            ~{push.seconds * k / 60:.0f} min ({push.extra['per_10k_files']:.2f} s per 10k files), "
             f"peak RSS ~{push.max_rss_mb:.0f} MB (batches: does not grow with the count)",
             f"  pull            ~{pull.seconds * k / 60:.0f} min ({pull.extra['per_10k_files']:.2f} s per 10k files), "
             f"peak RSS ~{pull.max_rss_mb:.0f} MB",
             f"  re-push unchanged ~{repush.seconds * k:.0f} s ({repush.seconds / n * 1e6:.1f} us per file), "
             f"peak RSS ~{repush.max_rss_mb:.0f} MB",
             f"  remote metadata ~{pull.extra['metadata_bytes'] * k / 1e6:.0f} MB "
             f"({pull.extra['metadata_bytes'] / n:.0f} bytes per file, shards of 10,000 entries)"]
    if part:
        lines.append(f"  partial pull of 1 of 10 partitions reads ~{part.extra['metadata_bytes'] * k / 1e6:.0f} MB of it")
    lines.append(f"  local state      ~{pull.extra['state_bytes'] * k / 1e9:.2f} GB on disk "
                 f"({pull.extra['state_bytes'] / n:.0f} bytes per file, read a partition at a time)")
    return lines
