"""A full disk (issue #15): `vireo serve` on a small tmpfs of its own (a user + mount namespace from `unshare -rm`).

Writes that add data get HTTP 507 with Milvus code 9 (quota exceeded) once the disk is full; reads and searches keep
working; deletes and drop collection succeed (the reserve file is freed for them); /readyz says degraded; and once
space is freed (a dropped collection, a deleted file) inserts succeed again without a restart.
"""
import os
import pathlib
import select
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pytest
import requests

from conftest import BIN, Client

TMPFS_MIB = 24
FILLER_MIB = 4


# Root gets a private mount namespace only; others need a user namespace too (`-r`). Seen on this machine: inside
# `unshare -rm` the server's loopback hand-off between its shared port and its internal REST port reset every
# connection, so root uses plain `-m`.
UNSHARE = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]


def can_mount_tmpfs():
    if shutil.which("unshare") is None:
        return "no `unshare` on this machine"
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([*UNSHARE, "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {d}"], capture_output=True, text=True)
        if r.returncode != 0:
            return f"cannot mount a tmpfs in a user+mount namespace here ({r.stderr.strip()}): run as root or allow unprivileged user namespaces"
    return None


class TmpfsServer:
    """`vireo serve` whose data directory is on a TMPFS_MIB tmpfs, with a FILLER_MIB file beside it to free later."""

    def __init__(self, mount):
        self.mount = str(mount)
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="vireo-diskfull-", suffix=".log", delete=False)

    def start(self):
        assert BIN.exists(), f"{BIN} is missing"
        script = (f"mount -t tmpfs -o size={TMPFS_MIB}m tmpfs {self.mount} && "
                  f"dd if=/dev/zero of={self.mount}/filler bs=1M count={FILLER_MIB} status=none && "
                  f"exec {BIN} serve --data-dir {self.mount}/data --host 127.0.0.1 --port 0 "
                  f"--disk-reserve-mib 1 --initial-map-mib 1 --seal-rows 1000000")
        self.proc = subprocess.Popen([*UNSHARE, "sh", "-c", script], stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if "listening on" in line:
                    self.base = line.split("listening on ")[1].split()[0]
                    return self
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"vireo serve did not start: {pathlib.Path(self.log.name).read_text()}")

    def inside(self, path):
        """`path` (under the mount) as seen from outside the namespace, through the server's root."""
        return f"/proc/{self.proc.pid}/root{path}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        return self.proc.returncode


@pytest.fixture
def tmpfs_server(tmp_path):
    reason = can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    s = TmpfsServer(tmp_path / "mnt")
    (tmp_path / "mnt").mkdir()
    s.start()
    yield s
    s.stop()


def readyz(base):
    r = requests.get(f"{base}/readyz", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_full_disk_refuses_inserts_keeps_reads_deletes_drops_and_recovers(tmpfs_server):
    base = tmpfs_server.base
    c = Client(base)
    rng = np.random.default_rng(15)
    dim = 256
    keep = rng.standard_normal((50, dim)).astype(np.float32)
    c.ok("collections/create", {"collectionName": "keep", "dimension": dim, "metricType": "L2"})
    c.ok("entities/insert", {"collectionName": "keep", "data": [{"id": i, "vector": keep[i].tolist()} for i in range(50)]})
    c.ok("collections/create", {"collectionName": "fill", "dimension": dim, "metricType": "L2"})
    assert readyz(base)["status"] == "ready"

    # Fill the disk: 200 rows x 1 KiB vectors a request until the server answers 507.
    refused = None
    for b in range(400):
        rows = [{"id": b * 200 + i, "vector": v.tolist()} for i, v in enumerate(rng.standard_normal((200, dim)).astype(np.float32))]
        r = c.raw("entities/insert", {"collectionName": "fill", "data": rows})
        if r.status_code == 507:
            refused = r
            break
        assert r.status_code == 200 and r.json()["code"] == 0, (b, r.status_code, r.text[:300])
    assert refused is not None, f"the {TMPFS_MIB} MiB disk never filled"
    body = refused.json()
    assert body["code"] == 9, body
    assert "disk" in body["message"], body

    # Degraded, not unready: reads still work.
    state = readyz(base)
    assert state["status"] == "degraded" and state["storage"] == "disk_full", state
    m = requests.get(f"{base}/metrics", timeout=10).text
    assert "vireo_storage_disk_full 1" in m, [l for l in m.splitlines() if "storage" in l]

    # Other writes that add data are refused up front, with the same code; reads and searches keep working.
    r = c.raw("entities/insert", {"collectionName": "keep", "data": [{"id": 1000, "vector": keep[0].tolist()}]})
    assert r.status_code == 507 and r.json()["code"] == 9, r.text
    assert c.count("keep") == 50
    hits = c.ok("entities/search", {"collectionName": "keep", "data": [keep[7].tolist()], "limit": 3})
    assert hits[0]["id"] == 7, hits
    got = c.ok("entities/get", {"collectionName": "keep", "id": [3, 4]})
    assert sorted(g["id"] for g in got) == [3, 4]

    # Deletes and drops succeed on the full disk.
    c.ok("entities/delete", {"collectionName": "keep", "filter": "id in [0, 1, 2]"})
    assert c.count("keep") == 47
    c.ok("collections/drop", {"collectionName": "fill"})
    assert "fill" not in c.ok("collections/list", {})

    # Space comes back (the dropped collection's files, and the filler): writes resume without a restart.
    os.remove(tmpfs_server.inside(f"{tmpfs_server.mount}/filler"))
    deadline = time.time() + 20
    while readyz(base)["status"] != "ready":
        assert time.time() < deadline, f"still degraded: {readyz(base)}"
        time.sleep(0.5)
    assert readyz(base)["storage"] == "ok"
    c.ok("entities/insert", {"collectionName": "keep", "data": [{"id": 1000, "vector": keep[0].tolist()}]})
    assert c.count("keep") == 48
    c.ok("collections/create", {"collectionName": "again", "dimension": 4})
    c.ok("entities/insert", {"collectionName": "again", "data": [{"id": 1, "vector": [1, 0, 0, 0]}]})
    assert "vireo_storage_disk_full 0" in requests.get(f"{base}/metrics", timeout=10).text
    assert tmpfs_server.stop() == 0
