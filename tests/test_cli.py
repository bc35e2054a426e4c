"""The `etc` executable end to end, as a user runs it: real subprocesses, HOME in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ETC = str(Path(sys.executable).parent / "etc")


def run(*args: str, cwd: Path, home: Path, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "ETC_CONFIG"}
    full_env.update(HOME=str(home), **(env or {}))
    proc = subprocess.run([ETC, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("etc: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def user(tmp_path: Path) -> Path:
    home = tmp_path / "user"
    home.mkdir(exist_ok=True)
    return home


def test_seed_quick_start(tmp_path: Path, user: Path):
    (tmp_path / "sample" / "data" / "train").mkdir(parents=True)
    (tmp_path / "sample" / "data" / "train" / "data00001.txt").touch()
    run("register", "sample", cwd=tmp_path, home=user)
    assert run("list", cwd=tmp_path, home=user).stdout.split()[0] == "sample"
    code = "import etcetera as etc; ds = etc.dataset('sample'); print(ds.keys(), [p.name for p in ds['train'].iterdir()], ds.meta)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "HOME": str(user)},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['train'] ['data00001.txt'] {}"

    remote = tmp_path / "srv" / "datasets"
    (user / ".etc.toml").write_text(f'url = "file://{remote}"\n')
    assert "pushed sample@1" in run("push", "sample", cwd=tmp_path, home=user).stdout
    assert run("list", "--remote", cwd=tmp_path, home=user).stdout.split()[0] == "sample"
    assert run("ls", "-r", cwd=tmp_path, home=user).stdout.split()[0] == "sample"
    run("purge", "sample", cwd=tmp_path, home=user)
    assert run("list", cwd=tmp_path, home=user).stdout == ""
    assert "pulled sample@1" in run("pull", "sample", cwd=tmp_path, home=user).stdout
    assert (user / ".etc" / "sample" / "data" / "train" / "data00001.txt").is_file()
    assert "up to date" in run("push", "sample", cwd=tmp_path, home=user).stdout
    assert "already up to date" in run("pull", "sample", cwd=tmp_path, home=user).stdout
    assert run("versions", "sample", cwd=tmp_path, home=user).stdout.split() == ["sample@1"]
    info = run("info", "sample", "-r", cwd=tmp_path, home=user).stdout
    assert "sample@1" in info and "train" in info and "pushed" in info
    # python -m etcetera is the same program
    proc = subprocess.run([sys.executable, "-m", "etcetera", "list"], env={**os.environ, "HOME": str(user)},
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("sample")


def test_create_pull_partition_and_quiet(tmp_path: Path, user: Path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'url = "file://{tmp_path / "r"}"\nhome = "{tmp_path / "h"}"\n')
    out = run("--config", str(cfg), "create", "made", "-p", "a", "b", cwd=tmp_path, home=user).stdout
    assert "a, b" in out
    (tmp_path / "h" / "made" / "data" / "a" / "x.txt").write_text("x")
    (tmp_path / "h" / "made" / "data" / "b" / "y.txt").write_text("y")
    assert run("-q", "--config", str(cfg), "push", "made", cwd=tmp_path, home=user).stdout == ""
    run("--config", str(cfg), "purge", "made", cwd=tmp_path, home=user)
    run("--config", str(cfg), "pull", "made", "-p", "b", cwd=tmp_path, home=user)
    assert sorted(os.listdir(tmp_path / "h" / "made" / "data")) == ["b"]
    env_cfg = run("info", "made", cwd=tmp_path, home=user, env={"ETC_CONFIG": str(cfg)}).stdout
    assert "b" in env_cfg and "1" in env_cfg


@pytest.mark.parametrize(
    "setup, args, needles",
    [
        (None, ["push", "sample"], ["sample is not in"]),
        ("registered", ["push", "sample"], ["no remote configured", "url"]),
        (None, ["register", "nowhere"], ["nowhere is not a directory"]),
        ("nodata", ["register", "bad"], ["no data/ folder"]),
        ("emptydata", ["register", "bad"], ["is empty", "at least one partition"]),
        ("filedata", ["register", "bad"], ["stray.txt is not a directory", "only partition folders"]),
        ("badmeta", ["register", "bad"], ["meta.json is not valid JSON"]),
        ("symlink", ["register", "bad"], ["symbolic link"]),
        ("dataset", ["register", "sample", "../evil"], ["invalid dataset name", "'../evil'"]),
        ("dataset", ["pull", "bad name"], ["invalid dataset name"]),
        ("dataset", ["pull", "x@-1"], ["invalid version or tag"]),
        ("dataset", ["tag", "sample@1", "007"], ["invalid tag name", "all digits"]),
        ("badtoml", ["list", "-r"], [".etc.toml is not valid TOML"]),
        ("unknownkey", ["list", "-r"], [".etc.toml", "unknown key 'colour'"]),
        ("wrongtype", ["list"], [".etc.toml", "'public' must be true or false"]),
        ("dataset", ["--config", "/nonexistent/etc.toml", "list"], ["/nonexistent/etc.toml does not exist"]),
        ("registered", ["register", "sample"], ["already registered", "-f"]),
        (None, ["purge", "ghost"], ["ghost is not in"]),
        ("remote", ["pull", "ghost"], ["ghost is not on", "etc list -r"]),
        ("remote", ["versions", "ghost"], ["ghost has no versions"]),
        ("badscheme", ["list", "-r"], ["unsupported remote", "ftp://x"]),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path: Path, user: Path, setup, args, needles):
    ds = tmp_path / "sample"
    bad = tmp_path / "bad"
    if setup in ("dataset", "registered", "remote"):
        (ds / "data" / "train").mkdir(parents=True)
    if setup == "registered":
        run("register", "sample", cwd=tmp_path, home=user)
    if setup == "remote":
        (user / ".etc.toml").write_text(f'url = "file://{tmp_path / "r"}"\n')
    if setup == "nodata":
        bad.mkdir()
    if setup == "emptydata":
        (bad / "data").mkdir(parents=True)
    if setup == "filedata":
        (bad / "data" / "ok").mkdir(parents=True)
        (bad / "data" / "stray.txt").write_text("x")
    if setup == "badmeta":
        (bad / "data" / "ok").mkdir(parents=True)
        (bad / "meta.json").write_text("{not json")
    if setup == "symlink":
        (bad / "data" / "ok").mkdir(parents=True)
        (bad / "data" / "ok" / "link").symlink_to("/etc/passwd")
    if setup == "badtoml":
        (user / ".etc.toml").write_text("url = = nope\n")
    if setup == "unknownkey":
        (user / ".etc.toml").write_text('url = "file:///tmp/x"\ncolour = "blue"\n')
    if setup == "wrongtype":
        (user / ".etc.toml").write_text('public = "yes"\n')
    if setup == "badscheme":
        (user / ".etc.toml").write_text('url = "ftp://x"\n')
    proc = run(*args, cwd=tmp_path, home=user, ok=False)
    assert_one_line_error(proc, *needles)
    assert not (user / ".etc" / "bad").exists()


def test_secrets_never_printed(tmp_path: Path, user: Path):
    secret = "sEcReT-value-that-must-not-leak-123"
    (user / ".etc.toml").write_text(
        f'url = "file://{tmp_path / "r"}"\naws_secret_access_key = "{secret}"\naws_access_key_id = "AKIDKEY"\n'
    )
    (tmp_path / "sample" / "data" / "train").mkdir(parents=True)
    outputs = [
        run("-v", "register", "sample", cwd=tmp_path, home=user),
        run("-v", "push", "sample", cwd=tmp_path, home=user),
        run("-v", "pull", "nothere", cwd=tmp_path, home=user, ok=False),
        run("-v", "info", "sample", "-r", cwd=tmp_path, home=user),
    ]
    for proc in outputs:
        assert secret not in proc.stdout + proc.stderr
    for path in (user / ".etc").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()


def test_version_and_help(tmp_path: Path, user: Path):
    import etcetera

    proc = run("--version", cwd=tmp_path, home=user)
    assert proc.stdout.strip() == f"etc {etcetera.__version__}"
    push_help = run("push", "--help", cwd=tmp_path, home=user).stdout
    assert "NAME" in push_help and "a dataset in the local home" in push_help
    assert "etc push birds" in push_help
    from etcetera.cli.main import _parser

    subparsers = next(a for a in _parser()._actions if a.dest == "command").choices
    assert {"register", "list", "push", "pull", "purge", "create", "info", "versions", "gc"} <= set(subparsers)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:  # each `etc COMMAND --help` is its own process: overlap the start-ups
        texts = dict(zip(subparsers, pool.map(lambda command: run(command, "--help", cwd=tmp_path, home=user).stdout,
                                              subparsers)))
    for command, parser in subparsers.items():
        for action in parser._actions:
            assert action.help, f"etc {command}: {action.dest} has no help text"
        text = texts[command]
        assert "examples:" in text and f"{parser.prog} " in text.split("examples:")[1], command


REMOTE_SIDE = ("etcetera.push", "etcetera.pull", "etcetera.remote", "etcetera.storage", "etcetera.transfer",
               "etcetera.inspection", "etcetera.catalog", "etcetera.tags")


def test_home_only_commands_start_without_the_remote_side(tmp_path: Path, user: Path):
    """etc --version, list and register load neither push/pull nor the storage clients (start-up time)."""
    (tmp_path / "ds" / "data" / "train").mkdir(parents=True)
    (tmp_path / "ds" / "data" / "train" / "a.txt").write_text("a")
    code = ("import sys; from etcetera.cli import main; rc = main(sys.argv[1:]); "
            "print(' '.join(m for m in sys.modules if m.startswith('etcetera.')), file=sys.stderr); sys.exit(rc)")
    for args in (["list"], ["register", str(tmp_path / "ds"), "ds"], ["list", "--json"], ["purge", "ds"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], env={**os.environ, "HOME": str(user)},
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        loaded = set(proc.stderr.split())
        assert "etcetera.home" in loaded and not loaded & set(REMOTE_SIDE), (args, loaded & set(REMOTE_SIDE))
    code = "import sys; import etcetera; print(' '.join(m for m in sys.modules if m.startswith('etcetera')))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert "etcetera.api" in loaded and not loaded & set(REMOTE_SIDE), loaded


# What the `etc` commands load on their way to a remote.  None of it may import `dataclasses`: its
# import costs ~10 ms (inspect, ast, dis, tokenize) and each @dataclass ~0.7 ms, paid by every
# command (see etcetera/_values.py).  To be extended with etcetera.push once it has no dataclass left.
NO_DATACLASSES = ("etcetera.cli.main", "etcetera.api", "etcetera.repository", "etcetera.storage.s3",
                  "etcetera.storage.file", "etcetera.pull", "etcetera.push", "etcetera.remote", "etcetera.transfer")


def test_commands_start_without_dataclasses():
    """Importing what the commands use, in a fresh process, leaves `dataclasses` unloaded."""
    code = f"import sys, {', '.join(NO_DATACLASSES)}; print('dataclasses' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"], "one of these imports dataclasses (python -X importtime tells which)"


@pytest.mark.parametrize("argv", [
    ["list"], ["ls", "-r", "--json"], ["-q", "push", "birds", "-f", "--from", "dir"], ["--config", "list", "list"],
    ["--conf=x.toml", "-v", "pull", "birds@3", "-p", "a", "b", "-p", "c"], ["-qv", "register", "./d"],
    ["tag", "--delete", "birds", "stable"], ["gc", "-n", "--grace", "2"], ["verify", "b", "-r", "--deep"],
    ["completion", "zsh"], ["push"], ["pull", "--bogus"], ["list", "extra"], ["--bogus", "list"], ["lst"],
    ["--config"], ["--", "list"], ["completion", "fish"], ["-q"], [],
])
def test_parsing_only_the_named_command_is_the_full_parse(argv, capsys):
    """`main` defines the arguments of the command the line names alone (start-up time): the
    result, or the error and its message, is what the full parser gives."""
    from etcetera.cli.main import _named_command, _parser

    def parse(parser):
        try:
            return vars(parser.parse_args(argv)), None
        except SystemExit as exc:
            return None, (exc.code, capsys.readouterr().err)

    assert parse(_parser(_named_command(argv))) == parse(_parser())


def test_messages_count_in_singular_and_info_says_what_to_run(tmp_path: Path, user: Path):
    (user / ".etc.toml").write_text(f'url = "file://{tmp_path / "r"}"\n')
    (tmp_path / "one" / "data" / "train").mkdir(parents=True)
    (tmp_path / "one" / "data" / "train" / "a.txt").write_text("a")
    run("register", "one", cwd=tmp_path, home=user)
    pushed = run("push", "one", cwd=tmp_path, home=user).stdout
    assert ": 1 file," in pushed and "1 files" not in pushed
    run("purge", "one", cwd=tmp_path, home=user)
    pulled = run("pull", "one", cwd=tmp_path, home=user).stdout
    assert ": 1 file " in pulled and "1 files" not in pulled
    proc = run("info", "nonexistent", cwd=tmp_path, home=user, ok=False)
    assert_one_line_error(proc, "nonexistent is not in", "etc pull nonexistent")
    assert "auto_pull" not in proc.stderr


def _two_versions(tmp_path: Path, user: Path) -> Path:
    """sample@1 = {train/a.txt, test/b.txt}; sample@2 changes a.txt, drops b.txt, adds train/c.txt.
    Returns the local copy's folder (at @2)."""
    (user / ".etc.toml").write_text(f'url = "file://{tmp_path / "r"}"\n')
    src = tmp_path / "sample"
    (src / "data" / "train").mkdir(parents=True)
    (src / "data" / "test").mkdir(parents=True)
    (src / "data" / "train" / "a.txt").write_text("alpha\n")
    (src / "data" / "test" / "b.txt").write_text("beta\n")
    run("register", "sample", cwd=tmp_path, home=user)
    run("push", "sample", cwd=tmp_path, home=user)
    local = user / ".etc" / "sample"
    (local / "data" / "train" / "a.txt").write_text("alpha, longer\n")
    (local / "data" / "test" / "b.txt").unlink()
    (local / "data" / "train" / "c.txt").write_text("gamma gamma\n")
    assert "pushed sample@2" in run("push", "sample", cwd=tmp_path, home=user).stdout
    return local


