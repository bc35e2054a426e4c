"""Giving up: a remote that keeps failing (503 to everything) or cannot be reached (a closed port on
127.0.0.1) makes `etc push`, `pull`, `list -r` and `info -r` exit with one `etc: error:` line
within the `give_up_seconds` budget (default 10 s), on S3, GCS and Azure; a smaller budget gives up
sooner; and a remote that fails only for a moment is retried until it works.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import etcetera as etc
from etcetera.testing import free_port

from .reltools import etc_cli, one_line_error, tree, write_dataset

COMMANDS = (("push", "gu"), ("pull", "gu"), ("list", "-r"), ("info", "-r", "gu"))
DEFAULT_BUDGET = 10.0
STARTUP = 3.0  # seconds: starting `etc` and building a client, on a busy 2-core machine
STAGGER = 2.0  # seconds between the starts of the commands that overlap (more than one start-up)
TIMINGS: dict[str, list[float]] = {}  # "<remote> <failure> <command> (budget)" -> seconds, printed at the end


def _setup(kind: str, request, tmp_path, user):
    """A remote holding dataset `gu`@1 (pushed while healthy), its fault proxy, a home with `gu`
    registered, and the extra config/env that makes the remote unreachable."""
    remote, proxy = request.getfixturevalue({"s3": "s3_proxied", "gs": "gcs_proxied", "az": "az_proxied"}[kind])()
    src = write_dataset(tmp_path / "src" / "gu", seed=5, small=3)
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("gu", config=a)
    return remote, proxy


def _unreachable(kind: str) -> tuple[dict, dict]:
    """(config keys, environment) that point the client at a closed port on 127.0.0.1."""
    url = f"http://127.0.0.1:{free_port()}"
    if kind == "az":
        return {"azure_account_url": f"{url}/devstoreaccount1"}, {}
    return ({"endpoint_url": url}, {}) if kind == "s3" else ({}, {"STORAGE_EMULATOR_HOST": url})


def _fail_every_command(remote, proxy, failure: str, kind: str, user,
                        budgets: tuple[float | None, ...]) -> list[dict[str, float]]:
    """Run each command with each budget (None: the default) against the failing remote; check its
    one-line error; return the timings, one dict per budget.

    The runs overlap (each timed on its own): they spend the budget waiting, not computing, so this
    takes about one default budget instead of four plus four short ones.  Each starts STAGGER seconds
    after the one before, once that one's start-up (imports, the client) is over: start-ups competing
    for the 2 cores would be counted in the times measured.  Each budget has its own home, and `pull`
    one more, since it and `push` would otherwise wait for each other's lock on `gu` in one home."""
    if failure == "503":
        proxy.persistent, proxy.kinds = True, ("503",)
    runs = []  # (budget, args, toml, env)
    for budget in budgets:
        extra, env = _unreachable(kind) if failure == "unreachable" else ({}, {})
        if budget is not None:
            extra["give_up_seconds"] = budget
        home = "b" if budget is None else f"b{budget:g}"
        toml, pull_toml = remote.toml(home, **extra), remote.toml(f"{home}-pull", **extra)
        assert etc_cli("register", str(remote.tmp / "src" / "gu"), config=toml, user=user).returncode == 0
        runs += [(budget, args, pull_toml if args[0] == "pull" else toml, env) for args in COMMANDS]

    def run(i: int) -> tuple[float, subprocess.CompletedProcess]:
        _, args, toml, env = runs[i]
        time.sleep(STAGGER * i)
        started = time.monotonic()
        proc = etc_cli(*args, config=toml, user=user, env=env, timeout=90)
        return time.monotonic() - started, proc

    with ThreadPoolExecutor(len(runs)) as pool:
        results = list(pool.map(run, range(len(runs))))
    took: dict[float | None, dict[str, float]] = {budget: {} for budget in budgets}
    for (budget, args, _, _), (seconds, proc) in zip(runs, results):
        took[budget][args[0]] = seconds
        line = one_line_error(proc, remote.url)
        assert line.count("attempts") <= 1 and "failed after" not in line, line
        assert "check" in line or "try again" in line, line  # says what to do
        TIMINGS.setdefault(f"{kind} {failure} {args[0]} (budget {budget or DEFAULT_BUDGET:g} s)", []).append(seconds)
    if failure == "503":
        assert proxy.total_faults >= 2 * len(runs)  # every command did retry
        proxy.persistent = False
    return [took[budget] for budget in budgets]


@pytest.mark.parametrize("failure", ["503", "unreachable"])
@pytest.mark.parametrize("kind", ["s3", "gs", "az"])
def test_a_failing_remote_gives_one_line_within_the_budget(kind, failure, request, tmp_path, user):
    remote, proxy = _setup(kind, request, tmp_path, user)
    took, short = _fail_every_command(remote, proxy, failure, kind, user, (None, 2))
    assert max(took.values()) < DEFAULT_BUDGET, took
    assert max(short.values()) < 2 + STARTUP, short
    # The budget really decides: the default one was spent retrying, the short one gives up sooner.
    assert statistics.median(took.values()) > statistics.median(short.values()) + 2, (took, short)


@pytest.mark.parametrize("kind", ["s3", "gs", "az"])
def test_a_remote_that_fails_for_a_moment_still_works(kind, request, tmp_path, user):
    """The first requests of each command answer 503 or drop the connection: push and pull succeed."""
    remote, proxy = _setup(kind, request, tmp_path, user)
    src = write_dataset(tmp_path / "src2" / "gm", seed=6, small=6)
    toml_a = remote.toml("c", give_up_seconds=5)
    assert etc_cli("register", str(src), config=toml_a, user=user).returncode == 0
    proxy.rate, proxy.kinds, proxy.max_per_request = 1.0, ("503", "drop"), 3
    proxy.max_faults = proxy.total_faults + 6
    pushed = etc_cli("push", "gm", config=toml_a, user=user)
    assert pushed.returncode == 0 and "pushed gm@1" in pushed.stdout, pushed.stderr
    proxy.max_faults = proxy.total_faults + 6
    pulled = etc_cli("pull", "gm", config=remote.toml("d", give_up_seconds=5), user=user)
    assert pulled.returncode == 0, pulled.stderr
    assert tree(remote.tmp / "d" / "gm") == tree(src)
    assert proxy.total_faults >= 12, proxy.faults


@pytest.fixture(scope="module", autouse=True)
def _report_timings(request):
    """After the module: one line per remote, failure and command with the measured give-up times
    (the figures docs/reliability.md quotes)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        for what, values in sorted(TIMINGS.items()):
            reporter.write_line(f"give-up {what}: median {statistics.median(values):.1f} s "
                                f"({', '.join(f'{v:.1f}' for v in values)})")
