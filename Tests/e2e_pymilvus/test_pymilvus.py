"""pymilvus' MilvusClient against `vireo serve` (or Milvus Lite: see conftest.py). Every expected value comes
from numpy over the inserted rows, never from the server under test."""
import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, MilvusClient, MilvusException, RRFRanker, WeightedRanker

from conftest import TARGET

K = 10
SOURCES = ["wiki", "news", "web"]


def scalar_row(ds, i):
    p = ds.passages[i]
    return {
        "id": i,
        "vector": ds.base[i].tolist(),
        "title": p["text"][:60],
        "year": 1990 + i % 35,
        "score": float(i % 100) / 10.0,
        "meta": {"source": SOURCES[i % 3], "rank": i % 7},
        "tags": [SOURCES[i % 3], f"t{i % 5}"],
        "color": ["red", "green", "blue"][i % 3],  # dynamic field
    }


def custom_schema(ds):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=ds.dim)
    schema.add_field("title", DataType.VARCHAR, max_length=256)
    schema.add_field("year", DataType.INT32)
    schema.add_field("score", DataType.DOUBLE)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8, max_length=32)
    return schema


def create_indexed(client, name, ds, index_type="HNSW", params=None, metric="IP", schema=None):
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type=index_type, metric_type=metric, params=params or {})
    client.create_collection(name, schema=schema or custom_schema(ds), index_params=index_params)


def insert_all(client, name, ds, n=None, batch=1000):
    n = n or ds.n
    total = 0
    for start in range(0, n, batch):
        res = client.insert(name, [scalar_row(ds, i) for i in range(start, min(n, start + batch))])
        total += res["insert_count"]
    return total


@pytest.fixture(scope="module")
def loaded(client, dataset):
    """One collection with the custom schema, all rows, an HNSW index: for the read tests."""
    name = f"shared_{TARGET}"
    create_indexed(client, name, dataset, "HNSW", {"M": 16, "efConstruction": 128})
    assert insert_all(client, name, dataset) == dataset.n
    client.flush(name)
    return name


def recall(got, want):
    return len(set(got) & set(want)) / len(want)


# --- collections -----------------------------------------------------------------------------------

def test_quick_setup_insert_search_describe_drop(client, name):
    client.create_collection(name, dimension=8, metric_type="L2")
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((50, 8)).astype(np.float32)
    res = client.insert(name, [{"id": i, "vector": vecs[i].tolist(), "color": f"c{i % 4}"} for i in range(50)])
    assert res["insert_count"] == 50
    assert sorted(res["ids"]) == list(range(50))
    q = rng.standard_normal(8).astype(np.float32)
    hits = client.search(name, [q.tolist()], limit=5, output_fields=["color"], search_params={"metric_type": "L2"})[0]
    d = ((vecs - q) ** 2).sum(axis=1)
    want = [int(i) for i in np.argsort(d)[:5]]
    assert [h["id"] for h in hits] == want
    for h in hits:
        assert h["distance"] == pytest.approx(float(d[h["id"]]), rel=1e-4, abs=1e-4)
        assert h["entity"]["color"] == f"c{h['id'] % 4}"
    desc = client.describe_collection(name)
    assert desc["collection_name"] == name
    assert desc["enable_dynamic_field"] is True
    names = {f["name"] for f in desc["fields"]}
    assert {"id", "vector"} <= names and "$meta" not in names
    assert name in client.list_collections()
    assert client.has_collection(name)
    assert client.get_load_state(name)["state"].name == "Loaded"
    client.drop_collection(name)
    assert not client.has_collection(name)
    assert name not in client.list_collections()


def test_custom_schema_describe_and_stats(client, name, dataset):
    create_indexed(client, name, dataset)
    desc = client.describe_collection(name)
    by_name = {f["name"]: f for f in desc["fields"]}
    assert by_name["id"]["is_primary"] is True
    assert by_name["vector"]["params"]["dim"] == dataset.dim
    assert by_name["title"]["params"]["max_length"] == 256
    assert by_name["tags"]["element_type"] == DataType.VARCHAR
    assert by_name["meta"]["type"] == DataType.JSON
    insert_all(client, name, dataset, n=200)
    client.flush(name)
    assert client.get_collection_stats(name)["row_count"] == 200
    idx = client.describe_index(name, client.list_indexes(name)[0])
    assert idx["index_type"] == "HNSW" and idx["metric_type"] == "IP"
    client.release_collection(name)
    assert client.get_load_state(name)["state"].name == "NotLoad"
    client.load_collection(name)
    assert client.get_load_state(name)["state"].name == "Loaded"
    client.drop_collection(name)


