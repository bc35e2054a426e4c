"""The markdown that describes a dataset, built from a real dataset's summary."""

from __future__ import annotations

from pathlib import Path

import etcetera as etc
from prefect_etcetera.artifacts import artifact_key, describe_dataset, human_size


def test_artifact_key_is_a_valid_prefect_key() -> None:
    assert artifact_key("mnist") == "etcetera-mnist"
    assert artifact_key("Cats_vs.Dogs-2") == "etcetera-cats-vs-dogs-2"
    assert artifact_key("___") == "etcetera-dataset"


def test_human_size() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(5 * 1024**3) == "5.0 GiB"


def test_describe_a_real_dataset(tmp_path: Path) -> None:
    config = etc.Config(f"file://{tmp_path / 'remote'}", home=str(tmp_path / "home"))
    ds = etc.create("birds", ("train", "test", "valid"), config=config)
    (ds["train"] / "a.bin").write_bytes(b"x" * 2048)
    (ds["train"] / "b.bin").write_bytes(b"y" * 10)
    (ds["test"] / "c.bin").write_bytes(b"z" * 3)
    ref = etc.push("birds", config=config)
    text = describe_dataset(etc.info(ref, remote=True, config=config), "push", config.url, str(ds.path))
    assert text.startswith("# birds@1\n")
    assert "| Action | push |" in text
    assert f"| Remote | `{config.url}` |" in text
    assert f"| Local path | `{ds.path}` |" in text
    assert "| Files | 3 |" in text
    assert "| Size | 2.0 KiB (2061 bytes) |" in text
    assert "| train | 2 | 2.0 KiB |" in text
    assert "| test | 1 | 3 B |" in text
    assert "| valid | 0 | 0 B |" in text
