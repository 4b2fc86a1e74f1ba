"""Milvus' data model through pymilvus: a collection stores its vectors exactly as inserted, and the metric
belongs to the index (create_index picks it; drop_index + create_index may pick another). Every expected value
comes from numpy over the RAW inserted vectors, whose norms are spread over 0.05 … 20 so that L2, IP and COSINE
rank them differently (a server that normalises stored vectors, or ranks by the wrong metric, fails).

Runs against `vireo serve` (default) and Milvus Lite (E2E_TARGET=lite, see conftest.py); the cases Lite cannot
check are skipped there with the Lite behaviour that was observed."""
import pathlib
import sys
import time

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException

from conftest import TARGET, VireoServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e_common"))
from metric_flows import (BUILD, DIM, K, METRICS, MIN_OVERLAP, N, NLIST, NQ, PQ_DIM, W_BASE, W_BATCH, W_DIM,  # noqa: E402
                          W_FIRST, W_MAX_BATCHES, Writer, exact_topk, scores, spread_vectors, search_params)

# nprobe = nlist makes IVF exact. Milvus Lite 3.2.2 ignores pymilvus 3's flat build params (GRPC_SURFACE.md) and
# always builds 128 lists, so there all of its lists are probed with nprobe = 128.
SEARCH = search_params(NLIST if TARGET == "vireo" else 128)

def check_search(client, name, base, ids, queries, metric, search, min_overlap, field="vec",
                 with_metric=False):
    """Search `queries`; top-K overlap with numpy's exact ranking over the raw rows ≥ min_overlap on average, scores
    ordered the metric's way and equal to numpy's for every hit."""
    params = {"params": search}
    if with_metric:
        params["metric_type"] = metric
    res = client.search(name, queries.tolist(), limit=K, anns_field=field, search_params=params)
    assert len(res) == len(queries)
    by_id = {int(i): row for row, i in enumerate(ids)}
    overlaps = []
    for q, hits in zip(queries, res):
        got = [h["id"] for h in hits]
        assert len(got) == K and len(set(got)) == K, got
        want = exact_topk(base, ids, q, metric)
        overlaps.append(len(set(got) & set(want)) / K)
        dist = [h["distance"] for h in hits]
        assert dist == sorted(dist, reverse=metric != "L2"), (metric, dist)
        s = scores(base[[by_id[i] for i in got]], q, metric)
        np.testing.assert_allclose(dist, s, rtol=1e-3, atol=1e-3, err_msg=f"{metric} scores of {got}")
    assert np.mean(overlaps) >= min_overlap, (metric, float(np.mean(overlaps)), overlaps)


def check_vectors_exact(client, name, base, ids, sample, field="vec"):
    """query (all rows) and get (a sample) return the inserted float32 values bit for bit."""
    by_id = {int(i): row for row, i in enumerate(ids)}
    rows = client.query(name, filter="id >= 0", output_fields=[field], limit=len(ids))
    assert sorted(r["id"] for r in rows) == sorted(int(i) for i in ids)
    got = np.array([np.asarray(r[field], dtype=np.float32) for r in rows])
    want = base[[by_id[r["id"]] for r in rows]]
    assert got.shape == want.shape
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), "query returned vectors that differ from the inserted ones"
    picked = [int(i) for i in sample]
    rows = client.get(name, ids=picked, output_fields=[field])
    assert sorted(r["id"] for r in rows) == sorted(picked)
    for r in rows:
        v = np.asarray(r[field], dtype=np.float32)
        assert np.array_equal(v.view(np.uint32), base[by_id[r["id"]]].view(np.uint32)), r["id"]


def test_data_makes_the_metrics_disagree():
    """The oracle's premise: on these rows the three metrics rank differently (no server involved)."""
    rng = np.random.default_rng(1)
    base, queries = spread_vectors(rng, N, DIM), spread_vectors(rng, NQ, DIM, 0.1, 10.0)
    norms = np.linalg.norm(base, axis=1)
    assert norms.min() < 0.1 and norms.max() > 15
    ids = np.arange(N)
    for a, b in [("L2", "IP"), ("L2", "COSINE"), ("IP", "COSINE")]:
        same = np.mean([len(set(exact_topk(base, ids, q, a)) & set(exact_topk(base, ids, q, b))) / K for q in queries])
        assert same < 0.5, (a, b, same)


# --- helpers -----------------------------------------------------------------------------------------

def schema_without_index(dim):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def create_and_fill(client, name, base, ids, batch=1500):
    """A collection from a schema alone (no index, no metric), then the rows."""
    client.create_collection(name, schema=schema_without_index(base.shape[1]), consistency_level="Strong")
    assert client.list_indexes(name) == []
    for s in range(0, len(ids), batch):
        res = client.insert(name, [{"id": int(i), "vec": v.tolist()} for i, v in zip(ids[s:s + batch], base[s:s + batch])])
        assert res["insert_count"] == len(ids[s:s + batch])


