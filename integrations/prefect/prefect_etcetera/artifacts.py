"""Markdown artifacts that describe a dataset after a push or a pull, for the Prefect UI."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from prefect.artifacts import create_markdown_artifact


def artifact_key(name: str) -> str:
    """The artifact key for dataset `name`: Prefect keys allow only lowercase letters, digits and dashes."""
    return "etcetera-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "dataset")


def human_size(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def describe_dataset(summary: dict[str, Any], action: str, remote: str | None, path: str | None = None) -> str:
    """A markdown page for a `Dataset.summary()` / `etcetera.info()` dict."""
    ref = f"{summary['name']}@{summary['version']}" if summary.get("version") else summary["name"]
    rows = [("Dataset", f"`{ref}`"), ("Action", action)]
    if remote:
        rows.append(("Remote", f"`{remote}`"))
    if path:
        rows.append(("Local path", f"`{path}`"))
    rows.append(("Files", str(summary["files"])))
    rows.append(("Size", f"{human_size(summary['bytes'])} ({summary['bytes']} bytes)"))
    lines = [f"# {ref}", "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    lines += ["| Partition | Files | Size |", "|---|---:|---:|"]
    for part, stats in sorted(summary["partitions"].items()):
        lines.append(f"| {part} | {stats['files']} | {human_size(stats['bytes'])} |")
    return "\n".join(lines) + "\n"


def publish_dataset_artifact(summary: dict[str, Any], action: str, remote: str | None,
                             path: str | None = None) -> UUID:
    """Create the markdown artifact for a dataset (linked to the current flow/task run)."""
    ref = f"{summary['name']}@{summary['version']}" if summary.get("version") else summary["name"]
    return create_markdown_artifact(
        markdown=describe_dataset(summary, action, remote, path),
        key=artifact_key(summary["name"]),
        description=f"etcetera dataset {ref} ({action})",
    )
