"""The table, the verdict on each target of issues 7 and 15, and the JSON written to bench/results/."""

from __future__ import annotations

import json
import dataclasses
from pathlib import Path
from typing import Any, Iterable

from . import disk
from .suite import BOTO, CP, ETC, FLOOR, PUSH_ONLY, REPUSH_WARM, Row

SMALL_LIMIT = 0.5  # issue 15: the 2000 x 4 KiB cells, against the best other tool
EXTRA_DISK_LIMIT = 0.10  # issue 15: extra disk of a plugin's publish / the dataset's size


def _get(rows: dict, mode: str, shape: str, op: str, tool: str) -> Row | None:
    return rows.get((mode, shape, op, tool))


def best_other(rows: dict, mode: str, shape: str, op: str) -> Row | None:
    """The fastest (by median) tool other than etcetera in one cell of this run."""
    others = [r for r in rows.values() if (r.mode, r.shape, r.op) == (mode, shape, op) and r.tool != ETC]
    return min(others, key=lambda r: r.seconds) if others else None


def baseline(rows: dict, row: Row) -> tuple[Row | None, str]:
    """What a row is compared with: the best other tool for transfers, the push for re-pushes."""
    if row.mode == "file" and row.op in ("push", "pull", PUSH_ONLY):
        return _get(rows, "file", row.shape, "push", CP), CP
    if row.op in ("push", "pull", PUSH_ONLY) and row.mode in ("s3", "scale", "scale-s3"):
        base = best_other(rows, row.mode, row.shape, "push" if row.op == PUSH_ONLY else row.op)
        return (base, base.tool) if base else (None, "")
    if row.op.startswith("re-push"):
        own = _get(rows, row.mode, row.shape, PUSH_ONLY, row.tool) or _get(rows, row.mode, row.shape, "push", row.tool)
        return own, f"{row.tool} {own.op}" if own else ""
    return None, ""


def table(rows: dict, unmeasured: dict[tuple[str, str], str] | None = None) -> str:
    head = ("mode", "shape", "operation", "tool", "median s", "min–max s", "MB/s", "ratio", "vs", "peak RSS MB",
            "note")
    lines = [head]
    for row in rows.values():
        base, vs = baseline(rows, row)
        ratio = f"{row.seconds / base.seconds:.2f}" if base and base.seconds > 0 and base is not row else ("1.00" if base is row else "")
        note = []
        if "uploaded_bytes" in row.extra and row.op != "push":
            note.append(f"uploaded {row.extra['uploaded_bytes']} B")
        if "command" in row.extra:
            note.append(row.extra["command"])
        if "per_10k_files" in row.extra:
            note.append(f"{row.extra['per_10k_files']:.2f} s/10k files")
        if row.op == disk.OP:
            note.append(f"extra disk peak {row.extra['extra_bytes'] / 1e6:.1f} MB = "
                        f"{row.extra['extra_bytes'] / row.nbytes:.1%} of the dataset, "
                        f"{row.extra['extra_bytes_after'] / 1e6:.1f} MB left after; via {row.extra['path']}")
        lines.append((row.mode, row.shape, row.op, row.tool, f"{row.seconds:.3f}", row.spread,
                      f"{row.mbps:.1f}" if row.mbps else "", ratio, vs if ratio else "",
                      f"{row.max_rss_mb:.0f}" if row.max_rss_mb else "", "; ".join(note)))
    for (shape, tool), why in (unmeasured or {}).items():
        lines.append(("s3", shape, "push, pull", tool, "n/a", "", "", "", "", "", why))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def cells(rows: dict, small_shape: str | None = None) -> str:
    """One line per S3 cell, ready for the README: etcetera and the best other tool, median [min–max], ratio."""
    out = ["| cell | etcetera | best other tool | ratio (target) |", "| --- | --- | --- | --- |"]

    def fmt(r: Row) -> str:
        return f"{r.seconds:.2f} s [{r.spread or 'one run'}]"

    shapes = list(dict.fromkeys(r.shape for r in rows.values() if r.mode == "s3"))
    for row in (rows.get(("s3", shape, op, ETC)) for shape in shapes for op in ("push", PUSH_ONLY, "pull")):
        base, tool = baseline(rows, row) if row else (None, "")
        if not base:
            continue
        limit = SMALL_LIMIT if row.shape == small_shape else 1.0
        what = {"push": "push (register + push)", PUSH_ONLY: "push only"}.get(row.op, row.op)
        out.append(f"| {row.shape} {what} | {fmt(row)} | {tool}: {fmt(base)} | "
                   f"{row.seconds / base.seconds:.2f} (<= {limit}) |")
    return "\n".join(out) if len(out) > 2 else ""


