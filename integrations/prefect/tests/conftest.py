"""Fixtures: one temporary Prefect server per session, an isolated HOME per test, the example flow."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Before Prefect is imported: keep its state out of the real home and never phone home
# (the machine has no network; the tests reach 127.0.0.1 only).  A PREFECT_HOME of our own
# (tox sets one) is removed when the session ends.
if not os.environ.get("PREFECT_HOME"):
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="prefect-etcetera-tests-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "prefect_flow.py"


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A temporary Prefect server with its own SQLite database, started once (it takes seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def example(prefect_server: None) -> ModuleType:
    """examples/prefect_flow.py, imported as a module."""
    spec = importlib.util.spec_from_file_location("prefect_flow_example", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets an empty HOME, so nothing can come from a real ~/.etc.toml or ~/.etc."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("ETC_CONFIG", raising=False)
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    return home
