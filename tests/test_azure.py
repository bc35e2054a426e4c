"""Azure specifics against Azurite: block-staged uploads and ranged reads of bounded size, the
client's settings, every way to give credentials (shared key, connection string, SAS token,
DefaultAzureCredential, anonymous) and their errors, and secrets kept out of messages, CLI output
and the Azure SDK's (and urllib3's) debug logs."""

from __future__ import annotations

import logging
import os
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest

import etcetera as etc
from etcetera.cli.main import main as etc_main
from etcetera.storage import BytesSource, FileRangesSource, open_storage
from etcetera.storage import azure as azmod
from etcetera.testing import AZURITE_ACCOUNT, AZURITE_KEY, azurite_connection_string
from reliability.faultproxy import FaultProxy

MiB = 1 << 20


def _sas(remote, **permissions: bool) -> str:
    """A container SAS for the test container, signed with the development account's key."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    perms = permissions or dict(read=True, write=True, list=True, delete=True, create=True, add=True)
    return generate_container_sas(AZURITE_ACCOUNT, remote.url.split("://")[1], account_key=AZURITE_KEY,
                                  permission=ContainerSasPermissions(**perms),
                                  expiry=datetime.now(timezone.utc) + timedelta(hours=1))


def _sas_config(remote, home: str = "sas", **extra) -> etc.Config:
    return etc.Config(remote.url, home=str(remote.tmp / home), azure_account_url=remote.options["azure_account_url"],
                      azure_sas_token=_sas(remote), **extra)


def test_large_objects_go_up_as_blocks_without_holding_them(az_remote, tmp_path):
    """Over one block, an object is staged block by block (read from the file as it goes) and
    committed with one block list; below, one PUT."""
    account = az_remote.options["azure_account_url"]
    with FaultProxy(account.rsplit("/", 1)[0]) as proxy:
        storage = open_storage(az_remote.config(azure_account_url=f"{proxy.url}/{AZURITE_ACCOUNT}"))
        big = tmp_path / "big.bin"
        data = os.urandom(5 * azmod.BLOCK + 77)
        big.write_bytes(b"xx" + data)
        tracemalloc.start()
        try:
            storage.put("objects/big", FileRangesSource([(big, 2, len(data))]))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        storage.put("objects/small", BytesSource(b"s" * 1000))
    puts = [path for method, path, _ in proxy.log if method == "PUT"]
    assert sum("comp=block&" in p or p.endswith("comp=block") for p in puts) == 6, puts
    assert sum("comp=blocklist" in p for p in puts) == 1, puts
    assert sum("/objects/small" in p and "comp=" not in p for p in puts) == 1, puts
    assert peak < 2.5 * azmod.BLOCK, f"uploading {len(data) >> 20} MiB held {peak >> 20} MiB"
    direct = open_storage(az_remote.config())
    assert direct.get("objects/big") == data
    props = direct._blob("objects/big").get_blob_properties()
    assert getattr(props.blob_type, "value", props.blob_type) == "BlockBlob" and props.size == len(data)


def test_reads_are_ranged_requests_of_bounded_size(az_remote, monkeypatch):
    monkeypatch.setattr(azmod, "BLOCK", 1024)
    storage = open_storage(az_remote.config())
    data = os.urandom(5500)
    storage.put("objects/r", BytesSource(data))
    whole = list(storage.read("objects/r"))
    assert [len(b) for b in whole] == [1024] * 5 + [380]
    assert b"".join(whole) == data
    part = list(storage.read("objects/r", 1500, 3000))
    assert all(len(b) <= 1024 for b in part) and b"".join(part) == data[1500:4500]
    assert b"".join(storage.read("objects/r", 5000)) == data[5000:]
    assert b"".join(storage.read("objects/r", 5000, 4000)) == data[5000:]  # shorter than asked: ends early
    assert b"".join(storage.read("objects/r", 6000, 10)) == b""  # starts past the end
    with pytest.raises(etc.NotFoundError, match="objects/nope not found on az://"):
        list(storage.read("objects/nope"))


def test_client_settings_follow_the_config(az_remote):
    storage = open_storage(az_remote.config(workers=24, give_up_seconds=3))
    session = storage.client._pipeline._transport.session
    assert session.get_adapter("http://127.0.0.1/")._pool_maxsize == 24 + 4
    policy = storage.client._pipeline._impl_policies
    give_up = next(p for p in policy if isinstance(p, azmod._GiveUp))
    assert give_up.budget == 3 and give_up.connect_timeout == 1
    assert storage.endpoint == az_remote.options["azure_account_url"]
    assert not storage.anonymous


def test_prefix_keeps_every_key_under_it(az_remote, make_dataset):
    cfg = az_remote.config().replace(url=az_remote.url + "/some/prefix/")
    etc.register(make_dataset("p"), config=cfg)
    etc.push("p", config=cfg)
    keys = [i.key for i in open_storage(az_remote.config()).list()]
    assert keys and all(k.startswith("some/prefix/") for k in keys)
    assert etc.ls(remote=True, config=cfg) == ["p"]
    assert etc.ls(remote=True, config=az_remote.config()) == []


def test_connection_string_and_sas_token_work(az_remote, make_dataset):
    account = az_remote.options["azure_account_url"]
    by_string = etc.Config(az_remote.url, home=str(az_remote.tmp / "cs"),
                           azure_connection_string=azurite_connection_string(account))
    etc.register(make_dataset("cred"), config=by_string)
    assert etc.push("cred", config=by_string) == "cred@1"
    sas = _sas_config(az_remote)
    assert etc.versions("cred", config=sas) == [1]
    assert (etc.pull("cred", config=sas)["train"] / "a.txt").read_bytes() == b"alpha\n"
    with_question_mark = sas.replace(azure_sas_token="?" + sas.azure_sas_token, home=str(az_remote.tmp / "q"))
    assert etc.ls(remote=True, config=with_question_mark) == ["cred"]
    read_only = sas.replace(azure_sas_token=_sas(az_remote, read=True, list=True), home=str(az_remote.tmp / "ro"))
    (etc.pull("cred", config=read_only).path / "data" / "train" / "n.txt").write_text("n")
    with pytest.raises(etc.RemoteError, match="access denied") as info:
        etc.push("cred", config=read_only)
    assert "\n" not in str(info.value) and read_only.azure_sas_token not in str(info.value)


def test_credential_errors_are_one_line_without_the_secret(az_remote):
    wrong_key = "d3Jvbmcta2V5LURPLU5PVC1MRUFLLTAwMDAwMDAwMDAwMDAwMDA="
    expired = _sas(az_remote).replace("se=", "se=2001-01-01T00%3A00%3A00Z&old=")  # tampered: fails the signature
    cases = {
        "wrong key": az_remote.config(azure_account_key=wrong_key),
        "tampered sas": etc.Config(az_remote.url, azure_account_url=az_remote.options["azure_account_url"],
                                   azure_sas_token=expired),
    }
    for what, cfg in cases.items():
        with pytest.raises(etc.RemoteError) as info:
            etc.ls(remote=True, config=cfg)
        msg = str(info.value)
        assert "\n" not in msg and az_remote.url in msg and "check credentials" in msg, (what, msg)
        assert wrong_key not in msg and "sig=" not in msg and AZURITE_KEY not in msg, (what, msg)


def test_settings_that_cannot_work_are_config_errors(az_remote, monkeypatch):
    with pytest.raises(etc.ConfigError, match="set azure_account_name"):
        open_storage(etc.Config("az://c", azure_account_key=AZURITE_KEY))
    with pytest.raises(etc.ConfigError, match="invalid Azure settings"):
        open_storage(etc.Config("az://c", azure_connection_string="not a connection string"))
    for bad in ("az://", "az://c?x=1", "az://user@c"):
        with pytest.raises(etc.ConfigError, match="invalid Azure url"):
            open_storage(etc.Config(bad, azure_account_name="acct"))


def test_without_keys_the_default_credential_chain_is_used(az_remote, monkeypatch):
    """No key, SAS or connection string: DefaultAzureCredential (building it sends no request);
    with public = true and no identity in the environment: anonymous."""
    from azure.identity import DefaultAzureCredential

    storage = open_storage(etc.Config("az://c", azure_account_name="etcacct"))
    assert isinstance(storage.client.credential, DefaultAzureCredential) and not storage.anonymous
    assert storage.endpoint == "https://etcacct.blob.core.windows.net"
    public = open_storage(etc.Config("az://c", azure_account_name="etcacct", public=True))
    assert public.anonymous and public.client.credential is None
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000000")  # a workload identity
    signed = open_storage(etc.Config("az://c", azure_account_name="etcacct", public=True))
    assert isinstance(signed.client.credential, DefaultAzureCredential) and not signed.anonymous


def test_public_push_to_a_private_container_warns_once(az_remote, make_dataset, caplog):
    cfg = az_remote.config(public=True)
    etc.register(make_dataset("pub", {f"train/{i}.txt": os.urandom(100) for i in range(5)}), config=cfg)
    with caplog.at_level(logging.WARNING, logger="etcetera"):
        etc.push("pub", config=cfg)
    warnings = [r.getMessage() for r in caplog.records if "container is not public" in r.getMessage()]
    assert len(warnings) == 1 and "'container'" in warnings[0], warnings
    caplog.clear()
    open_storage(az_remote.config()).container.set_container_access_policy(signed_identifiers={},
                                                                           public_access="container")
    (cfg.home_path / "pub" / "data" / "train" / "new.txt").write_text("n")
    with caplog.at_level(logging.WARNING, logger="etcetera"):
        assert etc.push("pub", config=cfg) == "pub@2"
    assert not [r for r in caplog.records if "not public" in r.getMessage()]


def test_debug_logs_of_the_sdk_and_urllib3_never_show_a_secret(az_remote, caplog, make_dataset):
    """azure-core's HTTP logging policy logs every request's URL and headers, urllib3 every URL with
    its query string (where a SAS travels): at DEBUG, across a push and a pull with a SAS, a key and
    a connection string, and an error, no record shows a secret."""
    caplog.set_level(logging.DEBUG)
    for name in ("azure", "urllib3", "etcetera"):
        caplog.set_level(logging.DEBUG, logger=name)
    sas = _sas_config(az_remote, "a")
    sig = next(part[4:] for part in sas.azure_sas_token.split("&") if part.startswith("sig="))
    etc.register(make_dataset("dbg", {"train/a.bin": os.urandom(9 * MiB), "test/b.txt": b"b"}), config=sas)
    etc.push("dbg", config=sas)
    etc.pull("dbg", config=az_remote.config("b"))
    by_string = etc.Config(az_remote.url, home=str(az_remote.tmp / "c"),
                           azure_connection_string=azurite_connection_string(az_remote.options["azure_account_url"]))
    etc.pull("dbg", config=by_string)
    assert open_storage(sas).put_if_absent("datasets/dbg/0000000001.json.gz", b"late") is False
    with pytest.raises(etc.RemoteError):
        etc.ls(remote=True, config=sas.replace(url="az://etc-no-such-container-dbg"))
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "Request URL" in text  # azure-core's HTTP logging policy was really captured
    assert "comp=block" in text and "sv=" in text  # ... and urllib3's request lines with their query strings
    assert "***" in text  # ... with the SAS redacted
    from urllib.parse import quote

    for secret in (AZURITE_KEY, sas.azure_sas_token, sig, quote(sig, safe="")):
        assert secret not in text


def test_cli_output_never_shows_a_secret(az_remote, make_dataset, capsys):
    toml = az_remote.toml("cli", azure_account_key=AZURITE_KEY)
    assert etc_main(["-v", "--config", str(toml), "register", str(make_dataset("clids"))]) == 0
    assert etc_main(["-v", "--config", str(toml), "push", "clids"]) == 0
    assert etc_main(["-v", "--config", str(toml), "list", "-r"]) == 0
    bad = az_remote.tmp / "bad.toml"
    bad.write_text(toml.read_text().replace(az_remote.url, "az://etc-no-such-container-cli"))
    assert etc_main(["-v", "--config", str(bad), "list", "-r"]) == 1
    out, err = capsys.readouterr()
    assert "clids" in out
    error_lines = [line for line in err.splitlines() if line.startswith("etc: error:")]
    assert len(error_lines) == 1 and "create it or fix url" in error_lines[0], err
    assert AZURITE_KEY not in out + err


def test_pieces_of_azure_secrets_are_redacted_on_their_own():
    """A SAS's signature can reach a log in another order or percent-encoded, and a connection string's
    key or SAS on its own: each piece is registered as a secret, not only the whole value."""
    from etcetera.storage.cloud import secret_values

    sig = "AbC+dEf/GhI="
    cfg = etc.Config("az://c", azure_sas_token=f"?sv=2024-05-04&sp=r&sig={sig}",
                     azure_connection_string=f"AccountName=a;AccountKey={AZURITE_KEY};"
                                             f"SharedAccessSignature=sv=1&sig=Q1w2E3r4%2Bt5")
    values = secret_values(cfg)
    for piece in (sig, "AbC%2BdEf%2FGhI%3D", AZURITE_KEY, "sv=1&sig=Q1w2E3r4%2Bt5", "Q1w2E3r4+t5"):
        assert piece in values, piece
