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


def _version(value: Any) -> int | None:
    """A templated version: "" / "None" (an unset template) mean none."""
    return None if value in (None, "", "None") else int(value)


class EtcPushOperator(BaseOperator):
    """Publish the dataset `name` as a new version; the XCom is "name@version".

    With `source` (a folder path) that folder is published as `name` straight from where it
    is: nothing is copied into the connection's home.
    `name`, `source` and `etc_conn_id` are templated (Jinja or an XComArg).
    The remote is known only from the connection at run time, so the operator declares an
    AssetAlias outlet and attaches the Asset etc://<backend>/<bucket-or-path>/<name> to it
    when the push succeeds: DAGs scheduled on that Asset (see `etc_asset`) are triggered.
    """

    template_fields: Sequence[str] = ("name", "source", "etc_conn_id")

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
        self._published: tuple[str, str, int] | None = None  # (url, name, version), for lineage

    def execute(self, context: Context) -> str:
        hook = EtcHook(etc_conn_id=self.etc_conn_id)
        name = str(self.name)
        report = hook.push(name, source=str(self.source) if self.source else None, force=self.force)
        url = str(hook.get_config().url)
        self._published = (url, name, report.version)
        context["outlet_events"][self.alias].add(
            etc_asset(name, url), extra={"ref": report.ref, "version": report.version}
        )
        return report.ref

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the version this push published is the task's output."""
        return _lineage(outputs=[self._published] if self._published else [])


class EtcPullOperator(BaseOperator):
    """Fetch dataset `name` (or `name@version`) onto this worker.

    The XCom is the local path of the pulled copy, or with `return_ref=True` the "name@version"
    that was pulled. The path is only valid on the worker that ran this task: use it when the
    next tasks run there too (one worker, a shared volume); return the ref when they may run
    elsewhere, so each one pulls or streams (`EtcHook.open`) that exact version itself.

    `name` may be "name@version" itself, e.g. an EtcPushOperator's output; `version` picks one
    version explicitly. `home` pulls into that folder instead of the connection's home, e.g. a
    scratch folder per run. `name`, `version`, `partitions`, `etc_conn_id` and `home` are templated.
    """

    template_fields: Sequence[str] = ("name", "version", "partitions", "etc_conn_id", "home")

    def __init__(
        self,
        *,
        name: str,
        version: int | str | None = None,
        partitions: Sequence[str] | None = None,
        etc_conn_id: str = EtcHook.default_conn_name,
        force: bool = False,
        home: str | None = None,
        return_ref: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.version = version
        self.partitions = partitions
        self.etc_conn_id = etc_conn_id
        self.force = force
        self.home = home
        self.return_ref = return_ref
        self._pulled: tuple[str, str, int] | None = None  # (url, name, version), for lineage

    def ref(self) -> str:
        """The rendered "name[@version]" to pull."""
        name, at = etc.parse_ref(str(self.name))
        version = _version(self.version)
        version = at if version is None else version
        return name if version is None else f"{name}@{version}"

    def execute(self, context: Context) -> str:
        hook = EtcHook(etc_conn_id=self.etc_conn_id)
        partitions = [self.partitions] if isinstance(self.partitions, str) else self.partitions
        ds = hook.pull(self.ref(), partitions=partitions, force=self.force,
                       home=str(self.home) if self.home else None)
        self._pulled = (str(hook.get_config().url), ds.name, int(ds.version))
        return ds.ref if self.return_ref else str(ds.path)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the version this pull fetched is the task's input."""
        return _lineage(inputs=[self._pulled] if self._pulled else [])


def _lineage(inputs: Sequence[tuple[str, str, int]] = (), outputs: Sequence[tuple[str, str, int]] = ()) -> Any:
    """An OperatorLineage of (url, name, version) datasets (needs the openlineage provider)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    from etcetera_airflow.lineage import openlineage_dataset

    return OperatorLineage(inputs=[openlineage_dataset(*d) for d in inputs],
                           outputs=[openlineage_dataset(*d) for d in outputs])
