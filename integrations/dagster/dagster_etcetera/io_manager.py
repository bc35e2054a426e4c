"""EtcIOManager: Dagster assets stored as versioned etcetera datasets.

An asset returns the path of a dataset folder (a `str`, a `pathlib.Path` or an
`etcetera.Dataset`); the IO manager copies it into the home, publishes it as a new version of
the dataset named after the asset key and records name, version, partitions, file count and
bytes as output metadata.  A downstream asset gets the latest published version as an
`etcetera.Dataset`.  Partitioned assets store one dataset per partition (see `naming`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import etcetera
from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from .naming import dataset_name
from .resources import EtcResource

__all__ = ["EtcIOManager"]

Loaded = Union[etcetera.Dataset, dict[str, etcetera.Dataset]]


class EtcIOManager(ConfigurableIOManager):
    """Stores each asset as a dataset "<key parts joined by '.'>" ("<asset>.<partition>" when partitioned).

    Each materialization publishes a new version; identical content reuses the latest version,
    and nothing already on the remote is uploaded again.  Example::

        etc = EtcResource(url="s3://bucket", aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"), ...)
        Definitions(assets=[...], resources={"io_manager": EtcIOManager(etc=etc), "etc": etc})
    """

    etc: EtcResource

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
        summary = etcetera.dataset(name, config=config).summary()
        context.add_output_metadata({
            "dataset": MetadataValue.text(name),
            "version": MetadataValue.int(int(ref.rsplit("@", 1)[1])),
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
            etcetera.register(folder, name, config=config, force=True)
        except etcetera.DatasetError as exc:
            raise etcetera.DatasetError(f"asset {asset} returned {folder}, which is not a dataset: {exc}") from None
        # The materialization is authoritative: publish even if another run pushed meanwhile.
        ref = etcetera.push(name, config=config, force=True, quiet=True)
        context.log.info(f"asset {asset}: published {ref}")
        return ref

    # ------------------------------------------------------------------ input

    def load_input(self, context: InputContext) -> Loaded:
        _asset_label(context)
        config = self.etc.get_config()
        path = context.asset_key.path
        if context.has_asset_partitions:
            keys = sorted(context.asset_partition_keys)
            if len(keys) == 1:
                return etcetera.pull(dataset_name(path, keys[0]), config=config, quiet=True)
            return {k: etcetera.pull(dataset_name(path, k), config=config, quiet=True) for k in keys}
        return etcetera.pull(dataset_name(path), config=config, quiet=True)


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
