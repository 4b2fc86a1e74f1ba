"""Milvus behaviours over gRPC (pymilvus), shared with REST through the handler layer: float
literals, json_contains on nested lists, idempotent create/drop, duplicate keys in one insert,
ignore_growing, limit errors, dropping a loaded partition, AUTOINDEX. Expected results come from
numpy / plain Python over the inserted rows."""
import concurrent.futures

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException

DIM = 4


def make(client, name, *extra, index_type="HNSW"):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    for field_name, dtype, kw in extra:
        schema.add_field(field_name, dtype, **kw)
    ix = client.prepare_index_params()
    ix.add_index(field_name="vector", index_type=index_type, metric_type="L2")
    client.create_collection(name, schema=schema, index_params=ix)


def ids(rows):
    return sorted(r["id"] for r in rows)


def test_float_literals_compare_as_float32(client, name):
    make(client, name, ("f", DataType.FLOAT, {}))
    values = [0.1, 1.7, -3.3, 2.5, 0.1]
    client.insert(name, [{"id": i, "vector": [float(i)] * DIM, "f": v} for i, v in enumerate(values)])
    f32 = np.float32
    for expr, pred in [("f in [0.1, 1.7]", lambda v: v in (f32(0.1), f32(1.7))),
                       ("f not in [0.1, 1.7]", lambda v: v not in (f32(0.1), f32(1.7))),
                       ("f == -3.3", lambda v: v == f32(-3.3)), ("f != 0.1", lambda v: v != f32(0.1))]:
        want = [i for i, v in enumerate(values) if pred(f32(v))]
        assert ids(client.query(name, filter=expr, output_fields=["id"], limit=100)) == want, expr
    client.drop_collection(name)


def test_json_contains_on_nested_lists(client, name):
    make(client, name, ("j", DataType.JSON, {}))
    docs = [{"list": [[2, 3], [2, 4]]}, {"list": [[3, 2]]}, {"list": [2, 3]}]
    client.insert(name, [{"id": i, "vector": [float(i)] * DIM, "j": d} for i, d in enumerate(docs)])
    for expr, pred in [("json_contains(j['list'], [2, 3])", lambda l: [2, 3] in l),
                       ("json_contains_any(j['list'], [[2, 3], [3, 2]])", lambda l: [2, 3] in l or [3, 2] in l),
                       ("json_contains_all(j['list'], [[2, 3], [2, 4]])", lambda l: [2, 3] in l and [2, 4] in l),
                       ("json_contains(j['list'], 2)", lambda l: 2 in l)]:
        want = [i for i, d in enumerate(docs) if pred(d["list"])]
        assert ids(client.query(name, filter=expr, limit=100)) == want, expr
    client.drop_collection(name)


def test_create_and_drop_are_idempotent(client, name):
    client.drop_collection(name)  # missing: no error
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda _: client.create_collection(name, dimension=DIM, metric_type="L2"), range(5)))
    assert client.list_collections().count(name) == 1
    client.insert(name, [{"id": 1, "vector": [1.0] * DIM}])
    client.create_collection(name, dimension=DIM, metric_type="L2")
    assert client.get(name, ids=[1])[0]["id"] == 1
    with pytest.raises(MilvusException, match="different parameters"):
        client.create_collection(name, dimension=DIM + 1, metric_type="L2")
    client.drop_collection(name)
    client.drop_collection(name)
    assert not client.has_collection(name)


def test_duplicate_keys_in_one_insert(client, name):
    make(client, name, ("tag", DataType.VARCHAR, {"max_length": 16}))
    r = client.insert(name, [{"id": 1, "vector": [1.0] * DIM, "tag": "first"}, {"id": 1, "vector": [2.0] * DIM, "tag": "second"}])
    assert r["insert_count"] == 2
    got = client.get(name, ids=[1], output_fields=["tag"])
    assert len(got) == 1 and got[0]["tag"] == "second"
    client.drop_collection(name)


def test_ignore_growing(client, name):
    client.create_collection(name, dimension=DIM, metric_type="L2")
    rng = np.random.default_rng(9)
    vecs = rng.standard_normal((30, DIM)).astype(np.float32)
    client.insert(name, [{"id": i, "vector": vecs[i].tolist()} for i in range(20)])
    client.flush(name)
    client.insert(name, [{"id": i, "vector": vecs[i].tolist()} for i in range(20, 30)])
    q = [vecs[25].tolist()]
    assert client.search(name, q, limit=1)[0][0]["id"] == 25
    hits = client.search(name, q, limit=30, ignore_growing=True)[0]
    assert sorted(h["id"] for h in hits) == list(range(20))
    hits = client.search(name, q, limit=30, search_params={"ignore_growing": True, "params": {}})[0]
    assert sorted(h["id"] for h in hits) == list(range(20))
    client.drop_collection(name)


