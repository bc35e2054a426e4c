"""Names, Config, dataset rules and the manifest parser: the checks that guard every input."""

from __future__ import annotations

import gzip
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import etcetera as etc
from etcetera.manifest import FORMAT, FileEntry, Manifest, Part, chunk_list_id
from etcetera.names import NAME_RE, check_name, parse_ref

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


@given(st.text(max_size=200))
@settings(max_examples=300)
def test_name_validation_accepts_exactly_the_rule(name):
    ok = bool(NAME_RE.fullmatch(name)) and len(name) <= 128
    if ok:
        assert check_name(name) == name
        assert "/" not in name and ".." != name and not name.startswith(".")
    else:
        with pytest.raises(etc.InvalidNameError):
            check_name(name)


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/abs", "-x", ".hidden", "a\x00b", "a\nb", "x" * 129, "é"])
def test_path_tricks_are_refused(bad):
    with pytest.raises(etc.InvalidNameError):
        check_name(bad)


def test_refs():
    assert parse_ref("ds") == ("ds", None)
    assert parse_ref("ds@12") == ("ds", 12)
    for bad in ["ds@", "ds@0", "ds@-1", "ds@1.5", "@3", "ds@3@4"]:
        with pytest.raises(etc.InvalidNameError):
            parse_ref(bad)


@pytest.mark.parametrize("digits", ["\u0661", "\u00b2\u00b3", "\uff11", "\u0967", "1\u0661"])
def test_only_ascii_digits_are_versions(digits):
    """'ds@١' is no version 1: str.isdigit() and int() accept these, the version rule does not."""
    assert digits.isdigit()
    with pytest.raises(etc.InvalidNameError, match="at most 9 digits 0-9"):
        parse_ref(f"ds@{digits}")


def test_config_never_shows_secrets():
    cfg = etc.Config("s3://b", aws_access_key_id="AKIDPLANTED", aws_secret_access_key=SECRET,
                     aws_session_token="tok-" + SECRET, google_application_credentials={"private_key": SECRET},
                     azure_account_key="k" + SECRET, azure_sas_token=f"sv=2024&sig={SECRET}",
                     azure_connection_string=f"AccountName=a;AccountKey={SECRET}")
    for text in (repr(cfg), str(cfg), f"{cfg}", repr([cfg])):
        assert SECRET not in text and "AKIDPLANTED" not in text
    assert "s3://b" in repr(cfg)


def test_config_keys_are_one_list_with_types_help_and_secrecy():
    from etcetera.config import SECRET_KEYS, config_keys

    keys = {k.name: k for k in config_keys()}
    assert list(keys) == list(__import__("inspect").signature(etc.Config).parameters)
    assert all(k.help and k.label for k in keys.values())
    assert SECRET_KEYS == {"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                           "google_application_credentials", "azure_account_key", "azure_sas_token",
                           "azure_connection_string"}
    assert not {"azure_account_name", "azure_account_url"} & SECRET_KEYS
    assert etc.Config("file:///x", give_up_seconds=2.5).give_up == 2.5
    assert etc.Config("file:///x").give_up == 10.0
    for bad in (0, -1, 4000, True, "10"):
        with pytest.raises(etc.ConfigError, match="give_up_seconds"):
            etc.Config("file:///x", give_up_seconds=bad)


