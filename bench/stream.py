"""`python -m bench --stream`: the targets of issue 14 (reading without pulling) on a moto S3 server.

    first byte   one 1 KiB file of a COUNT-file dataset through fsspec.open, in a fresh process
                 (wall time from spawn, interpreter start-up included), against pulling that dataset;
                 and, in one more untimed run, the HTTP requests it took
    sequential   a 256 MiB file read front to back through fsspec.open in 1 MiB reads, against a
                 parallel ranged boto3 GET of the same bytes (16 MiB ranges on 16 threads, bodies
                 read and dropped); also peak RSS of the streaming process
    random       4 KiB reads at random offsets of that file: GETs per read, and the same reads by a
                 new filesystem with the block cache (GETs on repeat: 0 expected)

Every measure runs in a process of its own (`python -m bench.stream child ...`), repeated; the
report gives medians with min-max.  The machine may be shared: read the spread, not one run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

KiB, MiB = 1 << 10, 1 << 20
BIG = 256 * MiB
RANGE = 16 * MiB
REF_WORKERS = 16
READ = 1 * MiB
RANDOM_READS = 12
BIG_PATH = "data/train/big.bin"

TARGETS = {"first_byte_s": 0.6, "first_byte_vs_pull": 0.05, "seq_ratio": 0.8, "seq_rss_mb": 150.0}


# ---------------------------------------------------------------- children (one measure each)


def _config(path: str):
    import etcetera as etc

    return etc.Config.load(path)


def child_first(ref: str) -> dict[str, Any]:
    """First byte of one file, configured like a user would (ETC_CONFIG), nothing imported first."""
    import fsspec

    with fsspec.open(f"etc://{ref}") as f:
        first = f.read(1)
    assert len(first) == 1
    return {"in_process_s": time.perf_counter() - START}


def child_requests(ref: str) -> dict[str, Any]:
    """The HTTP requests `child_first` makes, in order, counted where Python's HTTP clients send
    them (http.client, under urllib3 and botocore alike); a run of its own, untimed."""
    import http.client

    sent: list[str] = []
    real = http.client.HTTPConnection.putrequest

    def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        path, _, query = url.partition("?")
        sent.append(f"{method} {path}{'?' + query if 'list-type' in query or 'prefix' in query else ''}")
        return real(self, method, url, *args, **kwargs)

    http.client.HTTPConnection.putrequest = putrequest  # type: ignore[method-assign]
    child_first(ref)
    return {"requests": sent}


def child_sequential(config: str, expect: str) -> dict[str, Any]:
    """Read the big file through fsspec.open in READ-sized reads; `expect` a sha256 or '-'."""
    import fsspec

    cfg = _config(config)
    digest = hashlib.sha256() if expect != "-" else None
    n = 0
    t0 = time.perf_counter()
    with fsspec.open(f"etc://big/{BIG_PATH}", config=cfg) as f:
        while block := f.read(READ):
            n += len(block)
            if digest is not None:
                digest.update(block)
    seconds = time.perf_counter() - t0
    if n != BIG or (digest is not None and digest.hexdigest() != expect):
        raise SystemExit(f"sequential read returned {n} bytes or wrong bytes: benchmark aborted")
    return {"seconds": seconds, "mb_s": BIG / MiB / seconds}


def _s3_client(cfg):
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client("s3", endpoint_url=cfg.endpoint_url, aws_access_key_id=cfg.aws_access_key_id,
                        aws_secret_access_key=cfg.aws_secret_access_key, region_name=cfg.region_name,
                        config=BotoConfig(max_pool_connections=REF_WORKERS))


def child_reference(config: str, bucket: str, key: str) -> dict[str, Any]:
    """A parallel boto3 GET on REF_WORKERS threads: of one object in RANGE-sized ranges, or (a key
    ending in '/') of every object below that prefix, each whole."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = _config(config)
    t0 = time.perf_counter()
    s3 = _s3_client(cfg)
    if key.endswith("/"):
        objects = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
        jobs = [(o["Key"], None) for o in objects]
        size = sum(o["Size"] for o in objects)
    else:
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        jobs = [(key, f"bytes={off}-{min(off + RANGE, size) - 1}") for off in range(0, size, RANGE)]

    def get(job: tuple[str, str | None]) -> int:
        name, span = job
        body = s3.get_object(Bucket=bucket, Key=name, **({"Range": span} if span else {}))["Body"]
        return sum(len(b) for b in body.iter_chunks(MiB))

    with ThreadPoolExecutor(REF_WORKERS) as pool:
        got = sum(pool.map(get, jobs))
    seconds = time.perf_counter() - t0
    if got != size:
        raise SystemExit(f"reference read {got} of {size} bytes: benchmark aborted")
    return {"seconds": seconds, "mb_s": size / MiB / seconds}


