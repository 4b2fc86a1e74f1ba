"""Milvus' data model over REST v2 (the flows of Tests/e2e_pymilvus/test_metric_model.py): a collection stores
its vectors exactly as inserted, and the metric belongs to the index (indexes/create picks it; indexes/drop +
indexes/create may pick another). Every expected value comes from numpy over the RAW inserted vectors, whose norms
are spread over 0.05 … 20 so that L2, IP and COSINE rank them differently."""
import pathlib
import sys
import time

import numpy as np
import pytest

from conftest import Server

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e_common"))
from metric_flows import (BUILD, DIM, K, METRICS, MIN_OVERLAP, N, NLIST, NQ, PQ_DIM, W_BASE, W_BATCH, W_DIM,  # noqa: E402
                          W_FIRST, W_MAX_BATCHES, Writer, bits, exact_topk, scores, search_params, spread_vectors)

SEARCH = search_params(NLIST)

# --- REST helpers ------------------------------------------------------------------------------------

def wait_loaded(client, name, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        state = client.ok("collections/get_load_state", {"collectionName": name})
        if state["loadState"] == "LoadStateLoaded":
            return
        assert time.monotonic() < deadline, f"{name} not loaded after {timeout} s: {state}"
        time.sleep(0.05)


def create_and_fill(client, name, base, ids, batch=1500):
    """A collection from a schema alone (no indexParams, no metric), then the rows."""
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"autoID": False, "enableDynamicField": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": base.shape[1]}},
        ]},
        "params": {"consistencyLevel": "Strong"},
    })
    assert client.ok("indexes/list", {"collectionName": name}) == []
    for s in range(0, len(ids), batch):
        rows = [{"id": int(i), "vec": v.tolist()} for i, v in zip(ids[s:s + batch], base[s:s + batch])]
        assert client.ok("entities/insert", {"collectionName": name, "data": rows})["insertCount"] == len(rows)


def describe_index(client, name):
    names = client.ok("indexes/list", {"collectionName": name})
    assert len(names) == 1, names
    desc = client.ok("indexes/describe", {"collectionName": name, "indexName": names[0]})
    assert len(desc) == 1, desc
    return desc[0]


def create_index(client, name, index_type, metric, field="vec"):
    client.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": field, "indexName": f"{field}_idx", "metricType": metric, "indexType": index_type, "params": BUILD[index_type]}]})
    desc = describe_index(client, name)
    assert desc["fieldName"] == field and desc["indexName"] == f"{field}_idx"
    assert desc["indexType"] == index_type and desc["metricType"] == metric, desc
    client.ok("collections/load", {"collectionName": name})
    wait_loaded(client, name)


def search(client, name, queries, params, metric=None, field="vec", limit=K):
    """entities/search; hits split per query (the flat list + `topks`)."""
    sp = {"params": params}
    if metric is not None:
        sp["metricType"] = metric
    reply = client.call("entities/search", {"collectionName": name, "data": np.asarray(queries).tolist(), "annsField": field,
                                            "limit": limit, "searchParams": sp})
    assert reply.get("code") == 0, reply
    flat = reply["data"]
    topks = reply.get("topks") or [limit] * len(queries)
    assert len(topks) == len(queries) and sum(topks) == len(flat), (topks, len(flat))
    out, at = [], 0
    for t in topks:
        out.append(flat[at:at + t])
        at += t
    return out


def check_search(client, name, base, ids, queries, metric, params, min_overlap, field="vec",
                 with_metric=False):
    """Top-K overlap with numpy's exact ranking over the raw rows ≥ min_overlap on average, scores ordered the
    metric's way and equal to numpy's for every hit."""
    res = search(client, name, queries, params, metric if with_metric else None, field)
    by_id = {int(i): row for row, i in enumerate(ids)}
    overlaps = []
    for q, hits in zip(queries, res):
        got = [h["id"] for h in hits]
        assert len(got) == K and len(set(got)) == K, got
        overlaps.append(len(set(got) & set(exact_topk(base, ids, q, metric))) / K)
        dist = [h["distance"] for h in hits]
        assert dist == sorted(dist, reverse=metric != "L2"), (metric, dist)
        s = scores(base[[by_id[i] for i in got]], q, metric)
        np.testing.assert_allclose(dist, s, rtol=1e-3, atol=1e-3, err_msg=f"{metric} scores of {got}")
    assert np.mean(overlaps) >= min_overlap, (metric, float(np.mean(overlaps)), overlaps)


