"""The other tools people publish folders with, each installed into a venv of its own, cached.

A tool's venv lives under the cache folder (`--tools-cache`, default
`$XDG_CACHE_HOME/etcetera-bench/venvs`) and is created on first use with `uv venv` + `uv pip`
when uv is found (next to this interpreter, e.g. in the bench tox env, or on PATH), else with
`python -m venv` + pip; a venv whose marker file names the same requirement is reused.  Bytecode is
compiled at install, as `pip install` does, so no measured command compiles its imports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ETC_OLD = "etcetera 0.0.12"
DVC = "dvc 3"
QUILT = "quilt3"


@dataclass(frozen=True)
class Tool:
    key: str  # the name --tools takes
    label: str  # the name in the table
    requirement: str  # what pip installs
    command: str  # the console script in the venv's bin/


TOOLS = {
    "etc0012": Tool("etc0012", ETC_OLD, "etcetera[s3]==0.0.12", "etc"),
    "dvc": Tool("dvc", DVC, "dvc[s3]>=3,<4", "dvc"),
    "quilt3": Tool("quilt3", QUILT, "quilt3", "quilt3"),
}


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "etcetera-bench" / "venvs"


def parse_tools(spec: str | None, quick: bool) -> list[Tool]:
    """`--tools`: 'all', 'none' or a comma list of etc0012,dvc,quilt3 (default: all, none for --quick)."""
    if spec is None:
        spec = "none" if quick else "all"
    if spec == "none":
        return []
    if spec == "all":
        return list(TOOLS.values())
    unknown = [k for k in spec.split(",") if k not in TOOLS]
    if unknown:
        raise SystemExit(f"--tools: unknown tool {', '.join(unknown)}: use all, none or a comma list of "
                         f"{','.join(TOOLS)}")
    return [TOOLS[k] for k in spec.split(",")]


def find_uv() -> str | None:
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def ensure(tool: Tool, cache: Path, log=print) -> Path:
    """The tool's command in its venv under `cache`, installing the venv the first time."""
    venv = cache / tool.key
    marker = venv / ".bench-requirement"
    command = venv / "bin" / tool.command
    if command.exists() and marker.exists() and marker.read_text() == tool.requirement:
        return command
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = find_uv()
    log(f"installing {tool.requirement} into {venv} ({'uv' if uv else 'venv + pip'})")
    try:
        if uv:
            _check([uv, "venv", "-q", "--python", sys.executable, str(venv)])
            _check([uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(venv / "bin" / "python"),
                    tool.requirement])
        else:
            _check([sys.executable, "-m", "venv", str(venv)])
            _check([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    tool.requirement])
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(venv, ignore_errors=True)
        raise SystemExit(f"could not install {tool.requirement} for the benchmark ({exc.stderr.strip()[-300:]}): "
                         f"check network access to PyPI, or leave the tool out with --tools") from None
    if not command.exists():
        raise SystemExit(f"{tool.requirement} installed no {tool.command} command in {venv}: leave it out with --tools")
    marker.write_text(tool.requirement)
    return command


def _check(cmd: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH")}
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
