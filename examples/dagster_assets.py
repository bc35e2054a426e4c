"""Dagster assets stored as etcetera datasets.

`raw_squares` writes a dataset folder; the `EtcIOManager` publishes it as the dataset
"raw_squares" (a new version per materialization) and records name, version, partitions,
file count and bytes as output metadata.  `cubes` receives it as an `etcetera.Dataset`, derives
a second dataset from it and returns that folder, which is published as "cubes".

Configuration comes from the environment through `EnvVar`, so run configuration only ever
holds variable names: ETC_URL (the remote: file:///path, s3://bucket or gs://bucket),
ETC_HOME (the local home) and, when set, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN / AWS_ENDPOINT_URL / AWS_REGION and GOOGLE_APPLICATION_CREDENTIALS.

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
from dagster_etcetera import EtcIOManager, EtcResource

# EtcResource field -> environment variable, used only when the variable is set.
OPTIONAL_ENV = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region_name": "AWS_REGION",
    "google_application_credentials": "GOOGLE_APPLICATION_CREDENTIALS",
}


def etc_resource() -> EtcResource:
    """An EtcResource whose every value is an EnvVar: secrets are read when a run starts."""
    optional = {field: EnvVar(var) for field, var in OPTIONAL_ENV.items() if os.environ.get(var)}
    return EtcResource(url=EnvVar("ETC_URL"), home=EnvVar("ETC_HOME"), **optional)


def write_dataset(files: dict[str, str], meta: dict) -> Path:
    """A new dataset folder (data/<partition>/... and meta.json) in a temporary directory.

    The IO manager copies it into the etcetera home, so it may live anywhere."""
    root = Path(tempfile.mkdtemp(prefix="etc-asset-"))
    for rel, text in files.items():
        (root / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / rel).write_text(text)
    (root / "meta.json").write_text(json.dumps(meta))
    return root


@asset(description="Points on y = x^2, split into train and test.")
def raw_squares() -> Path:
    return write_dataset(
        {
            "train/points.csv": "x,y\n" + "".join(f"{x},{x * x}\n" for x in range(8)),
            "test/points.csv": "x,y\n" + "".join(f"{x},{x * x}\n" for x in range(8, 10)),
        },
        {"description": "squares", "license": "CC0"},
    )


@asset(description="y = x^3 for the same points, derived from raw_squares.")
def cubes(context: AssetExecutionContext, raw_squares: etcetera.Dataset) -> Path:
    context.log.info(f"reading {raw_squares.ref}: partitions {raw_squares.keys()}")
    out = {}
    for partition, folder in raw_squares.items():
        rows = (folder / "points.csv").read_text().splitlines()[1:]
        xs = [int(row.split(",")[0]) for row in rows]
        out[f"{partition}/points.csv"] = "x,y\n" + "".join(f"{x},{x ** 3}\n" for x in xs)
    return write_dataset(out, {"description": "cubes", "derived_from": raw_squares.ref})


@asset(description="How many points each partition of cubes has, recorded as metadata only.")
def cube_counts(cubes: etcetera.Dataset) -> MaterializeResult:
    counts = {p: len((folder / "points.csv").read_text().splitlines()) - 1 for p, folder in cubes.items()}
    return MaterializeResult(metadata={"source": cubes.ref, **counts})


etc = etc_resource()
defs = Definitions(
    assets=[raw_squares, cubes, cube_counts],
    resources={"io_manager": EtcIOManager(etc=etc), "etc": etc},
)


def main() -> None:
    """Materialize every asset once on a temporary file:// remote and print what was published."""
    work = Path(tempfile.mkdtemp(prefix="etc-dagster-demo-"))
    os.environ.setdefault("ETC_URL", f"file://{work / 'remote'}")
    os.environ.setdefault("ETC_HOME", str(work / "home"))
    result = materialize(
        [raw_squares, cubes, cube_counts],
        resources={"io_manager": EtcIOManager(etc=etc), "etc": etc},
    )
    for node in ("raw_squares", "cubes"):
        (mat,) = result.asset_materializations_for_node(node)
        md = {k: v.value for k, v in mat.metadata.items()}
        print(f"{md['ref']}: {md['files']} files, {md['bytes']} bytes, partitions {sorted(md['partitions'])}")
    (counts,) = result.asset_materializations_for_node("cube_counts")
    print("cube_counts:", {k: v.value for k, v in counts.metadata.items()})


if __name__ == "__main__":
    main()
