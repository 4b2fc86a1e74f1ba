"""Nullable vector fields (Milvus 2.6) over REST v2: a row's vector may be null or absent; such rows are stored,
counted, read back with the field null, and never returned by that field's search. Seeded random data with ~30 %
null vectors; searches are checked against numpy's exact top-k over the rows that have a vector."""
import numpy as np
import pytest

DIM = 16
N = 600
K = 10


def create(client, name, index_type="FLAT", params=None):
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"autoID": False, "enableDynamicField": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vec", "dataType": "FloatVector", "nullable": True, "elementTypeParams": {"dim": DIM}},
        ]},
        "indexParams": [{"fieldName": "vec", "indexName": "vec_idx", "metricType": "L2", "indexType": index_type,
                         "params": params or {}}],
    })


def data(seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((N, DIM)).astype(np.float32)
    null = rng.random(N) < 0.3
    rows = []
    for i in range(N):
        if not null[i]:
            rows.append({"id": i, "vec": base[i].tolist()})
        elif i % 2:
            rows.append({"id": i, "vec": None})
        else:
            rows.append({"id": i})  # absent
    return base, null, rows


def exact(base, valid, q, k=K):
    ids = np.flatnonzero(valid)
    d = ((base[ids].astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1)
    order = np.argsort(d, kind="stable")[:k]
    return [int(ids[i]) for i in order]


def search(client, name, queries, limit=K, params=None, output=("id",)):
    reply = client.call("entities/search", {"collectionName": name, "data": [q.tolist() for q in queries], "annsField": "vec",
                                            "limit": limit, "outputFields": list(output), "searchParams": {"params": params or {}}})
    assert reply["code"] == 0, reply
    out, at = [], 0
    for k in reply.get("topks", [len(reply["data"])]):
        out.append(reply["data"][at:at + k])
        at += k
    return out


@pytest.mark.parametrize("index_type,params,sparams", [("FLAT", {}, {}), ("HNSW", {"M": 16, "efConstruction": 100}, {"ef": 256})])
def test_rest_search_skips_null_vectors(client, name, index_type, params, sparams):
    base, null, rows = data(777)
    create(client, name, index_type, params)
    client.ok("entities/insert", {"collectionName": name, "data": rows[: N // 2]})
    client.ok("collections/flush", {"collectionName": name})
    client.ok("entities/insert", {"collectionName": name, "data": rows[N // 2:]})
    queries = np.random.default_rng(8).standard_normal((6, DIM)).astype(np.float32)
    for q, hits in zip(queries, search(client, name, queries, params=sparams)):
        assert [h["id"] for h in hits] == exact(base, ~null, q)
    every = search(client, name, queries[:1], limit=N, params=sparams)[0]
    assert {h["id"] for h in every} == set(np.flatnonzero(~null).tolist())
    assert client.count(name) == N
    got = client.ok("entities/get", {"collectionName": name, "id": list(range(30)), "outputFields": ["vec"]})
    assert len(got) == 30
    for r in got:
        if null[r["id"]]:
            assert r.get("vec") is None
        else:
            np.testing.assert_array_equal(np.asarray(r["vec"], dtype=np.float32), base[r["id"]])


def test_rest_upsert_clears_vector(client, name):
    base, null, rows = data(31)
    create(client, name)
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    vid = int(np.flatnonzero(~null)[0])
    client.ok("entities/upsert", {"collectionName": name, "data": [{"id": vid, "vec": None}]})
    hits = search(client, name, [base[vid]])[0]
    assert vid not in [h["id"] for h in hits]
    assert client.count(name) == N
