"""Collection, field and index properties through pymilvus 3.0.2, unchanged:
alter_collection_properties / drop_collection_properties (collection.ttl.seconds honoured: expired rows
leave search, query, get and count, and compaction removes them), alter_collection_field,
add_collection_field (a nullable field added to a collection with rows), alter_index_properties /
drop_index_properties, and describe_collection / describe_index showing the result.

TTL is tested without sleeping-and-hoping: a 2 s TTL, then polling with a deadline until the rows are
gone; rows inserted afterwards (under a long TTL) must all be there."""
import time

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "vireo", reason="runs against vireo serve (Milvus Lite lacks TTL and field changes)")

DIM = 8


def make(client, name, index_type="FLAT", params=None, enable_dynamic=False):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=enable_dynamic)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("s", DataType.VARCHAR, max_length=8)
    schema.add_field("n", DataType.INT64)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type=index_type, metric_type="L2", params=params or {})
    client.create_collection(name, schema=schema, index_params=index_params)


def rows(first, count, seed):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    return [{"id": first + i, "vector": vectors[i].tolist(), "s": f"r{first + i}", "n": first + i} for i in range(count)], vectors


def live_ids(client, name):
    return sorted(r["id"] for r in client.query(name, filter="id >= 0", output_fields=["id"], limit=16384))


def count(client, name):
    return client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"]


def wait_compaction(client, job, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get_compaction_state(job)
        if state == "Completed":
            return
        assert state == "Executing", state
        time.sleep(0.05)
    raise AssertionError(f"compaction {job} did not complete in {timeout} s")


def test_collection_properties_are_stored_described_and_dropped(client, name):
    make(client, name)
    client.alter_collection_properties(name, {"mmap.enabled": True, "collection.ttl.seconds": 3600,
                                              "collection.autocompaction.enabled": "true", "team.owner": "search"})
    props = client.describe_collection(name)["properties"]
    assert props["mmap.enabled"] == "True"
    assert props["collection.ttl.seconds"] == "3600"
    assert props["team.owner"] == "search"
    client.drop_collection_properties(name, ["team.owner", "mmap.enabled"])
    props = client.describe_collection(name)["properties"]
    assert "team.owner" not in props and "mmap.enabled" not in props
    assert props["collection.ttl.seconds"] == "3600"


@pytest.mark.parametrize("key,value", [
    ("collection.ttl.seconds", -1), ("collection.ttl.seconds", "abc"), ("mmap.enabled", "maybe"),
    ("collection.autocompaction.enabled", "sometimes"), ("partitionkey.isolation", True),
])
def test_invalid_collection_properties_are_refused(client, name, key, value):
    make(client, name)
    with pytest.raises(MilvusException) as e:
        client.alter_collection_properties(name, {key: value})
    assert e.value.code == 1100, e.value
    assert key not in client.describe_collection(name)["properties"]


def test_properties_given_at_create(client, name):
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema, properties={"collection.ttl.seconds": 100})
    assert client.describe_collection(name)["properties"]["collection.ttl.seconds"] == "100"


def test_ttl_expires_rows_from_every_read_and_compaction_removes_them(client, name):
    make(client, name)
    old, old_vectors = rows(0, 60, seed=1)
    client.insert(name, old)
    client.flush(name)  # some rows sealed ...
    more, more_vectors = rows(60, 40, seed=2)
    client.insert(name, more)  # ... and some growing
    assert count(client, name) == 100
    client.alter_collection_properties(name, {"collection.ttl.seconds": 2})
    deadline = time.time() + 60
    while time.time() < deadline and (count(client, name) or live_ids(client, name)):
        time.sleep(0.1)
    assert count(client, name) == 0
    assert live_ids(client, name) == []
    assert client.get(name, ids=list(range(100))) == []
    assert client.search(name, [old_vectors[0].tolist()], limit=10)[0] == []
    # Compaction removes the expired rows physically.
    wait_compaction(client, client.compact(name))
    stats = client.get_collection_stats(name)
    assert int(stats["row_count"]) == 0, stats
    # Under a long TTL the compacted rows stay gone, and new rows (reusing old keys too) are all there.
    client.alter_collection_properties(name, {"collection.ttl.seconds": 3600})
    assert count(client, name) == 0
    fresh, fresh_vectors = rows(50, 80, seed=3)
    client.insert(name, fresh)
    assert live_ids(client, name) == list(range(50, 130))
    q = np.random.default_rng(4).standard_normal(DIM).astype(np.float32)
    got = client.search(name, [q.tolist()], limit=5, output_fields=["id"])[0]
    d = ((fresh_vectors - q) ** 2).sum(axis=1)
    want = [50 + int(i) for i in np.argsort(d, kind="stable")[:5]]
    assert [h["id"] for h in got] == want
    # Removing the TTL keeps everything.
    client.drop_collection_properties(name, ["collection.ttl.seconds"])
    assert count(client, name) == 80


