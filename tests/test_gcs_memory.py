"""Issue #12 (4): a GCS push streams its objects in bounded chunks instead of holding each one
whole in memory (16 workers each holding a 16 MiB chunk of a big file, or an 8 MiB pack twice
over in a one-request upload, would otherwise all sit in memory at once).  Measured in a child
process on fake-gcs-server, like S3; plus the chunk boundaries of the uploads themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("google.cloud.storage")

import etcetera as etc  # noqa: E402
from etcetera.storage import FileRangesSource, open_storage  # noqa: E402
from etcetera.storage.gcs import UPLOAD_CHUNK  # noqa: E402
from etcetera.testing import gcs_emulator, make_gcs_bucket  # noqa: E402

MiB = 1 << 20
PEAK_LIMIT_MB = 200

# The child pushes, then reports its own high-water RSS (VmHWM: this process's pages only, unlike
# ru_maxrss, which starts from the parent's peak at fork).
PUSH = """
import json, sys
import etcetera as etc
etc.push("big", config=etc.Config(sys.argv[1], home=sys.argv[2], project="test"), quiet=True)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_kib": int(hwm.split()[1])}))
"""


@pytest.fixture
def own_gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake-gcs-server of its own (the hundreds of MiB it keeps in memory go with it) and a bucket."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    with gcs_emulator() as url:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        yield f"gs://{make_gcs_bucket(url)}"


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM is read from Linux's /proc")
@pytest.mark.parametrize("count,size_mib", [(1, 256), (16, 8)], ids=["1x256MiB", "16x8MiB"])
def test_a_gcs_push_stays_under_200_mb(count: int, size_mib: int, own_gcs: str, tmp_path: Path) -> None:
    src = tmp_path / "src" / "big"
    (src / "data" / "train").mkdir(parents=True)
    for i in range(count):
        with open(src / "data" / "train" / f"f{i}.bin", "wb") as fh:
            for _ in range(size_mib // 8):
                fh.write(os.urandom(8 * MiB))
    home = tmp_path / "home"
    config = etc.Config(own_gcs, home=str(home), project="test")
    etc.register(src, config=config)
    done = subprocess.run([sys.executable, "-c", PUSH, own_gcs, str(home)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_mb = json.loads(done.stdout.strip().splitlines()[-1])["peak_kib"] * 1024 / 1e6
    stored = sum(info.size for info in open_storage(config).list("objects/"))
    assert stored >= count * size_mib * MiB  # the bytes arrived (whole pushes are checked in test_backends)
    print(f"peak RSS of a {count} x {size_mib} MiB GCS push: {peak_mb:.0f} MB")
    assert peak_mb <= PEAK_LIMIT_MB, f"a {count} x {size_mib} MiB GCS push peaked at {peak_mb:.0f} MB"


def test_chunked_uploads_are_whole_at_every_chunk_boundary(own_gcs: str, tmp_path: Path) -> None:
    storage = open_storage(etc.Config(own_gcs, home=str(tmp_path / "home"), project="test"))
    data = os.urandom(3 * UPLOAD_CHUNK + 7)
    src = tmp_path / "src.bin"
    src.write_bytes(b"HEAD" + data)
    # One request, exactly one chunk, one byte over, a whole number of chunks, a ragged tail.
    for size in (UPLOAD_CHUNK - 1, UPLOAD_CHUNK, UPLOAD_CHUNK + 1, 2 * UPLOAD_CHUNK, len(data)):
        key = f"objects/x{size}"
        storage.put(key, FileRangesSource([(src, 4, size)]))
        assert storage.get(key) == data[:size], size
        assert next(i.size for i in storage.list(key)) == size