def create_index(client, name, index_type, metric, field="vec"):
    ip = client.prepare_index_params()
    ip.add_index(field_name=field, index_type=index_type, metric_type=metric, params=BUILD[index_type])
    client.create_index(name, ip)
    desc = client.describe_index(name, client.list_indexes(name)[0])
    assert desc["field_name"] == field
    assert desc["index_type"] == index_type and desc["metric_type"] == metric, desc
    client.load_collection(name)
    assert client.get_load_state(name)["state"].name == "Loaded"


# --- create_index picks the metric; vectors stay raw -----------------------------------------------------

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
    # Scores are checked for IVF_PQ too: Vireo re-ranks limit × refine_k candidates exactly (Milvus itself has no
    # refine_k for IVF_PQ and would return PQ distances); Milvus Lite 3.2.2 answers a collection this small exactly
    # whatever the index (observed: IVF_PQ with nprobe = 1 gives the exact top-10 and exact distances).
    check_search(client, name, base, ids, queries, metric, SEARCH[index_type], MIN_OVERLAP[index_type])
    # The metric given explicitly, equal to the index's, is the same search.
    check_search(client, name, base, ids, queries[:5], metric, SEARCH[index_type], MIN_OVERLAP[index_type], with_metric=True)
    check_vectors_exact(client, name, base, ids, rng.choice(ids, 50, replace=False))
    client.drop_collection(name)


# --- drop_index, then create_index with another metric -----------------------------------------------

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
    client.release_collection(name)
    index_name = client.list_indexes(name)[0]
    client.drop_index(name, index_name)
    assert client.list_indexes(name) == []
    create_index(client, name, *second)
    check_search(client, name, base, ids, queries, second[1], SEARCH[second[0]], MIN_OVERLAP[second[0]])
    check_vectors_exact(client, name, base, ids, ids[::37])
    if TARGET == "vireo":  # (Milvus Lite does not check the metric: see test_search_metric_must_match_the_index)
        with pytest.raises(MilvusException) as e:
            client.search(name, queries[:1].tolist(), limit=K, search_params={"metric_type": first[1], "params": SEARCH[second[0]]})
        assert "metric" in str(e.value.message).lower(), e.value
    client.drop_collection(name)


def test_create_index_while_another_exists_is_refused(client, name):
    """One index per vector field: a second create_index with another metric is an error until drop_index (Milvus
    and Milvus Lite: "index already exists ..."/"at most one distinct index is allowed per field"). The first stays."""
    rng = np.random.default_rng(5)
    base = spread_vectors(rng, 300, DIM)
    ids = np.arange(300, dtype=np.int64)
    create_and_fill(client, name, base, ids)
    create_index(client, name, "FLAT", "IP")
    client.release_collection(name)
    ip = client.prepare_index_params()
    ip.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
    with pytest.raises(MilvusException):
        client.create_index(name, ip)
    desc = client.describe_index(name, client.list_indexes(name)[0])
    assert desc["metric_type"] == "IP"
    client.load_collection(name)
    q = spread_vectors(rng, 3, DIM)
    check_search(client, name, base, ids, q, "IP", {}, 0.95)
    client.drop_collection(name)


# --- a search metric that differs from the index's metric --------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_search_metric_must_match_the_index(client, name, metric):
    rng = np.random.default_rng(300 + METRICS.index(metric))
    base = spread_vectors(rng, 500, DIM)
    ids = np.arange(500, dtype=np.int64)
    queries = spread_vectors(rng, 5, DIM, 0.1, 10.0)
    create_and_fill(client, name, base, ids)
    create_index(client, name, "HNSW", metric)
    check_search(client, name, base, ids, queries, metric, SEARCH["HNSW"], 0.95)  # no metric given: the index's
    check_search(client, name, base, ids, queries, metric, SEARCH["HNSW"], 0.95, with_metric=True)
    if TARGET == "lite":
        client.drop_collection(name)
        pytest.skip("Milvus Lite 3.2.2 does not check the search metric against the index's: it searches with the "
                    "requested one (observed: an IP index searched with metric_type L2 returned L2 distances). Milvus "
                    "refuses: 'metric type not match: invalid parameter[expected=IP][actual=L2]'")
    for other in METRICS:
        if other == metric:
            continue
        with pytest.raises(MilvusException) as e:
            client.search(name, queries[:1].tolist(), limit=K, search_params={"metric_type": other, "params": SEARCH["HNSW"]})
        assert e.value.code != 0
        assert "metric" in str(e.value.message).lower(), e.value
    client.drop_collection(name)


# --- quick create ------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_quick_create_indexes_with_its_metric(client, name, metric):
    client.create_collection(name, dimension=DIM, metric_type=metric, consistency_level="Strong")
    indexes = client.list_indexes(name)
    assert len(indexes) == 1
    desc = client.describe_index(name, indexes[0])
    assert desc["field_name"] == "vector" and desc["metric_type"] == metric, desc
    assert client.get_load_state(name)["state"].name == "Loaded"
    rng = np.random.default_rng(400 + METRICS.index(metric))
    base = spread_vectors(rng, N, DIM)
    ids = np.arange(N, dtype=np.int64)
    res = client.insert(name, [{"id": i, "vector": base[i].tolist()} for i in range(N)])
    assert res["insert_count"] == N
    queries = spread_vectors(rng, NQ, DIM, 0.1, 10.0)
    # AUTOINDEX: no search params; ≥ 0.95 of the exact top-10 (Milvus' AUTOINDEX aims at high recall).
    check_search(client, name, base, ids, queries, metric, {}, 0.95, field="vector")
    check_search(client, name, base, ids, queries[:5], metric, {}, 0.95, field="vector", with_metric=True)
    check_vectors_exact(client, name, base, ids, ids[::29], field="vector")
    client.drop_collection(name)