def test_alter_collection_field(client, name):
    make(client, name)
    with pytest.raises(MilvusException):
        client.insert(name, [{"id": 1, "vector": [0.0] * DIM, "s": "x" * 20, "n": 1}])
    client.alter_collection_field(name, field_name="s", field_params={"max_length": 32, "mmap.enabled": True})
    client.insert(name, [{"id": 1, "vector": [0.0] * DIM, "s": "x" * 20, "n": 1}])
    field = next(f for f in client.describe_collection(name)["fields"] if f["name"] == "s")
    assert int(field["params"]["max_length"]) == 32
    # pymilvus reports the field's mmap.enabled type param as `mmap_enabled`.
    assert str(field["params"]["mmap_enabled"]).lower() == "true", field
    with pytest.raises(MilvusException) as e:
        client.alter_collection_field(name, field_name="n", field_params={"max_length": 32})
    assert e.value.code == 1100 and "non-string" in e.value.message
    with pytest.raises(MilvusException) as e:
        client.alter_collection_field(name, field_name="s", field_params={"max_length": 70000})
    assert e.value.code == 1100


def test_add_collection_field_to_a_collection_with_rows(client, name):
    make(client, name, enable_dynamic=True)
    old, _ = rows(0, 50, seed=5)
    for r in old:
        r["extra"] = r["id"] % 2
    client.insert(name, old[:30])
    client.flush(name)
    client.insert(name, old[30:])
    client.add_collection_field(name, field_name="score", data_type=DataType.INT64, nullable=True, default_value=7)
    client.add_collection_field(name, field_name="note", data_type=DataType.VARCHAR, max_length=16, nullable=True)
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    assert fields["score"]["nullable"] and fields["note"]["nullable"]
    got = client.query(name, filter="id < 3", output_fields=["id", "score", "note", "extra"])
    assert sorted((r["id"], r["score"], r["note"], r["extra"]) for r in got) == [(0, 7, None, 0), (1, 7, None, 1), (2, 7, None, 0)]
    assert count(client, name) == 50
    assert len(client.query(name, filter="note is null", output_fields=["id"], limit=100)) == 50
    assert len(client.query(name, filter="score == 7", output_fields=["id"], limit=100)) == 50
    new, _ = rows(100, 10, seed=6)
    for i, r in enumerate(new):
        r["score"] = 100 + i
        r["note"] = "new"
    client.insert(name, new)
    assert sorted(r["id"] for r in client.query(name, filter="score >= 100", output_fields=["id"])) == list(range(100, 110))
    assert len(client.query(name, filter='note == "new"', output_fields=["id"])) == 10
    assert len(client.query(name, filter="note is null", output_fields=["id"], limit=100)) == 50
    with pytest.raises(MilvusException) as e:
        client.add_collection_field(name, field_name="x", data_type=DataType.INT64, nullable=False)
    assert e.value.code == 1100 and "added field must be nullable" in e.value.message
    with pytest.raises(MilvusException) as e:
        client.add_collection_field(name, field_name="score", data_type=DataType.INT64, nullable=True)
    assert e.value.code == 1100 and "duplicate field name" in e.value.message
    with pytest.raises(MilvusException) as e:
        client.add_collection_field(name, field_name="k", data_type=DataType.INT64, nullable=True, is_partition_key=True)
    assert e.value.code == 1100


def test_index_properties(client, name):
    make(client, name, index_type="HNSW", params={"M": 8, "efConstruction": 64})
    client.insert(name, rows(0, 30, seed=7)[0])
    client.alter_index_properties(name, "vector", {"mmap.enabled": True})
    d = client.describe_index(name, "vector")
    assert str(d["mmap.enabled"]).lower() == "true", d
    assert d["index_type"] == "HNSW"
    with pytest.raises(MilvusException):
        client.alter_index_properties(name, "vector", {"M": 16})
    with pytest.raises(MilvusException):
        client.alter_index_properties(name, "no_such_index", {"mmap.enabled": True})
    client.drop_index_properties(name, "vector", ["mmap.enabled"])
    assert "mmap.enabled" not in client.describe_index(name, "vector")
