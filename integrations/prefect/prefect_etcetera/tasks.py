"""Prefect tasks that push and pull etcetera datasets through an `EtcRepository` block.

Each task logs its progress through the run logger and leaves a markdown artifact that
describes the dataset (name, version, partitions, file counts, size).  A push materializes the
Prefect asset `etc://<scheme>/<bucket-or-path>/<name>`; a pull makes it an upstream asset of the
tasks that take its result (see `assets`).  Caching is off: a
push or pull is a side effect whose result depends on the remote, not on the inputs.
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

import etcetera as etc
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from .artifacts import human_size, publish_dataset_artifact
from .assets import dataset_uri, record_materialized, record_upstream
from .repository import EtcRepository


def resolve_config(repository: EtcRepository | None, use_local_config: bool = False) -> etc.Config:
    """The Config from the block; `~/.etc.toml` only when no block is given and that is asked for."""
    if repository is not None:
        if use_local_config:
            raise ValueError("pass either an EtcRepository block or use_local_config=True, not both")
        return repository.get_config()
    if not use_local_config:
        raise ValueError(
            "no EtcRepository block given: pass one (EtcRepository.load('name')), or pass "
            "use_local_config=True to read the worker's ~/.etc.toml (or $ETC_CONFIG)"
        )
    return etc.Config.load()


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:  # called through .fn() outside a flow
        return logging.getLogger("prefect_etcetera")


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _describe(summary: dict) -> str:
    parts = ", ".join(f"{p} ({_files(s['files'])})" for p, s in sorted(summary["partitions"].items()))
    return f"{_files(summary['files'])}, {human_size(summary['bytes'])}; partitions: {parts}"


@task(name="push_dataset", cache_policy=NO_CACHE)
def push_dataset(
    name: str,
    repository: EtcRepository | None = None,
    source: str | os.PathLike | None = None,
    force: bool = False,
    *,
    use_local_config: bool = False,
) -> str:
    """Publish dataset `name` as a new version on the block's remote; return 'name@version'.

    With `source` (a dataset folder: data/<partition>/...), that folder is published as `name`
    straight from where it is: nothing is copied into the block's home, the folder is only read.  `force` publishes even when the remote gained
    a newer version meanwhile.  An unchanged dataset is not pushed again: its current
    'name@version' is returned.
    """
    logger = _logger()
    config = resolve_config(repository, use_local_config)
    logger.info("Pushing %s to %s%s", name, config.url, f" from {os.fspath(source)}" if source is not None else "")
    ref = etc.push(name, config=config, force=force, quiet=True, source=source)
    summary = etc.info(ref, remote=True, config=config)
    logger.info("Pushed %s: %s", ref, _describe(summary))
    local = os.fspath(source) if source is not None else str(config.home_path / name)
    publish_dataset_artifact(summary, "push", config.url, local)
    version = etc.parse_ref(ref)[1]
    record_materialized(dataset_uri(str(config.url), name), name, {
        "ref": ref, "version": version, "files": summary["files"], "bytes": summary["bytes"],
        "partitions": sorted(summary["partitions"]),
    })
    return ref


@task(name="pull_dataset", cache_policy=NO_CACHE)
def pull_dataset(
    name: str,
    repository: EtcRepository | None = None,
    partitions: Sequence[str] | None = None,
    *,
    force: bool = False,
    use_local_config: bool = False,
) -> str:
    """Bring dataset `name` (or 'name@version') into the block's home; return its local path.

    `partitions` limits the download to those partitions (default: all).  A local copy with
    changes that were never pushed makes the pull fail, unless `force` discards them.
    """
    logger = _logger()
    config = resolve_config(repository, use_local_config)
    if isinstance(partitions, str):
        partitions = [partitions]
    wanted = f" (partitions {', '.join(partitions)})" if partitions else ""
    logger.info("Pulling %s%s from %s into %s", name, wanted, config.url, config.home_path)
    dataset = etc.pull(name, config=config, partitions=list(partitions) if partitions else None, force=force,
                       quiet=True)
    summary = dataset.summary()
    logger.info("Pulled %s@%s to %s: %s", dataset.name, dataset.version, dataset.path, _describe(summary))
    publish_dataset_artifact(summary, "pull", config.url, str(dataset.path))
    record_upstream(dataset_uri(str(config.url), dataset.name), dataset.name)
    return str(dataset.path)
