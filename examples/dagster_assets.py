"""Dagster assets stored as etcetera datasets.

`raw_squares` writes the dataset "raw_squares" into the etcetera home; the `EtcIOManager`
publishes it (a new version per materialization) and records name, version, partitions,
file count and bytes as output metadata.  `cubes` receives it as an `etcetera.Dataset`, derives
a second dataset from it, which is published as "cubes".  (An asset may also return any dataset
folder: the IO manager copies it into the home first.)

Configuration comes from the environment through `EnvVar`, so run configuration only ever
holds variable names: ETC_URL (the remote: file:///path, s3://bucket, gs://bucket or
az://container), ETC_HOME (the local home) and, when set, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN / AWS_ENDPOINT_URL / AWS_REGION, GOOGLE_APPLICATION_CREDENTIALS, and
AZURE_STORAGE_ACCOUNT / AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN / AZURE_STORAGE_CONNECTION_STRING /
AZURE_STORAGE_ACCOUNT_URL.

Run it once on a throw-away file:// remote:

    pip install -e . -e integrations/dagster && python examples/dagster_assets.py

or load it in the UI (set ETC_URL and ETC_HOME first):

    dagster dev -f examples/dagster_assets.py
"""

import json
import os
import tempfile
from pathlib import Path

from dagster import AssetExecutionContext, Definitions, EnvVar, MaterializeResult, asset, materialize

import etcetera
from dagster_etcetera import EtcIOManager, EtcResource, dataset_name, etc_dataset_check

# EtcResource field -> environment variable, used only when the variable is set.
OPTIONAL_ENV = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region_name": "AWS_REGION",
    "google_application_credentials": "GOOGLE_APPLICATION_CREDENTIALS",
    "azure_account_name": "AZURE_STORAGE_ACCOUNT",
    "azure_account_key": "AZURE_STORAGE_KEY",
    "azure_sas_token": "AZURE_STORAGE_SAS_TOKEN",
    "azure_connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "azure_account_url": "AZURE_STORAGE_ACCOUNT_URL",
}


def etc_resource() -> EtcResource:
    """An EtcResource whose every value is an EnvVar: secrets are read when a run starts."""
    optional = {field: EnvVar(var) for field, var in OPTIONAL_ENV.items() if os.environ.get(var)}
    return EtcResource(url=EnvVar("ETC_URL"), home=EnvVar("ETC_HOME"), **optional)


def write_dataset(context: AssetExecutionContext, etc: EtcResource, files: dict[str, str],
                  meta: dict) -> etcetera.Dataset:
    """The asset's dataset, written straight into the etcetera home (no scratch folder to clean up).

    `files` maps "<partition>/<path>" to text.  The IO manager publishes the returned dataset."""
    name = dataset_name(context.asset_key.path)
    partitions = sorted({rel.split("/", 1)[0] for rel in files})
    ds = etcetera.create(name, partitions, config=etc.get_config(), force=True)
    for rel, text in files.items():
        (ds.path / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (ds.path / "data" / rel).write_text(text)
    (ds.path / "meta.json").write_text(json.dumps(meta))
    return ds


@asset(description="Points on y = x^2, split into train and test.")
def raw_squares(context: AssetExecutionContext, etc: EtcResource) -> etcetera.Dataset:
    return write_dataset(
        context,
        etc,
        {
            "train/points.csv": "x,y\n" + "".join(f"{x},{x * x}\n" for x in range(8)),
            "test/points.csv": "x,y\n" + "".join(f"{x},{x * x}\n" for x in range(8, 10)),
        },
        {"description": "squares", "license": "CC0"},
    )


@asset(description="y = x^3 for the same points, derived from raw_squares.")
def cubes(context: AssetExecutionContext, etc: EtcResource, raw_squares: etcetera.Dataset) -> etcetera.Dataset:
    context.log.info(f"reading {raw_squares.ref}: partitions {raw_squares.keys()}")
    out = {}
    for partition, folder in raw_squares.items():
        rows = (folder / "points.csv").read_text().splitlines()[1:]
        xs = [int(row.split(",")[0]) for row in rows]
        out[f"{partition}/points.csv"] = "x,y\n" + "".join(f"{x},{x ** 3}\n" for x in xs)
    return write_dataset(context, etc, out, {"description": "cubes", "derived_from": raw_squares.ref})


@asset(description="How many points each partition of cubes has, recorded as metadata only.")
def cube_counts(cubes: etcetera.Dataset) -> MaterializeResult:
    counts = {p: len((folder / "points.csv").read_text().splitlines()) - 1 for p, folder in cubes.items()}
    return MaterializeResult(metadata={"source": cubes.ref, **counts})


# Verifies on the remote the version Dagster last recorded for raw_squares (objects present, sizes).
raw_squares_intact = etc_dataset_check(raw_squares)

etc = etc_resource()
defs = Definitions(
    assets=[raw_squares, cubes, cube_counts],
    asset_checks=[raw_squares_intact],
    resources={"io_manager": EtcIOManager(etc=etc), "etc": etc},
)


def main() -> None:
    """Materialize every asset once on a temporary file:// remote and print what was published.

    ETC_URL / ETC_HOME, when set, are used instead; the temporary folder is removed at the end."""
    with tempfile.TemporaryDirectory(prefix="etc-dagster-demo-") as tmp:
        defaults = {"ETC_URL": f"file://{Path(tmp) / 'remote'}", "ETC_HOME": str(Path(tmp) / "home")}
        added = [var for var in defaults if var not in os.environ]
        os.environ.update({var: defaults[var] for var in added})
        try:
            result = materialize(
                [raw_squares, cubes, cube_counts, raw_squares_intact],
                resources={"io_manager": EtcIOManager(etc=etc), "etc": etc},
            )
        finally:
            for var in added:
                del os.environ[var]
    for node in ("raw_squares", "cubes"):
        (mat,) = result.asset_materializations_for_node(node)
        md = {k: v.value for k, v in mat.metadata.items()}
        print(f"{md['ref']}: {md['files']} files, {md['bytes']} bytes, partitions {sorted(md['partitions'])}")
    (intact,) = result.get_asset_check_evaluations()
    print(f"raw_squares on the remote: {'intact' if intact.passed else 'DAMAGED'}")
    (counts,) = result.asset_materializations_for_node("cube_counts")
    print("cube_counts:", {k: v.value for k, v in counts.metadata.items()})


if __name__ == "__main__":
    main()