# --- reads -----------------------------------------------------------------------------------------

def test_search_with_filter_and_output_fields(client, loaded, dataset):
    allowed = [i for i in range(dataset.n) if 1990 + i % 35 >= 2010 and i % 3 == 0]
    recalls = []
    for qi in range(20):
        q = dataset.queries[qi]
        hits = client.search(loaded, [q.tolist()], limit=K, filter='year >= 2010 and meta["source"] == "wiki"',
                             output_fields=["title", "year", "meta", "tags", "color"],
                             search_params={"metric_type": "IP", "params": {"ef": 128}})[0]
        want, _ = dataset.exact(q, K, ids=allowed)
        recalls.append(recall([h["id"] for h in hits], want))
        for h in hits:
            i = h["id"]
            row = scalar_row(dataset, i)
            assert i in allowed
            assert h["distance"] == pytest.approx(float(dataset.base[i] @ q), abs=2e-3)
            e = h["entity"]
            assert e["title"] == row["title"] and e["year"] == row["year"]
            assert e["meta"] == row["meta"] and list(e["tags"]) == row["tags"] and e["color"] == row["color"]
    assert np.mean(recalls) >= 0.9, recalls


def test_search_several_queries_and_offset(client, loaded, dataset):
    qs = [dataset.queries[i].tolist() for i in range(3)]
    full = client.search(loaded, qs, limit=15, search_params={"params": {"ef": 200}})
    paged = client.search(loaded, qs, limit=5, offset=10, search_params={"params": {"ef": 200}})
    assert len(full) == 3 and len(paged) == 3
    for qi in range(3):
        want, _ = dataset.exact(dataset.queries[qi], 15)
        assert recall([h["id"] for h in full[qi]], want) >= 0.8
        assert [h["id"] for h in paged[qi]] == [h["id"] for h in full[qi]][10:15]


def test_query_limit_offset_count(client, loaded, dataset):
    rows = client.query(loaded, filter="id < 100", output_fields=["id", "year"], limit=100)
    assert sorted(r["id"] for r in rows) == list(range(100))
    assert all(r["year"] == 1990 + r["id"] % 35 for r in rows)
    page = client.query(loaded, filter="id < 100", output_fields=["id"], limit=10, offset=20)
    assert len(page) == 10 and {r["id"] for r in page} <= set(range(100))
    n = client.query(loaded, filter="year > 2000", output_fields=["count(*)"])[0]["count(*)"]
    assert n == sum(1 for i in range(dataset.n) if 1990 + i % 35 > 2000)
    total = client.query(loaded, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert total == dataset.n
    tagged = client.query(loaded, filter='array_contains(tags, "t3") and color == "red"', output_fields=["count(*)"])[0]["count(*)"]
    assert tagged == sum(1 for i in range(dataset.n) if i % 5 == 3 and i % 3 == 0)


def test_get_returns_rows(client, loaded, dataset):
    rows = client.get(loaded, ids=[5, 17, 2999 if dataset.n > 2999 else 3], output_fields=["title", "meta", "tags", "vector", "color"])
    assert len(rows) == 3
    for r in rows:
        want = scalar_row(dataset, r["id"])
        assert r["title"] == want["title"] and r["meta"] == want["meta"] and list(r["tags"]) == want["tags"]
        assert r["color"] == want["color"]
        assert np.allclose(np.array(r["vector"], dtype=np.float32), dataset.base[r["id"]], atol=1e-6)


# --- writes ----------------------------------------------------------------------------------------

def test_delete_by_ids_and_filter_and_upsert(client, name, dataset):
    create_indexed(client, name, dataset, "HNSW", {"M": 8, "efConstruction": 64})
    insert_all(client, name, dataset, n=300)
    count = lambda f="": client.query(name, filter=f, output_fields=["count(*)"])[0]["count(*)"]
    assert count() == 300
    res = client.delete(name, ids=[1, 2, 3])
    assert count() == 297
    assert client.get(name, ids=[1, 2, 3]) == []
    res = client.delete(name, filter="year < 1995")
    expected_gone = sum(1 for i in range(300) if 1990 + i % 35 < 1995 and i not in (1, 2, 3))
    # pymilvus returns {"delete_count": n}, or the deleted keys when the server lists them (Milvus Lite).
    assert (res["delete_count"] if isinstance(res, dict) else len(res)) == expected_gone
    assert count() == 297 - expected_gone
    row = scalar_row(dataset, 10)
    row["title"] = "changed"
    row["year"] = 2030
    up = client.upsert(name, [row])
    assert up["upsert_count"] == 1
    got = client.get(name, ids=[10], output_fields=["title", "year"])
    assert got[0]["title"] == "changed" and got[0]["year"] == 2030
    assert count() == 297 - expected_gone
    client.drop_collection(name)


# --- indexes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("index_type,build,search,min_recall", [
    ("HNSW", {"M": 16, "efConstruction": 128}, {"ef": 64}, 0.93),
    # (Milvus Lite ignores pymilvus 3's flat build params and always makes 128 lists.)
    ("IVF_FLAT", {"nlist": 64}, {"nprobe": 24}, 0.85),
    ("IVF_PQ", {"nlist": 32, "m": 48, "nbits": 8}, {"nprobe": 16}, 0.55),
])
def test_index_recall(client, name, dataset, index_type, build, search, min_recall):
    if TARGET == "lite" and index_type == "IVF_PQ":
        pytest.skip("Milvus Lite 3.2.2 has no IVF_PQ (GRPC_SURFACE.md)")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dataset.dim)
    create_indexed(client, name, dataset, index_type, build, schema=schema)
    for start in range(0, dataset.n, 1000):
        client.insert(name, [{"id": i, "vector": dataset.base[i].tolist()} for i in range(start, min(dataset.n, start + 1000))])
    client.flush(name)
    desc = client.describe_index(name, client.list_indexes(name)[0])
    assert desc["index_type"] == index_type
    recalls = []
    for qi in range(50):
        q = dataset.queries[qi]
        hits = client.search(name, [q.tolist()], limit=K, search_params={"metric_type": "IP", "params": search})[0]
        recalls.append(recall([h["id"] for h in hits], dataset.exact(q, K)[0]))
    assert np.mean(recalls) >= min_recall, (index_type, np.mean(recalls))
    client.release_collection(name)
    client.drop_index(name, client.list_indexes(name)[0])
    assert client.list_indexes(name) == []
    client.drop_collection(name)


