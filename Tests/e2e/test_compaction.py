"""Compaction over REST (`collections/compact`, `collections/get_compaction_state`) against the real binary:
deleted rows leave the segments, small segments merge, every live row and every exact search answer stays the
same, the server restarts onto the compacted data, and the data file does not grow when the freed space is
written again."""
import time

import numpy as np

from conftest import Server

DIM = 32


def wait_completed(client, job, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.ok("collections/get_compaction_state", {"jobID": job})
        assert state["compactionID"] == job
        if state["state"] == "Completed":
            return state
        assert state["state"] == "Executing", state
        time.sleep(0.05)
    raise AssertionError(f"compaction {job} did not complete")


def exact_ids(client, name, queries):
    res = client.ok("entities/search", {"collectionName": name, "data": queries.tolist(), "limit": 10,
                                        "searchParams": {"params": {"exact": True}}})
    return [[h["id"] for h in res[i * 10:(i + 1) * 10]] for i in range(len(queries))]


def live_ids(client, name):
    return sorted(r["id"] for r in client.ok("entities/query", {"collectionName": name, "filter": "id >= 0",
                                                                  "outputFields": ["id"], "limit": 16384}))


def data_file_bytes(data_dir):
    return sum(p.stat().st_size for p in data_dir.rglob("data.mdb") if "catalog" not in p.parts)


def test_compact_over_rest_frees_and_reuses_space(tmp_path):
    rng = np.random.default_rng(17)
    s = Server(tmp_path, "--seal-rows", "400", "--compaction-interval", "0").start()
    try:
        c = s.client()
        name = "compacted"
        c.ok("collections/create", {"collectionName": name, "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
            {"fieldName": "text", "dataType": "VarChar", "elementTypeParams": {"max_length": 1024}}]},
            "indexParams": [{"fieldName": "vec", "indexName": "vec", "metricType": "L2", "indexType": "FLAT"}]})
        vectors = rng.standard_normal((4000, DIM)).astype(np.float32)
        for s0 in range(0, 4000, 400):
            c.ok("entities/insert", {"collectionName": name, "data": [
                {"id": i, "vec": vectors[i].tolist(), "text": "x" * 400} for i in range(s0, s0 + 400)]})
        size_before_deletes = data_file_bytes(tmp_path)
        victims = [i for i in range(4000) if i % 5 != 0]
        for s0 in range(0, len(victims), 1000):
            c.ok("entities/delete", {"collectionName": name, "filter": f"id in {victims[s0:s0 + 1000]}"})
        queries = rng.standard_normal((8, DIM)).astype(np.float32)
        before = exact_ids(c, name, queries)
        ids_before = live_ids(c, name)
        assert len(ids_before) == 800

        job = c.ok("collections/compact", {"collectionName": name})["compactionID"]
        state = wait_completed(c, job)
        assert state["completePlanNumber"] >= 1
        # The newest job of a collection is found by its name too.
        assert c.ok("collections/get_compaction_state", {"collectionName": name})["compactionID"] == job
        assert exact_ids(c, name, queries) == before
        assert live_ids(c, name) == ids_before

        # The freed pages are written again: as many new rows as were deleted fit in far less than new space.
        # Without reuse the file would grow about 1.8x (3,200 rows at the ~310 bytes/row the first 4,000
        # took). LMDB reuses a freed page only once no reader snapshot older than its freeing is open, so the
        # figure depends on when seals and the compaction's readers end: 1.18x or 1.35x here (since rows
        # carry their insert time); 1.5x still tells reuse from none.
        fresh = rng.standard_normal((3200, DIM)).astype(np.float32)
        for s0 in range(0, 3200, 400):
            c.ok("entities/insert", {"collectionName": name, "data": [
                {"id": 10_000 + i, "vec": fresh[i].tolist(), "text": "y" * 400} for i in range(s0, s0 + 400)]})
        wait_completed(c, c.ok("collections/compact", {"collectionName": name})["compactionID"])
        growth = data_file_bytes(tmp_path) / size_before_deletes
        assert growth <= 1.5, f"data file grew {growth:.2f}x over its size before the deletes"
        ids_after = live_ids(c, name)
        assert len(ids_after) == 4000

        # A restart serves the compacted data.
        s.stop()
        s = Server(tmp_path, "--seal-rows", "400", "--compaction-interval", "0").start()
        c = s.client()
        c.ok("collections/load", {"collectionName": name})
        assert live_ids(c, name) == ids_after
        unknown = c.ok("collections/get_compaction_state", {"jobID": "42"})
        assert unknown["state"] == "UndefiedState"
        assert c.call("collections/compact", {"collectionName": "missing"})["code"] == 100
    finally:
        s.stop()
