"""Issue #12 (4): a GCS push streams its objects in bounded chunks instead of holding each one
whole in memory (16 workers × 16 MiB chunks of a big file, or 32 MiB packs, would otherwise
all sit in memory at once).  Measured in a child process on fake-gcs-server, like S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import etcetera as etc
from etcetera.storage import open_storage
from etcetera.testing import gcs_emulator, make_gcs_bucket

pytest.importorskip("google.cloud.storage")

FILE_MIB = 256
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


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM is read from Linux's /proc")
def test_a_256_mib_gcs_push_stays_under_200_mb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src" / "big"
    (src / "data" / "train").mkdir(parents=True)
    with open(src / "data" / "train" / "big.bin", "wb") as fh:
        for _ in range(FILE_MIB // 16):
            fh.write(os.urandom(16 << 20))
    home = tmp_path / "home"
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    with gcs_emulator() as url:  # its own server: the 256 MiB it keeps in memory go with it
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        remote = f"gs://{make_gcs_bucket(url)}"
        config = etc.Config(remote, home=str(home), project="test")
        etc.register(src, config=config)
        done = subprocess.run([sys.executable, "-c", PUSH, remote, str(home)], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        peak_mb = json.loads(done.stdout.strip().splitlines()[-1])["peak_kib"] * 1024 / 1e6
        stored = sum(info.size for info in open_storage(config).list("objects/"))
        assert stored >= FILE_MIB << 20  # the bytes arrived (whole pushes are checked in test_backends)
    print(f"peak RSS of a {FILE_MIB} MiB GCS push: {peak_mb:.0f} MB")
    assert peak_mb <= PEAK_LIMIT_MB, f"a {FILE_MIB} MiB GCS push peaked at {peak_mb:.0f} MB"