# --- partitions ------------------------------------------------------------------------------------

def test_partitions(client, name, dataset):
    create_indexed(client, name, dataset)
    client.create_partition(name, "p1")
    assert client.has_partition(name, "p1") and not client.has_partition(name, "p2")
    assert set(client.list_partitions(name)) == {"_default", "p1"}
    client.insert(name, [scalar_row(dataset, i) for i in range(0, 100)])
    client.insert(name, [scalar_row(dataset, i) for i in range(100, 200)], partition_name="p1")
    q = dataset.queries[0]
    hits = client.search(name, [q.tolist()], limit=K, partition_names=["p1"], search_params={"params": {"ef": 200}})[0]
    want, _ = dataset.exact(q, K, ids=list(range(100, 200)))
    assert {h["id"] for h in hits} <= set(range(100, 200))
    assert recall([h["id"] for h in hits], want) >= 0.9
    # (Milvus Lite ignores partition_names for count(*) with an empty filter, so the filter is not empty.)
    n = client.query(name, filter="id >= 0", output_fields=["count(*)"], partition_names=["p1"])[0]["count(*)"]
    assert n == 100
    rows = client.query(name, filter="id >= 0", output_fields=["id"], partition_names=["p1"], limit=1000)
    assert sorted(r["id"] for r in rows) == list(range(100, 200))
    assert client.get_partition_stats(name, "p1")["row_count"] == 100
    client.release_collection(name)
    client.drop_partition(name, "p1")
    assert not client.has_partition(name, "p1")
    client.drop_collection(name)


# --- hybrid search ---------------------------------------------------------------------------------

