"""Databases, aliases and the RPCs tools poll (attu logs in with ListDatabases, then polls
GetComponentStates, GetMetrics, GetVersion ...), through pymilvus 3.0.2 unchanged and raw stubs."""
import json

import grpc
import pytest
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET == "lite", reason="Milvus Lite has no databases")


@pytest.fixture
def stub(server):
    channel = grpc.insecure_channel(server.uri.removeprefix("http://"))
    yield milvus_pb2_grpc.MilvusServiceStub(channel)
    channel.close()


def make(client, name, rows, dim=4, first=0):
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("tag", DataType.VARCHAR, max_length=32)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index_params)
    if rows:
        client.insert(name, [{"id": first + i, "vector": [float(first + i)] * dim, "tag": f"{name}-{i}"} for i in range(rows)])


def ids(client, name, **kw):
    return sorted(r["id"] for r in client.query(name, filter="id >= 0", output_fields=["id"], **kw))


def test_database_lifecycle(client, name):
    db = f"db_{name}"
    assert "default" in client.list_databases()
    client.create_database(db, properties={"database.max.collections": "5"})
    assert db in client.list_databases()
    d = client.describe_database(db)
    assert d["name"] == db
    assert d["database.max.collections"] == "5"
    client.alter_database_properties(db, {"owner": "team-a"})
    d = client.describe_database(db)
    assert d["owner"] == "team-a" and d["database.max.collections"] == "5"
    client.drop_database_properties(db, ["database.max.collections"])
    assert "database.max.collections" not in client.describe_database(db)
    with pytest.raises(MilvusException):
        client.create_database(db)
    client.drop_database(db)
    assert db not in client.list_databases()
    with pytest.raises(MilvusException) as e:
        client.describe_database(db)
    assert e.value.code == 800


def test_default_cannot_be_dropped_and_bad_names_are_refused(client):
    with pytest.raises(MilvusException):
        client.drop_database("default")
    assert "default" in client.list_databases()
    for bad in ["1db", "a-b", "x" * 300]:
        with pytest.raises(MilvusException):
            client.create_database(bad)


def test_same_collection_name_in_two_databases(client, server, name):
    db = f"db2_{name}"
    client.create_database(db)
    make(client, name, rows=3)
    other = MilvusClient(uri=server.uri, db_name=db)
    try:
        make(other, name, rows=5, first=100)
        assert ids(client, name) == [0, 1, 2]
        assert ids(other, name) == [100, 101, 102, 103, 104]
        assert name in other.list_collections()
        assert other.describe_collection(name)["collection_name"] == name
        # Search in each database finds its own rows.
        hit = other.search(name, data=[[100.0] * 4], limit=1, output_fields=["tag"])[0][0]
        assert hit["id"] == 100 and hit["entity"]["tag"] == f"{name}-0"
        hit = client.search(name, data=[[100.0] * 4], limit=1)[0][0]
        assert hit["id"] == 2
        # A database with a collection cannot be dropped.
        with pytest.raises(MilvusException):
            client.drop_database(db)
        other.drop_collection(name)
        assert ids(client, name) == [0, 1, 2]
        client.drop_database(db)
    finally:
        other.close()


def test_using_database_switches_the_client(client, server, name):
    db = f"db3_{name}"
    client.create_database(db)
    c = MilvusClient(uri=server.uri)
    try:
        c.using_database(db)
        make(c, name, rows=2)
        assert c.list_collections() == [name]
        assert not client.has_collection(name)
        with pytest.raises(MilvusException) as e:
            c.using_database(f"missing_{name}")
        assert e.value.code == 800
        c.drop_collection(name)
        client.drop_database(db)
    finally:
        c.close()


def test_unknown_database_is_code_800(server):
    c = MilvusClient(uri=server.uri)
    try:
        c._config.db_name = "no_such_db"  # what a client configured for a dropped database sends
        with pytest.raises(MilvusException) as e:
            c.list_collections()
        assert e.value.code == 800
    finally:
        c.close()


def test_aliases_in_reads_and_writes(client, name):
    a, b, alias = f"{name}_a", f"{name}_b", f"{name}_live"
    make(client, a, rows=2)
    make(client, b, rows=3, first=10)
    client.create_alias(a, alias)
    assert client.describe_alias(alias)["collection_name"] == a
    assert ids(client, alias) == [0, 1]
    client.insert(alias, [{"id": 5, "vector": [5.0] * 4, "tag": "via-alias"}])
    assert ids(client, a) == [0, 1, 5]
    client.upsert(alias, [{"id": 5, "vector": [5.0] * 4, "tag": "upserted"}])
    assert client.get(alias, ids=[5], output_fields=["tag"])[0]["tag"] == "upserted"
    client.delete(alias, ids=[5])
    assert ids(client, a) == [0, 1]
    assert client.search(alias, data=[[0.0] * 4], limit=1)[0][0]["id"] == 0
    assert client.describe_collection(alias)["collection_name"] == a
    assert alias in client.describe_collection(a)["aliases"]
    assert client.get_load_state(alias)["state"].name == "Loaded"
    assert client.get_collection_stats(alias)["row_count"] == 2
    # alter_alias switches a search to the other collection.
    client.alter_alias(b, alias)
    assert client.search(alias, data=[[0.0] * 4], limit=1)[0][0]["id"] == 10
    assert client.list_aliases(b)["aliases"] == [alias]
    assert client.list_aliases(a)["aliases"] == []
    assert alias in client.list_aliases()["aliases"]
    # Milvus' rules: no drop through an alias, no drop of a collection with aliases.
    with pytest.raises(MilvusException):
        client.drop_collection(alias)
    with pytest.raises(MilvusException):
        client.drop_collection(b)
    with pytest.raises(MilvusException):
        client.create_alias(a, b)  # a collection's name
    client.drop_alias(alias)
    with pytest.raises(MilvusException):
        client.describe_alias(alias)
    client.drop_collection(b)
    client.drop_collection(a)


