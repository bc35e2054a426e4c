"""Promises every backend keeps, run on file://, S3 (moto server) and GCS (emulator):
the Storage contract itself, public datasets, prefixes, conditional writes and error messages."""

from __future__ import annotations

import os
import threading

import pytest

import etcetera as etc
from etcetera.storage import BytesSource, FileRangesSource, open_storage
from etcetera.testing import TEST_SECRET, free_port


def test_storage_contract_put_read_list_exists_delete(remote, tmp_path):
    storage = open_storage(remote.config())
    payload = os.urandom(300_000)
    src = tmp_path / "src.bin"
    src.write_bytes(b"HEAD" + payload + b"TAIL")
    storage.put("objects/aa/one", FileRangesSource([(src, 4, len(payload))]))
    storage.put("objects/ab/two", BytesSource(b"second"))
    storage.put("objects/empty", BytesSource(b""))
    storage.put("other/three", BytesSource(b"3"))

    assert storage.get("objects/aa/one") == payload
    assert storage.get("objects/empty") == b""
    assert b"".join(storage.read("objects/aa/one", 1000, 5000)) == payload[1000:6000]
    assert b"".join(storage.read("objects/aa/one", 299_990)) == payload[299_990:]
    assert b"".join(storage.read("objects/aa/one", 10, 0)) == b""
    # Asking past the end gives what there is (the transfer engine detects the short stream).
    assert b"".join(storage.read("objects/ab/two", 3, 100)) == b"ond"

    listed = {i.key: i for i in storage.list("objects/")}
    assert sorted(listed) == ["objects/aa/one", "objects/ab/two", "objects/empty"]
    assert listed["objects/aa/one"].size == len(payload) and listed["objects/empty"].size == 0
    assert all(i.mtime is not None and i.mtime > 1.6e9 for i in listed.values())
    assert sorted(i.key for i in storage.list("objects/a")) == ["objects/aa/one", "objects/ab/two"]
    assert sorted(i.key for i in storage.list()) == sorted([*listed, "other/three"])

    assert storage.exists("objects/ab/two") and not storage.exists("objects/ab/nope")
    storage.put("objects/ab/two", BytesSource(b"replaced"))
    assert storage.get("objects/ab/two") == b"replaced"
    storage.delete("objects/ab/two")
    storage.delete("objects/ab/two")  # deleting a missing key is not an error
    assert not storage.exists("objects/ab/two")
    with pytest.raises(etc.NotFoundError, match="objects/ab/two"):
        storage.get("objects/ab/two")
    with pytest.raises(etc.NotFoundError):
        b"".join(storage.read("objects/ab/two", 0, 10))


def test_put_if_absent_creates_once_and_never_overwrites(remote):
    storage = open_storage(remote.config())
    assert storage.put_if_absent("datasets/x/0000000001.json.gz", b"first") is True
    assert storage.get("datasets/x/0000000001.json.gz") == b"first"
    assert storage.put_if_absent("datasets/x/0000000001.json.gz", b"second") is False
    assert storage.get("datasets/x/0000000001.json.gz") == b"first"


def test_put_if_absent_has_exactly_one_winner_among_concurrent_writers(remote):
    storages = [open_storage(remote.config(f"w{i}")) for i in range(6)]
    results: list[bool | None] = [None] * len(storages)
    barrier = threading.Barrier(len(storages))

    def write(i: int) -> None:
        barrier.wait()
        results[i] = storages[i].put_if_absent("datasets/race/0000000001.json.gz", f"writer {i}".encode())

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(storages))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1, results
    winner = results.index(True)
    assert storages[0].get("datasets/race/0000000001.json.gz") == f"writer {winner}".encode()