def targets(rows: dict, large_shape: str | None, small_shape: str | None = None) -> list[dict[str, Any]]:
    """Each target of issues 7 and 15 that this run measured: its value, its limit, and whether it holds."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, unit: str = "x") -> None:
        if value is not None:
            out.append({"target": name, "value": round(value, 4), "limit": limit, "unit": unit, "holds": value <= limit})

    def ratio(a: Row | None, b: Row | None) -> float | None:
        return a.seconds / b.seconds if a and b and b.seconds > 0 else None

    shapes = sorted({r.shape for r in rows.values() if r.mode == "s3"}, key=lambda s: list(r.shape for r in rows.values()).index(s))
    for shape in shapes:
        limit = SMALL_LIMIT if shape == small_shape else 1.0
        for op in ("push", "pull"):
            etc = _get(rows, "s3", shape, op, ETC)
            base, tool = baseline(rows, etc) if etc else (None, "")
            what = "register + push" if op == "push" else "pull"
            add(f"s3 {op} {shape}: etcetera ({what}) / best other tool ({tool}), medians", ratio(etc, base), limit)
            if etc and base and len(etc.runs) > 1 and len(base.runs) > 1:
                add(f"  (supplementary, worst case) s3 {op} {shape}: etcetera's slowest run / {tool}'s fastest",
                    max(etc.runs) / min(base.runs), limit)
        only = _get(rows, "s3", shape, PUSH_ONLY, ETC)
        if only:
            base, tool = baseline(rows, only)
            add(f"  (supplementary) s3 push only {shape}: etcetera push (registered) / best other tool ({tool})",
                ratio(only, base), limit)
        repush, push = _get(rows, "s3", shape, "re-push unchanged", ETC), _get(rows, "s3", shape, PUSH_ONLY, ETC)
        add(f"s3 re-push unchanged {shape}: / full push", ratio(repush, push), 0.05)
        floor = _get(rows, "s3", shape, FLOOR, ETC)
        if repush and push and floor:
            add(f"  (supplementary) s3 re-push unchanged {shape}: above the start-up floor "
                f"({floor.seconds:.2f} s, `etc list -r`) / full push",
                max(0.0, repush.seconds - floor.seconds) / push.seconds, 0.05)
        add(f"  (supplementary) s3 re-push unchanged {shape}: etc.push() again in-process / full push",
            ratio(_get(rows, "s3", shape, REPUSH_WARM, ETC), push), 0.05)
        one = _get(rows, "s3", shape, "re-push 1 file", ETC)
        if one:
            add(f"s3 re-push 1 file {shape}: uploaded bytes / that file's size",
                one.extra["uploaded_bytes"] / one.extra["file_bytes"], 1.0)
    if large_shape:
        add(f"s3 pull {large_shape}: etcetera / parallel ranged boto3 GET (issue 7)",
            ratio(_get(rows, "s3", large_shape, "pull", ETC), _get(rows, "s3", large_shape, "pull", BOTO)), 1.3)
        for op in ("push", "pull"):
            row = _get(rows, "s3", large_shape, op, ETC)
            add(f"s3 {op} {large_shape}: peak RSS", row.max_rss_mb if row else None, 200, "MB")
    for r in rows.values():
        if r.op == disk.OP:
            add(f"{r.mode} publish through the plugins' path {r.shape}: peak extra disk / dataset size",
                r.extra["extra_bytes"] / r.nbytes, EXTRA_DISK_LIMIT)
    for shape in sorted({r.shape for r in rows.values() if r.mode == "file"}):
        for op in (PUSH_ONLY, "pull"):
            etc = _get(rows, "file", shape, op, ETC)
            cp, floor = _get(rows, "file", shape, "push", CP), _get(rows, "file", shape, FLOOR, ETC)
            if etc:
                add(f"file:// {op} {shape}: etcetera / cp -r", ratio(etc, cp), 3.0)
            if etc and cp and floor:
                add(f"  (supplementary) file:// {op} {shape}: above the start-up floor (etc list) / cp -r",
                    max(0.0, etc.seconds - floor.seconds) / cp.seconds, 3.0)
    out.extend(scale_targets(rows))
    return out


def verdict(found: Iterable[dict[str, Any]]) -> str:
    lines = []
    for t in found:
        unit = "" if t["unit"] == "x" else f" {t['unit']}"
        lines.append(f"[{'ok' if t['holds'] else 'MISS'}] {t['target']}: {t['value']:.3f}{unit} (limit {t['limit']}{unit})")
    return "\n".join(lines)


def write_json(path: Path, meta: dict, rows: dict, found: list[dict],
               unmeasured: dict[tuple[str, str], str] | None = None) -> None:
    doc = {**meta, "rows": [{**dataclasses.asdict(r), "mb_per_s": r.mbps} for r in rows.values()], "targets": found,
           "unmeasured": [{"shape": s, "tool": t, "why": w} for (s, t), w in (unmeasured or {}).items()]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


SCALE_RSS_OPS = ("register", "push", "re-push unchanged", "pull", "partial pull", "info -r")


def scale_targets(rows: dict) -> list[dict[str, Any]]:
    """The targets of issue 13 that a `--scale` run measured."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, unit: str = "x") -> None:
        if value is not None:
            out.append({"target": name, "value": round(value, 4), "limit": limit, "unit": unit, "holds": value <= limit})

    scale = [r for r in rows.values() if r.mode == "scale" and r.tool == ETC and r.shape.endswith(" x 1 KiB")]
    sizes = sorted({r.extra["files"] for r in scale if r.op == "push"})
    if not sizes:
        return out
    small, big = sizes[0], sizes[-1]

    def row(op: str, n: int) -> Row | None:
        return next((r for r in scale if r.op == op and r.shape == f"{n} x 1 KiB"), None)

    for op in SCALE_RSS_OPS:
        r = row(op, big)
        add(f"scale {op} {big} files: peak RSS", r.max_rss_mb if r else None, 500, "MB")
        first = row(op, small)
        if r and first and big > small and first.max_rss_mb:
            add(f"  (supplementary) scale {op}: peak RSS at {big} / at {small} files (flat)",
                r.max_rss_mb / first.max_rss_mb, 1.25)
    if big > small:
        for op in ("push", "pull"):
            a, b = row(op, big), row(op, small)
            if a and b:
                add(f"scale {op}: s/10k files at {big} / at {small} (linear)",
                    a.extra["per_10k_files"] / b.extra["per_10k_files"], 1.25)
    for n in sizes:
        pull, part, push = row("pull", n), row("partial pull", n), row("push", n)
        repush = row("re-push unchanged", n)
        if pull and part:
            add(f"scale partial pull 1 of 10 partitions {n} files: / full pull time", part.seconds / pull.seconds, 0.2)
            add(f"scale partial pull 1 of 10 partitions {n} files: metadata bytes / full pull's",
                part.extra["metadata_bytes"] / part.extra["full_metadata_bytes"], 0.15)
        if push and repush:
            add(f"scale re-push unchanged {n} files: / full push", repush.seconds / push.seconds, 0.05)
    for r in rows.values():
        if r.mode == "scale" and r.op in ("etc list -r", "etc versions") and "datasets /" in r.shape:
            add(f"scale {r.op} with {r.shape}: seconds", r.seconds, 2.0, "s")
    return out
