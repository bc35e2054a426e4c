"""EtcIOManager: Dagster assets stored as versioned etcetera datasets.

An asset returns the path of a dataset folder (a `str`, a `pathlib.Path` or an
`etcetera.Dataset`); the IO manager publishes it, straight from where it is (nothing is copied into
the home), as a new version of the dataset named after the asset key and records name, version, partitions, file count and
bytes as output metadata.  A downstream asset gets, as an `etcetera.Dataset`, the version that
the upstream asset's latest materialization recorded (so it reads what Dagster's lineage says,
even if someone pushed a newer version outside Dagster), or the latest version when Dagster
recorded none.  Partitioned assets store one dataset per partition (see `naming`).

Each materialization reports a Dagster data version derived from the published content (see
`lineage.content_version`), so an unchanged dataset keeps its data version and downstream assets
are not marked stale; `dagster/uri` holds the dataset's etc:// URI.  With `load_as="remote"`
downstream assets get a `RemoteDataset` (read without pulling) instead of a pulled copy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

import etcetera
from etcetera.dataset import validate_dataset_dir
from dagster import AssetKey, AssetRecordsFilter, ConfigurableIOManager, DataVersion, InputContext, MetadataValue, OutputContext
from pydantic import Field

from .lineage import RemoteDataset, content_version, dataset_uri
from .naming import dataset_name
from .resources import EtcResource

__all__ = ["EtcIOManager"]

Loaded = Union[etcetera.Dataset, RemoteDataset, dict[str, etcetera.Dataset], dict[str, RemoteDataset]]


class EtcIOManager(ConfigurableIOManager):
    """Stores each asset as a dataset "<key parts joined by '.'>" ("<asset>.<partition>" when partitioned).

    Each materialization publishes a new version; identical content reuses the latest version,
    and nothing already on the remote is uploaded again.  Example::

        etc = EtcResource(url="s3://bucket", aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"), ...)
        Definitions(assets=[...], resources={"io_manager": EtcIOManager(etc=etc), "etc": etc})
    """

    etc: EtcResource
    load_as: Literal["dataset", "remote"] = Field(
        default="dataset",
        description="What a downstream asset gets: 'dataset' pulls the version into the home "
        "(an etcetera.Dataset); 'remote' pulls nothing and hands a RemoteDataset read through etc://, "
        "for workers with small disks or assets that read a few files.",
    )

    # ------------------------------------------------------------------ output

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        asset = _asset_label(context)
        config = self.etc.get_config()
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            keys = sorted(context.asset_partition_keys)
            if not isinstance(obj, Mapping) or set(obj) != set(keys):
                shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
                raise etcetera.DatasetError(
                    f"asset {asset} materializes {len(keys)} partitions in one run ({shown}): return a dict "
                    "{partition_key: dataset folder} with exactly these keys"
                )
            refs = {k: self._publish(context, asset, obj[k], dataset_name(context.asset_key.path, k), config)
                    for k in keys}
            context.add_output_metadata({"datasets": MetadataValue.json(refs), "remote": config.url})
            return
        partition = context.asset_partition_key if context.has_asset_partitions else None
        name = dataset_name(context.asset_key.path, partition)
        ref = self._publish(context, asset, obj, name, config)
        summary = etcetera.Dataset(name, _dataset_folder(asset, obj)).summary()
        version = etcetera.parse_ref(ref)[1] or 0
        with etcetera.Repository(config) as repo:
            data_version = content_version(repo, name, version)
        _report_data_version(context, DataVersion(data_version))
        context.add_output_metadata({
            "dagster/uri": MetadataValue.text(dataset_uri(str(config.url), name)),
            "content_digest": MetadataValue.text(data_version),
            "dataset": MetadataValue.text(name),
            "version": MetadataValue.int(version),
            "ref": MetadataValue.text(ref),
            "partitions": MetadataValue.json(summary["partitions"]),
            "files": MetadataValue.int(summary["files"]),
            "bytes": MetadataValue.int(summary["bytes"]),
            "remote": MetadataValue.text(config.url or ""),
        })

    def _publish(self, context: OutputContext, asset: str, obj: Any, name: str,
                 config: etcetera.Config) -> str:
        folder = _dataset_folder(asset, obj)
        try:
            validate_dataset_dir(folder)
        except etcetera.DatasetError as exc:
            raise etcetera.DatasetError(f"asset {asset} returned {folder}, which is not a dataset: {exc}") from None
        # The materialization is authoritative: publish even if another run pushed meanwhile.
        # Straight from the folder: a second copy of the data in the home is never needed.
        ref = etcetera.push(name, config=config, force=True, quiet=True, source=folder)
        context.log.info(f"asset {asset}: published {ref}")
        return ref

    # ------------------------------------------------------------------ input

    def load_input(self, context: InputContext) -> Loaded:
        _asset_label(context)
        config = self.etc.get_config()
        path = context.asset_key.path

        def load(partition: str | None) -> etcetera.Dataset | RemoteDataset:
            ref = _recorded_ref(context, dataset_name(path, partition), partition)
            if self.load_as == "remote":
                name, version = etcetera.parse_ref(ref)
                if version is None:
                    versions = etcetera.versions(name, config=config)
                    if not versions:
                        raise etcetera.NotFoundError(f"{name} is not on {config.url}: materialize {path[-1]} first")
                    version = versions[0]
                return RemoteDataset(name, version, config)
            return etcetera.pull(ref, config=config, quiet=True)

        if context.has_asset_partitions:
            keys = sorted(context.asset_partition_keys)
            if len(keys) == 1:
                return load(keys[0])
            return {k: load(k) for k in keys}
        return load(None)


def _report_data_version(context: OutputContext, data_version: DataVersion) -> None:
    """Make `data_version` the one Dagster records for this materialization (an asset that returns
    `Output(..., data_version=...)` itself still wins)."""
    try:
        step = context.step_context
    except Exception:  # a context built without a run (direct IO manager tests)
        return
    if not step.has_data_version(context.asset_key):
        step.set_data_version(context.asset_key, data_version)


def _recorded_ref(context: InputContext, name: str, partition: str | None) -> str:
    """`name@version` from the upstream's latest materialization (or observation, for a source
    asset), or `name` (the latest version) when this instance recorded none."""
    try:
        instance = context.instance
    except Exception:  # a context built without an instance (direct IO manager tests)
        return name
    return recorded_ref(instance, context.asset_key, name, partition)


def recorded_ref(instance: Any, asset_key: AssetKey, name: str, partition: str | None = None) -> str:
    """The "name@version" Dagster last recorded for `asset_key` (a materialization's `ref`, else an
    observation's), or `name` alone when it recorded none."""
    records_filter = AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(records_filter, limit=1).records
    event = records[0].asset_materialization if records else None
    if event is None:
        observed = instance.fetch_observations(records_filter, limit=1).records
        event = observed[0].asset_observation if observed else None
    if event is None:
        return name
    meta = event.metadata
    ref = meta["ref"].value if "ref" in meta else None
    if ref is None and "datasets" in meta and partition is not None:  # several partitions in one run
        ref = (meta["datasets"].value or {}).get(partition)
    if isinstance(ref, str) and _is_version_of(ref, name):
        return ref
    return name


def _is_version_of(ref: str, name: str) -> bool:
    """Whether `ref` is "name@N" for this `name` (a recorded ref that does not parse is ignored)."""
    try:
        found, version = etcetera.parse_ref(ref)
    except etcetera.InvalidNameError:
        return False
    return found == name and version is not None


def _asset_label(context: OutputContext | InputContext) -> str:
    if not context.has_asset_key:
        raise etcetera.DatasetError(
            "EtcIOManager stores assets only: this op output has no asset key (use @asset, or another IO manager)"
        )
    return context.asset_key.to_user_string()


def _dataset_folder(asset: str, obj: Any) -> Path:
    """The folder an asset returned, or a one-line error saying what it should return."""
    if isinstance(obj, etcetera.Dataset):
        return obj.path
    if isinstance(obj, (str, os.PathLike)):
        folder = Path(obj).expanduser()
        if not folder.is_dir():
            raise etcetera.DatasetError(
                f"asset {asset} returned {str(folder)!r}, which is not a directory: "
                "return the path of a dataset folder with data/<partition>/"
            )
        return folder
    raise etcetera.DatasetError(
        f"asset {asset} returned an object of type {type(obj).__name__}, not a dataset folder: "
        "return a str or pathlib.Path of a folder with data/<partition>/"
    )