def test_public_push_then_anonymous_pull(remote, make_dataset):
    if remote.kind == "file":
        pytest.skip("file:// has no accounts: 'public' means nothing for a folder")
    big = os.urandom(9 << 20)  # over 8 MiB: a chunked resumable upload on GCS
    src = make_dataset("open", {"train/a.txt": b"for everyone", "test/b.txt": os.urandom(5000), "train/big.bin": big},
                       meta={"lic": "cc"})
    writer = remote.config("writer", public=True)
    etc.register(src, config=writer)
    assert etc.push("open", config=writer) == "open@1"

    # A reader with no credentials at all: only the url (and where the server is).
    anonymous = etc.Config(remote.url, home=str(remote.tmp / "anon"), public=True,
                           endpoint_url=remote.options.get("endpoint_url"),
                           azure_account_url=remote.options.get("azure_account_url"))
    storage = open_storage(anonymous)
    if remote.kind == "az":
        # Azure has no per-object ACL: the container's access level makes a dataset public.
        assert storage.anonymous and storage.client.credential is None
        with pytest.raises(etc.RemoteError, match="container is not public"):
            etc.ls(remote=True, config=anonymous)
        admin = open_storage(remote.config())
        admin.container.set_container_access_policy(signed_identifiers={}, public_access="container")
    elif remote.kind == "s3":
        assert storage.unsigned and storage.signer is None  # anonymous requests
        admin = open_storage(remote.config())
        manifest_key = "datasets/open/0000000001.json.gz"
        grants = _s3_observer(remote).get_object_acl(Bucket=admin.bucket, Key=manifest_key)["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") and g["Permission"] == "READ"
                   for g in grants), grants
        obj = next(i.key for i in admin.list("objects/"))
        grants = _s3_observer(remote).get_object_acl(Bucket=admin.bucket, Key=obj)["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") for g in grants), grants
    else:
        from google.auth.credentials import AnonymousCredentials

        assert storage.anonymous and isinstance(storage.client._credentials, AnonymousCredentials)
        admin = open_storage(remote.config())
        for key in ("datasets/open/0000000001.json.gz", *(i.key for i in admin.list("objects/"))):
            assert {"entity": "allUsers", "role": "READER"} in _gcs_acl(admin, key), key
    assert etc.ls(remote=True, config=anonymous) == ["open"]
    ds = etc.pull("open", config=anonymous)
    assert (ds["train"] / "a.txt").read_bytes() == b"for everyone"
    assert (ds["train"] / "big.bin").read_bytes() == big
    assert ds.meta == {"lic": "cc"}


def _s3_observer(remote):
    """A boto3 client of the test server, to read the ACLs etcetera set."""
    import boto3

    return boto3.client("s3", endpoint_url=remote.options["endpoint_url"], region_name="us-east-1",
                        aws_access_key_id=remote.options["aws_access_key_id"],
                        aws_secret_access_key=remote.options["aws_secret_access_key"])


def test_private_push_is_not_public(remote, make_dataset):
    if remote.kind == "file":
        pytest.skip("file:// has no accounts: objects have no ACLs")
    etc.register(make_dataset("closed", {"train/big.bin": os.urandom(9 << 20)}), config=remote.config())
    etc.push("closed", config=remote.config())
    admin = open_storage(remote.config())
    manifest_key = "datasets/closed/0000000001.json.gz"
    if remote.kind == "az":  # Azure: readable without credentials only if the container is public
        assert admin.container.get_container_properties().public_access is None
        return
    if remote.kind == "s3":
        grants = _s3_observer(remote).get_object_acl(Bucket=admin.bucket, Key=manifest_key)["Grants"]
        assert not any("AllUsers" in g["Grantee"].get("URI", "") for g in grants), grants
        return
    for key in (manifest_key, *(i.key for i in admin.list("objects/"))):  # one-request and resumable uploads
        assert not any(e["entity"] in ("allUsers", "allAuthenticatedUsers") for e in _gcs_acl(admin, key)), key


def _gcs_acl(storage, key: str) -> list[dict]:
    blob = storage.bucket.blob(storage._key(key))
    blob.acl.reload()
    return list(blob.acl)


