"""Partitions (create/list/has/drop/get_stats/load/release), partition-scoped writes and reads,
partition keys, and rename."""
import numpy as np

DIM = 8


def setup(client, name, n=300):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM, "metricType": "L2"})
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    return vecs


def test_partitions_lifecycle_and_scoped_reads(client, name):
    vecs = setup(client, name)
    assert client.ok("partitions/list", {"collectionName": name}) == ["_default"]
    client.ok("partitions/create", {"collectionName": name, "partitionName": "p1"})
    client.ok("partitions/create", {"collectionName": name, "partitionName": "p2"})
    client.ok("partitions/create", {"collectionName": name, "partitionName": "p1"})  # exists: success, as in Milvus
    client.ok("partitions/drop", {"collectionName": name, "partitionName": "p9"})  # absent: success, as in Milvus
    assert client.ok("partitions/list", {"collectionName": name}) == ["_default", "p1", "p2"]
    assert client.ok("partitions/has", {"collectionName": name, "partitionName": "p2"}) == {"has": True}
    assert client.ok("partitions/has", {"collectionName": name, "partitionName": "p9"}) == {"has": False}
    part = {0: "_default", 1: "p1", 2: "p2"}
    for k, p in part.items():
        rows = [{"id": i, "vector": vecs[i].tolist()} for i in range(len(vecs)) if i % 3 == k]
        client.ok("entities/insert", {"collectionName": name, "partitionName": p, "data": rows})
    client.err("entities/insert", {"collectionName": name, "partitionName": "nope", "data": [{"id": 9999, "vector": [0.0] * DIM}]}, 200)
    assert client.ok("partitions/get_stats", {"collectionName": name, "partitionName": "p1"}) == {"rowCount": 100}
    assert client.count(name) == 300
    # Search and query restricted to partitions, checked against numpy.
    q = vecs[7] + 0.01
    hits = client.ok("entities/search", {"collectionName": name, "data": [q.tolist()], "limit": 5, "partitionNames": ["p1"]})
    ids = np.array([i for i in range(300) if i % 3 == 1])
    want = ids[np.argsort(((vecs[ids] - q) ** 2).sum(axis=1))[:5]].tolist()
    assert [h["id"] for h in hits] == want
    rows = client.ok("entities/query", {"collectionName": name, "filter": "id < 20", "partitionNames": ["p2", "_default"], "limit": 50})
    assert [r["id"] for r in rows] == [i for i in range(20) if i % 3 != 1]
    assert client.ok("entities/query", {"collectionName": name, "filter": "", "outputFields": ["count(*)"], "partitionNames": ["p2"]}) == [{"count(*)": 100}]
    assert client.ok("entities/get", {"collectionName": name, "id": [1, 2, 3], "partitionNames": ["p1"]})[0]["id"] == 1
    assert len(client.ok("entities/get", {"collectionName": name, "id": [1, 2, 3], "partitionNames": ["p1"]})) == 1
    client.err("entities/search", {"collectionName": name, "data": [q.tolist()], "partitionNames": ["nope"]}, 200)
    # Release a partition: reads naming it fail with 201; unnamed reads skip it.
    client.ok("partitions/release", {"collectionName": name, "partitionNames": ["p2"]})
    client.err("entities/query", {"collectionName": name, "filter": "", "partitionNames": ["p2"]}, 201)
    assert client.count(name) == 200
    client.ok("partitions/load", {"collectionName": name, "partitionNames": ["p2"]})
    assert client.count(name) == 300
    # Delete within a partition, then drop one.
    d = client.ok("entities/delete", {"collectionName": name, "filter": "id < 30", "partitionName": "p1"})
    assert d["deleteCount"] == 10
    # A loaded partition must be released before it can be dropped (Milvus: 1100 over REST, 65535 over gRPC).
    msg = client.err("partitions/drop", {"collectionName": name, "partitionName": "p2"}, 1100)
    assert "release" in msg
    assert client.count(name) == 300 - 10
    client.ok("partitions/release", {"collectionName": name, "partitionNames": ["p2"]})
    client.ok("partitions/drop", {"collectionName": name, "partitionName": "p2"})
    assert client.ok("partitions/list", {"collectionName": name}) == ["_default", "p1"]
    assert client.count(name) == 300 - 10 - 100
    client.err("partitions/drop", {"collectionName": name, "partitionName": "_default"}, 1100)
    client.ok("collections/drop", {"collectionName": name})


def test_partition_key(client, name):
    client.ok("collections/create", {"collectionName": name, "params": {"partitionsNum": 4}, "schema": {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        {"fieldName": "tenant", "dataType": "VarChar", "isPartitionKey": True, "elementTypeParams": {"max_length": 16}},
    ]}, "indexParams": [{"fieldName": "v", "metricType": "L2", "indexType": "FLAT"}]})
    d = client.ok("collections/describe", {"collectionName": name})
    assert d["partitionsNum"] == 4 and [f["partitionKey"] for f in d["fields"]] == [False, False, True]
    rows = [{"id": i, "v": [float(i), 0.0], "tenant": f"t{i % 5}"} for i in range(100)]
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    client.err("entities/insert", {"collectionName": name, "partitionName": "_default", "data": rows[:1]}, 1100)
    hits = client.ok("entities/search", {"collectionName": name, "data": [[50.2, 0]], "limit": 3, "filter": "tenant == \"t3\"", "outputFields": ["tenant"]})
    assert [h["id"] for h in hits] == [48, 53, 43] and all(h["tenant"] == "t3" for h in hits)
    client.ok("collections/drop", {"collectionName": name})


def test_rename(client, name):
    setup(client, name)
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * DIM}]})
    client.ok("collections/release", {"collectionName": name})
    client.ok("collections/rename", {"collectionName": name, "newCollectionName": name + "_new"})
    assert client.ok("collections/has", {"collectionName": name}) == {"has": False}
    # The load state moves with the name.
    assert client.ok("collections/get_load_state", {"collectionName": name + "_new"})["loadState"] == "LoadStateNotLoad"
    client.ok("collections/load", {"collectionName": name + "_new"})
    assert client.ok("entities/get", {"collectionName": name + "_new", "id": 1})[0]["id"] == 1
    client.err("collections/rename", {"collectionName": name, "newCollectionName": "x"}, 100)
    client.err("collections/rename", {"collectionName": name + "_new", "newCollectionName": "bad name"}, 1100)
    client.err("collections/rename", {"collectionName": name + "_new", "newCollectionName": "y", "newDbName": "other"}, 800)
    client.ok("collections/drop", {"collectionName": name + "_new"})