def test_aliases_are_per_database(client, server, name):
    db = f"db4_{name}"
    client.create_database(db)
    other = MilvusClient(uri=server.uri, db_name=db)
    try:
        make(client, name, rows=1)
        make(other, name, rows=4, first=20)
        client.create_alias(name, f"{name}_al")
        other.create_alias(name, f"{name}_al")
        assert ids(client, f"{name}_al") == [0]
        assert ids(other, f"{name}_al") == [20, 21, 22, 23]
        assert other.describe_alias(f"{name}_al")["db_name"] == db
        other.drop_alias(f"{name}_al")
        assert ids(client, f"{name}_al") == [0]
        other.drop_collection(name)
        client.drop_alias(f"{name}_al")
        client.drop_collection(name)
        client.drop_database(db)
    finally:
        other.close()


def test_server_version(client):
    assert client.get_server_version().startswith("v2.")


def test_polling_rpcs(client, stub, name):
    make(client, name, rows=20)
    client.flush(name)
    client.insert(name, [{"id": 1000, "vector": [1.0] * 4, "tag": "growing"}])

    states = stub.GetComponentStates(milvus_pb2.GetComponentStatesRequest())
    assert states.state.state_code == common_pb2.StateCode.Healthy
    assert states.HasField("status") and states.status.code == 0

    m = stub.GetMetrics(milvus_pb2.GetMetricsRequest(request=json.dumps({"metric_type": "system_info"})))
    assert m.status.code == 0
    info = json.loads(m.response)
    node = info["nodes_info"][0]["infos"]
    assert node["system_info"]["deploy_mode"] == "STANDALONE"
    assert node["hardware_infos"]["cpu_core_count"] >= 1
    bad = stub.GetMetrics(milvus_pb2.GetMetricsRequest(request="not json"))
    assert bad.status.code != 0

    assert stub.GetVersion(milvus_pb2.GetVersionRequest()).version.startswith("v2.")
    assert list(stub.ListCredUsers(milvus_pb2.ListCredUsersRequest()).usernames) == []
    dbs = stub.ListDatabases(milvus_pb2.ListDatabasesRequest())
    assert dbs.status.code == 0 and "default" in dbs.db_names and len(dbs.db_ids) == len(dbs.db_names)

    assert stub.GetLoadingProgress(milvus_pb2.GetLoadingProgressRequest(collection_name=name)).progress == 100
    stats = stub.GetIndexStatistics(milvus_pb2.GetIndexStatisticsRequest(collection_name=name))
    assert stats.status.code == 0 and [d.field_name for d in stats.index_descriptions] == ["vector"]
    reps = stub.GetReplicas(milvus_pb2.GetReplicasRequest(collection_name=name, with_shard_nodes=True))
    assert reps.status.code == 0 and len(reps.replicas) == 1 and len(reps.replicas[0].shard_replicas) >= 1

    q = stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName=name))
    assert q.status.code == 0
    assert sum(i.num_rows for i in q.infos) == 21
    assert {i.state for i in q.infos} == {common_pb2.SegmentState.Sealed, common_pb2.SegmentState.Growing}
    p = stub.GetPersistentSegmentInfo(milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name))
    assert sorted(i.num_rows for i in p.infos) == [1, 20]
    flushed = stub.GetPersistentSegmentInfo(milvus_pb2.GetPersistentSegmentInfoRequest(
        collectionName=name, states=[common_pb2.SegmentState.Flushed]))
    assert [i.num_rows for i in flushed.infos] == [20]
    missing = stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName=f"{name}_missing"))
    assert missing.status.code == 100

    client.release_collection(name)
    assert len(stub.GetQuerySegmentInfo(milvus_pb2.GetQuerySegmentInfoRequest(collectionName=name)).infos) == 0
    assert len(stub.GetReplicas(milvus_pb2.GetReplicasRequest(collection_name=name)).replicas) == 0
    client.drop_collection(name)


def test_db_name_field_overrides_metadata(client, stub, name):
    db = f"db5_{name}"
    client.create_database(db)
    r = stub.CreateAlias(milvus_pb2.CreateAliasRequest(db_name=db, collection_name="nope", alias="x"))
    assert r.code == 100  # the collection is looked up in `db`
    r = stub.HasCollection(milvus_pb2.HasCollectionRequest(db_name=f"missing_{name}", collection_name="x"))
    assert r.status.code == 800
    client.drop_database(db)


def test_truncate_collection(client, name):
    make(client, name, rows=30)
    client.flush(name)
    client.insert(name, [{"id": 500, "vector": [5.0] * 4, "tag": "growing"}])
    client.create_partition(name, "p1")
    client.insert(name, [{"id": 600, "vector": [6.0] * 4, "tag": "p1"}], partition_name="p1")
    client.create_alias(name, f"{name}_t")
    client.truncate_collection(f"{name}_t")
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 0
    assert client.search(name, data=[[0.0] * 4], limit=3) == [[]]
    assert client.list_indexes(name) == ["vector"]
    assert "p1" in client.list_partitions(name)
    # The emptied segments are compacted away at once, as Milvus drops a truncated collection's segments.
    assert client.list_persistent_segments(name) == []
    client.insert(name, [{"id": 1, "vector": [1.0] * 4, "tag": "after"}])
    assert ids(client, name) == [1]
    client.drop_alias(f"{name}_t")
    client.drop_collection(name)
    with pytest.raises(MilvusException) as e:
        client.truncate_collection(name)
    assert e.value.code == 100
