"""What attu and the Node SDK read besides data (Tests/e2e_go/ATTU_CALLS.md), through pymilvus 3.0.2's own
calls where it has them and raw stubs otherwise: resource groups, users and roles without RBAC, the RBAC
writes refused, GetMetrics' topology, and collection/partition ids that are real (unique per database and
collection, the segments' partition ids those of ShowPartitions, rows adding up per partition)."""
import json
import random

import grpc
import pytest
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET == "lite", reason="Vireo's answers (Milvus Lite has RBAC users and other ids)")


@pytest.fixture
def stub(server):
    channel = grpc.insecure_channel(server.uri.removeprefix("http://"))
    yield milvus_pb2_grpc.MilvusServiceStub(channel)
    channel.close()


def make(client, name, dim=4, **kw):
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index_params, **kw)


def test_resource_groups(client, stub, name):
    make(client, name)
    assert client.list_resource_groups() == ["__default_resource_group"]
    rg = client.describe_resource_group("__default_resource_group")
    assert rg.name == "__default_resource_group" and rg.capacity == 1 and rg.num_available_node == 1
    assert dict(rg.num_loaded_replica).get(name) == 1
    assert [n.node_id for n in rg.nodes] == [1]
    with pytest.raises(MilvusException) as e:
        client.describe_resource_group("rg_nope")
    assert e.value.code == 300 and "resource group not found" in e.value.message
    client.release_collection(name)
    assert name not in dict(client.describe_resource_group("__default_resource_group").num_loaded_replica)
    with pytest.raises(MilvusException) as e:
        client.create_resource_group("rg1")
    assert e.value.code == 10


def test_users_and_roles_without_rbac(client, stub):
    assert client.list_users() == []
    assert client.list_roles() == []
    assert client.list_privilege_groups() == []
    r = stub.SelectUser(milvus_pb2.SelectUserRequest(user=milvus_pb2.UserEntity(name="root"), include_role_info=True))
    assert r.HasField("status") and r.status.code == 0 and list(r.results) == []
    r = stub.SelectRole(milvus_pb2.SelectRoleRequest(role=milvus_pb2.RoleEntity(name="admin"), include_user_info=True))
    assert r.HasField("status") and r.status.code == 0 and list(r.results) == []
    g = stub.SelectGrant(milvus_pb2.SelectGrantRequest(entity=milvus_pb2.GrantEntity(role=milvus_pb2.RoleEntity(name="public"), db_name="*")))
    assert g.status.code != 0 and "not found the role" in g.status.reason
    g = stub.SelectGrant(milvus_pb2.SelectGrantRequest())
    assert g.status.code != 0 and "grant entity" in g.status.reason
    for call in (lambda: client.create_user("u", "password1"), lambda: client.create_role("r"),
                 lambda: client.grant_role("u", "r"), lambda: client.create_privilege_group("g"),
                 lambda: client.drop_role("r"), lambda: client.update_password("u", "oldpassword", "newpassword")):
        with pytest.raises(MilvusException) as e:
            call()
        assert e.value.code == 10 and "RBAC" in e.value.message


def test_metrics_topology(stub):
    m = stub.GetMetrics(milvus_pb2.GetMetricsRequest(request=json.dumps({"metric_type": "system_info"})))
    assert m.status.code == 0
    nodes = json.loads(m.response)["nodes_info"]
    by_id = {n["identifier"]: n for n in nodes}
    assert len(by_id) == len(nodes)
    types = sorted(n["infos"]["type"] for n in nodes)
    assert types == sorted(["proxy", "rootcoord", "querycoord", "datacoord", "querynode", "datanode"])
    for n in nodes:
        assert n["infos"]["system_info"]["deploy_mode"] == "STANDALONE"
        assert n["infos"]["hardware_infos"]["memory"] > 0
        for e in n["connected"]:
            assert by_id[e["connected_identifier"]]["infos"]["type"] == e["target_type"]
            assert e["type"] in ("forward", "manage")
    proxy = next(n for n in nodes if n["infos"]["type"] == "proxy")
    assert sorted(e["target_type"] for e in proxy["connected"]) == ["datacoord", "querycoord", "rootcoord"]