def test_config_load_rules(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('url = "s3://bucket/prefix"\npublic = true\nworkers = 4\nendpoint_url = "http://127.0.0.1:9"\n')
    cfg = etc.Config.load(path)
    assert (cfg.url, cfg.public, cfg.worker_count) == ("s3://bucket/prefix", True, 4)
    path.write_text("workers = 'many'\n")
    with pytest.raises(etc.ConfigError, match=r"c\.toml: config key 'workers' must be int"):
        etc.Config.load(path)
    path.write_text('aws_secret_key = "x"\n')
    with pytest.raises(etc.ConfigError, match="unknown key 'aws_secret_key'"):
        etc.Config.load(path)
    path.write_text('url = "not a url"\n')
    with pytest.raises(etc.ConfigError, match="url"):
        etc.Config.load(path)
    assert etc.Config.load().url is None  # no ~/.etc.toml: defaults, no error


def test_dataset_api(tmp_path, make_dataset):
    cfg = etc.Config(home=str(tmp_path / "h"))
    etc.register(make_dataset("ds", meta=[1, 2]), config=cfg)
    ds = etc.dataset("ds", config=cfg)
    assert ds.name == "ds" and ds.version is None and ds.meta == [1, 2]
    assert ds["train"] == ds.path / "data" / "train"
    with pytest.raises(KeyError, match="no partition 'valid'"):
        ds["valid"]
    assert ds.summary()["partitions"] == {"test": {"files": 1, "bytes": 5}, "train": {"files": 1, "bytes": 6}}
    with pytest.raises(etc.DatasetError, match="auto_pull=True"):
        etc.dataset("other", config=cfg)
    src = make_dataset("ds")
    before = sorted(p.name for p in src.rglob("*"))
    etc.register(src, "copy", config=cfg)
    assert sorted(p.name for p in src.rglob("*")) == before  # register never modifies DIR
    assert etc.ls(config=cfg) == ["copy", "ds"]
    etc.purge("copy", config=cfg)
    assert etc.ls(config=cfg) == ["ds"]


def test_public_names_are_loaded_on_first_use():
    """The operations and classes `import etcetera` loads lazily are the same objects as before, and
    an operation named like a submodule (push, pull, tags, dataset) stays the function once that
    submodule is imported."""
    import importlib

    from etcetera import api, inspection, repository

    for name in etc.__all__:
        assert getattr(etc, name) is not None, name
    assert etc.Repository is repository.Repository and etc.PullReport is api.PullReport
    assert etc.diff is inspection.diff and etc.Status is inspection.Status
    for name in ("push", "pull", "tags", "dataset"):
        module = importlib.import_module(f"etcetera.{name}")
        assert getattr(etc, name) is getattr(api, name) and callable(getattr(etc, name)), name
        assert module.__name__ == f"etcetera.{name}"
    assert {"Repository", "diff", "push"} <= set(dir(etc))
    with pytest.raises(AttributeError):
        etc.no_such_name


def test_auto_pull(tmp_path, make_dataset, file_remote):
    a = file_remote.config("a")
    etc.register(make_dataset("ap"), config=a)
    etc.push("ap", config=a)
    ds = etc.dataset("ap", auto_pull=True, config=file_remote.config("b"))
    assert ds.version == 1 and (ds["train"] / "a.txt").read_text() == "alpha\n"


def _manifest(files, objects=None, **extra) -> bytes:
    doc = {"format": FORMAT, "name": "m", "version": 1, "objects": objects or {"a" * 64: 10}, "files": files, **extra}
    return gzip.compress(json.dumps(doc).encode())


def _damaged(raw: bytes) -> bytes:
    """Gzip whose header is intact but whose compressed data is not."""
    return raw[:12] + bytes(b ^ 0x55 for b in raw[12:40]) + raw[40:]


def _file(path, size=10, parts=None):
    return {"path": path, "size": size, "sha256": "b" * 64, "parts": parts if parts is not None else [["a" * 64, 0, size]]}


@pytest.mark.parametrize(
    "raw",
    [
        b"not gzip",
        gzip.compress(b"{not json"),
        pytest.param(_damaged(_manifest([])), id="damaged-deflate-data"),
        _manifest([_file("../etc/passwd")]),
        _manifest([_file("/etc/passwd")]),
        _manifest([_file("data/train/../../x")]),
        _manifest([_file("data/train/a\x00b")]),
        _manifest([_file("data/x")]),  # a file directly in data/
        _manifest([_file("data/t/a", size=11, parts=[["a" * 64, 0, 11]])]),  # reads past the object
        _manifest([_file("data/t/a", parts=[["c" * 64, 0, 10]])]),  # unlisted object
        _manifest([_file("data/t/a", size=5, parts=[["a" * 64, 0, 10]])]),  # parts do not add up
        _manifest([_file("data/t/a"), _file("data/t/a")]),  # duplicate
        _manifest([_file("data/t/a", size=20, parts=[["a" * 64, 0, 10], ["a" * 64, 0, 10]])]),  # id not its chunks'
        _manifest([_file("data/t/a")], objects={"../../x": 10}),
        _manifest([_file("data/t/a")], dirs=["../up"]),
        gzip.compress(json.dumps({"format": "etcetera/99", "name": "m", "version": 1, "files": []}).encode()),
    ],
)
def test_hostile_manifests_are_refused(raw):
    with pytest.raises(etc.FormatError, match="manifest where"):
        Manifest.from_bytes(raw, "where")


def test_a_chunked_file_is_identified_by_its_chunk_list():
    chunks = ["a" * 64, "c" * 64]
    entry = _file("data/t/a", size=20, parts=[[c, 0, 10] for c in chunks])
    entry["sha256"] = chunk_list_id(chunks)
    m = Manifest.from_bytes(_manifest([entry], objects={c: 10 for c in chunks}), "where")
    assert [p.obj for p in m.files[0].parts] == chunks
    with pytest.raises(etc.FormatError, match="not the id of its chunk list"):
        Manifest.from_bytes(_manifest([dict(entry, parts=entry["parts"][::-1])], objects={c: 10 for c in chunks}), "w")


path_chars = st.text(alphabet=string.ascii_letters + "./\\\x00-_ é", max_size=40)


@given(st.lists(path_chars, min_size=1, max_size=4))
@settings(max_examples=200)
def test_manifest_parser_never_accepts_an_escaping_path(paths):
    raw = _manifest([_file(p) for p in paths])
    try:
        m = Manifest.from_bytes(raw, "prop")
    except etc.FormatError as exc:
        assert str(exc).startswith("manifest prop") and "\n" not in str(exc), exc  # refused, saying where
        return
    for f in m.files:
        parts = f.path.split("/")
        assert not f.path.startswith("/") and ".." not in parts and "" not in parts and "\x00" not in f.path


def test_manifest_round_trip():
    m = Manifest.from_bytes(_manifest([_file("data/t/a"), _file("README", size=0, parts=[])]), "x")
    again = Manifest.from_bytes(m.to_bytes(), "y")
    assert again.content() == m.content() and again.objects == m.objects


def test_manifest_bytes_are_plain_gzip_json_whatever_the_file_count():
    # to_bytes encodes and compresses in batches; the result must be one ordinary gzip JSON document.
    for n in (0, 1, 1000, 2345):
        files = [FileEntry(f"data/t/f{i}", 3, f"{i:064x}", i % 2 == 0, (Part("a" * 64, 3 * i, 3),)) for i in range(n)]
        m = Manifest("m", 2, files, dirs=["data/e"], objects={"a" * 64: 3 * n}, parent=1)
        raw = m.to_bytes()
        doc = json.loads(gzip.decompress(raw))
        assert [f["path"] for f in doc["files"]] == [f.path for f in files]
        assert raw == gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), compresslevel=6, mtime=0)
        assert Manifest.from_bytes(raw, "x").files == files


def test_dataset_uri_is_one_rule_for_every_tool():
    assert etc.dataset_uri("s3://bucket/prefix/", "birds") == "etc://s3/bucket/prefix/birds"
    assert etc.dataset_uri("S3://bucket", "birds") == "etc://s3/bucket/birds"
    assert etc.dataset_uri("file:///srv/etc", "birds") == "etc://file/srv/etc/birds"
    with pytest.raises(etc.InvalidNameError):
        etc.dataset_uri("s3://bucket", "../x")