def test_diff_between_versions_and_the_local_copy(tmp_path: Path, user: Path):
    import json
    import shutil

    local = _two_versions(tmp_path, user)
    from etcetera import Config
    from etcetera.remote import Remote
    from etcetera.storage import open_storage

    r = Remote(open_storage(Config(f"file://{tmp_path / 'r'}")))
    data = {o for v in (1, 2) for o in r.manifest("sample", v).objects}
    for obj in data:  # a diff reads metadata only (manifests, shards): no data object is needed
        (tmp_path / "r" / "objects" / obj).unlink()
    out = run("diff", "sample@1", "sample@2", cwd=tmp_path, home=user).stdout.splitlines()
    assert out[0] == "sample@1 -> sample@2"
    assert [line.split()[:2] for line in out[1:4]] == [
        ["-", "data/test/b.txt"], ["~", "data/train/a.txt"], ["+", "data/train/c.txt"]]
    assert "6 B -> 14 B" in out[2] and "12 B" in out[3]
    assert out[4] == "1 file added (12 B), 1 removed (5 B), 1 changed, 0 unchanged"

    assert run("diff", "sample", cwd=tmp_path, home=user).stdout.splitlines() == [
        "sample@2 -> sample (local)", "no differences: 2 files the same"]
    (local / "data" / "train" / "c.txt").write_text("changed locally\n")
    (local / "data" / "train" / "d.txt").write_text("d")
    out = run("diff", "sample", cwd=tmp_path, home=user).stdout.splitlines()
    assert [line.split()[:2] for line in out[1:3]] == [["~", "data/train/c.txt"], ["+", "data/train/d.txt"]]
    assert out[-1].startswith("1 file added (1 B), 0 removed")

    doc = json.loads(run("diff", "sample@1", "--json", cwd=tmp_path, home=user).stdout)
    assert doc["old"] == {"version": 1, "local": False} and doc["new"] == {"version": None, "local": True}
    assert doc["removed"] == [{"path": "data/test/b.txt", "size": 5}]
    assert [c["path"] for c in doc["added"]] == ["data/train/c.txt", "data/train/d.txt"]
    assert doc["changed"] == [{"path": "data/train/a.txt", "old_size": 6, "new_size": 14}]
    assert doc["summary"] == {"added": 2, "removed": 1, "changed": 1, "unchanged": 0,
                              "bytes_added": 17, "bytes_removed": 5}
    # the reverse direction swaps added and removed
    doc = json.loads(run("diff", "sample", "sample@1", "--json", cwd=tmp_path, home=user).stdout)
    assert [c["path"] for c in doc["removed"]] == ["data/train/c.txt", "data/train/d.txt"]


