"""REST v2 collection, field and index properties: collections/alter_properties, collections/drop_properties
(collection.ttl.seconds honoured: expired rows leave search, query, get and count; compaction removes them),
collections/fields/alter_properties, collections/fields/add, indexes/alter_properties, indexes/drop_properties,
and collections/describe / indexes/describe showing the result.

TTL without sleeping-and-hoping: a 2 s TTL, then polling with a deadline until the rows are gone; rows
inserted afterwards under a long TTL must all be there."""
import time

import numpy as np

DIM = 8


def make(client, name, **schema_extra):
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"enableDynamicField": schema_extra.get("dynamic", False), "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
            {"fieldName": "s", "dataType": "VarChar", "elementTypeParams": {"max_length": 8}},
            {"fieldName": "tags", "dataType": "Array", "elementDataType": "Int64", "elementTypeParams": {"max_capacity": 2}},
        ]},
        "indexParams": [{"fieldName": "vector", "indexName": "vidx", "metricType": "L2", "indexType": schema_extra.get("index", "FLAT"),
                         "params": schema_extra.get("params", {})}],
    })


def rows(first, n, seed):
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return [{"id": first + i, "vector": v[i].tolist(), "s": f"r{i}", "tags": [i]} for i in range(n)], v


def props(client, name):
    return {p["key"]: p["value"] for p in client.ok("collections/describe", {"collectionName": name})["properties"]}


def ids(client, name):
    return sorted(r["id"] for r in client.ok("entities/query", {"collectionName": name, "filter": "id >= 0", "outputFields": ["id"], "limit": 1000}))


def test_alter_and_drop_collection_properties(client, name):
    make(client, name)
    client.ok("collections/alter_properties", {"collectionName": name, "properties": {
        "mmap.enabled": True, "collection.ttl.seconds": 3600, "collection.replica.number": 1, "owner": "team"}})
    p = props(client, name)
    assert p["mmap.enabled"] == "true" and p["collection.ttl.seconds"] == "3600" and p["owner"] == "team", p
    client.ok("collections/drop_properties", {"collectionName": name, "propertyKeys": ["owner", "mmap.enabled"]})
    p = props(client, name)
    assert "owner" not in p and "mmap.enabled" not in p and p["collection.ttl.seconds"] == "3600"
    client.err("collections/alter_properties", {"collectionName": name, "properties": {"collection.ttl.seconds": -5}}, 1100)
    client.err("collections/alter_properties", {"collectionName": name, "properties": {"collection.ttl.seconds": "soon"}}, 1100)
    client.err("collections/alter_properties", {"collectionName": name, "properties": {"mmap.enabled": "perhaps"}}, 1100)
    client.err("collections/alter_properties", {"collectionName": name, "properties": {"x": {"nested": 1}}}, 1801)
    client.err("collections/alter_properties", {"collectionName": name}, 1802)
    client.err("collections/drop_properties", {"collectionName": name}, 1802)
    client.err("collections/alter_properties", {"collectionName": "missing_" + name, "properties": {"a": "b"}}, 100)
    assert props(client, name)["collection.ttl.seconds"] == "3600"


def test_ttl_seconds_at_create(client, name):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM, "metricType": "L2", "params": {"ttlSeconds": 120}})
    assert props(client, name)["collection.ttl.seconds"] == "120"


def test_ttl_expires_rows_and_compaction_removes_them(client, name):
    make(client, name)
    data, vectors = rows(0, 70, seed=11)
    client.ok("entities/insert", {"collectionName": name, "data": data[:40]})
    client.ok("collections/flush", {"collectionName": name})
    client.ok("entities/insert", {"collectionName": name, "data": data[40:]})
    assert client.count(name) == 70
    client.ok("collections/alter_properties", {"collectionName": name, "properties": {"collection.ttl.seconds": 2}})
    deadline = time.time() + 60
    while time.time() < deadline and (client.count(name) or ids(client, name)):
        time.sleep(0.1)
    assert client.count(name) == 0 and ids(client, name) == []
    assert client.ok("entities/get", {"collectionName": name, "id": list(range(70))}) == []
    assert client.ok("entities/search", {"collectionName": name, "data": [vectors[0].tolist()], "limit": 10}) == []
    job = client.ok("collections/compact", {"collectionName": name})["compactionID"]
    deadline = time.time() + 120
    while client.ok("collections/get_compaction_state", {"jobID": job})["state"] != "Completed":
        assert time.time() < deadline
        time.sleep(0.05)
    assert client.ok("collections/get_stats", {"collectionName": name})["rowCount"] == 0
    client.ok("collections/alter_properties", {"collectionName": name, "properties": {"collection.ttl.seconds": 3600}})
    assert client.count(name) == 0  # compacted rows never come back
    fresh, fresh_vectors = rows(30, 50, seed=12)
    client.ok("entities/insert", {"collectionName": name, "data": fresh})
    assert ids(client, name) == list(range(30, 80))
    q = np.random.default_rng(13).standard_normal(DIM).astype(np.float32)
    hits = client.ok("entities/search", {"collectionName": name, "data": [q.tolist()], "limit": 5})
    d = ((fresh_vectors - q) ** 2).sum(axis=1)
    assert [h["id"] for h in hits] == [30 + int(i) for i in np.argsort(d, kind="stable")[:5]]


