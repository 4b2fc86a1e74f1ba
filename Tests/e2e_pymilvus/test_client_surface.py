"""What Milvus' other SDKs (Node on grpc-js, Go, Java) and tools (attu) read from replies, checked with raw
grpcio stubs, the way those clients see the wire: every reply carries its `status` message (the Node, Go and
Java SDKs read `status.error_code` and throw when it is absent), creation times are real, and
`ShowCollections(type=InMemory)` lists only loaded collections."""
import time

import grpc
import pytest
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET == "lite", reason="raw gRPC against Vireo's server (Milvus Lite is in-process)")


@pytest.fixture
def stub(server):
    channel = grpc.insecure_channel(server.uri.removeprefix("http://"))
    yield milvus_pb2_grpc.MilvusServiceStub(channel)
    channel.close()


def make(client, name, dim=8, load=True):
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index_params)
    client.insert(name, [{"id": i, "vector": [float(i)] * dim} for i in range(10)])
    if not load:
        client.release_collection(name)


def test_every_success_reply_carries_a_status(client, stub, name):
    make(client, name)
    calls = {
        "GetVersion": stub.GetVersion(milvus_pb2.GetVersionRequest()),
        "CheckHealth": stub.CheckHealth(milvus_pb2.CheckHealthRequest()),
        "HasCollection": stub.HasCollection(milvus_pb2.HasCollectionRequest(collection_name=name)),
        "DescribeCollection": stub.DescribeCollection(milvus_pb2.DescribeCollectionRequest(collection_name=name)),
        "ShowCollections": stub.ShowCollections(milvus_pb2.ShowCollectionsRequest()),
        "GetCollectionStatistics": stub.GetCollectionStatistics(milvus_pb2.GetCollectionStatisticsRequest(collection_name=name)),
        "GetLoadState": stub.GetLoadState(milvus_pb2.GetLoadStateRequest(collection_name=name)),
        "GetLoadingProgress": stub.GetLoadingProgress(milvus_pb2.GetLoadingProgressRequest(collection_name=name)),
        "ShowPartitions": stub.ShowPartitions(milvus_pb2.ShowPartitionsRequest(collection_name=name)),
        "HasPartition": stub.HasPartition(milvus_pb2.HasPartitionRequest(collection_name=name, partition_name="_default")),
        "DescribeIndex": stub.DescribeIndex(milvus_pb2.DescribeIndexRequest(collection_name=name)),
        "GetIndexState": stub.GetIndexState(milvus_pb2.GetIndexStateRequest(collection_name=name, field_name="vector")),
        "Flush": stub.Flush(milvus_pb2.FlushRequest(collection_names=[name])),
        "Query": stub.Query(milvus_pb2.QueryRequest(collection_name=name, expr="id < 3", output_fields=["id"])),
        "Delete": stub.Delete(milvus_pb2.DeleteRequest(collection_name=name, expr="id in [9]")),
        "AllocTimestamp": stub.AllocTimestamp(milvus_pb2.AllocTimestampRequest()),
    }
    for method, reply in calls.items():
        assert reply.HasField("status"), f"{method}: success reply without a status message"
        assert reply.status.code == 0 and reply.status.error_code == common_pb2.Success, (method, reply.status)


def test_failures_carry_the_code_in_the_status(stub):
    reply = stub.DescribeCollection(milvus_pb2.DescribeCollectionRequest(collection_name="no_such_collection"))
    assert reply.HasField("status") and reply.status.code == 100
    assert reply.status.error_code == common_pb2.CollectionNotExists


def test_creation_times_are_real(client, stub, name):
    before_ms = int(time.time() * 1000)
    make(client, name)
    after_ms = int(time.time() * 1000)
    d = stub.DescribeCollection(milvus_pb2.DescribeCollectionRequest(collection_name=name))
    assert before_ms - 1000 <= d.created_utc_timestamp <= after_ms + 1000
    assert d.created_timestamp >> 18 == d.created_utc_timestamp  # a hybrid timestamp: physical ms << 18
    shown = stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(collection_names=[name]))
    assert list(shown.collection_names) == [name]
    assert list(shown.created_utc_timestamps) == [d.created_utc_timestamp]


def test_show_collections_in_memory_lists_only_loaded_ones(client, stub, name):
    loaded, released = name + "_loaded", name + "_released"
    make(client, loaded)
    make(client, released, load=False)
    everything = stub.ShowCollections(milvus_pb2.ShowCollectionsRequest())
    assert {loaded, released} <= set(everything.collection_names)
    in_memory = stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(type=milvus_pb2.ShowType.InMemory))
    assert loaded in in_memory.collection_names and released not in in_memory.collection_names
    percentages = dict(zip(everything.collection_names, everything.inMemory_percentages))
    assert percentages[loaded] == 100 and percentages[released] == 0