def test_hybrid_search_rrf_and_weighted(client, name, dataset):
    n = 500
    rng = np.random.default_rng(3)
    other = rng.standard_normal((n, 16)).astype(np.float32)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dataset.dim)
    schema.add_field("small", DataType.FLOAT_VECTOR, dim=16)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
    index_params.add_index(field_name="small", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index_params)
    client.insert(name, [{"id": i, "dense": dataset.base[i].tolist(), "small": other[i].tolist()} for i in range(n)])
    q1, q2 = dataset.queries[0], rng.standard_normal(16).astype(np.float32)
    reqs = [AnnSearchRequest([q1.tolist()], "dense", {"metric_type": "IP"}, limit=20),
            AnnSearchRequest([q2.tolist()], "small", {"metric_type": "L2"}, limit=20)]
    ip = dataset.base[:n] @ q1
    l2 = ((other - q2) ** 2).sum(axis=1)
    list1 = [int(i) for i in np.argsort(-ip, kind="stable")[:20]]
    list2 = [int(i) for i in np.argsort(l2, kind="stable")[:20]]

    rrf = {}
    for lst in (list1, list2):
        for rank, i in enumerate(lst):
            rrf[i] = rrf.get(i, 0.0) + 1.0 / (60 + rank + 1)
    hits = client.hybrid_search(name, reqs, RRFRanker(60), limit=5)[0]
    assert len(hits) == 5
    assert [h["distance"] for h in hits] == pytest.approx(sorted(rrf.values(), reverse=True)[:5], abs=1e-6)
    for h in hits:
        assert h["distance"] == pytest.approx(rrf[h["id"]], abs=1e-6)

    w = {}
    for i in list1:
        w[i] = w.get(i, 0.0) + 0.7 * (0.5 + np.arctan(ip[i]) / np.pi)
    for i in list2:
        w[i] = w.get(i, 0.0) + 0.3 * (1 - 2 * np.arctan(l2[i]) / np.pi)
    hits = client.hybrid_search(name, reqs, WeightedRanker(0.7, 0.3), limit=5)[0]
    assert [h["distance"] for h in hits] == pytest.approx(sorted(w.values(), reverse=True)[:5], abs=1e-4)

    # A range search inside a hybrid request (Milvus allows it): that request contributes only the rows in
    # its range, so the fusion is RRF over the in-range dense list and the L2 list.
    radius = float(np.sort(ip)[::-1][12])  # IP: scores above the radius: the best 12 rows, fewer than limit 20
    in_range = [i for i in np.argsort(-ip, kind="stable") if ip[i] > radius][:20]
    assert len(in_range) == 12
    ranged = [AnnSearchRequest([q1.tolist()], "dense", {"metric_type": "IP", "params": {"radius": radius}}, limit=20),
              reqs[1]]
    want = {}
    for lst in (in_range, list2):
        for rank, i in enumerate(lst):
            want[int(i)] = want.get(int(i), 0.0) + 1.0 / (60 + rank + 1)
    hits = client.hybrid_search(name, ranged, RRFRanker(60), limit=10)[0]
    assert [h["distance"] for h in hits] == pytest.approx(sorted(want.values(), reverse=True)[:10], abs=1e-6)
    assert all(h["distance"] == pytest.approx(want[h["id"]], abs=1e-6) for h in hits)
    client.drop_collection(name)


# --- errors ----------------------------------------------------------------------------------------

def test_missing_collection_raises(client, dataset):
    assert not client.has_collection("no_such_collection")
    with pytest.raises(MilvusException):
        client.search("no_such_collection", [dataset.queries[0].tolist()], limit=3)
    with pytest.raises(MilvusException):
        client.query("no_such_collection", filter="id > 0", limit=3)
    with pytest.raises(MilvusException):
        client.describe_collection("no_such_collection")


def test_wrong_dimension_raises(client, name):
    client.create_collection(name, dimension=8)
    with pytest.raises(MilvusException):
        client.insert(name, [{"id": 1, "vector": [0.1] * 7}])
    client.insert(name, [{"id": 1, "vector": [0.1] * 8}])
    with pytest.raises(MilvusException):
        client.search(name, [[0.1] * 9], limit=3)
    client.drop_collection(name)


# --- auth (Vireo only: Milvus Lite has no users) ------------------------------------------------------

def test_token_required_when_configured(tmp_path):
    if TARGET == "lite":
        pytest.skip("Milvus Lite has no authentication")
    from conftest import VireoServer
    server = VireoServer(tmp_path / "data", "--token", "root:Milvus", "--token", "an-api-key")
    try:
        with pytest.raises(MilvusException):
            MilvusClient(uri=server.uri, token="root:wrong").list_collections()
        for token in ("root:Milvus", "an-api-key"):
            c = MilvusClient(uri=server.uri, token=token)
            assert c.list_collections() == []
            c.close()
    finally:
        server.stop()
