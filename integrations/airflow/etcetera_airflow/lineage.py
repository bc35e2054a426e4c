"""OpenLineage and Asset-URI support for etcetera datasets.

A dataset `name` on remote `url` is the Airflow Asset etc://<scheme>/<bucket-or-path>/<name>
(`connection.asset_uri`) and the OpenLineage dataset with namespace etc://<scheme>/<bucket-or-path>
and name <name>, its version in the `version` facet.  `sanitize_uri` is the normalizer Airflow
applies to every `Asset("etc://...")` (declared as `asset-uris` in get_provider_info), so a URI
written by hand is checked and matches the one a push's event carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import etcetera as etc

from etcetera_airflow.connection import asset_uri

if TYPE_CHECKING:
    from airflow.sdk import Asset

BACKENDS = ("file", "s3", "gs", "az")


def namespace(url: str) -> str:
    """The OpenLineage namespace of remote `url`: etc://<scheme>/<bucket-or-path>."""
    return asset_uri(url, "x").rpartition("/")[0]


def openlineage_dataset(url: str, name: str, version: int | None) -> Any:
    """The OpenLineage dataset of `name` (at `version`) on remote `url`."""
    from openlineage.client.generated.base import Dataset
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet

    facets = {"version": DatasetVersionDatasetFacet(datasetVersion=str(version))} if version else {}
    return Dataset(namespace=namespace(url), name=name, facets=facets)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Normalize and check etc://<scheme>/<bucket-or-path>/<name>: a known backend (lower-cased),
    a location, a valid dataset name last, no trailing slash, query or fragment."""
    backend = uri.netloc.lower()
    if backend not in BACKENDS:
        raise ValueError(f"etc:// asset URI must start with etc://{'|'.join(BACKENDS)}/, not etc://{uri.netloc}/")
    parts = [p for p in uri.path.split("/") if p]
    if len(parts) < 2:
        raise ValueError("etc:// asset URI must be etc://<scheme>/<bucket-or-path>/<dataset>")
    if uri.query or uri.fragment:
        raise ValueError("etc:// asset URI takes no query or fragment: the version goes in the event, not the URI")
    try:
        etc.check_name(parts[-1])
    except etc.InvalidNameError as exc:
        raise ValueError(str(exc)) from None
    return uri._replace(netloc=backend, path="/" + "/".join(parts))


def convert_asset_to_openlineage(asset: "Asset", lineage_context: Any = None) -> Any:
    """The OpenLineage dataset an `etc://` Asset stands for."""
    from openlineage.client.generated.base import Dataset

    parsed = urlsplit(asset.uri)
    location, _, name = parsed.path.strip("/").rpartition("/")
    return Dataset(namespace=f"etc://{parsed.netloc}/{location}", name=name)


def create_asset(*, url: str, name: str, extra: dict[str, Any] | None = None) -> "Asset":
    """The Asset of dataset `name` on remote `url` (what `etc_asset` returns)."""
    from airflow.sdk import Asset

    return Asset(uri=asset_uri(url, name), group="etcetera", extra=extra)
