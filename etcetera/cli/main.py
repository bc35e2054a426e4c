"""`etc`: argument parsing, one function per command, and one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from .. import api
from ..config import Config
from ..errors import EtcError
from .format import human_bytes, print_table

Command = Callable[[argparse.Namespace, Config], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etc", description="Share versioned datasets through S3, GCS or a folder.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: $ETC_CONFIG, else ~/.etc.toml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors; no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="print details of what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("register", help="copy a dataset folder into the local home")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("name", metavar="NAME", nargs="?", help="default: the folder's name")
    p.add_argument("-f", "--force", action="store_true", help="replace an existing local dataset")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("list", aliases=["ls"], help="list local datasets (or remote ones with -r)")
    p.add_argument("-r", "--remote", action="store_true", help="list the remote's datasets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("push", help="publish a local dataset as a new version")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-f", "--force", action="store_true", help="publish even if someone pushed meanwhile")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("pull", help="fetch a dataset version (latest by default)")
    p.add_argument("ref", metavar="NAME[@VERSION]")
    p.add_argument("-f", "--force", action="store_true", help="overwrite local changes")
    p.add_argument("-p", "--partition", dest="partitions", action="append", nargs="+", metavar="PARTITION",
                   help="fetch only these partitions")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("purge", help="delete the local copy of a dataset")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("create", help="create an empty dataset with partition folders")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-p", "--partition", dest="partitions", action="append", nargs="+", metavar="PARTITION",
                   help="partition names (default: train test)")
    p.add_argument("-f", "--force", action="store_true", help="replace an existing local dataset")
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("info", help="describe a dataset: partitions, files, sizes, version")
    p.add_argument("ref", metavar="NAME[@VERSION]")
    p.add_argument("-r", "--remote", action="store_true", help="describe the remote's version")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("versions", help="list the remote's versions of a dataset, newest first")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("gc", help="delete remote objects left by interrupted pushes")
    p.add_argument("--grace", type=float, default=None, metavar="HOURS",
                   help="keep orphans younger than this (default 24), so pushes in progress are safe")
    p.add_argument("-n", "--dry-run", action="store_true", help="only report what would be deleted")
    p.set_defaults(func=cmd_gc)
    return parser


def _flatten(groups: list[list[str]] | None) -> list[str] | None:
    return [p for group in groups for p in group] if groups else None


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def cmd_register(args: argparse.Namespace, config: Config) -> int:
    ds = api.register(args.dir, args.name, config=config, force=args.force)
    _say(args, f"registered {ds.name} ({', '.join(ds.keys())}) in {ds.path}")
    return 0


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    if args.remote:
        for name, version in api.list_remote(config).items():
            print(f"{name}\t{'@' + str(version) if version else '(0.0.x archive)'}")
        return 0
    for name, version in api.list_local(config).items():
        print(f"{name}\t{'@' + str(version) if version else '(not pushed)'}")
    return 0


def cmd_push(args: argparse.Namespace, config: Config) -> int:
    report = api.push_report(args.name, config=config, force=args.force, quiet=args.quiet or None)
    if report.up_to_date:
        _say(args, f"{report.ref} is up to date on {config.url}")
    else:
        _say(args, f"pushed {report.ref} to {config.url}: {report.files} files, {human_bytes(report.total_bytes)}"
                   f" ({human_bytes(report.uploaded_bytes)} uploaded) in {report.seconds:.1f}s")
    return 0


def cmd_pull(args: argparse.Namespace, config: Config) -> int:
    report = api.pull_report(args.ref, config=config, force=args.force,
                             partitions=_flatten(args.partitions), quiet=args.quiet or None)
    ds = report.dataset
    if report.up_to_date:
        _say(args, f"{ds.ref} is already up to date in {ds.path}")
    else:
        _say(args, f"pulled {ds.ref} into {ds.path}: {report.files} files "
                   f"({human_bytes(report.downloaded_bytes)} downloaded, {report.reused_files} reused) "
                   f"in {report.seconds:.1f}s")
    return 0


def cmd_purge(args: argparse.Namespace, config: Config) -> int:
    api.purge(args.name, config=config)
    _say(args, f"purged {args.name}")
    return 0


def cmd_create(args: argparse.Namespace, config: Config) -> int:
    partitions = _flatten(args.partitions) or ["train", "test"]
    ds = api.create(args.name, partitions, config=config, force=args.force)
    _say(args, f"created {ds.name} in {ds.path} with partitions {', '.join(ds.keys())}")
    return 0


def cmd_info(args: argparse.Namespace, config: Config) -> int:
    summary = api.info(args.ref, remote=args.remote, config=config)
    version = f"@{summary['version']}" if summary.get("version") else " (not pushed)"
    print(f"{summary['name']}{version}")
    if summary.get("created"):
        print(f"pushed {summary['created']} by {summary['author']} to {summary['remote']}")
    elif summary.get("path"):
        print(f"local copy in {summary['path']}")
    rows = [[p, str(s["files"]), human_bytes(s["bytes"])] for p, s in summary["partitions"].items()]
    rows.append(["total", str(summary["files"]), human_bytes(summary["bytes"])])
    print_table(["partition", "files", "size"], rows)
    return 0


def cmd_versions(args: argparse.Namespace, config: Config) -> int:
    found = api.versions(args.name, config=config)
    if not found:
        print(f"etc: error: {args.name} has no versions on {config.url}: etc list -r shows what is there",
              file=sys.stderr)
        return 1
    for v in found:
        print(f"{args.name}@{v}")
    return 0


def cmd_gc(args: argparse.Namespace, config: Config) -> int:
    report = api.gc(config=config, grace_hours=args.grace, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    _say(args, f"{report.objects} objects on {config.url}: {report.referenced} in use, {verb} {report.deleted} "
               f"orphans ({human_bytes(report.deleted_bytes)}), kept {report.kept_recent} recent ones")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(format="etc: %(message)s", stream=sys.stderr)
    logging.getLogger("etcetera").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        config = Config.load(args.config)
        return args.func(args, config)
    except EtcError as exc:
        print(f"etc: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("etc: error: interrupted; nothing was published and local datasets are unchanged", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"etc: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, with the detail under -v
        if args.verbose:
            logging.getLogger("etcetera").exception("unexpected error")
        print(f"etc: error: unexpected {type(exc).__name__}; rerun with -v and report it", file=sys.stderr)
        return 2
