"""`etc`: argument parsing, one function per command, and one-line errors."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

from .. import __version__, api
from ..config import Config
from ..errors import DatasetError, EtcError
from ..home import Home
from ..names import parse_ref_or_tag
from . import completion
from .format import human_bytes, plural, print_table

if TYPE_CHECKING:  # diff, status and verify import `inspection` when they run: other commands start without it
    from ..inspection import FileChange

Command = Callable[[argparse.Namespace, Config], int]


class _Unbuilt:
    """Stands for the parser of a command the command line does not name: its arguments are not defined."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_defaults(self, **kwargs: Any) -> None:
        pass


def _command(sub: argparse._SubParsersAction, name: str, summary: str, examples: str,
             aliases: Sequence[str] = (), only: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help shows `summary` and, below the arguments, its examples; with
    `only` naming another command, a stand-in (see `_parser`)."""
    if only is not None and only != name and only not in aliases:
        return _Unbuilt()  # type: ignore[return-value]
    return sub.add_parser(name, aliases=list(aliases), help=summary, description=summary[0].upper() + summary[1:] + ".",
                          epilog="examples:\n" + examples.strip("\n"),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `etc` parser; with `only`, one that defines the arguments of that command alone, which
    parses a command line naming it the same way in a tenth of the time (building every command's
    parser is most of argparse's cost at start-up)."""
    parser = argparse.ArgumentParser(
        prog="etc", description="Share versioned datasets through S3, GCS or a folder.",
        epilog="examples:\n  etc register ./birds\n  etc push birds\n  etc pull birds@3\n"
               "run `etc COMMAND --help` for a command's arguments and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"etc {__version__}",
                        help="print the version of etc and exit")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $ETC_CONFIG, else ~/.etc.toml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors; no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="print details of what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _command(sub, "register", "copy a dataset folder into the local home", """
  etc register ./birds          # the local dataset 'birds'
  etc register ./export birds   # the folder ./export as 'birds'
  etc register ./birds -f       # replace the local 'birds' with the folder's content
""", only=only)
    p.add_argument("dir", metavar="DIR", help="a dataset folder: data/<partition>/..., optional meta.json; "
                                              "it is copied, never modified")
    p.add_argument("name", metavar="NAME", nargs="?", help="the dataset's name (default: the folder's name)")
    p.add_argument("-f", "--force", action="store_true", help="replace an existing local dataset")
    p.set_defaults(func=cmd_register)

    p = _command(sub, "list", "list local datasets (or remote ones with -r)", """
  etc list        # local datasets and the version each is based on
  etc list -r     # the remote's datasets with their latest version
""", aliases=["ls"], only=only)
    p.add_argument("-r", "--remote", action="store_true", help="list the remote's datasets")
    p.add_argument("--names", action="store_true", help="print only the names, one a line (for scripts and "
                                                         "shell completion)")
    _json_option(p)
    p.set_defaults(func=cmd_list)

    p = _command(sub, "push", "publish a local dataset as a new version", """
  etc push birds      # publish the local 'birds' as birds@N+1 (nothing if unchanged)
  etc push birds -f   # publish even though someone else pushed a newer version meanwhile
  etc push birds --from ./export   # publish the folder ./export as birds@N+1, without copying it
""", only=only)
    p.add_argument("name", metavar="NAME", help="a dataset in the local home (etc list shows them), or one "
                                                 "last pushed --from a folder")
    p.add_argument("-f", "--force", action="store_true", help="publish even if someone pushed meanwhile")
    p.add_argument("--from", dest="source", metavar="DIR", default=None,
                   help="publish the dataset folder DIR as NAME straight from where it is (register + push "
                        "without a copy in the home; DIR is only read)")
    _json_option(p)
    p.set_defaults(func=cmd_push)

    p = _command(sub, "pull", "fetch a dataset version (latest by default)", """
  etc pull birds              # the latest version of 'birds'
  etc pull birds@3            # version 3
  etc pull birds@stable       # the version the tag 'stable' points at
  etc pull birds -p train     # only the partition 'train'
  etc pull birds -f           # discard local changes
""", only=only)
    p.add_argument("ref", metavar="NAME[@VERSION]", help="a dataset on the remote, optionally @version or @tag "
                                                         "(etc versions NAME lists them)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite local changes")
    p.add_argument("-p", "--partition", dest="partitions", action="append", nargs="+", metavar="PARTITION",
                   help="fetch only these partitions")
    _json_option(p)
    p.set_defaults(func=cmd_pull)

    p = _command(sub, "purge", "delete the local copy of a dataset", """
  etc purge birds     # the remote's versions stay
""", only=only)
    p.add_argument("name", metavar="NAME", help="a dataset in the local home")
    p.set_defaults(func=cmd_purge)

    p = _command(sub, "create", "create an empty dataset with partition folders", """
  etc create birds                  # data/train and data/test
  etc create birds -p a b c         # data/a, data/b and data/c
""", only=only)
    p.add_argument("name", metavar="NAME", help="the new dataset's name")
    p.add_argument("-p", "--partition", dest="partitions", action="append", nargs="+", metavar="PARTITION",
                   help="partition names (default: train test)")
    p.add_argument("-f", "--force", action="store_true", help="replace an existing local dataset")
    p.set_defaults(func=cmd_create)

    p = _command(sub, "info", "describe a dataset: partitions, files, sizes, version", """
  etc info birds          # the local copy
  etc info birds -r       # the remote's latest version
  etc info birds@3 -r     # version 3 on the remote
""", only=only)
    p.add_argument("ref", metavar="NAME[@VERSION]", help="a dataset; @VERSION with -r picks a remote version")
    p.add_argument("-r", "--remote", action="store_true", help="describe the remote's version")
    _json_option(p)
    p.set_defaults(func=cmd_info)

    p = _command(sub, "versions", "list the remote's versions of a dataset, newest first, with their tags", """
  etc versions birds
""", only=only)
    p.add_argument("name", metavar="NAME", help="a dataset on the remote (etc list -r shows them)")
    _json_option(p)
    p.set_defaults(func=cmd_versions)

    p = _command(sub, "tag", "point a tag at a version (NAME@TAG then names it), move or delete it", """
  etc tag birds@3 stable          # birds@stable is birds@3 (etc pull birds@stable, etc.dataset("birds@stable"))
  etc tag birds@latest stable     # move it to the newest version
  etc tag --delete birds stable   # remove the tag; the version stays
""", only=only)
    p.add_argument("ref", metavar="NAME@VERSION", help="the version to tag: NAME@N, NAME@OTHER-TAG or NAME@latest "
                                                       "(with --delete: NAME)")
    p.add_argument("tag", metavar="TAG", help="the tag: letters, digits, '.', '_', '-'; not all digits, not 'latest'")
    p.add_argument("-d", "--delete", action="store_true", help="delete the tag instead")
    _json_option(p)
    p.set_defaults(func=cmd_tag)

    p = _command(sub, "diff", "list files added, removed and changed between two versions (no download)", """
  etc diff birds              # the local copy against the version it is based on
  etc diff birds@3            # birds@3 against the local copy
  etc diff birds@3 birds@5    # two remote versions
  etc diff birds@5 birds      # birds@5 against the local copy
""", only=only)
    p.add_argument("old", metavar="NAME[@A]", help="the old side: a remote version, or without @ the local copy")
    p.add_argument("new", metavar="NAME[@B]", nargs="?",
                   help="the new side (default: the local copy); the same dataset as the old side")
    _json_option(p)
    p.set_defaults(func=cmd_diff)

    p = _command(sub, "status", "show the local copy's version, newer remote versions and local changes", """
  etc status birds            # trusts unchanged file stats (fast)
  etc status birds --verify   # re-hashes every file
""", only=only)
    p.add_argument("name", metavar="NAME", help="a dataset in the local home")
    p.add_argument("--verify", action="store_true",
                   help="re-hash every file instead of trusting unchanged size, mtime and inode")
    _json_option(p)
    p.set_defaults(func=cmd_status)

    p = _command(sub, "verify", "check a local copy, or a remote version's objects, against its manifest", """
  etc verify birds               # every local file present, right size and hash (re-hashes all)
  etc verify birds@3 -r          # every object of birds@3 present on the remote, right size
  etc verify birds -r --deep     # ... and download them to check their hashes
""", only=only)
    p.add_argument("ref", metavar="NAME[@VERSION]",
                   help="a dataset; default version: the local copy's (or with -r the latest)")
    p.add_argument("-r", "--remote", action="store_true", help="check the remote's objects instead of the local copy")
    p.add_argument("--deep", action="store_true", help="with -r: download every object and check its hash")
    _json_option(p)
    p.set_defaults(func=cmd_verify)

    p = _command(sub, "gc", "delete remote objects left by interrupted pushes", """
  etc gc -n            # show what would be deleted
  etc gc --grace 48    # delete orphans older than two days
""", only=only)
    p.add_argument("--grace", type=float, default=None, metavar="HOURS",
                   help="keep orphans younger than this (default 24), so pushes in progress are safe")
    p.add_argument("-n", "--dry-run", action="store_true", help="only report what would be deleted")
    p.set_defaults(func=cmd_gc)

    p = _command(sub, "completion", "print a shell completion script for commands, options and dataset names", """
  eval "$(etc completion bash)"   # in ~/.bashrc
  eval "$(etc completion zsh)"    # in ~/.zshrc, after compinit
""", only=only)
    p.add_argument("shell", choices=completion.SHELLS, help="the shell: bash or zsh")
    p.set_defaults(func=cmd_completion, no_config=True)
    if only is not None and only not in sub.choices:
        return _parser()  # not a command: the full parser says so, listing them
    return parser


class _PreParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _named_command(argv: Sequence[str]) -> str | None:
    """The command `argv` names, read past etc's own options as the full parser reads them; None
    when unsure (no command, --help, --version, an unknown option or a bad value)."""
    pre = _PreParser(prog="etc", add_help=False)
    pre.add_argument("--config")
    pre.add_argument("-q", "--quiet", action="store_true")
    pre.add_argument("-v", "--verbose", action="store_true")
    pre.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        known, unknown = pre.parse_known_args(argv)
    except ValueError:
        return None
    return known.rest[0] if known.rest and not unknown else None


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout instead (schema: README, JSON output)")


def _emit(doc: Any) -> None:
    """The --json output: one document, one line, on stdout."""
    print(json.dumps(doc, sort_keys=False))


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
        found = api.list_remote(config)
        if args.json:
            _emit({"remote": config.url, "datasets": [{"name": name, "version": version, "legacy": version is None}
                                                      for name, version in found.items()]})
            return 0
        for name, version in found.items():
            print(f"{name}\t{'@' + str(version) if version else '(0.0.x archive)'}")
        return 0
    if args.names:
        names = api.list_remote(config) if args.remote else api.list_local(config)
        print("\n".join(names), end="\n" if names else "")
        return 0
    listed = [{"name": name, "version": version} for name, version in api.list_local(config).items()]
    if args.json:
        _emit({"remote": None, "datasets": listed})
        return 0
    for item in listed:
        print(f"{item['name']}	{'@' + str(item['version']) if item['version'] else '(not pushed)'}")
    return 0


def cmd_push(args: argparse.Namespace, config: Config) -> int:
    report = api.push_report(args.name, config=config, force=args.force, quiet=args.quiet or args.json or None,
                             source=args.source)
    if args.json:
        _emit({"name": report.name, "version": report.version, "ref": report.ref, "remote": config.url,
               "up_to_date": report.up_to_date, "files": report.files, "total_bytes": report.total_bytes,
               "uploaded_bytes": report.uploaded_bytes, "seconds": round(report.seconds, 3)})
    elif report.up_to_date:
        _say(args, f"{report.ref} is up to date on {config.url}")
    else:
        _say(args, f"pushed {report.ref} to {config.url}: {plural(report.files, 'file')}, "
                   f"{human_bytes(report.total_bytes)} ({human_bytes(report.uploaded_bytes)} uploaded) in {report.seconds:.1f}s")
    return 0


def cmd_pull(args: argparse.Namespace, config: Config) -> int:
    report = api.pull_report(args.ref, config=config, force=args.force,
                             partitions=_flatten(args.partitions), quiet=args.quiet or args.json or None)
    ds = report.dataset
    if args.json:
        _emit({"name": ds.name, "version": ds.version, "ref": ds.ref, "path": str(ds.path), "remote": config.url,
               "up_to_date": report.up_to_date, "files": report.files, "downloaded_bytes": report.downloaded_bytes,
               "reused_files": report.reused_files, "seconds": round(report.seconds, 3)})
    elif report.up_to_date:
        _say(args, f"{ds.ref} is already up to date in {ds.path}")
    else:
        _say(args, f"pulled {ds.ref} into {ds.path}: {plural(report.files, 'file')} "
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
    if not args.remote:
        _need_local(args.ref, config)
    summary = api.info(args.ref, remote=args.remote, config=config)
    if args.json:
        _emit({"name": summary["name"], "version": summary.get("version"), "path": summary.get("path"),
               "remote": summary.get("remote"), "created": summary.get("created"), "author": summary.get("author"),
               "partitions": summary["partitions"], "files": summary["files"], "bytes": summary["bytes"]})
        return 0
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


def _need_local(ref: str, config: Config) -> None:
    """A local dataset, or the error a CLI user can act on (the API's would say auto_pull=True)."""
    name = parse_ref_or_tag(ref).name
    home = Home(config.home_path)
    if not home.exists(name):
        raise DatasetError(f"{name} is not in {home.root}: `etc pull {name}` fetches it, `etc list` shows what is here")


def cmd_versions(args: argparse.Namespace, config: Config) -> int:
    with api.Repository(config) as repo:
        found = repo.versions(args.name)
        tags = repo.tags(args.name) if found else {}
    if args.json:
        _emit({"name": args.name, "remote": config.url, "versions": found, "tags": tags})  # printed even when empty
    if not found:
        print(f"etc: error: {args.name} has no versions on {config.url}: etc list -r shows what is there",
              file=sys.stderr)
        return 1
    if not args.json:
        by_version: dict[int, list[str]] = {}
        for tag, version in tags.items():
            by_version.setdefault(version, []).append(tag)
        print("\n".join(f"{args.name}@{v}" + (f"\t{', '.join(by_version[v])}" if v in by_version else "")
                        for v in found))
    return 0


def cmd_tag(args: argparse.Namespace, config: Config) -> int:
    change = api.tag(args.ref, args.tag, delete=args.delete, config=config)
    if args.json:
        _emit(change.to_dict())
    elif change.version is None:
        _say(args, f"deleted tag {change.tag} of {change.name} (it pointed at {change.name}@{change.previous})")
    elif not change.changed:
        _say(args, f"{change.name}@{change.tag} already is {change.name}@{change.version}")
    else:
        was = f" (was @{change.previous})" if change.previous is not None else ""
        _say(args, f"{change.name}@{change.tag} is now {change.name}@{change.version}{was} on {change.remote}")
    return 0


def cmd_completion(args: argparse.Namespace, config: Config | None) -> int:
    print(completion.script(_parser(), args.shell), end="")
    return 0


def _size_change(c: FileChange) -> str:
    if c.old_size is None:
        return human_bytes(c.new_size or 0)
    if c.new_size is None:
        return human_bytes(c.old_size)
    return f"{human_bytes(c.old_size)} -> {human_bytes(c.new_size)}" if c.old_size != c.new_size \
        else human_bytes(c.new_size)


def _print_changes(marked: list[tuple[str, FileChange]]) -> None:
    if not marked:
        return
    width = max(len(c.path) for _, c in marked)
    for mark, c in marked:
        print(f"{mark} {c.path.ljust(width)}  {_size_change(c)}")


def cmd_diff(args: argparse.Namespace, config: Config) -> int:
    from .. import inspection

    d = inspection.diff(args.old, args.new, config=config)
    if args.json:
        _emit(d.to_dict())
        return 0
    print(f"{d.old_ref} -> {d.new_ref}")
    _print_changes(sorted([("+", c) for c in d.added] + [("-", c) for c in d.removed]
                          + [("~", c) for c in d.changed], key=lambda mc: mc[1].path))
    if d.same:
        print(f"no differences: {plural(d.unchanged, 'file')} the same")
    else:
        print(f"{plural(len(d.added), 'file')} added ({human_bytes(sum(c.new_size or 0 for c in d.added))}), "
              f"{len(d.removed)} removed ({human_bytes(sum(c.old_size or 0 for c in d.removed))}), "
              f"{len(d.changed)} changed, {d.unchanged} unchanged")
    return 0


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from .. import inspection

    st = inspection.status(args.name, config=config, verify=args.verify)
    if args.json:
        _emit(st.to_dict())
        return 0
    if st.version is None:
        print(f"{st.name}: never pushed or pulled (etc push {st.name} publishes it)")
    else:
        print(f"{st.name}: based on {st.name}@{st.version} from {st.remote}")
    if not st.remote_checked:
        print("remote: none configured")
    elif st.version is not None and st.remote not in (None, config.url):
        latest = f"{st.name}@{st.latest}" if st.latest else f"no {st.name}"
        print(f"remote: {config.url} is not where this copy came from; it has {latest}")
    elif st.newer:
        print(f"remote: {plural(len(st.newer), 'newer version')} ({', '.join(f'@{v}' for v in st.newer)}): "
              f"etc pull {st.name} fetches {st.name}@{st.newer[-1]}")
    elif st.latest is None:
        print(f"remote: {st.name} is not on {config.url}")
    else:
        print(f"remote: up to date ({st.name}@{st.latest} is the latest)")
    _print_changes(sorted([("+", c) for c in st.added] + [("-", c) for c in st.removed]
                          + [("~", c) for c in st.modified], key=lambda mc: mc[1].path))
    if st.clean:
        print("local changes: none")
    else:
        print(f"local changes: {plural(len(st.added), 'file')} added, {len(st.removed)} removed, "
              f"{len(st.modified)} modified")
    return 0


def cmd_verify(args: argparse.Namespace, config: Config) -> int:
    if args.deep and not args.remote:
        raise EtcError("--deep checks remote objects: use it with -r (a local verify always re-hashes every file)")
    from .. import inspection

    v = inspection.verify(args.ref, remote=args.remote, deep=args.deep, config=config)
    where = f"{v.ref} on {config.url}" if v.remote else f"local {v.name} against {v.ref}"
    what = "object" if v.remote else "file"
    if args.json:
        _emit(v.to_dict())
    elif v.ok:
        how = ("present, right size and hash" if v.deep else "present with the right size") if v.remote \
            else "present with the right size, mode and hash"
        _say(args, f"{where}: {plural(v.checked, what)} {how} ({human_bytes(v.bytes)} read)")
    else:
        for p in v.problems:
            print(f"{p.issue}: {p.detail}")
    if v.ok:
        return 0
    shown = ", ".join(f"{p.path} ({p.issue})" for p in v.problems[:3]) + (", ..." if len(v.problems) > 3 else "")
    fix = f"etc pull -f {v.ref} restores it" if not v.remote \
        else "the version cannot be pulled intact; restore those objects on the remote from a backup"
    print(f"etc: error: {where}: {plural(len(v.problems), 'problem')}: {shown}: {fix}", file=sys.stderr)
    return 1


def cmd_gc(args: argparse.Namespace, config: Config) -> int:
    report = api.gc(config=config, grace_hours=args.grace, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    _say(args, f"{plural(report.objects, 'object')} on {config.url}: {report.referenced} in use, {verb} "
               f"{plural(report.deleted, 'orphan')} ({human_bytes(report.deleted_bytes)}), "
               f"kept {report.kept_recent} recent ones")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(_named_command(argv)).parse_args(argv)
    logging.basicConfig(format="etc: %(message)s", stream=sys.stderr)
    logging.getLogger("etcetera").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        if getattr(args, "no_config", False):  # works before any configuration exists
            return args.func(args, None)
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
