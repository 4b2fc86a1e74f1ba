"""Online backup (`vireo backup`) beside a `vireo serve` that keeps accepting writes; the copy is served
as-is and answers like the source for every row acknowledged before the backup began; `vireo check`
passes on it, catches a flipped byte, and `vireo restore` puts it back into a new data directory."""
import subprocess
import threading
import time

import numpy as np
import requests

from conftest import BIN, Server

DIM = 16
BATCH = 50
SEED = 20251


def vireo(*args, timeout=300):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)


def vectors(first, n):
    """The rows' vectors are a function of their ids (seeded), so any process can recompute them."""
    return np.stack([np.random.default_rng(SEED + i).standard_normal(DIM).astype(np.float32) for i in range(first, first + n)])


def rows(first, n):
    v = vectors(first, n)
    return [{"id": first + i, "vector": v[i].tolist(), "tag": f"t{first + i}"} for i in range(n)]


def query_rows(client, upto):
    got = client.ok("entities/query", {"collectionName": "docs", "filter": f"id < {upto}", "outputFields": ["id", "vector", "tag"],
                                       "limit": 16384})
    return sorted(((r["id"], tuple(r["vector"]), r["tag"]) for r in got), key=lambda r: r[0])


def search(client, queries, upto):
    out = []
    for q in queries:
        hits = client.ok("entities/search", {"collectionName": "docs", "data": [q.tolist()], "limit": 10, "filter": f"id < {upto}",
                                             "outputFields": ["tag"], "searchParams": {"params": {"exact": True}}})
        out.append([(h["id"], round(h["distance"], 4), h["tag"]) for h in hits])
    return out


class Writer(threading.Thread):
    """Inserts batches of consecutive ids until stopped; `acked` is one past the last acknowledged id."""

    def __init__(self, base, first):
        super().__init__(daemon=True)
        self.base, self.next, self.acked = base, first, first
        self.stop = threading.Event()
        self.errors = []

    def run(self):
        session = requests.Session()
        while not self.stop.is_set():
            r = session.post(f"{self.base}/v2/vectordb/entities/insert", json={"collectionName": "docs", "data": rows(self.next, BATCH)},
                             timeout=60)
            if r.status_code != 200 or r.json()["code"] != 0:
                self.errors.append(r.text[:300])
                return
            self.next += BATCH
            self.acked = self.next


class Prober(threading.Thread):
    """Searches the server in a loop and records each answer's latency and failures."""

    def __init__(self, base, query):
        super().__init__(daemon=True)
        self.base, self.query = base, query
        self.stop = threading.Event()
        self.answers, self.failures = [], []  # answers: (start, end) of each successful search

    def run(self):
        session = requests.Session()
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                r = session.post(f"{self.base}/v2/vectordb/entities/search", json={"collectionName": "docs", "data": [self.query], "limit": 5},
                                 timeout=30)
                ok = r.status_code == 200 and r.json()["code"] == 0
            except requests.RequestException as e:
                ok, r = False, e
            if ok:
                self.answers.append((t, time.monotonic()))
            else:
                self.failures.append(str(r)[:300])
            time.sleep(0.002)


def test_backup_while_serving_then_serve_check_and_restore(tmp_path):
    src = Server(tmp_path / "src", "--seal-rows", "500").start()
    servers = [src]
    try:
        client = src.client()
        client.ok("collections/create", {"collectionName": "docs", "dimension": DIM, "metricType": "L2", "params": {"shardsNum": 2}})
        for first in range(0, 1500, 250):
            client.ok("entities/insert", {"collectionName": "docs", "data": rows(first, 250)})
        writer = Writer(src.base, 1500)
        prober = Prober(src.base, vectors(0, 1)[0].tolist())
        writer.start()
        prober.start()
        while writer.acked < 1700 and writer.is_alive():
            time.sleep(0.01)
        before = writer.acked  # every id below was acknowledged before the backup began
        out = tmp_path / "backup"
        b0 = time.monotonic()
        backup = vireo("backup", "--data-dir", str(tmp_path / "src"), "--out", str(out))
        b1 = time.monotonic()
        time.sleep(0.2)
        writer.stop.set()
        prober.stop.set()
        writer.join(timeout=60)
        prober.join(timeout=60)
        assert backup.returncode == 0, backup.stderr
        assert "backed up 1 collection(s)" in backup.stdout
        assert not writer.errors, writer.errors
        assert writer.acked > before, "the writer made no progress during the backup"
        # The server kept answering while the backup ran: no failed search, none that overlapped the backup
        # took long, and searches completed during it and after it.
        assert not prober.failures, prober.failures[:3]
        overlapping = [end - start for start, end in prober.answers if start < b1 and end > b0]
        assert overlapping and max(overlapping) < 5, overlapping
        assert any(end > b1 for _, end in prober.answers)
        print(f"backup (process start to exit) {b1 - b0:.2f}s; rows acked before it {before}, after {writer.acked}; "
              f"{len(overlapping)} searches overlapped it, slowest {max(overlapping) * 1000:.1f} ms")

        # Nothing is overwritten.
        again = vireo("backup", "--data-dir", str(tmp_path / "src"), "--out", str(out))
        assert again.returncode != 0 and "not empty" in again.stderr

        queries = np.random.default_rng(SEED - 1).standard_normal((8, DIM)).astype(np.float32)
        expected_rows = query_rows(client, before)
        assert [r[0] for r in expected_rows] == list(range(before))
        expected_hits = search(client, queries, before)

        check = vireo("check", "--data-dir", str(out))
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.strip().endswith("OK")
        check_src = vireo("check", "--data-dir", str(tmp_path / "src"))  # beside the running server
        assert check_src.returncode == 0, check_src.stdout + check_src.stderr
        verify = vireo("check", "--backup", str(out))
        assert verify.returncode == 0, verify.stdout + verify.stderr

        restored = tmp_path / "restored"
        restore = vireo("restore", "--from", str(out), "--data-dir", str(restored))
        assert restore.returncode == 0, restore.stderr

        for directory in (out, restored):
            copy = Server(directory).start()
            servers.append(copy)
            cc = copy.client()
            cc.ok("collections/load", {"collectionName": "docs"})
            assert query_rows(cc, before) == expected_rows, directory
            assert search(cc, queries, before) == expected_hits, directory
            assert before <= cc.count("docs") <= writer.acked
            copy.stop()
            servers.remove(copy)

        # A flipped byte in a backed-up file is caught by both checks, and restore refuses it.
        shard = out / "collections" / "1" / "shard-0" / "data.mdb"
        raw = bytearray(shard.read_bytes())
        # The first rows were sealed (--seal-rows 500): their vectors sit in a sealed vectors blob.
        at = next((a for a in (raw.find(v.tobytes()) for v in vectors(0, 20)) if a >= 0), -1)
        assert at >= 0, "no early row's vector was found in the shard copy"
        raw[at + 3] ^= 0x10
        shard.write_bytes(bytes(raw))
        bad = vireo("check", "--backup", str(out))
        assert bad.returncode == 1 and "collections/1/shard-0/data.mdb" in bad.stdout, bad.stdout
        bad = vireo("check", "--data-dir", str(out))
        assert bad.returncode == 1 and "checksum mismatch" in bad.stdout and "vectors of field 0" in bad.stdout, bad.stdout
        refused = vireo("restore", "--from", str(out), "--data-dir", str(tmp_path / "r2"))
        assert refused.returncode != 0 and "damaged" in refused.stderr, refused.stderr
    finally:
        for s in servers:
            s.stop()