def check_vectors_exact(client, name, base, ids, sample, field="vec"):
    """entities/query (all rows) and entities/get (a sample) return the inserted float32 values bit for bit."""
    by_id = {int(i): row for row, i in enumerate(ids)}
    rows = client.ok("entities/query", {"collectionName": name, "filter": "id >= 0", "outputFields": [field], "limit": len(ids)})
    assert sorted(r["id"] for r in rows) == sorted(int(i) for i in ids)
    got = np.array([bits(r[field]) for r in rows])
    want = base[[by_id[r["id"]] for r in rows]].view(np.uint32)
    assert np.array_equal(got, want), "entities/query returned vectors that differ from the inserted ones"
    picked = [int(i) for i in sample]
    rows = client.ok("entities/get", {"collectionName": name, "id": picked, "outputFields": [field]})
    assert sorted(r["id"] for r in rows) == sorted(picked)
    for r in rows:
        assert np.array_equal(bits(r[field]), base[by_id[r["id"]]].view(np.uint32)), r["id"]


def assert_metric_refused(client, name, queries, metric, params):
    reply = client.call("entities/search", {"collectionName": name, "data": np.asarray(queries).tolist(), "limit": K,
                                            "searchParams": {"metricType": metric, "params": params}})
    assert reply.get("code") not in (0, None), reply
    assert "metric" in reply.get("message", "").lower(), reply


# --- indexes/create picks the metric; vectors stay raw -------------------------------------------------

@pytest.mark.parametrize("index_type", ["FLAT", "HNSW", "IVF_FLAT", "IVF_PQ"])
@pytest.mark.parametrize("metric", METRICS)
def test_index_metric_ranks_raw_vectors(client, name, metric, index_type):
    dim = PQ_DIM if index_type == "IVF_PQ" else DIM
    rng = np.random.default_rng(100 + METRICS.index(metric) * 10 + list(BUILD).index(index_type))
    base = spread_vectors(rng, N, dim)
    ids = rng.permutation(10 * N)[:N].astype(np.int64)  # not 0..N-1: results must map ids, not positions
    queries = spread_vectors(rng, NQ, dim, 0.1, 10.0)
    create_and_fill(client, name, base, ids)
    create_index(client, name, index_type, metric)
    # (IVF_PQ with refine_k: the returned candidates are re-ranked exactly, so their scores are exact.)
    check_search(client, name, base, ids, queries, metric, SEARCH[index_type], MIN_OVERLAP[index_type])
    check_search(client, name, base, ids, queries[:5], metric, SEARCH[index_type], MIN_OVERLAP[index_type], with_metric=True)
    check_vectors_exact(client, name, base, ids, rng.choice(ids, 50, replace=False))
    client.ok("collections/drop", {"collectionName": name})


# --- indexes/drop, then indexes/create with another metric -----------------------------------------------

@pytest.mark.parametrize("first,second", [
    (("HNSW", "COSINE"), ("IVF_FLAT", "L2")),
    (("FLAT", "L2"), ("HNSW", "IP")),
    (("IVF_FLAT", "IP"), ("FLAT", "COSINE")),
])
def test_reindex_with_another_metric(client, name, first, second):
    rng = np.random.default_rng(200 + METRICS.index(first[1]))
    base = spread_vectors(rng, N, DIM)
    ids = np.arange(N, dtype=np.int64)
    queries = spread_vectors(rng, NQ, DIM, 0.1, 10.0)
    create_and_fill(client, name, base, ids)
    create_index(client, name, *first)
    check_search(client, name, base, ids, queries, first[1], SEARCH[first[0]], MIN_OVERLAP[first[0]])
    client.ok("collections/release", {"collectionName": name})
    client.ok("indexes/drop", {"collectionName": name, "indexName": "vec_idx"})
    assert client.ok("indexes/list", {"collectionName": name}) == []
    create_index(client, name, *second)
    check_search(client, name, base, ids, queries, second[1], SEARCH[second[0]], MIN_OVERLAP[second[0]])
    check_vectors_exact(client, name, base, ids, ids[::37])
    assert_metric_refused(client, name, queries[:1], first[1], SEARCH[second[0]])
    client.ok("collections/drop", {"collectionName": name})