def test_limit_out_of_range_is_65535(client, name):
    client.create_collection(name, dimension=DIM)
    with pytest.raises(MilvusException) as e:
        client.search(name, [[1.0] * DIM], limit=16385)
    assert e.value.code == 65535 and "16384" in e.value.message
    client.drop_collection(name)


def test_loaded_partition_must_be_released_before_drop(client, name):
    client.create_collection(name, dimension=DIM)
    client.create_partition(name, "p1")
    with pytest.raises(MilvusException, match="release"):
        client.drop_partition(name, "p1")
    assert client.has_partition(name, "p1")
    client.release_partitions(name, ["p1"])
    client.drop_partition(name, "p1")
    assert not client.has_partition(name, "p1")
    client.drop_collection(name)


def test_autoindex_is_described_as_autoindex(client, name):
    make(client, name, index_type="AUTOINDEX")
    d = client.describe_index(name, client.list_indexes(name)[0])
    assert d["index_type"] == "AUTOINDEX"
    client.drop_collection(name)


def test_describe_index_echoes_the_parameters_as_sent(client, server, name):
    """Milvus answers DescribeIndex with the index parameters as the client sent them ("user index
    params"): pymilvus' ORM sends one JSON `params` pair and reads it back as a dict; MilvusClient
    sends flat pairs and reads those back. The two shapes describe the same index."""
    from pymilvus import Collection, connections
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("v2", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema)
    # MilvusClient: flat pairs, values as pymilvus' str() wrote them.
    ix = client.prepare_index_params()
    ix.add_index(field_name="v2", index_type="HNSW", metric_type="IP", params={"M": 8, "efConstruction": 40})
    client.create_index(name, ix)
    d = client.describe_index(name, "v2")
    assert d["index_type"] == "HNSW" and d["metric_type"] == "IP", d
    assert d["M"] == "8" and d["efConstruction"] == "40" and "params" not in d, d
    # The ORM: {"index_type", "metric_type", "params": {...}} -> a JSON `params` pair.
    if server is None:
        pytest.skip("the ORM needs a server address (Milvus Lite is a file)")
    alias = f"orm_{name}"
    connections.connect(alias, uri=server.uri)
    try:
        Collection(name, using=alias).create_index("vector", {"index_type": "IVF_FLAT", "metric_type": "L2", "params": {"nlist": 16}})
        d = client.describe_index(name, "vector")
        assert d["index_type"] == "IVF_FLAT" and d["metric_type"] == "L2", d
        assert d["params"] == {"nlist": 16}, d
        # The same index again (spelled the other way) is the same index: no error, nothing rebuilt.
        again = client.prepare_index_params()
        again.add_index(field_name="vector", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 16})
        client.create_index(name, again)
        assert client.describe_index(name, "vector")["params"] == {"nlist": 16}
    finally:
        connections.disconnect(alias)
    client.drop_collection(name)


def test_vector_dimension_below_two_is_refused(client, name):
    """Milvus: "invalid dimension: 1. should be in range 2 ~ 32768" (pymilvus' own tests expect it)."""
    with pytest.raises(MilvusException) as e:
        client.create_collection(name, dimension=1)
    assert "should be in range 2 ~ 32768" in str(e.value), e.value
    assert name not in client.list_collections()
    client.create_collection(name, dimension=2, metric_type="L2")
    client.insert(name, [{"id": 1, "vector": [0.5, 0.25]}])
    assert client.query(name, filter="id == 1", output_fields=["vector"])[0]["vector"] == [0.5, 0.25]
    client.drop_collection(name)


