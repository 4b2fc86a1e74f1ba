"""Durability and shutdown: kill -9 during a concurrent ingest loses no acknowledged row; SIGTERM
finishes in-flight requests and exits cleanly. Also /healthz, /readyz, /metrics, /openapi.json."""
import signal
import threading

import numpy as np
import requests

from conftest import Server

DIM = 16
BATCH = 50


def ingest_until(server, collection, writers, stop_after_acks, on_enough):
    """`writers` threads insert disjoint batches; after `stop_after_acks` acknowledged batches,
    `on_enough()` runs (once). Returns (acked batches, attempted batches)."""
    acked, attempted = [], []
    lock = threading.Lock()
    fired = threading.Event()

    def writer(w):
        rng = np.random.default_rng(w)
        session = requests.Session()
        for b in range(10_000):
            first = (w * 10_000 + b) * BATCH
            rows = [{"id": first + i, "vector": rng.standard_normal(DIM).astype(np.float32).tolist(), "w": w} for i in range(BATCH)]
            with lock:
                attempted.append(first)
            try:
                r = session.post(f"{server.base}/v2/vectordb/entities/insert", json={"collectionName": collection, "data": rows}, timeout=30)
            except requests.RequestException:
                return  # server gone
            if r.status_code != 200 or r.json()["code"] != 0:
                return
            with lock:
                acked.append(first)
                enough = len(acked) >= stop_after_acks and not fired.is_set()
                if enough:
                    fired.set()
            if enough:
                on_enough()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert fired.is_set(), "the ingest never reached the trigger"
    return acked, attempted


def batches_present(client, collection, firsts):
    out = {}
    for first in firsts:
        got = client.ok("entities/query", {"collectionName": collection, "filter": f"id >= {first} and id < {first + BATCH}",
                                           "outputFields": ["count(*)"]})[0]["count(*)"]
        out[first] = got
    return out


def test_kill9_during_ingest_loses_no_acknowledged_row(tmp_path):
    data = tmp_path / "data"
    s = Server(data).start()
    c = s.client()
    c.ok("collections/create", {"collectionName": "crash", "dimension": DIM, "metricType": "L2"})
    acked, attempted = ingest_until(s, "crash", writers=4, stop_after_acks=40, on_enough=s.kill9)
    assert s.proc.returncode == -signal.SIGKILL
    s2 = Server(data).start()
    c2 = s2.client()
    counts = batches_present(c2, "crash", attempted)
    for first in acked:
        assert counts[first] == BATCH, f"acknowledged batch {first} lost rows: {counts[first]}"
    for first in set(attempted) - set(acked):
        assert counts[first] in (0, BATCH), f"batch {first} is partially present ({counts[first]} rows)"  # one transaction
    assert c2.count("crash") == sum(counts.values())
    # The reopened collection is fully usable.
    c2.ok("entities/insert", {"collectionName": "crash", "data": [{"id": -1, "vector": [0.0] * DIM}]})
    assert c2.ok("entities/search", {"collectionName": "crash", "data": [[0.0] * DIM], "limit": 1})[0]["id"] == -1
    assert s2.stop() == 0


def test_sigterm_finishes_in_flight_requests(tmp_path):
    data = tmp_path / "data"
    s = Server(data).start()
    c = s.client()
    c.ok("collections/create", {"collectionName": "term", "dimension": DIM})
    acked, attempted = ingest_until(s, "term", writers=3, stop_after_acks=20, on_enough=lambda: s.proc.send_signal(signal.SIGTERM))
    assert s.proc.wait(timeout=60) == 0, s.stderr()
    assert "stopped" in s.stderr()
    s2 = Server(data).start()
    counts = batches_present(s2.client(), "term", attempted)
    assert all(counts[f] == BATCH for f in acked)
    assert all(counts[f] in (0, BATCH) for f in attempted)
    assert s2.stop() == 0


def test_health_ready_metrics_openapi(server, client, name):
    assert requests.get(f"{server.base}/healthz", timeout=10).json()["status"] == "ok"
    assert requests.get(f"{server.base}/readyz", timeout=10).status_code == 200
    client.ok("collections/create", {"collectionName": name, "dimension": 4})
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": [1, i, 0, 0]} for i in range(7)]})
    client.ok("entities/search", {"collectionName": name, "data": [[1, 0, 0, 0]]})
    m = requests.get(f"{server.base}/metrics", timeout=10).text
    assert 'vireo_requests_total{endpoint="/v2/vectordb/entities/insert",code="0"}' in m
    assert "vireo_request_duration_seconds_bucket" in m
    assert f'vireo_collection_rows{{collection="{name}"}} 7' in m
    doc = requests.get(f"{server.base}/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.") and "/v2/vectordb/entities/search" in doc["paths"]
    client.ok("collections/drop", {"collectionName": name})


def test_second_process_on_the_data_dir_is_refused(tmp_path):
    """One process owns a data directory: a second `vireo serve` or CLI on it fails at once with the holder's pid,
    the first keeps serving, and after it exits the directory opens again (the lock dies with its process)."""
    import subprocess

    from conftest import BIN

    data = tmp_path / "data"
    s = Server(data).start()
    try:
        c = s.client()
        c.ok("collections/create", {"collectionName": "locked", "dimension": 4})
        c.ok("entities/insert", {"collectionName": "locked", "data": [{"id": 1, "vector": [1, 0, 0, 0]}]})
        for argv in ([str(BIN), "serve", "--data", str(data), "--host", "127.0.0.1", "--port", "0"],
                     [str(BIN), "collection", "drop", "locked", "--data-dir", str(data)]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert r.returncode != 0, (argv, r.stdout, r.stderr)
            out = r.stdout + r.stderr
            assert "in use by another process" in out and f"pid {s.proc.pid}" in out, out
        # Commands that only read open read-only: they run beside the owner and see what it committed.
        r = subprocess.run([str(BIN), "info", "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and '"locked"' in r.stdout, r.stdout + r.stderr
        assert c.count("locked") == 1  # the owner is unaffected
    finally:
        assert s.stop() == 0, s.stderr()
    s2 = Server(data).start()
    try:
        assert s2.client().count("locked") == 1
    finally:
        s2.stop()