def test_create_index_while_another_exists_is_refused(client, name):
    """One index per vector field: a second indexes/create with another metric is an error until indexes/drop
    (Milvus: code 65535 "CreateIndex failed: at most one distinct index is allowed per field"). The first stays."""
    rng = np.random.default_rng(5)
    base = spread_vectors(rng, 300, DIM)
    ids = np.arange(300, dtype=np.int64)
    create_and_fill(client, name, base, ids)
    create_index(client, name, "FLAT", "IP")
    client.ok("collections/release", {"collectionName": name})
    reply = client.call("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "vec", "indexName": "vec_idx", "metricType": "L2", "indexType": "FLAT", "params": {}}]})
    assert reply.get("code") not in (0, None), reply
    assert describe_index(client, name)["metricType"] == "IP"
    client.ok("collections/load", {"collectionName": name})
    wait_loaded(client, name)
    check_search(client, name, base, ids, spread_vectors(rng, 3, DIM), "IP", {}, 0.95)
    client.ok("collections/drop", {"collectionName": name})


# --- a search metric that differs from the index's metric ---------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_search_metric_must_match_the_index(client, name, metric):
    """Milvus: "metric type not match: invalid parameter[expected=IP][actual=L2]" (a non-zero code)."""
    rng = np.random.default_rng(300 + METRICS.index(metric))
    base = spread_vectors(rng, 500, DIM)
    ids = np.arange(500, dtype=np.int64)
    queries = spread_vectors(rng, 5, DIM, 0.1, 10.0)
    create_and_fill(client, name, base, ids)
    create_index(client, name, "HNSW", metric)
    check_search(client, name, base, ids, queries, metric, SEARCH["HNSW"], 0.95)  # no metric given: the index's
    check_search(client, name, base, ids, queries, metric, SEARCH["HNSW"], 0.95, with_metric=True)
    for other in METRICS:
        if other != metric:
            assert_metric_refused(client, name, queries[:1], other, SEARCH["HNSW"])
    client.ok("collections/drop", {"collectionName": name})


# --- quick create ------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_quick_create_indexes_with_its_metric(client, name, metric):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM, "metricType": metric,
                                     "params": {"consistencyLevel": "Strong"}})
    desc = client.ok("collections/describe", {"collectionName": name})
    assert desc["load"] == "LoadStateLoaded"
    assert [(i["fieldName"], i["metricType"]) for i in desc["indexes"]] == [("vector", metric)], desc["indexes"]
    idx = describe_index(client, name)
    assert idx["fieldName"] == "vector" and idx["metricType"] == metric, idx
    rng = np.random.default_rng(400 + METRICS.index(metric))
    base = spread_vectors(rng, N, DIM)
    ids = np.arange(N, dtype=np.int64)
    ins = client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": base[i].tolist()} for i in range(N)]})
    assert ins["insertCount"] == N
    queries = spread_vectors(rng, NQ, DIM, 0.1, 10.0)
    check_search(client, name, base, ids, queries, metric, {}, 0.95, field="vector")
    check_search(client, name, base, ids, queries[:5], metric, {}, 0.95, field="vector", with_metric=True)
    check_vectors_exact(client, name, base, ids, ids[::29], field="vector")
    client.ok("collections/drop", {"collectionName": name})


# --- inserts while indexes/create runs, then a restart --------------------------------------------------

