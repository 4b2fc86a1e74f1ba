"""Collections and indexes: both ways of creating, describe/list/has/drop, load state, stats, rename, flush."""
import numpy as np


def test_quick_create_defaults(client, name):
    client.ok("collections/create", {"collectionName": name, "dimension": 8})
    assert client.ok("collections/has", {"collectionName": name}) == {"has": True}
    assert name in client.ok("collections/list", {})
    d = client.ok("collections/describe", {"collectionName": name})
    assert d["collectionName"] == name and d["load"] == "LoadStateLoaded" and d["autoId"] is False
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["id"]["type"] == "Int64" and fields["id"]["primaryKey"] is True
    assert fields["vector"]["type"] == "FloatVector" and {"key": "dim", "value": "8"} in fields["vector"]["params"]
    assert d["indexes"][0]["metricType"] == "COSINE"
    assert client.ok("indexes/list", {"collectionName": name}) == ["vector"]
    ix = client.ok("indexes/describe", {"collectionName": name, "indexName": "vector"})
    assert ix[0]["indexType"] == "AUTOINDEX" and ix[0]["fieldName"] == "vector" and ix[0]["indexState"] in ("Finished", "InProgress")
    assert client.ok("collections/get_load_state", {"collectionName": name}) == {"loadState": "LoadStateLoaded", "loadProgress": 100}
    assert client.ok("collections/get_stats", {"collectionName": name}) == {"rowCount": 0}
    client.ok("collections/drop", {"collectionName": name})
    assert client.ok("collections/has", {"collectionName": name}) == {"has": False}
    assert name not in client.ok("collections/list", {})
    client.err("collections/describe", {"collectionName": name}, 100)


def test_custom_schema_without_index_is_not_loaded(client, name):
    client.ok("collections/create", {"collectionName": name, "schema": {"autoID": True, "fields": [
        {"fieldName": "pk", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "emb", "dataType": "FloatVector", "elementTypeParams": {"dim": "4"}},
        {"fieldName": "tags", "dataType": "Array", "elementDataType": "VarChar", "elementTypeParams": {"max_capacity": 8, "max_length": 16}},
        {"fieldName": "meta", "dataType": "JSON"},
        {"fieldName": "score", "dataType": "Float", "nullable": True},
    ]}})
    assert client.ok("collections/get_load_state", {"collectionName": name}) == {"loadState": "LoadStateNotLoad"}
    ins = client.ok("entities/insert", {"collectionName": name, "data": [
        {"emb": [1, 0, 0, 0], "tags": ["a", "b"], "meta": {"k": 1}, "score": 0.5},
        {"emb": [0, 1, 0, 0], "tags": [], "meta": {"k": 2}}]})
    assert ins["insertCount"] == 2 and all(isinstance(i, int) for i in ins["insertIds"])
    # Released: search and query fail with 101 (Milvus' collection not loaded).
    client.err("entities/search", {"collectionName": name, "data": [[1, 0, 0, 0]]}, 101)
    client.err("entities/query", {"collectionName": name, "filter": ""}, 101)
    client.ok("indexes/create", {"collectionName": name, "indexParams": [{"fieldName": "emb", "indexName": "emb_hnsw", "indexType": "HNSW", "params": {"M": "8", "efConstruction": 64}}]})
    client.ok("collections/load", {"collectionName": name})
    assert client.ok("collections/get_load_state", {"collectionName": name})["loadState"] == "LoadStateLoaded"
    hits = client.ok("entities/search", {"collectionName": name, "data": [[0.9, 0.1, 0, 0]], "limit": 2, "outputFields": ["tags", "meta", "score"]})
    assert hits[0]["pk"] == ins["insertIds"][0] and hits[0]["tags"] == ["a", "b"] and hits[0]["meta"] == {"k": 1}
    assert hits[1]["score"] is None
    rows = client.ok("entities/query", {"collectionName": name, "filter": "meta[\"k\"] == 2", "outputFields": ["tags"]})
    assert rows == [{"pk": ins["insertIds"][1], "tags": []}]
    assert client.ok("indexes/list", {"collectionName": name}) == ["emb_hnsw"]
    d = client.ok("indexes/describe", {"collectionName": name, "indexName": "emb_hnsw"})[0]
    assert d["params"] == {"M": 8, "efConstruction": 64} and d["metricType"] == "COSINE"
    client.err("indexes/describe", {"collectionName": name, "indexName": "nope"}, 700)
    client.ok("indexes/drop", {"collectionName": name, "indexName": "emb_hnsw"})
    assert client.ok("indexes/list", {"collectionName": name}) == []
    client.ok("collections/release", {"collectionName": name})
    client.err("entities/get", {"collectionName": name, "id": ins["insertIds"][0]}, 101)
    client.ok("collections/drop", {"collectionName": name})


