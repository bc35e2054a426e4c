"""Datasets published outside Dagster, and checks of what is on the remote.

    birds = etc_source_asset("birds")                # observe: the remote's latest version
    check = etc_dataset_check("birds", deep=True)    # verify that version on the remote
    new_birds = etc_version_sensor("birds", target=[bird_stats])  # run dependents per new version
    Definitions(assets=[birds, ...], asset_checks=[check], resources={"etc": ..., "io_manager": ...})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import etcetera
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetsDefinition,
    DataVersion,
    MetadataValue,
    ObserveResult,
    RunRequest,
    SensorResult,
    SkipReason,
    asset_check,
    observable_source_asset,
    sensor,
)

from .io_manager import recorded_ref
from .lineage import dataset_uri
from .naming import dataset_name

__all__ = ["etc_dataset_check", "etc_source_asset", "etc_version_sensor"]

AssetLike = str | Sequence[str] | AssetKey | AssetsDefinition


def _key(asset: AssetLike) -> AssetKey:
    if isinstance(asset, AssetsDefinition):
        return asset.key
    if isinstance(asset, str):
        return AssetKey([asset])
    return AssetKey.from_coercible(asset)


def etc_source_asset(name: str, *, key: str | Sequence[str] | AssetKey | None = None, resource_key: str = "etc",
                     description: str | None = None, group_name: str | None = None) -> Any:
    """An observable source asset for dataset `name`, published by the CLI, Airflow or another team.

    Observing it records the remote's latest version ("name@N") as its data version, so assets
    that depend on it turn stale when a new version is pushed. Its key defaults to [name]; with
    `EtcIOManager` as its IO manager, downstream assets load the observed version.
    """
    asset_key = _key(key) if key is not None else AssetKey([name])
    if dataset_name(asset_key.path) != name:
        raise etcetera.InvalidNameError(
            f"asset key {asset_key.to_user_string()} stores dataset {dataset_name(asset_key.path)!r}, not {name!r}: "
            "leave key unset or use the dataset's name"
        )

    @observable_source_asset(key=asset_key, required_resource_keys={resource_key}, group_name=group_name,
                             description=description or f"etcetera dataset {name}, published outside Dagster")
    def _observe(context) -> ObserveResult:
        config = getattr(context.resources, resource_key).get_config()
        versions = etcetera.versions(name, config=config)
        if not versions:
            raise etcetera.NotFoundError(f"{name} is not on {config.url}: push it first (etc push {name})")
        ref = f"{name}@{versions[0]}"
        return ObserveResult(data_version=DataVersion(ref), metadata={
            "ref": MetadataValue.text(ref),
            "version": MetadataValue.int(versions[0]),
            "dagster/uri": MetadataValue.text(dataset_uri(str(config.url), name)),
        })

    return _observe


def etc_dataset_check(asset: AssetLike, *, deep: bool = False, resource_key: str = "etc",
                      name: str = "etc_remote_intact", blocking: bool = False) -> Any:
    """An asset check that verifies the asset's dataset version on the remote.

    It checks the version Dagster last recorded for the asset (else the latest): every object
    is present with its size, and with `deep=True` downloaded and hashed. The result's metadata
    holds the ref, the objects and bytes checked and the first problems found.
    """
    asset_key = _key(asset)
    dataset = dataset_name(asset_key.path)
    what = "objects present, sizes and hashes" if deep else "objects present with their sizes"

    @asset_check(asset=asset_key, name=name, required_resource_keys={resource_key}, blocking=blocking,
                 description=f"etcetera verify --remote{' --deep' if deep else ''}: {what}")
    def _check(context) -> AssetCheckResult:  # noqa: ANN001 - Dagster inspects the annotation
        config = getattr(context.resources, resource_key).get_config()
        ref = recorded_ref(context.instance, asset_key, dataset)
        uri = MetadataValue.text(dataset_uri(str(config.url), dataset))
        try:
            result = etcetera.verify(ref, remote=True, deep=deep, config=config)
        except (etcetera.NotFoundError, etcetera.FormatError, etcetera.IntegrityError) as exc:
            # The version's own metadata is missing or damaged: a failed check, not a crashed one.
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, metadata={
                "ref": MetadataValue.text(ref), "error": MetadataValue.text(str(exc)), "dagster/uri": uri})
        return AssetCheckResult(
            passed=result.ok,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "ref": MetadataValue.text(result.ref),
                "deep": MetadataValue.bool(result.deep),
                "objects_checked": MetadataValue.int(result.checked),
                "bytes_read": MetadataValue.int(result.bytes),
                "problems": MetadataValue.int(len(result.problems)),
                "first_problems": MetadataValue.json([{"path": p.path, "issue": p.issue, "detail": p.detail}
                                                      for p in result.problems[:20]]),
                "dagster/uri": uri,
            },
        )

    return _check


def etc_version_sensor(name: str, target: Any, *, resource_key: str = "etc", minimum_interval_seconds: int = 60,
                       sensor_name: str | None = None) -> Any:
    """A sensor that requests a run of `target` (assets or a job) once per new version of `name`
    on the remote, e.g. one pushed by the CLI or Airflow. The cursor is the last version seen; the
    run key is "name@N", so a version never triggers twice."""

    @sensor(name=sensor_name or f"etc_{dataset_name([name]).replace('.', '_').replace('-', '_')}_versions",
            target=target, minimum_interval_seconds=minimum_interval_seconds,
            required_resource_keys={resource_key},
            description=f"Runs {name}'s dependents when a new version of {name} is pushed")
    def _sensor(context) -> SensorResult | SkipReason:  # noqa: ANN001 - Dagster inspects the annotation
        config = getattr(context.resources, resource_key).get_config()
        versions = etcetera.versions(name, config=config)
        seen = int(context.cursor) if context.cursor else 0
        if not versions or versions[0] <= seen:
            return SkipReason(f"no version of {name} newer than {seen or 'none'} on {config.url}")
        ref = f"{name}@{versions[0]}"
        return SensorResult(run_requests=[RunRequest(run_key=ref, tags={"etcetera/ref": ref})],
                            cursor=str(versions[0]))

    return _sensor