def check_all_rows(client, name, base, extra, queries):
    """count, ids and a sample of vectors of all acknowledged rows; searches find the rows."""
    assert client.count(name) == W_BASE + len(extra)
    assert client.count(name, f"id < {W_FIRST}") == W_BASE
    got_ids = []
    for lo in range(W_FIRST, W_FIRST + W_MAX_BATCHES * W_BATCH, 10_000):  # pages under Milvus' 16,384 query window
        rows = client.ok("entities/query", {"collectionName": name, "filter": f"id >= {lo} and id < {lo + 10_000}",
                                            "outputFields": ["id"], "limit": 16_384})
        got_ids += [r["id"] for r in rows]
    assert sorted(got_ids) == sorted(extra), "the rows inserted during indexes/create differ from those acknowledged"
    ids = np.concatenate([np.arange(W_BASE, dtype=np.int64), np.array(sorted(extra), dtype=np.int64)])
    all_vecs = np.concatenate([base, np.array([extra[i] for i in sorted(extra)], dtype=np.float32).reshape(-1, W_DIM)])
    rng = np.random.default_rng(9)
    sample = [int(i) for i in rng.choice(ids[:W_BASE], 25, replace=False)] + [int(i) for i in rng.choice(ids[W_BASE:], 25, replace=False)]
    got = client.ok("entities/get", {"collectionName": name, "id": sample, "outputFields": ["vec"]})
    assert sorted(r["id"] for r in got) == sorted(sample)
    pos = {int(i): p for p, i in enumerate(ids)}
    for r in got:
        assert np.array_equal(bits(r["vec"]), all_vecs[pos[r["id"]]].view(np.uint32)), r["id"]
    # Each row inserted during the build is found by a search for its own vector (COSINE 1.0).
    own = [int(i) for i in rng.choice(ids[W_BASE:], 20, replace=False)]
    res = search(client, name, np.array([extra[i] for i in own]), {"ef": 128})
    found = sum(i in [h["id"] for h in hits] for i, hits in zip(own, res))
    assert found >= 19, f"only {found}/20 rows inserted during indexes/create are found by their own vector"
    check_search(client, name, all_vecs, ids, queries, "COSINE", {"ef": 128}, 0.9)


def test_inserts_during_create_index_are_kept(tmp_path):
    data = tmp_path / "data"
    server = Server(data).start()
    try:
        client = server.client()
        name = "writer"
        rng = np.random.default_rng(11)
        base = spread_vectors(rng, W_BASE, W_DIM)
        create_and_fill(client, name, base, np.arange(W_BASE, dtype=np.int64), batch=2000)
        client.ok("collections/flush", {"collectionName": name})
        writer_client = server.client()  # its own HTTP session: the writer runs on another thread
        writer = Writer(lambda rows: writer_client.ok("entities/insert", {"collectionName": name, "data": rows})["insertCount"], seed=12)
        writer.start()
        try:
            writer.wait_for(2)
            t0 = time.monotonic()
            client.ok("indexes/create", {"collectionName": name, "indexParams": [
                {"fieldName": "vec", "indexName": "vec_idx", "metricType": "COSINE", "indexType": "HNSW",
                 "params": {"M": 16, "efConstruction": 200}}]})
            # REST indexes/create may return before the build ends: wait (with a deadline) until it has finished.
            deadline = time.monotonic() + 120
            while (d := describe_index(client, name))["indexState"] != "Finished":
                assert d["indexState"] != "Failed" and time.monotonic() < deadline, d
                time.sleep(0.05)
            t1 = time.monotonic()
            writer.wait_for(writer.batches + 2)
        finally:
            writer.stop.set()
            writer.join(timeout=60)
        assert not writer.is_alive() and writer.error is None, writer.error
        assert [c for c in writer.calls if c[0] < t1 and c[1] > t0], "no insert was in flight while the index was built"
        extra = dict(writer.acked)
        assert d["metricType"] == "COSINE"
        client.ok("collections/load", {"collectionName": name})
        wait_loaded(client, name)
        queries = spread_vectors(rng, NQ, W_DIM, 0.1, 10.0)
        check_all_rows(client, name, base, extra, queries)
        # Restart on the same data directory: the same rows, vectors, index metric and answers.
        assert server.stop() == 0, server.stderr()
        server = Server(data).start()
        client = server.client()
        client.ok("collections/load", {"collectionName": name})
        wait_loaded(client, name)
        assert describe_index(client, name)["metricType"] == "COSINE"
        check_all_rows(client, name, base, extra, queries)
        client.ok("collections/drop", {"collectionName": name})
        assert server.stop() == 0, server.stderr()
    finally:
        server.stop()
