"""Prefect assets for datasets: a push materializes `etc://<scheme>/<bucket-or-path>/<name>`, a
pull records it as an upstream asset of the tasks that use the pulled data.

The key is known only at run time (it depends on the block), so the task adds it to its own
asset context, which Prefect turns into the same `prefect.asset.*` events a `@materialize` task
emits; where the installed Prefect has no asset API, the push emits the materialization event itself.
"""

from __future__ import annotations

from typing import Any

import etcetera

__all__ = ["dataset_uri", "record_materialized", "record_upstream"]


dataset_uri = etcetera.dataset_uri  # etc://<scheme>/<bucket-or-path>/<name>, one rule for every plugin


def _asset(uri: str, name: str) -> Any:
    from prefect.assets import Asset
    from prefect.assets.core import AssetProperties

    return Asset(key=uri, properties=AssetProperties(name=name, description=f"etcetera dataset {name}"))


def record_materialized(uri: str, name: str, metadata: dict[str, Any]) -> None:
    """This task run materialized the asset `uri` (with `metadata`); no-op outside a task run."""
    try:
        from prefect.context import AssetContext
    except ImportError:  # a Prefect 3 without assets: the event alone
        from prefect.events import emit_event

        emit_event(event="prefect.asset.materialization.succeeded",
                   resource={"prefect.resource.id": uri, "prefect.resource.name": name}, payload=metadata)
        return
    ctx = AssetContext.get()
    if ctx is None or ctx.task_run_id is None:
        return
    ctx.downstream_assets.add(_asset(uri, name))
    ctx.materialization_metadata[uri] = {**ctx.materialization_metadata.get(uri, {}), **metadata}
    ctx.update_tracked_assets()


def record_upstream(uri: str, name: str) -> None:
    """This task run read the asset `uri`: tasks that consume its result have it as an upstream."""
    try:
        from prefect.context import AssetContext
    except ImportError:  # pragma: no cover - no asset API, nothing to link
        return
    ctx = AssetContext.get()
    if ctx is None or ctx.task_run_id is None:
        return
    ctx.direct_asset_dependencies.add(_asset(uri, name))
    ctx.update_tracked_assets()