def child_random(config: str, seed: str) -> dict[str, Any]:
    """4 KiB reads at random offsets, each ranged GET counted as the storage backend is asked for it;
    then the same reads by a new filesystem instance, served by the block cache."""
    from etcetera.fs import EtcFileSystem

    cfg = _config(config)
    rng = random.Random(int(seed))
    offsets = [rng.randrange(0, BIG - 4 * KiB) for _ in range(RANDOM_READS)]

    def reads(fs: EtcFileSystem) -> list[list[int]]:
        fs.info(f"big/{BIG_PATH}")  # metadata first: only data GETs are counted below
        gets: list[int] = []

        backend = type(fs.remote.storage)
        real_read = backend.read

        def read(self: Any, key: str, start: int = 0, length: int | None = None) -> Any:
            gets.append(BIG if length is None else length)  # an open range: the whole object, at worst
            return real_read(self, key, start, length)

        backend.read = read  # type: ignore[method-assign]
        per_read = []
        with fs.open(f"big/{BIG_PATH}") as f:
            for off in offsets:
                before = len(gets)
                f.seek(off)
                if len(f.read(4 * KiB)) != 4 * KiB:
                    raise SystemExit("a random read came back short: benchmark aborted")
                per_read.append(gets[before:])
        backend.read = real_read  # type: ignore[method-assign]
        return per_read

    first = reads(EtcFileSystem(config=cfg, cache=True, skip_instance_cache=True))
    again = reads(EtcFileSystem(config=cfg, cache=True, skip_instance_cache=True))
    return {"gets_per_read": [len(g) for g in first], "max_get_bytes": max((max(g) for g in first if g), default=0),
            "gets_on_repeat": sum(len(g) for g in again)}


def child_main(argv: list[str]) -> None:
    ops: dict[str, Callable[..., dict[str, Any]]] = {"first": child_first, "requests": child_requests,
                                                     "seq": child_sequential, "ref": child_reference,
                                                     "random": child_random}
    print(json.dumps(ops[argv[0]](*argv[1:])))


START = time.perf_counter()


# ---------------------------------------------------------------- the parent


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _fmt(s: dict[str, float], unit: str = "", digits: int = 2) -> str:
    return f"{s['median']:.{digits}f}{unit} (min {s['min']:.{digits}f}, max {s['max']:.{digits}f}, n={s['n']})"