@pytest.mark.parametrize("args, needles", [
    (["diff", "sample@1", "other@2"], ["cannot diff sample with other", "one dataset"]),
    (["diff", "sample@9"], ["sample@9 does not exist", "etc versions sample"]),
    (["diff", "sample@1", "sample@-x"], ["invalid version or tag"]),
    (["diff", "sample@1", "sample@x"], ["sample@x does not exist", "etc versions sample"]),
    (["diff", "ghost@1"], ["ghost@1 does not exist"]),
])
def test_diff_bad_input(tmp_path: Path, user: Path, args, needles):
    _two_versions(tmp_path, user)
    state = sorted((p, p.stat().st_mtime_ns) for p in (user / ".etc").rglob("*") if p.is_file())
    proc = run(*args, cwd=tmp_path, home=user, ok=False)
    assert_one_line_error(proc, *needles)
    assert proc.stdout == ""
    assert sorted((p, p.stat().st_mtime_ns) for p in (user / ".etc").rglob("*") if p.is_file()) == state


def test_status_reports_base_newer_versions_and_local_changes(tmp_path: Path, user: Path):
    import json

    local = _two_versions(tmp_path, user)
    out = run("status", "sample", cwd=tmp_path, home=user).stdout.splitlines()
    assert out == [f"sample: based on sample@2 from file://{tmp_path / 'r'}",
                   "remote: up to date (sample@2 is the latest)", "local changes: none"]
    # someone else publishes @3
    other = tmp_path / "other.toml"
    other.write_text(f'url = "file://{tmp_path / "r"}"\nhome = "{tmp_path / "h2"}"\n')
    run("--config", str(other), "pull", "sample", cwd=tmp_path, home=user)
    (tmp_path / "h2" / "sample" / "data" / "train" / "z.txt").write_text("z")
    run("--config", str(other), "push", "sample", cwd=tmp_path, home=user)

    a = local / "data" / "train" / "a.txt"
    before = a.stat()
    with open(a, "r+b") as fh:  # same size, same inode, mtime put back: only a re-hash notices
        fh.write(b"ALPHA")
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))
    (local / "data" / "train" / "c.txt").unlink()
    (local / "data" / "train" / "new.txt").write_text("new!")
    out = run("status", "sample", cwd=tmp_path, home=user).stdout.splitlines()
    assert out[1] == "remote: 1 newer version (@3): etc pull sample fetches sample@3"
    assert [line.split()[:2] for line in out[2:4]] == [["-", "data/train/c.txt"], ["+", "data/train/new.txt"]]
    assert out[-1] == "local changes: 1 file added, 1 removed, 0 modified"
    doc = json.loads(run("status", "sample", "--verify", "--json", cwd=tmp_path, home=user).stdout)
    assert doc["modified"] == [{"path": "data/train/a.txt", "old_size": 14, "new_size": 14}]
    assert doc["added"] == [{"path": "data/train/new.txt", "size": 4}]
    assert doc["removed"] == [{"path": "data/train/c.txt", "size": 12}]
    assert (doc["version"], doc["latest"], doc["newer"], doc["clean"], doc["verified"]) == (2, 3, [3], False, True)

    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(f'url = "file://{tmp_path / "r2"}"\nhome = "{user / ".etc"}"\n')
    out = run("--config", str(elsewhere), "status", "sample", cwd=tmp_path, home=user).stdout.splitlines()
    assert out[1] == f"remote: file://{tmp_path / 'r2'} is not where this copy came from; it has no sample"

    # a dataset never pushed: everything is new, and a missing one is a one-line error
    (tmp_path / "fresh" / "data" / "x").mkdir(parents=True)
    (tmp_path / "fresh" / "data" / "x" / "f").write_text("f")
    run("register", "fresh", cwd=tmp_path, home=user)
    out = run("status", "fresh", cwd=tmp_path, home=user).stdout.splitlines()
    assert out[0] == "fresh: never pushed or pulled (etc push fresh publishes it)"
    assert out[-1] == "local changes: 1 file added, 0 removed, 0 modified"
    assert_one_line_error(run("status", "ghost", cwd=tmp_path, home=user, ok=False), "ghost is not in", "etc pull ghost")


