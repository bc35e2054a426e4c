"""The sharded version format (etcetera/2): round trips across many shards on every backend,
partial reads that fetch only their partition's metadata, refusal of damaged or forged shards,
and reading what earlier versions (etcetera/1) wrote."""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import fsspec
import pytest

import etcetera as etc
from etcetera import catalog
from etcetera.manifest import FileEntry, Manifest, Part
from etcetera.remote import Remote, manifest_key, object_key
from etcetera.storage import BytesSource, open_storage


class CountingRemote(Remote):
    """A Remote whose metadata reads are counted (what a reader fetched, not what it was told)."""

    def __init__(self, storage) -> None:
        super().__init__(storage)
        self.reads: list[tuple[str, int]] = []
        real_get = storage.get

        def get(key: str) -> bytes:
            data = real_get(key)
            self.reads.append((key, len(data)))
            return data

        storage.get = get


def _dataset(make_dataset, partitions=10, per_partition=25, outside=3):
    files = {f"p{i}/sub/f{j:03d}.txt": f"{i}-{j}\n".encode() * (j % 5 + 1)
             for i in range(partitions) for j in range(per_partition)}
    extra = {f"docs/n{k}.md": b"# note\n" for k in range(outside)}
    return make_dataset("many", files, meta={"n": len(files)}, extra=extra)


def _publish_in_small_shards(cfg, name: str, shard_files: int) -> None:
    """Push, then republish the same version's content as version 2 cut into shards of `shard_files`."""
    etc.push(name, config=cfg)
    r = Remote(open_storage(cfg))
    m = r.manifest(name, 1)
    m.version, m.parent = 2, 1
    r.publish(m, r.stage(m, shard_files=shard_files))


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_many_files_in_many_shards_round_trip_and_partial_pulls_read_only_their_metadata(remote, make_dataset):
    src = _dataset(make_dataset)
    a = remote.config("a")
    etc.register(src, config=a)
    _publish_in_small_shards(a, "many", shard_files=7)

    r = CountingRemote(open_storage(a))
    root = catalog.read_version(r.manifest_bytes("many", 2), "many@2")
    assert isinstance(root, catalog.Root) and root.files == 10 * 25 + 3 + 1  # + meta.json
    assert [len(g.shards) for g in root.groups] == [1] + [4] * 10  # '.' then p0..p9: 25 files in 7s
    full = r.manifest("many", 2)
    assert len(full.files) == root.files and full.partitions() == [f"p{i}" for i in range(10)]
    every_shard = sum(n for k, n in r.reads if k.startswith("objects/"))

    r.reads.clear()
    part = r.manifest("many", 2, ["p3"])
    assert {f.path.split("/")[1] for f in part.files if f.path.startswith("data/")} == {"p3"}
    assert part.partitions() == full.partitions()  # still knows every partition of the version
    shards_read = {k[len("objects/"):] for k, _ in r.reads if k.startswith("objects/")}
    wanted = {s.id for g in root.groups if g.name in (".", "data/p3") for s in g.shards}
    assert shards_read == wanted
    assert sum(n for k, n in r.reads if k.startswith("objects/")) <= 0.2 * every_shard

    r.reads.clear()
    info = etc.info("many@2", remote=True, config=a)
    assert info["files"] == root.files and info["partitions"]["p3"]["files"] == 25
    ds = etc.pull("many@2", config=remote.config("b"), partitions=["p3"])
    assert ds.keys() == ["p3"] and len(list(ds["p3"].rglob("*.txt"))) == 25
    assert tree(etc.pull("many@2", config=remote.config("c")).path) == tree(src)


def test_info_reads_the_root_alone(file_remote, make_dataset):
    a = file_remote.config("a")
    etc.register(_dataset(make_dataset, partitions=3, per_partition=4), config=a)
    etc.push("many", config=a)
    r = CountingRemote(open_storage(a))
    head, counts = r.summary("many", 1)
    assert [k for k, _ in r.reads] == [manifest_key("many", 1)]
    assert counts["p1"] == (4, sum(len(f"1-{j}\n".encode()) * (j % 5 + 1) for j in range(4)))


def test_an_unchanged_partition_keeps_its_shards(file_remote, make_dataset):
    """Shards are content-addressed: a new version that changes one partition uploads only its shards."""
    src = _dataset(make_dataset, partitions=3, per_partition=4)
    a = file_remote.config("a")
    etc.register(src, config=a)
    etc.push("many", config=a)
    (a.home_path / "many" / "data" / "p1" / "new.txt").write_bytes(b"new")
    etc.push("many", config=a)
    r = Remote(open_storage(a))
    one, two = (catalog.read_version(r.manifest_bytes("many", v), "x") for v in (1, 2))
    ids = {v: {g.name: [s.id for s in g.shards] for g in doc.groups} for v, doc in ((1, one), (2, two))}
    assert ids[1]["data/p0"] == ids[2]["data/p0"] and ids[1]["data/p2"] == ids[2]["data/p2"]
    assert ids[1]["data/p1"] != ids[2]["data/p1"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "forged"])