def test_prefixes_in_one_bucket_are_isolated(remote, make_dataset):
    one = remote.config("one").replace(url=remote.url + "/team-a/datasets")
    two = remote.config("two").replace(url=remote.url + "/team-b")
    etc.register(make_dataset("alpha", {"train/a.txt": b"a"}, root=remote.tmp / "s1"), config=one)
    etc.register(make_dataset("beta", {"train/b.txt": b"b"}, root=remote.tmp / "s2"), config=two)
    etc.push("alpha", config=one)
    etc.push("beta", config=two)
    # Same name under both prefixes: separate version histories.
    etc.register(make_dataset("beta", {"train/b.txt": b"other"}, root=remote.tmp / "s3"), config=one)
    assert etc.push("beta", config=one) == "beta@1"

    assert etc.ls(remote=True, config=one) == ["alpha", "beta"]
    assert etc.ls(remote=True, config=two) == ["beta"]
    assert etc.ls(remote=True, config=remote.config("root")) == []
    keys = sorted(i.key for i in open_storage(remote.config()).list())
    assert keys and all(k.startswith(("team-a/datasets/", "team-b/")) for k in keys), keys
    pulled = etc.pull("beta", config=remote.config("reader").replace(url=remote.url + "/team-b"))
    assert (pulled["train"] / "b.txt").read_bytes() == b"b"


def test_credentials_from_a_toml_file(remote, make_dataset):
    path = remote.toml("fromtoml")
    text = path.read_text()
    if remote.kind == "s3":
        assert f'aws_secret_access_key = "{TEST_SECRET}"' in text  # the key name the old tool got wrong
    cfg = etc.Config.load(path)
    assert TEST_SECRET not in repr(cfg)
    etc.register(make_dataset("tomlds"), config=cfg)
    assert etc.push("tomlds", config=cfg) == "tomlds@1"
    assert etc.versions("tomlds", config=etc.Config.load(path)) == [1]


def _missing_bucket_config(remote):
    if remote.kind == "s3":
        return remote.config().replace(url="s3://etc-no-such-bucket-for-sure")
    if remote.kind == "az":
        return remote.config().replace(url="az://etc-no-such-container-for-sure")
    return remote.config().replace(url="gs://etc-no-such-bucket-for-sure")


def _assert_one_line_without_secret(message: str, *must: str) -> None:
    assert "\n" not in message and message.strip() == message, message
    assert TEST_SECRET not in message
    for piece in must:
        assert piece in message, message


def test_missing_bucket_is_one_clear_line(remote, make_dataset):
    if remote.kind == "file":
        pytest.skip("file:// has no buckets: a missing folder is simply an empty remote")
    cfg = _missing_bucket_config(remote)
    with pytest.raises(etc.RemoteError) as info:
        etc.ls(remote=True, config=cfg)
    assert not isinstance(info.value, etc.NotFoundError)
    _assert_one_line_without_secret(str(info.value), cfg.url, "does not exist", "create it or fix url")
    etc.register(make_dataset("nb"), config=cfg)
    with pytest.raises(etc.RemoteError) as info:
        etc.push("nb", config=cfg)
    _assert_one_line_without_secret(str(info.value), cfg.url, "create it or fix url")


def test_unreachable_endpoint_is_one_clear_line(remote, monkeypatch):
    if remote.kind == "file":
        pytest.skip("file:// has no endpoint")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    # The line is what this checks; a short budget spares the wait (tests/reliability/test_give_up.py
    # checks the default one).
    quick = {"give_up_seconds": 1}
    if remote.kind == "s3":
        cfg = remote.config(endpoint_url=dead, **quick)
        hint = "check endpoint_url/network"
    elif remote.kind == "az":
        cfg = remote.config(azure_account_url=f"{dead}/devstoreaccount1", **quick)
        hint = "check azure_account_url/network"
    else:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead)
        cfg = remote.config(**quick)
        hint = "check STORAGE_EMULATOR_HOST/network"
    with pytest.raises(etc.RemoteError) as info:
        etc.versions("anything", config=cfg)
    _assert_one_line_without_secret(str(info.value), remote.url, "cannot connect", dead.split("//")[1], hint)