# --- inserts while create_index runs, then a restart ---------------------------------------------------

def check_all_rows(client, name, base, extra, queries):
    """count, ids and a sample of vectors of all acknowledged rows; searches find the rows."""
    n = W_BASE + len(extra)
    assert client.query(name, filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"] == n
    assert client.query(name, filter=f"id < {W_FIRST}", output_fields=["count(*)"])[0]["count(*)"] == W_BASE
    got_ids = []
    for lo in range(W_FIRST, W_FIRST + W_MAX_BATCHES * W_BATCH, 10_000):  # pages under Milvus' 16,384 query window
        rows = client.query(name, filter=f"id >= {lo} and id < {lo + 10_000}", output_fields=["id"], limit=16_384)
        got_ids += [r["id"] for r in rows]
    assert sorted(got_ids) == sorted(extra), "the rows inserted during create_index differ from those acknowledged"
    ids = np.concatenate([np.arange(W_BASE, dtype=np.int64), np.array(sorted(extra), dtype=np.int64)])
    all_vecs = np.concatenate([base, np.array([extra[i] for i in sorted(extra)], dtype=np.float32).reshape(-1, W_DIM)])
    rng = np.random.default_rng(9)
    sample = [int(i) for i in rng.choice(ids[:W_BASE], 25, replace=False)] + [int(i) for i in rng.choice(ids[W_BASE:], 25, replace=False)]
    got = client.get(name, ids=sample, output_fields=["vec"])
    assert sorted(r["id"] for r in got) == sorted(sample)
    pos = {int(i): p for p, i in enumerate(ids)}
    for r in got:
        assert np.array_equal(np.asarray(r["vec"], dtype=np.float32).view(np.uint32), all_vecs[pos[r["id"]]].view(np.uint32)), r["id"]
    # Each row inserted during the build is found by a search for its own vector (COSINE 1.0).
    own = [int(i) for i in rng.choice(ids[W_BASE:], 20, replace=False)]
    res = client.search(name, [extra[i].tolist() for i in own], limit=K, anns_field="vec", search_params={"params": {"ef": 128}})
    found = sum(i in [h["id"] for h in hits] for i, hits in zip(own, res))
    assert found >= 19, f"only {found}/20 rows inserted during create_index are found by their own vector"
    check_search(client, name, all_vecs, ids, queries, "COSINE", {"ef": 128}, 0.9)


def test_inserts_during_create_index_are_kept(client, tmp_path):
    server = None
    if TARGET == "vireo":  # its own server: the test restarts it on the same data directory
        server = VireoServer(tmp_path / "data")
        client = MilvusClient(uri=server.uri)
    name = f"writer_{TARGET}"
    try:
        rng = np.random.default_rng(11)
        base = spread_vectors(rng, W_BASE, W_DIM)
        create_and_fill(client, name, base, np.arange(W_BASE, dtype=np.int64), batch=2000)
        client.flush(name)
        writer = Writer(lambda rows: client.insert(name, rows)["insert_count"], seed=12)
        writer.start()
        try:
            writer.wait_for(2)
            ip = client.prepare_index_params()
            ip.add_index(field_name="vec", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 200})
            t0 = time.monotonic()
            client.create_index(name, ip)
            t1 = time.monotonic()
            writer.wait_for(writer.batches + 2)
        finally:
            writer.stop.set()
            writer.join(timeout=60)
        assert not writer.is_alive() and writer.error is None, writer.error
        overlapping = [c for c in writer.calls if c[0] < t1 and c[1] > t0]
        assert overlapping, "no insert was in flight while create_index ran"
        extra = dict(writer.acked)
        assert client.describe_index(name, client.list_indexes(name)[0])["metric_type"] == "COSINE"
        client.load_collection(name)
        queries = spread_vectors(rng, NQ, W_DIM, 0.1, 10.0)
        check_all_rows(client, name, base, extra, queries)
        if TARGET == "lite":
            pytest.skip("restart part: Milvus Lite runs in-process per .db file, a server restart on the same data "
                        "directory is checked on the Vireo target only")
        client.close()
        server.stop()
        server = VireoServer(tmp_path / "data")
        client = MilvusClient(uri=server.uri)
        client.load_collection(name)
        assert client.describe_index(name, client.list_indexes(name)[0])["metric_type"] == "COSINE"
        check_all_rows(client, name, base, extra, queries)
        client.drop_collection(name)
    finally:
        if server is not None:
            client.close()
            server.stop()
        elif TARGET == "lite" and client.has_collection(name):
            client.drop_collection(name)