def test_damaged_or_forged_shards_are_refused_naming_the_version(remote, make_dataset, damage):
    a = remote.config("a")
    etc.register(_dataset(make_dataset, partitions=2, per_partition=3), config=a)
    etc.push("many", config=a)
    storage = open_storage(a)
    r = Remote(storage)
    root = catalog.read_version(r.manifest_bytes("many", 1), "x")
    ref = next(s for g in root.groups if g.name == "data/p1" for s in g.shards)
    key = object_key(ref.id)
    raw = storage.get(key)
    if damage == "flip":
        storage.put(key, BytesSource(raw[:-9] + bytes([raw[-9] ^ 1]) + raw[-8:]))
    elif damage == "truncate":
        storage.put(key, BytesSource(raw[: len(raw) // 2]))
    elif damage == "delete":
        storage.delete(key)
    else:  # a well-formed shard with other content under the same id: its bytes are not its id
        doc = json.loads(gzip.decompress(raw))
        doc["files"][0]["size"] += 0  # same entries, re-encoded differently
        storage.put(key, BytesSource(gzip.compress(json.dumps(doc, indent=1).encode())))
    b = remote.config("b")
    with pytest.raises(etc.EtcError, match=r"many@1") as err:
        etc.pull("many", config=b)
    assert "\n" not in str(err.value)
    assert not (b.home_path / "many").exists()
    assert etc.pull("many", config=b, partitions=["p0"]).keys() == ["p0"]  # other partitions still read
    fs = fsspec.filesystem("etc", config=b, skip_instance_cache=True)  # a one-file read checks it as well
    with pytest.raises(etc.EtcError, match=r"many@1") as err:
        fs.cat_file("many/data/p1/sub/f000.txt")
    assert "\n" not in str(err.value)


def test_a_root_whose_counts_do_not_add_up_is_refused(file_remote, make_dataset):
    a = file_remote.config("a")
    etc.register(_dataset(make_dataset, partitions=2, per_partition=3), config=a)
    etc.push("many", config=a)
    storage = open_storage(a)
    key = manifest_key("many", 1)
    doc = json.loads(gzip.decompress(storage.get(key)))
    doc["groups"][1]["files"] += 1
    storage.put(key, BytesSource(gzip.compress(json.dumps(doc).encode())))
    with pytest.raises(etc.FormatError, match=r"many@1 .*do not add up"):
        etc.pull("many", config=file_remote.config("b"))


def test_versions_written_as_etcetera_1_are_still_read(remote, make_dataset):
    """A remote written by an earlier release (one etcetera/1 manifest per version) pulls, partially
    pulls, describes and accepts a new push on top."""
    src = _dataset(make_dataset, partitions=2, per_partition=3)
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("many", config=a)
    r = Remote(open_storage(a))
    v1 = r.manifest("many", 1)
    old = Manifest(name="many", version=2, files=v1.files, dirs=v1.dirs, objects=v1.objects, parent=1,
                   created=v1.created, author=v1.author, tool="etcetera 0.1.0")
    raw = old.to_bytes()
    assert json.loads(gzip.decompress(raw))["format"] == "etcetera/1"
    assert r.storage.put_if_absent(manifest_key("many", 2), raw)
    b = remote.config("b")
    assert tree(etc.pull("many@2", config=b).path) == tree(src)
    assert etc.pull("many@2", config=remote.config("c"), partitions=["p1"]).keys() == ["p1"]
    assert etc.info("many@2", remote=True, config=b)["partitions"]["p0"]["files"] == 3
    (b.home_path / "many" / "data" / "p0" / "x.txt").write_bytes(os.urandom(10))
    assert etc.push("many", config=b) == "many@3"
    assert isinstance(catalog.read_version(r.manifest_bytes("many", 3), "x"), catalog.Root)


# ---------------------------------------------------------------- looking up one path in a shard

OBJ = "ab" * 32


def _shard_bytes(doc: dict, honest: bool = True, layout: str = "compact") -> tuple[bytes, catalog.ShardRef]:
    """A shard document as bytes (laid out as GroupWriter writes it, or otherwise), with a reference
    that names exactly them (a root made by hand can vouch for any bytes) and says what the writer's
    shard held (`honest`) or what `doc` holds."""
    separators = (",", ":") if layout == "compact" else (", ", ": ")
    raw = gzip.compress(json.dumps(doc, separators=separators).encode(), mtime=0)
    paths, sizes = ([f.path for f in _SHARD.files], [f.size for f in _SHARD.files]) if honest else \
        ([f["path"] for f in doc["files"]], [f["size"] for f in doc["files"]])
    return raw, catalog.ShardRef(hashlib.sha256(raw).hexdigest(), len(raw), len(paths), sum(sizes), paths[0], paths[-1])


_SHARD = catalog.Shard([FileEntry(f"data/p1/d{j % 3}/f{j:03d}", 10, "cd" * 32, j == 4, (Part(OBJ, 10 * j, 10),))
                        for j in range(40)], ["data/p1/empty"], {OBJ: 400})
_SHARD.files.sort(key=lambda f: f.path)


def test_a_path_looked_up_in_a_shard_parses_that_entry_alone(monkeypatch):
    raw = _SHARD.to_bytes("data/p1")
    ref = catalog.ShardRef(hashlib.sha256(raw).hexdigest(), len(raw), 40, 400, _SHARD.files[0].path,
                           _SHARD.files[-1].path)
    whole = catalog.read_shard(raw, ref, "data/p1", "many@1")
    assert whole.files == _SHARD.files
    parsed = []
    real = catalog.parse_file_entry
    monkeypatch.setattr(catalog, "parse_file_entry", lambda *a: parsed.append(a) or real(*a))
    lookup = catalog.open_shard(raw, ref, "data/p1", "many@1")
    assert parsed == []
    for f in whole.files:
        assert lookup.find(f.path) == f == whole.find(f.path)
    assert len(parsed) == len(whole.files)  # one entry parsed per look-up
    for absent in ["data/p1/d0", "data/p1/d0/f0000", "data/p1/empty", "data/p1/zzz", ""]:
        assert lookup.find(absent) is None and whole.find(absent) is None
    assert lookup.parse() == whole
    # Laid out otherwise (another writer's spacing), or with paths JSON spells with escapes: found all the same.
    doc = json.loads(gzip.decompress(raw))
    for f in doc["files"][::7]:
        f["path"] = f["path"].replace("/f0", '/\u00fc"')
    doc["files"].sort(key=lambda f: f["path"])
    for layout in ("compact", "spaced"):
        forged, ref = _shard_bytes(doc, honest=False, layout=layout)
        whole = catalog.read_shard(forged, ref, "data/p1", "many@1")
        lookup = catalog.open_shard(forged, ref, "data/p1", "many@1")
        assert any('"' in f.path for f in whole.files)
        assert all(lookup.find(f.path) == f for f in whole.files) and lookup.parse() == whole
    with pytest.raises(etc.IntegrityError, match=r"many@1: metadata shard"):
        catalog.open_shard(raw[:-1] + bytes([raw[-1] ^ 1]), ref, "data/p1", "many@1")


def _entry(doc: dict, path: str) -> dict:
    return next(f for f in doc["files"] if f["path"] == path)


@pytest.mark.parametrize("forge", ["order", "count", "size", "past-end", "unlisted", "folder", "parent", "escape",
                                   "group", "not-an-entry", "path-type"])
@pytest.mark.parametrize("layout", ["compact", "spaced"])
def test_a_forged_shard_is_refused_by_a_look_up_as_by_a_whole_read(forge, layout):
    doc = json.loads(gzip.decompress(_SHARD.to_bytes("data/p1")))
    target = "data/p1/d1/f001"
    if forge == "order":
        doc["files"][1], doc["files"][2] = doc["files"][2], doc["files"][1]
    elif forge == "count":
        doc["files"].pop()
    elif forge == "size":
        _entry(doc, target)["size"] = "10"
    elif forge == "past-end":
        _entry(doc, target)["parts"] = [[OBJ, 395, 10]]
    elif forge == "unlisted":
        _entry(doc, target)["parts"] = [["ef" * 32, 0, 10]]
    elif forge == "folder":
        doc["dirs"].append(target + "/inner")
    elif forge == "parent":  # a file named like the folder of the one looked up
        doc["files"].append({"path": "data/p1/d1", "size": 0, "sha256": "cd" * 32, "parts": []})
        doc["files"].sort(key=lambda f: f["path"])
    elif forge == "escape":
        _entry(doc, target)["path"] = target = "data/p1/d1/../f001"
        doc["files"].sort(key=lambda f: f["path"])
    elif forge == "not-an-entry":
        doc["files"][5] = [doc["files"][5]["path"]]
    elif forge == "path-type":
        _entry(doc, target)["path"] = 7
    else:
        doc["group"] = "data/p2"
    raw, ref = _shard_bytes(doc, honest=forge not in ("parent", "escape"), layout=layout)
    with pytest.raises(etc.FormatError, match=r"shard \w{12} of many@1 is invalid") as whole:
        catalog.read_shard(raw, ref, "data/p1", "many@1")
    with pytest.raises(etc.FormatError, match=r"shard \w{12} of many@1 is invalid") as one:
        catalog.open_shard(raw, ref, "data/p1", "many@1").find(target)
    assert "\n" not in str(one.value)