def test_verify_local_and_remote(tmp_path: Path, user: Path):
    import json

    local = _two_versions(tmp_path, user)
    ok = run("verify", "sample", cwd=tmp_path, home=user).stdout
    assert ok.startswith("local sample against sample@2: 2 files present with the right size, mode and hash")
    assert run("verify", "sample", "-r", "--deep", cwd=tmp_path, home=user).stdout.startswith("sample@2 on file://")

    # local damage: a changed byte, a missing file, a stray file
    a = local / "data" / "train" / "a.txt"
    before = a.stat()
    with open(a, "r+b") as fh:
        fh.write(b"A")
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))  # stats unchanged: only a hash notices
    (local / "data" / "train" / "c.txt").unlink()
    (local / "data" / "train" / "stray.txt").write_text("s")
    proc = run("verify", "sample", cwd=tmp_path, home=user, ok=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["hash: data/train/a.txt has other content than the version",
                                        "missing: data/train/c.txt is missing",
                                        "unexpected: data/train/stray.txt is not in the version"]
    assert_one_line_error(proc, "3 problems", "data/train/a.txt (hash)", "etc pull -f sample@2")
    doc = json.loads(run("verify", "sample@1", "--json", cwd=tmp_path, home=user, ok=False).stdout)
    assert doc["ok"] is False and doc["version"] == 1 and doc["remote"] is False
    assert {(p["path"], p["issue"]) for p in doc["problems"]} == {
        ("data/test/b.txt", "missing"), ("data/train/a.txt", "size"), ("data/train/stray.txt", "unexpected")}

    # remote damage to an object of @2: truncated, then deleted
    from etcetera import Config
    from etcetera.remote import Remote
    from etcetera.storage import open_storage

    objects = Remote(open_storage(Config(f"file://{tmp_path / 'r'}"))).manifest("sample", 2).objects
    victim = tmp_path / "r" / "objects" / sorted(objects)[0]
    assert victim.is_file()
    victim.write_bytes(victim.read_bytes()[:-1])
    proc = run("verify", "sample@2", "-r", "--json", cwd=tmp_path, home=user, ok=False)
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["remote"] is True
    assert doc["problems"] == [{"path": f"objects/{victim.name}", "issue": "size",
                                "detail": f"objects/{victim.name} is {victim.stat().st_size} bytes on "
                                          f"file://{tmp_path / 'r'}, the version says {objects[victim.name]}"}]
    assert_one_line_error(proc, "sample@2 on file://", "restore those objects")
    victim.unlink()
    proc = run("verify", "sample", "-r", cwd=tmp_path, home=user, ok=False)
    assert proc.stdout.startswith("missing: objects/")
    assert_one_line_error(proc, "sample@2 on file://", "(missing)")
    assert_one_line_error(run("verify", "sample@9", "-r", cwd=tmp_path, home=user, ok=False), "sample@9 does not exist")
    assert_one_line_error(run("verify", "sample", "--deep", cwd=tmp_path, home=user, ok=False), "use it with -r")


def test_json_output_of_every_command(tmp_path: Path, user: Path):
    import json

    def doc(*args: str, ok: bool = True) -> dict:
        proc = run(*args, "--json", cwd=tmp_path, home=user, ok=ok)
        assert proc.stdout.count("\n") == 1, proc.stdout  # one document, one line
        return json.loads(proc.stdout)

    url = f"file://{tmp_path / 'r'}"
    (user / ".etc.toml").write_text(f'url = "{url}"\n')
    (tmp_path / "sample" / "data" / "train").mkdir(parents=True)
    (tmp_path / "sample" / "data" / "train" / "a.txt").write_text("alpha\n")
    run("register", "sample", cwd=tmp_path, home=user)
    assert doc("list") == {"remote": None, "datasets": [{"name": "sample", "version": None}]}
    pushed = doc("push", "sample")
    assert pushed.pop("seconds") >= 0
    assert pushed == {"name": "sample", "version": 1, "ref": "sample@1", "remote": url, "up_to_date": False,
                      "files": 1, "total_bytes": 6, "uploaded_bytes": 6}
    assert doc("push", "sample")["up_to_date"] is True
    assert doc("list") == {"remote": None, "datasets": [{"name": "sample", "version": 1}]}
    assert doc("list", "-r") == {"remote": url, "datasets": [{"name": "sample", "version": 1, "legacy": False}]}
    assert doc("versions", "sample") == {"name": "sample", "remote": url, "versions": [1], "tags": {}}
    assert doc("versions", "ghost", ok=False) == {"name": "ghost", "remote": url, "versions": [], "tags": {}}
    local = doc("info", "sample")
    assert local == {"name": "sample", "version": 1, "path": str(user / ".etc" / "sample"), "remote": None,
                     "created": None, "author": None, "partitions": {"train": {"files": 1, "bytes": 6}},
                     "files": 1, "bytes": 6}
    remote = doc("info", "sample@1", "-r")
    assert remote["remote"] == url and remote["path"] is None and remote["created"].endswith("Z")
    assert remote["partitions"] == local["partitions"]
    run("purge", "sample", cwd=tmp_path, home=user)
    pulled = doc("pull", "sample")
    assert pulled.pop("seconds") >= 0
    assert pulled == {"name": "sample", "version": 1, "ref": "sample@1", "path": str(user / ".etc" / "sample"),
                      "remote": url, "up_to_date": False, "files": 1, "downloaded_bytes": 6, "reused_files": 0}
    assert doc("status", "sample")["clean"] is True
    assert doc("diff", "sample")["summary"]["unchanged"] == 1
    assert doc("verify", "sample", "-r", "--deep") == {"name": "sample", "version": 1, "remote": True, "deep": True,
                                                       "checked": 1, "bytes": 6, "ok": True, "problems": []}
    # an error is still one line on stderr, and nothing but JSON (or nothing) on stdout
    proc = run("info", "ghost", "--json", cwd=tmp_path, home=user, ok=False)
    assert proc.stdout == ""
    assert_one_line_error(proc, "ghost is not in")
