"""EtcPushOperator publishes a dataset; EtcPullOperator fetches one onto the worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import etcetera as etc
from airflow.sdk import Asset, AssetAlias, BaseOperator, Context

from etcetera_airflow.connection import asset_uri
from etcetera_airflow.hooks.etc import EtcHook


def etc_asset_alias(name: str, etc_conn_id: str = EtcHook.default_conn_name) -> AssetAlias:
    """The AssetAlias an EtcPushOperator declares; at run time it resolves to `etc_asset`."""
    return AssetAlias(name=f"etc:{etc_conn_id}/{name}")


def etc_asset(name: str, url: str) -> Asset:
    """The Asset of dataset `name` on remote `url` (schedule consumer DAGs on it)."""
    return Asset(uri=asset_uri(url, name), group="etcetera")


class EtcPushOperator(BaseOperator):
    """Publish the dataset `name` as a new version; the XCom is "name@version".

    With `source` (a templated folder path) the folder is registered as `name` first.
    The remote is known only from the connection at run time, so the operator declares an
    AssetAlias outlet and attaches the Asset etc://<backend>/<bucket-or-path>/<name> to it
    when the push succeeds: DAGs scheduled on that Asset (see `etc_asset`) are triggered.
    """

    template_fields: Sequence[str] = ("source",)

    def __init__(
        self,
        *,
        name: str,
        source: str | None = None,
        etc_conn_id: str = EtcHook.default_conn_name,
        force: bool = False,
        **kwargs: Any,
    ) -> None:
        outlets = list(kwargs.pop("outlets", None) or [])
        alias = etc_asset_alias(name, etc_conn_id)
        super().__init__(outlets=[*outlets, alias], **kwargs)
        self.name = name
        self.source = source
        self.etc_conn_id = etc_conn_id
        self.force = force
        self.alias = alias

    def execute(self, context: Context) -> str:
        config = EtcHook(etc_conn_id=self.etc_conn_id).get_config()
        if self.source:
            etc.register(str(self.source), self.name, config=config, force=True)
            self.log.info("registered %s as %s", self.source, self.name)
        ref = etc.push(self.name, config=config, force=self.force, quiet=True)
        self.log.info("pushed %s to %s", ref, config.url)
        _, version = etc.parse_ref(ref)
        context["outlet_events"][self.alias].add(
            etc_asset(self.name, str(config.url)), extra={"ref": ref, "version": version}
        )
        return ref


class EtcPullOperator(BaseOperator):
    """Fetch dataset `name` (or `name@version`) into the connection's home; the XCom is its local path.

    `name` is templated, so it can be the "name@version" an EtcPushOperator returned.
    `home` (templated) pulls into that folder instead of the connection's home, e.g. a
    scratch folder per run.
    """

    template_fields: Sequence[str] = ("name", "partitions", "home")

    def __init__(
        self,
        *,
        name: str,
        partitions: Sequence[str] | None = None,
        etc_conn_id: str = EtcHook.default_conn_name,
        force: bool = False,
        home: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.partitions = partitions
        self.etc_conn_id = etc_conn_id
        self.force = force
        self.home = home

    def execute(self, context: Context) -> str:
        config = EtcHook(etc_conn_id=self.etc_conn_id).get_config()
        if self.home:
            config = config.replace(home=str(self.home))
        partitions = list(self.partitions) if self.partitions else None
        ds = etc.pull(str(self.name), config=config, force=self.force, partitions=partitions, quiet=True)
        self.log.info("pulled %s@%s into %s", ds.name, ds.version, ds.path)
        return str(ds.path)
