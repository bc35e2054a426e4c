"""examples/dagster_assets.py: its Definitions load, and materializing them publishes both datasets."""

import importlib.util
import tempfile
from pathlib import Path

import pytest

import etcetera

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dagster_assets.py"
AZURE_ENV = ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING",
             "AZURE_STORAGE_ACCOUNT_URL")


def load_example():
    spec = importlib.util.spec_from_file_location("dagster_assets_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_definitions_and_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                "AWS_REGION", "GOOGLE_APPLICATION_CREDENTIALS", *AZURE_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ETC_URL", f"file://{tmp_path / 'remote'}")
    monkeypatch.setenv("ETC_HOME", str(tmp_path / "home"))
    example = load_example()

    from dagster import Definitions

    Definitions.validate_loadable(example.defs)
    keys = {key.to_user_string() for key in example.defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"raw_squares", "cubes", "cube_counts"}
    assert example.etc.url.env_var_name == "ETC_URL"  # configured with EnvVar, not a value

    example.main()
    out = capsys.readouterr().out
    assert "raw_squares@1: 3 files" in out and "cubes@1: 3 files" in out
    assert "cube_counts: {'source': 'cubes@1', 'test': 2, 'train': 8}" in out
    assert "raw_squares on the remote: intact" in out

    reader = etcetera.Config(f"file://{tmp_path / 'remote'}", home=str(tmp_path / "reader"))
    assert etcetera.ls(remote=True, config=reader) == ["cubes", "raw_squares"]
    cubes = etcetera.pull("cubes", config=reader)
    assert (cubes["test"] / "points.csv").read_text() == "x,y\n8,512\n9,729\n"
    assert cubes.meta == {"description": "cubes", "derived_from": "raw_squares@1"}


def test_example_main_leaves_nothing_in_the_temp_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    # Run as `python examples/dagster_assets.py` does: no ETC_URL/ETC_HOME, a throw-away remote.
    for var in ("ETC_URL", "ETC_HOME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_ENDPOINT_URL", "AWS_REGION", "GOOGLE_APPLICATION_CREDENTIALS", *AZURE_ENV):
        monkeypatch.delenv(var, raising=False)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    load_example().main()
    assert "cubes@1: 3 files" in capsys.readouterr().out
    assert sorted(p.name for p in system_tmp.iterdir()) == []