def test_index_created_over_rest_reads_back_through_the_orm(client, server, name):
    """Milvus' REST handler passes index_type, metric_type and the build parameters as one JSON `params`
    pair; pymilvus' ORM reads that back as a dict with the numbers sent (Milvus' REST tests check it)."""
    if server is None:
        pytest.skip("creates the index over REST, which Milvus Lite does not serve")
    import json as _json
    import urllib.request
    from pymilvus import Collection, connections
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema)
    body = {"collectionName": name, "indexParams": [{"fieldName": "vector", "indexName": "vector", "metricType": "IP",
                                                     "indexType": "HNSW", "params": {"M": 16, "efConstruction": 200}}]}
    req = urllib.request.Request(f"{server.uri}/v2/vectordb/indexes/create", data=_json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    assert _json.loads(urllib.request.urlopen(req).read())["code"] == 0
    alias = f"orm_{name}"
    connections.connect(alias, uri=server.uri)
    try:
        [index] = [ix.to_dict() for ix in Collection(name, using=alias).indexes]
        p = index["index_param"]
        assert p["index_type"] == "HNSW" and p["metric_type"] == "IP" and p["params"] == {"M": 16, "efConstruction": 200}, p
    finally:
        connections.disconnect(alias)
    client.drop_collection(name)


# The tests below follow Milvus' own milvus_client tests (tests/python_client at upstream master), which run
# against Milvus standalone; Milvus Lite 3.2.2 (a separate Python implementation) differs on each of them.

def test_idempotent_ddl_and_names_checked_before_lookup(client, name):
    """Milvus: creating a partition that exists, dropping a partition, index or alias that does not exist all
    succeed; a malformed name is "Invalid collection name" before any lookup (has_collection too)."""
    make(client, name)
    client.create_partition(name, "p1")
    client.create_partition(name, "p1")
    client.create_partition(name, "_default")
    client.drop_partition(name, "nope")
    client.drop_index(name, "nope")
    client.drop_alias(f"{name}_nope")
    assert sorted(client.list_partitions(name)) == ["_default", "p1"]
    for bad in ["12-s", "a b", "x" * 256]:
        with pytest.raises(MilvusException) as e:
            client.has_collection(bad)
        assert "Invalid collection name" in e.value.message, e.value.message
        with pytest.raises(MilvusException) as e:
            client.describe_collection(bad)
        assert "Invalid collection name" in e.value.message, e.value.message
    with pytest.raises(MilvusException) as e:
        client.has_partition(name, "12 s")
    assert "Invalid partition name" in e.value.message, e.value.message
    with pytest.raises(MilvusException) as e:
        client.describe_collection(f"{name}_none")
    assert "collection not found" in e.value.message, e.value.message
    client.drop_collection(name)


@pytest.mark.parametrize("keyword", ["like", "AND", "json_contains", "array_length", "true"])
def test_filter_keywords_are_not_field_names(client, name, keyword):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field(keyword, DataType.INT64)
    with pytest.raises(MilvusException) as e:
        client.create_collection(name, schema=schema)
    assert "Invalid field name" in e.value.message, e.value.message
    assert name not in client.list_collections()


def test_requests_milvus_refuses(client, name):
    make(client, name, ("n", DataType.INT64, {}))
    client.insert(name, [{"id": i, "vector": [float(i)] * DIM, "n": i} for i in range(10)])
    for expr in ["n / 0 > 1", "n % 0 == 1"]:
        with pytest.raises(MilvusException):
            client.query(name, filter=expr, limit=10)
    assert ids(client.query(name, filter="n % 3 == 1", limit=10)) == [1, 4, 7]
    with pytest.raises(MilvusException):
        client.drop_collection_properties(name, property_keys=[])
    client.drop_collection(name)


def test_consistency_level_and_ten_vector_fields(client, name):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    for i in range(10):
        schema.add_field(f"v{i}", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection(name, schema=schema, consistency_level="Bounded")
    d = client.describe_collection(name)
    assert d["consistency_level"] == 2, d["consistency_level"]  # Bounded
    assert len([f for f in d["fields"] if f["type"] == DataType.FLOAT_VECTOR]) == 10
    client.drop_collection(name)
    schema.add_field("v10", DataType.FLOAT_VECTOR, dim=2)
    with pytest.raises(MilvusException):
        client.create_collection(name, schema=schema)


def test_dynamic_field_switch_is_refused_not_ignored(client, name):
    """Milvus 2.6 can turn the dynamic field on later; Vireo fixes it at creation and says so, instead of
    answering success and changing nothing."""
    make(client, name)
    with pytest.raises(MilvusException) as e:
        client.alter_collection_properties(name, properties={"dynamicfield.enabled": True})
    assert "cannot be changed" in e.value.message, e.value.message
    assert client.describe_collection(name)["enable_dynamic_field"] is False
    client.alter_collection_properties(name, properties={"dynamicfield.enabled": False})  # unchanged: fine
    client.drop_collection(name)