def test_flush_and_stats(client, name):
    client.ok("collections/create", {"collectionName": name, "dimension": 4, "metricType": "L2"})
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((50, 4)).astype(np.float32)
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": v.tolist()} for i, v in enumerate(vecs)]})
    client.ok("collections/flush", {"collectionName": name})
    assert client.ok("collections/get_stats", {"collectionName": name}) == {"rowCount": 50}
    hits = client.ok("entities/search", {"collectionName": name, "data": [vecs[3].tolist()], "limit": 3})
    assert hits[0]["id"] == 3 and hits[0]["distance"] < 1e-5  # squared L2
    d2 = ((vecs - vecs[3]) ** 2).sum(axis=1)
    assert [h["id"] for h in hits] == list(np.argsort(d2)[:3])
    np.testing.assert_allclose([h["distance"] for h in hits], np.sort(d2)[:3], rtol=1e-4, atol=1e-5)
    client.ok("collections/drop", {"collectionName": name})


def test_db_name(client, name):
    client.ok("collections/create", {"dbName": "default", "collectionName": name, "dimension": 4})
    assert name in client.ok("collections/list", {"dbName": "default"})
    client.err("collections/list", {"dbName": "other"}, 800)
    client.err("collections/create", {"dbName": "other", "collectionName": name + "x", "dimension": 4}, 800)
    client.ok("collections/drop", {"collectionName": name})


def test_index_metric_after_schema_only_create(client, name, dataset):
    """Milvus keeps the metric on the index. Create from a schema alone, then an L2 index, then insert: rows keep
    their lengths and searches rank by L2 (checked against numpy, on rows scaled so L2 and COSINE disagree)."""
    def create(coll):
        client.ok("collections/create", {"collectionName": coll, "schema": {"autoID": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": dataset.dim}},
            {"fieldName": "text", "dataType": "VarChar", "elementTypeParams": {"max_length": 2000}},
            {"fieldName": "source", "dataType": "VarChar", "elementTypeParams": {"max_length": 256}},
            {"fieldName": "n", "dataType": "Int64"},
        ]}})
        client.ok("partitions/create", {"collectionName": coll, "partitionName": "p1"})

    def insert(coll):
        client.ok("entities/insert", {"collectionName": coll, "data": rows[:300]})
        client.ok("entities/insert", {"collectionName": coll, "partitionName": "p1", "data": rows[300:]})

    l2_index = [{"fieldName": "vector", "indexName": "vec_l2", "metricType": "L2", "indexType": "HNSW",
                 "params": {"M": 16, "efConstruction": 100}}]
    # The embeddings are unit vectors; scaled rows make L2 rank differently from COSINE.
    scale = (1 + np.arange(500) % 7).astype(np.float32)
    base = dataset.base[:500] * scale[:, None]
    rows = dataset.rows(0, 500)
    for r in rows:
        r["vector"] = base[r["id"]].tolist()

    create(name)
    client.ok("indexes/create", {"collectionName": name, "indexParams": l2_index})
    insert(name)
    client.ok("collections/load", {"collectionName": name})
    assert client.ok("collections/get_stats", {"collectionName": name}) == {"rowCount": 500}
    assert client.ok("indexes/describe", {"collectionName": name, "indexName": "vec_l2"})[0]["metricType"] == "L2"
    assert sorted(client.ok("partitions/list", {"collectionName": name})) == ["_default", "p1"]
    assert client.ok("entities/query", {"collectionName": name, "filter": "", "partitionNames": ["p1"],
                                        "outputFields": ["count(*)"]})[0]["count(*)"] == 200
    for q in dataset.queries[:5]:
        hits = client.ok("entities/search", {"collectionName": name, "data": [q.tolist()], "limit": 10,
                                             "searchParams": {"params": {"exact": True}}})
        l2 = [int(i) for i in np.argsort(((base - q) ** 2).sum(axis=1), kind="stable")[:10]]
        cosine = [int(i) for i in np.argsort(-(base @ q) / np.linalg.norm(base, axis=1), kind="stable")[:10]]
        assert l2 != cosine  # the check below tells the metrics apart
        assert [h["id"] for h in hits] == l2
    assert [c for c in client.ok("collections/list", {}) if c.startswith("_vireo")] == []