class StreamBench:
    """Sets up the datasets on one moto server and measures each target in child processes."""

    def __init__(self, work: Path, endpoint: str, repeat: int, log: Callable[[str], None]) -> None:
        from .server import aws_env, make_bucket

        self.work, self.endpoint, self.repeat, self.log = work, endpoint, repeat, log
        self.bucket = make_bucket(endpoint)
        self.env = aws_env(str(work))
        repo = str(Path(__file__).resolve().parent.parent)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, self.env.get("PYTHONPATH")]))
        self.env.pop("ETC_CONFIG", None)
        self.cwd = repo
        self.results: dict[str, Any] = {}

    def config(self, name: str) -> Path:
        from etcetera.testing import TEST_KEY_ID, TEST_SECRET

        home = self.work / f"home-{name}"
        shutil.rmtree(home, ignore_errors=True)
        path = self.work / f"{name}.toml"
        path.write_text("\n".join([
            f'url = "s3://{self.bucket}/etc"', f'home = "{home}"', f'endpoint_url = "{self.endpoint}"',
            f'aws_access_key_id = "{TEST_KEY_ID}"', f'aws_secret_access_key = "{TEST_SECRET}"',
            'region_name = "us-east-1"']) + "\n")
        return path

    def run(self, *cmd: str, env: dict[str, str] | None = None):
        from .measure import run

        os.sync()
        return run(cmd, env={**self.env, **(env or {})}, cwd=self.cwd)

    def child(self, *args: str, env: dict[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
        m = self.run(sys.executable, "-m", "bench.stream", "child", *args, env=env)
        return m, json.loads(m.stdout.strip().splitlines()[-1])

    def etc(self, config: Path, *args: str):
        return self.run(sys.executable, "-m", "etcetera", "--config", str(config), "-q", *args)

    # ------------------------------------------------------------ first byte

    def first_byte(self, count: int) -> None:
        from .data import generate_many  # the --scale run's dataset shape (1 KiB files)

        src = self.work / "src-many"
        generate_many(src, count)
        writer = self.config("many-writer")
        self.etc(writer, "register", str(src), "many")
        t0 = time.perf_counter()
        push = self.etc(writer, "push", "many")
        self.log(f"  pushed {count} x 1 KiB in {push.seconds:.1f}s ({time.perf_counter() - t0:.1f}s)")
        shutil.rmtree(src)
        shutil.rmtree(self.work / "home-many-writer")
        reader = self.config("many-reader")
        j = count // 20  # a file of partition p03 near the middle of its listing
        target = f"many/data/p03/{j // 1000:05d}/f{j:07d}.bin"
        _, sent = self.child("requests", target, env={"ETC_CONFIG": str(reader)})
        requests = sent["requests"]
        self.log(f"  first byte ({count} files) took {len(requests)} requests: {', '.join(requests)}")
        firsts, inner, pulls = [], [], []
        for i in range(self.repeat):
            m, rep = self.child("first", target, env={"ETC_CONFIG": str(reader)})
            firsts.append(m.seconds)
            inner.append(rep["in_process_s"])
            self.log(f"  first byte ({count} files)  {m.seconds:.3f}s  (in process {rep['in_process_s']:.3f}s)")
        if not _home_is_empty(self.work / "home-many-reader"):
            raise SystemExit("a streaming read left files in the home: benchmark aborted")
        for i in range(self.repeat):
            self.config("many-reader")  # an empty home each time
            m = self.etc(reader, "pull", "many")
            pulls.append(m.seconds)
            self.log(f"  pull ({count} files)  {m.seconds:.1f}s  rss {m.max_rss_mb:.0f} MB")
        shutil.rmtree(self.work / "home-many-reader", ignore_errors=True)
        self.results["first_byte"] = {
            "files": count, "push_s": push.seconds, "first_byte_s": _summary(firsts), "requests": requests,
            "first_byte_in_process_s": _summary(inner), "pull_s": _summary(pulls),
            "first_byte_vs_pull": _summary([f / statistics.median(pulls) for f in firsts])}

    # ------------------------------------------------------------ the big file

    def big_file(self) -> None:
        src = self.work / "src-big"
        path = src / BIG_PATH
        path.parent.mkdir(parents=True)
        digest = hashlib.sha256()
        with open(path, "wb") as fh:
            for _ in range(BIG // (8 * MiB)):
                block = os.urandom(8 * MiB)
                digest.update(block)
                fh.write(block)
        writer = self.config("big-writer")
        self.etc(writer, "register", str(src), "big")
        self.etc(writer, "push", "big")
        ref_key = "reference/big.bin"
        self.run(sys.executable, "-m", "bench.boto3_ref", "up", str(src / "data" / "train"),
                 f"s3://{self.bucket}/reference", self.endpoint, str(REF_WORKERS))
        split = src / "split"
        split.mkdir()
        with open(path, "rb") as fh:
            for i in range(BIG // RANGE):
                (split / f"part{i:03d}").write_bytes(fh.read(RANGE))
        self.run(sys.executable, "-m", "bench.boto3_ref", "up", str(split), f"s3://{self.bucket}/reference-split",
                 self.endpoint, str(REF_WORKERS))
        shutil.rmtree(src)
        shutil.rmtree(self.work / "home-big-writer")
        reader = self.config("big-reader")

        self.child("seq", str(reader), digest.hexdigest())  # checked once, unmeasured: right bytes
        runs: dict[str, list[float]] = {"seq": [], "ref": [], "split": [], "rss": [], "ratio": [], "ratio_split": []}
        for i in range(self.repeat):  # rotate the order, so none always runs first
            order = ["seq", "ref", "split"]
            order = order[i % 3:] + order[:i % 3]
            for op in order:
                if op == "seq":
                    m, rep = self.child("seq", str(reader), "-")
                    runs["rss"].append(m.max_rss_mb)
                elif op == "ref":
                    m, rep = self.child("ref", str(reader), self.bucket, ref_key)
                else:
                    m, rep = self.child("ref", str(reader), self.bucket, "reference-split/")
                runs[op].append(rep["mb_s"])
            runs["ratio"].append(runs["seq"][-1] / runs["ref"][-1])
            runs["ratio_split"].append(runs["seq"][-1] / runs["split"][-1])
            self.log(f"  256 MiB: fsspec.open {runs['seq'][-1]:.0f} MB/s (rss {runs['rss'][-1]:.0f} MB), "
                     f"boto3 ranged {runs['ref'][-1]:.0f} MB/s, boto3 16 objects {runs['split'][-1]:.0f} MB/s")
        if not _home_is_empty(self.work / "home-big-reader"):
            raise SystemExit("a streaming read left files in the home: benchmark aborted")
        self.results["sequential"] = {"fsspec_mb_s": _summary(runs["seq"]), "boto3_mb_s": _summary(runs["ref"]),
                                      "boto3_objects_mb_s": _summary(runs["split"]),
                                      "ratio": _summary(runs["ratio"]), "ratio_objects": _summary(runs["ratio_split"]),
                                      "peak_rss_mb": _summary(runs["rss"])}
        randoms = []
        for i in range(self.repeat):
            self.config("big-reader")  # an empty cache
            _, rep = self.child("random", str(reader), str(i))
            randoms.append(rep)
            self.log(f"  random 4 KiB: GETs per read {rep['gets_per_read']}, largest {rep['max_get_bytes']} B, "
                     f"GETs on repeat {rep['gets_on_repeat']}")
        self.results["random"] = randoms

    def report(self) -> str:
        lines = ["reading without pulling (issue 14), moto S3 on loopback; medians (min, max) of the runs"]
        fb = self.results.get("first_byte")
        if fb:
            lines.append(f"first byte, 1 KiB of {fb['files']} files, fresh process: {_fmt(fb['first_byte_s'], 's', 3)}"
                         f" -> target <= {TARGETS['first_byte_s']} s")
            lines.append(f"  in process (after interpreter start): {_fmt(fb['first_byte_in_process_s'], 's', 3)}")
            seen = len(fb["requests"]) or "none seen (not sent through http.client)"
            lines.append(f"  HTTP requests up to the first byte: {seen}")
            lines.extend(f"    {r}" for r in fb["requests"])
            lines.append(f"  pull of the dataset: {_fmt(fb['pull_s'], 's', 1)}; first byte / pull: "
                         f"{_fmt(fb['first_byte_vs_pull'], '', 4)} -> target <= {TARGETS['first_byte_vs_pull']}")
        sq = self.results.get("sequential")
        if sq:
            lines.append(f"sequential 256 MiB, fsspec.open: {_fmt(sq['fsspec_mb_s'], ' MB/s', 0)}")
            lines.append(f"  parallel ranged boto3 GET: {_fmt(sq['boto3_mb_s'], ' MB/s', 0)}")
            lines.append(f"  parallel boto3 GET of the same bytes as 16 objects of 16 MiB: "
                         f"{_fmt(sq['boto3_objects_mb_s'], ' MB/s', 0)}")
            lines.append(f"  ratio to the ranged GET: {_fmt(sq['ratio'])} -> target >= {TARGETS['seq_ratio']}")
            lines.append(f"  ratio to the 16-object GET (moto copies a whole object per ranged GET, which slows "
                         f"the ranged reference): {_fmt(sq['ratio_objects'])}")
            lines.append(f"  peak RSS while streaming: {_fmt(sq['peak_rss_mb'], ' MB', 0)} -> target <= "
                         f"{TARGETS['seq_rss_mb']:.0f} MB")
        rnd = self.results.get("random")
        if rnd:
            per = [g for r in rnd for g in r["gets_per_read"]]
            lines.append(f"random 4 KiB reads: {len(per)} reads, GETs per read {min(per)}-{max(per)}, largest GET "
                         f"{max(r['max_get_bytes'] for r in rnd)} B (chunk {RANGE}); GETs when repeated: "
                         f"{sum(r['gets_on_repeat'] for r in rnd)}")
        return "\n".join(lines)


def _compile_bytecode() -> None:
    """Compile what the children import, as `pip install` does: tox sets PYTHONDONTWRITEBYTECODE
    and uv writes no .pyc, so each fresh process would otherwise compile botocore from source
    (about 0.5 s of a first byte that is not there on an installed machine)."""
    import compileall
    import sysconfig

    repo = Path(__file__).resolve().parent.parent
    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], str(repo / "etcetera"),
                   str(repo / "bench")}:
        compileall.compile_dir(folder, quiet=2, workers=0)


def _home_is_empty(home: Path) -> bool:
    """No dataset copy (or any file) in the reader's home after streaming reads without a cache."""
    return not home.exists() or not any(p.is_file() for p in home.rglob("*"))


def run_stream(work: Path, repeat: int, count: int, parts: set[str], log: Callable[[str], None]) -> dict[str, Any]:
    """Measure the parts asked for ('first', 'big') on a fresh moto server; print and return the results."""
    from .server import moto_process

    _compile_bytecode()
    with moto_process() as endpoint:
        bench = StreamBench(work, endpoint, repeat, log)
        if "big" in parts:
            bench.big_file()
        if "first" in parts:
            bench.first_byte(count)
    print(bench.report())
    return bench.results


def main(args: Any) -> int:
    """`python -m bench --stream` (args: repeat, stream_files, workdir, out): run, print, save JSON."""
    import datetime as dt
    import platform
    import tempfile

    repeat = max(args.repeat or 3, 3)
    parts = {"big"} | ({"first"} if args.stream_files else set())
    work = Path(tempfile.mkdtemp(prefix="etc-bench-stream-", dir=args.workdir))
    started = dt.datetime.now(dt.timezone.utc)
    try:
        results = run_stream(work, repeat, args.stream_files, parts, lambda s: print(s, file=sys.stderr, flush=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out) / f"{started.strftime('%Y%m%dT%H%M%SZ')}-stream.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"started": started.isoformat(), "kind": "stream", "argv": sys.argv[1:], "repeat": repeat,
            "load_average": os.getloadavg(), "python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count()}
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child_main(sys.argv[2:])
    else:
        raise SystemExit("run `python -m bench --stream`")