def test_collection_ids_unique_per_database(client, stub, name):
    db = f"db_{name}"
    client.create_database(db)
    try:
        make(client, name)
        stub_ids = {}
        for d in ("default", db):
            client.use_database(d)
            if d == db:
                make(client, name)
            desc = client.describe_collection(name)
            listed = stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(db_name=d))
            stub_ids[d] = dict(zip(listed.collection_names, listed.collection_ids))[name]
            assert desc["collection_id"] == stub_ids[d]
            reps = stub.GetReplicas(milvus_pb2.GetReplicasRequest(collectionID=stub_ids[d], db_name=d))
            assert reps.status.code == 0 and reps.replicas[0].collectionID == stub_ids[d]
        assert stub_ids["default"] != stub_ids[db]
        # The id survives a rename and is not the new name's.
        client.use_database(db)
        client.rename_collection(name, name + "_r")
        assert client.describe_collection(name + "_r")["collection_id"] == stub_ids[db]
        missing = stub.GetReplicas(milvus_pb2.GetReplicasRequest(collectionID=2**40, db_name=db))
        assert missing.status.code == 100
        client.drop_collection(name + "_r")
    finally:
        client.use_database("default")
        client.drop_collection(name)
        client.drop_database(db)


def test_segments_carry_real_partition_ids(client, stub, name):
    rng = random.Random(16)
    make(client, name, shards_num=2)
    client.create_partition(name, "p1")
    client.create_partition(name, "p2")
    want = {"_default": 0, "p1": 0, "p2": 0}
    next_id = 0
    for round_ in range(3):
        for part in ("_default", "p1", "p2"):
            n = rng.randint(5, 40)
            client.insert(name, [{"id": next_id + i, "vector": [rng.random() for _ in range(4)]} for i in range(n)], partition_name=part)
            next_id += n
            want[part] += n
        if round_ < 2:
            client.flush(name)
    parts = stub.ShowPartitions(milvus_pb2.ShowPartitionsRequest(collection_name=name))
    name_of = dict(zip(parts.partitionIDs, parts.partition_names))
    assert len(name_of) == 3
    cid = client.describe_collection(name)["collection_id"]
    for req, call in ((milvus_pb2.GetQuerySegmentInfoRequest(collectionName=name), stub.GetQuerySegmentInfo),
                      (milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name), stub.GetPersistentSegmentInfo)):
        got = {"_default": 0, "p1": 0, "p2": 0}
        infos = call(req).infos
        for info in infos:
            assert info.collectionID == cid and info.partitionID in name_of and info.num_rows > 0
            got[name_of[info.partitionID]] += info.num_rows
        assert got == want
        assert len({(i.segmentID, i.partitionID) for i in infos}) == len(infos)
    reps = stub.GetReplicas(milvus_pb2.GetReplicasRequest(collection_name=name))
    assert sorted(reps.replicas[0].partition_ids) == sorted(parts.partitionIDs)
    client.drop_collection(name)


def test_show_partitions_reports_which_partitions_are_loaded(client, stub, name):
    """attu's partitions tab reads ShowPartitions' in-memory percentages: 100 for a loaded partition,
    0 for a released one (Milvus' answer), following release_partitions / load_partitions."""
    make(client, name)  # created with an index: loaded
    client.create_partition(name, "p1")
    client.create_partition(name, "p2")

    def percentages():
        r = stub.ShowPartitions(milvus_pb2.ShowPartitionsRequest(collection_name=name))
        assert r.status.code == 0
        return dict(zip(r.partition_names, r.inMemory_percentages))

    assert percentages() == {"_default": 100, "p1": 100, "p2": 100}
    client.release_partitions(name, ["p1"])
    assert percentages() == {"_default": 100, "p1": 0, "p2": 100}
    client.load_partitions(name, ["p1"])
    assert percentages() == {"_default": 100, "p1": 100, "p2": 100}
    client.release_collection(name)
    assert percentages() == {"_default": 0, "p1": 0, "p2": 0}
    client.drop_collection(name)
