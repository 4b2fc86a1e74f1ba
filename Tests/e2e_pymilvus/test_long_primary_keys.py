"""VarChar primary keys as LangChain's and LlamaIndex's Milvus stores create them (max_length=65535), through
pymilvus unchanged: ids of 10, 600 and 60,000 characters are inserted, fetched, queried, searched, upserted and
deleted, and survive a restart. Keys past 511 bytes are past LMDB's key limit; Vireo stores them under a digest.
Every expected value comes from the rows the test inserted."""
import time

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException

from conftest import TARGET, VireoServer

DIM = 8


def langchain_schema():
    # langchain_milvus.Milvus._create_collection: pk VARCHAR(65535) primary, text VARCHAR(65535), vector,
    # dynamic field on (LlamaIndex's MilvusVectorStore does the same with id/doc_id/embedding).
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=65535)
    schema.add_field("text", DataType.VARCHAR, max_length=65535)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    return schema


def make_id(n, tag):
    """A deterministic id of n characters (ASCII: characters = bytes), distinct per tag."""
    rng = np.random.default_rng(n * 131 + ord(tag))
    body = "".join(chr(c) for c in rng.integers(ord("a"), ord("z") + 1, size=n))
    return (tag + body)[:n]


def create(client, name, schema=None):
    ip = client.prepare_index_params()
    ip.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema or langchain_schema(), index_params=ip, consistency_level="Strong")


def rows_for(ids, seed):
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    return [{"pk": k, "text": f"doc {len(k)}", "vector": v.tolist(), "source": "e2e"} for k, v in zip(ids, vecs)]


def quoted(ids):
    return ", ".join(f'"{k}"' for k in ids)


def test_langchain_schema_with_long_ids(client, name):
    create(client, name)
    ids = [make_id(10, "a"), make_id(600, "b"), make_id(60_000, "c"), make_id(600, "d"), make_id(60_000, "e")]
    rows = rows_for(ids, 1)
    assert client.insert(name, rows)["insert_count"] == len(ids)

    got = client.get(name, ids=ids, output_fields=["pk", "text", "source"])
    assert sorted(r["pk"] for r in got) == sorted(ids)
    for r in got:
        assert r["text"] == f"doc {len(r['pk'])}" and r["source"] == "e2e"

    one = client.query(name, filter=f'pk == "{ids[2]}"', output_fields=["text"])
    assert [r["pk"] for r in one] == [ids[2]]
    some = client.query(name, filter=f"pk in [{quoted(ids[1:3])}]", output_fields=["pk"])
    assert sorted(r["pk"] for r in some) == sorted(ids[1:3])

    # A row's own vector finds it first, and the search result carries its full id.
    for i in (0, 1, 2):
        res = client.search(name, data=[rows[i]["vector"]], limit=2, output_fields=["text"])
        assert res[0][0]["pk"] == ids[i]
        assert res[0][0]["entity"]["text"] == f"doc {len(ids[i])}"

    # An insert of a stored long id replaces its row, as in Milvus (Lite 3.2.2 too: one row, the newer values).
    client.insert(name, [dict(rows[2], text="dup")])
    assert [r["text"] for r in client.get(name, ids=[ids[2]], output_fields=["text"])] == ["dup"]

    # Upsert one present long id and one new one.
    new = make_id(60_000, "f")
    up = rows_for([ids[2], new], 2)
    up[0]["text"] = "replaced"
    client.upsert(name, up)
    got = {r["pk"]: r["text"] for r in client.get(name, ids=[ids[2], new], output_fields=["text"])}
    assert got == {ids[2]: "replaced", new: f"doc {len(new)}"}

    # Delete by ids and by filter.
    client.delete(name, ids=[ids[1], ids[4]])
    client.delete(name, filter=f'pk in ["{ids[0]}"]')
    remaining = sorted([ids[2], ids[3], new])
    assert sorted(r["pk"] for r in client.query(name, filter='pk != ""', output_fields=["pk"], limit=100)) == remaining
    assert client.get(name, ids=[ids[1], ids[4], ids[0]]) == []


def test_id_longer_than_max_length_is_refused(client, name):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=700)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    create(client, name, schema)
    with pytest.raises(MilvusException) as e:
        client.insert(name, [{"pk": make_id(701, "x"), "vector": [0.0] * DIM}])
    assert "700" in str(e.value), str(e.value)
    client.insert(name, [{"pk": make_id(700, "y"), "vector": [0.0] * DIM}])
    assert len(client.query(name, filter='pk != ""', output_fields=["pk"])) == 1


def test_max_length_past_65535_is_refused(client, name):
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=65536)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    with pytest.raises(MilvusException):
        create(client, name, schema)


@pytest.mark.skipif(TARGET != "vireo", reason="restarts the server")
def test_long_ids_survive_restart_and_compaction(tmp_path, name):
    ids = [make_id(n, t) for n, t in [(10, "a"), (600, "b"), (60_000, "c"), (600, "d"), (60_000, "e"), (512, "g")]]
    rows = rows_for(ids, 3)
    s = VireoServer(tmp_path, "--seal-rows", "2", "--compaction-interval", "0")
    try:
        c = MilvusClient(uri=s.uri)
        create(c, name)
        for r in rows:
            c.insert(name, [r])
        c.flush(name)
        c.delete(name, ids=[ids[0], ids[2]])
        job = c.compact(name)
        deadline = time.time() + 120
        while c.get_compaction_state(job) != "Completed":
            assert time.time() < deadline, "compaction did not complete"
            time.sleep(0.05)
        c.close()
    finally:
        s.stop()
    s = VireoServer(tmp_path)
    try:
        c = MilvusClient(uri=s.uri)
        live = [k for k in ids if k not in (ids[0], ids[2])]
        got = c.get(name, ids=ids, output_fields=["text"])
        assert sorted(r["pk"] for r in got) == sorted(live)
        c.upsert(name, rows_for([ids[2]], 4))
        assert len(c.get(name, ids=[ids[2]])) == 1
        c.close()
    finally:
        s.stop()


def test_query_iterator_walks_long_ids_in_order(client, name):
    # pymilvus pages with `pk > "<last id>"`: the comparison runs against full keys, whatever is stored.
    create(client, name)
    ids = [f"{i:05d}" + "x" * (i * 997 % 3000) for i in range(50)]
    client.insert(name, rows_for(ids, 5))
    it = client.query_iterator(name, batch_size=7, filter='pk != ""', output_fields=["pk"])
    walked = []
    while True:
        page = it.next()
        if not page:
            break
        walked += [r["pk"] for r in page]
    it.close()
    assert walked == sorted(ids)
