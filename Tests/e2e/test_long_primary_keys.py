"""VarChar primary keys up to Milvus' 65,535 bytes over REST: created with max_length 65535 (as LangChain and
LlamaIndex do), ids of 10, 600 and 60,000 bytes inserted, fetched, queried, searched, upserted and deleted; a key
past max_length and a max_length past 65,535 are refused with Milvus' code 1100."""
import numpy as np

DIM = 4


def schema(name, max_length):
    return {
        "collectionName": name,
        "schema": {
            "autoID": False, "enableDynamicField": True,
            "fields": [
                {"fieldName": "pk", "dataType": "VarChar", "isPrimary": True, "elementTypeParams": {"max_length": max_length}},
                {"fieldName": "text", "dataType": "VarChar", "elementTypeParams": {"max_length": 65535}},
                {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
            ],
        },
        "indexParams": [{"fieldName": "vector", "indexName": "v", "metricType": "L2", "indexType": "FLAT", "params": {}}],
    }


def make_id(n, tag):
    rng = np.random.default_rng(n * 131 + ord(tag))
    return (tag + "".join(chr(c) for c in rng.integers(ord("a"), ord("z") + 1, size=n)))[:n]


def test_long_ids_over_rest(client, name):
    client.ok("collections/create", schema(name, 65535))
    ids = [make_id(10, "a"), make_id(600, "b"), make_id(60_000, "c")]
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((3, DIM)).astype(np.float32).tolist()
    rows = [{"pk": k, "text": f"t{len(k)}", "vector": v} for k, v in zip(ids, vecs)]
    data = client.ok("entities/insert", {"collectionName": name, "data": rows})
    assert data["insertCount"] == 3 and data["insertIds"] == ids

    got = client.ok("entities/get", {"collectionName": name, "id": ids, "outputFields": ["pk", "text"]})
    assert sorted((r["pk"], r["text"]) for r in got) == sorted((k, f"t{len(k)}") for k in ids)
    q = client.ok("entities/query", {"collectionName": name, "filter": f'pk == "{ids[2]}"', "outputFields": ["text"]})
    assert [r["pk"] for r in q] == [ids[2]]
    hits = client.ok("entities/search", {"collectionName": name, "data": [vecs[1]], "limit": 1, "outputFields": ["text"]})
    assert hits[0]["pk"] == ids[1] and hits[0]["text"] == "t600"

    # An insert of a stored key replaces its row (Milvus' readers serve a key's newest row), as upsert does.
    client.ok("entities/insert", {"collectionName": name, "data": [dict(rows[2], text="inserted")]})
    assert client.ok("entities/get", {"collectionName": name, "id": [ids[2]], "outputFields": ["text"]})[0]["text"] == "inserted"
    client.ok("entities/upsert", {"collectionName": name, "data": [dict(rows[2], text="again")]})
    assert client.ok("entities/get", {"collectionName": name, "id": [ids[2]], "outputFields": ["text"]})[0]["text"] == "again"
    assert client.ok("entities/query", {"collectionName": name, "filter": "", "outputFields": ["count(*)"]})[0]["count(*)"] == 3
    client.ok("entities/delete", {"collectionName": name, "filter": f'pk in ["{ids[1]}", "{ids[2]}"]'})
    assert [r["pk"] for r in client.ok("entities/query", {"collectionName": name, "filter": 'pk != ""', "outputFields": ["pk"]})] == [ids[0]]


def test_limits_over_rest(client, name):
    msg = client.err("collections/create", schema(name, 65536), 1100)
    assert "65535" in msg, msg
    client.ok("collections/create", schema(name, 600))
    msg = client.err("entities/insert", {"collectionName": name, "data": [{"pk": make_id(601, "z"), "text": "", "vector": [0.0] * DIM}]}, 1100)
    assert "601 bytes" in msg and "maxLength 600" in msg, msg