def test_field_properties_and_added_fields(client, name):
    make(client, name, dynamic=True)
    data, _ = rows(0, 20, seed=21)
    for r in data:
        r["extra"] = r["id"]
    client.ok("entities/insert", {"collectionName": name, "data": data})
    long_row = {"id": 100, "vector": [0.5] * DIM, "s": "x" * 12, "tags": [1, 2, 3]}
    client.err("entities/insert", {"collectionName": name, "data": [long_row]}, 1100)
    client.ok("collections/fields/alter_properties", {"collectionName": name, "fieldName": "s", "fieldParams": {"max_length": 16}})
    client.ok("collections/fields/alter_properties", {"collectionName": name, "fieldName": "tags", "fieldParams": {"max_capacity": 3}})
    client.ok("entities/insert", {"collectionName": name, "data": [long_row]})
    fields = {f["name"]: f for f in client.ok("collections/describe", {"collectionName": name})["fields"]}
    assert {"key": "max_length", "value": "16"} in fields["s"]["params"]
    assert {"key": "max_capacity", "value": "3"} in fields["tags"]["params"]
    client.err("collections/fields/alter_properties", {"collectionName": name, "fieldName": "tags", "fieldParams": {"max_length": 16}}, 1100)
    client.err("collections/fields/alter_properties", {"collectionName": name, "fieldName": "s", "fieldParams": {"max_length": 65536}}, 1100)
    client.err("collections/fields/alter_properties", {"collectionName": name, "fieldName": "s", "fieldParams": {"nullable": True}}, 1100)

    # Add a nullable field with a default: the 21 stored rows read it.
    client.ok("collections/fields/add", {"collectionName": name, "schema": {
        "fieldName": "rank", "dataType": "Int64", "nullable": True, "defaultValue": 5}})
    client.ok("collections/fields/add", {"collectionName": name, "schema": {
        "fieldName": "label", "dataType": "VarChar", "nullable": True, "elementTypeParams": {"max_length": 10}}})
    got = client.ok("entities/query", {"collectionName": name, "filter": "id in [0, 1]", "outputFields": ["rank", "label", "extra"]})
    assert sorted((r["id"], r["rank"], r["label"], r["extra"]) for r in got) == [(0, 5, None, 0), (1, 5, None, 1)]
    assert client.count(name, "rank == 5") == 21
    assert client.count(name, "label is null") == 21
    client.ok("entities/insert", {"collectionName": name, "data": [
        {"id": 200, "vector": [0.1] * DIM, "s": "n", "tags": [], "rank": 9, "label": "fresh"}]})
    assert client.count(name, "rank == 9 and label == \"fresh\"") == 1
    fields = {f["name"]: f for f in client.ok("collections/describe", {"collectionName": name})["fields"]}
    assert fields["rank"]["nullable"] is True and fields["label"]["nullable"] is True
    client.err("collections/fields/add", {"collectionName": name, "schema": {"fieldName": "z", "dataType": "Int64"}}, 1100)
    client.err("collections/fields/add", {"collectionName": name, "schema": {"fieldName": "rank", "dataType": "Int64", "nullable": True}}, 1100)
    client.err("collections/fields/add", {"collectionName": name, "schema": {
        "fieldName": "v2", "dataType": "FloatVector", "nullable": True, "elementTypeParams": {"dim": 4}}}, 1100)
    client.err("collections/fields/add", {"collectionName": name}, 1802)


def test_index_properties(client, name):
    make(client, name, index="HNSW", params={"M": 8, "efConstruction": 64})
    client.ok("entities/insert", {"collectionName": name, "data": rows(0, 20, seed=31)[0]})
    client.ok("indexes/alter_properties", {"collectionName": name, "indexName": "vidx", "properties": {"mmap.enabled": True}})
    d = client.ok("indexes/describe", {"collectionName": name, "indexName": "vidx"})[0]
    assert d["params"]["mmap.enabled"] == "true" and d["indexType"] == "HNSW", d
    client.err("indexes/alter_properties", {"collectionName": name, "indexName": "vidx", "properties": {"M": 16}}, 1100)
    client.err("indexes/alter_properties", {"collectionName": name, "indexName": "nope", "properties": {"mmap.enabled": True}}, 700)
    client.ok("indexes/drop_properties", {"collectionName": name, "indexName": "vidx", "propertyKeys": ["mmap.enabled"]})
    assert "mmap.enabled" not in client.ok("indexes/describe", {"collectionName": name, "indexName": "vidx"})[0]["params"]
