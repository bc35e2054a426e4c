"""A Prefect 3 flow that publishes a dataset with etcetera and reads it back elsewhere.

The flow loads an `EtcRepository` block by name, writes a small dataset folder, pushes it
with `push_dataset`, pulls it into a fresh home (as another worker would) with
`pull_dataset`, and checks that every file came back byte for byte.

Run it on a throw-away file:// remote (Prefect starts a temporary local server):

    pip install -e . -e integrations/prefect && python examples/prefect_flow.py

Against S3, save a block once and pass its name:

    EtcRepository(url="s3://my-bucket", aws_access_key_id="...",
                  aws_secret_access_key="...").save("datasets")
    etcetera_roundtrip("datasets", "/tmp/work")
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from prefect import flow, get_run_logger, task

from prefect_etcetera import EtcRepository, pull_dataset, push_dataset

SAMPLE_FILES = {
    "data/train/points.csv": "x,y\n0,0\n1,1\n2,4\n3,9\n",
    "data/train/labels.txt": "square\n" * 4,
    "data/test/points.csv": "x,y\n4,16\n5,25\n",
    "meta.json": json.dumps({"description": "squares", "license": "CC0"}),
    "README.md": "# squares\nPoints on y = x^2.\n",
}


def files_of(root: Path) -> dict[str, bytes]:
    """Every file below `root` as {relative path: content}."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@task
def build_dataset(folder: str) -> str:
    """Write the sample dataset folder (data/<partition>/...) and return its path."""
    root = Path(folder)
    for rel, text in SAMPLE_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return str(root)


@task
def check_same(source: str, pulled: str) -> int:
    """Fail unless the pulled copy holds exactly the source's files; return the file count."""
    want, got = files_of(Path(source)), files_of(Path(pulled))
    if want != got:
        missing = sorted(set(want) - set(got))
        differ = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        extra = sorted(set(got) - set(want))
        raise ValueError(f"pulled copy differs: missing {missing}, different {differ}, extra {extra}")
    get_run_logger().info("All %d files of %s came back intact", len(got), pulled)
    return len(got)


@flow(name="etcetera-roundtrip")
def etcetera_roundtrip(block_name: str, workdir: str, dataset: str = "squares") -> dict:
    """Push a fresh dataset through the repository `block_name` and pull it into a new home."""
    repository = EtcRepository.load(block_name)
    source = build_dataset(str(Path(workdir) / "source" / dataset))
    ref = push_dataset(dataset, repository, source=source)
    # Another machine: same remote and credentials, an empty local home.
    elsewhere = repository.model_copy(update={"home": str(Path(workdir) / "fresh-home")})
    path = pull_dataset(ref, elsewhere)
    files = check_same(source, path)
    return {"ref": ref, "path": path, "files": files}


if __name__ == "__main__":
    import os

    # The temporary server Prefect starts for this demo has no reason to phone home.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with tempfile.TemporaryDirectory() as tmp:
        EtcRepository(url=f"file://{tmp}/remote", home=f"{tmp}/home").save("etcetera-demo", overwrite=True)
        print(etcetera_roundtrip("etcetera-demo", tmp))
