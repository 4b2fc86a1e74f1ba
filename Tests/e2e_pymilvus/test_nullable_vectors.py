"""Nullable vector fields (Milvus 2.6) through pymilvus (gRPC): rows whose vector is None are stored, counted and
read back as None, and never returned by that field's search. Seeded random data with ~30 % null vectors; every
search is checked against numpy's exact top-k over the rows that have a vector."""
import numpy as np
import pytest
from pymilvus import DataType, MilvusException

DIM = 16
N = 900
K = 10


def make(client, name, index_type="FLAT", params=None, metric="L2"):
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM, nullable=True)
    schema.add_field("tag", DataType.VARCHAR, max_length=32)
    idx = client.prepare_index_params()
    idx.add_index("vec", index_type=index_type, metric_type=metric, params=params or {})
    client.create_collection(name, schema=schema, index_params=idx)


def data(seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((N, DIM)).astype(np.float32)
    null = rng.random(N) < 0.3
    rows = [{"id": i, "vec": None if null[i] else base[i].tolist(), "tag": f"t{i}"} for i in range(N)]
    return base, null, rows


def exact(base, valid, q, k=K):
    ids = np.flatnonzero(valid)
    d = ((base[ids].astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1)
    order = np.argsort(d, kind="stable")[:k]
    return [int(ids[i]) for i in order]


@pytest.mark.parametrize("index_type,params,search", [
    ("FLAT", {}, {}),
    ("HNSW", {"M": 16, "efConstruction": 100}, {"params": {"ef": 256}}),
    ("IVF_FLAT", {"nlist": 16}, {"params": {"nprobe": 16}}),
])
def test_search_skips_null_vectors(client, name, index_type, params, search):
    base, null, rows = data(4242)
    make(client, name, index_type, params)
    client.insert(name, rows[: N // 2])
    client.flush(name)
    client.insert(name, rows[N // 2:])  # half sealed, half growing
    queries = np.random.default_rng(7).standard_normal((8, DIM)).astype(np.float32)
    res = client.search(name, queries.tolist(), limit=K, anns_field="vec", search_params=search)
    for q, hits in zip(queries, res):
        assert [h["id"] for h in hits] == exact(base, ~null, q)
    # Asking for every row returns exactly the rows that have a vector.
    every = client.search(name, [queries[0].tolist()], limit=N, anns_field="vec", search_params=search)[0]
    got = {h["id"] for h in every}
    assert got == set(np.flatnonzero(~null).tolist())
    # count(*) counts every row; query returns None for the missing vectors and the vectors otherwise.
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == N
    some = client.query(name, filter="id < 40", output_fields=["vec", "tag"])
    assert len(some) == 40
    for r in some:
        if null[r["id"]]:
            assert r["vec"] is None
        else:
            np.testing.assert_array_equal(np.asarray(r["vec"], dtype=np.float32), base[r["id"]])
    # Search results carry the output vectors of their (valid) hits.
    with_vec = client.search(name, [queries[1].tolist()], limit=5, anns_field="vec", search_params=search, output_fields=["vec"])[0]
    for h in with_vec:
        np.testing.assert_array_equal(np.asarray(h["entity"]["vec"], dtype=np.float32), base[h["id"]])


def test_upsert_sets_and_clears(client, name):
    base, null, rows = data(99)
    make(client, name)
    client.insert(name, rows)
    nid = int(np.flatnonzero(null)[0])
    vid = int(np.flatnonzero(~null)[0])
    v = np.random.default_rng(5).standard_normal(DIM).astype(np.float32)
    client.upsert(name, [{"id": nid, "vec": v.tolist(), "tag": "set"}, {"id": vid, "vec": None, "tag": "cleared"}])
    hits = client.search(name, [v.tolist()], limit=1, anns_field="vec")[0]
    assert hits[0]["id"] == nid
    hits = client.search(name, [base[vid].tolist()], limit=K, anns_field="vec")[0]
    assert vid not in [h["id"] for h in hits]
    got = client.get(name, ids=[vid], output_fields=["vec"])
    assert got[0]["vec"] is None
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == N


def test_rules(client, name):
    base, null, rows = data(3)
    make(client, name)
    client.insert(name, rows)
    # A filter on a vector field is refused, as in Milvus.
    with pytest.raises(MilvusException):
        client.query(name, filter="vec is null", output_fields=["id"])
    # Search by the primary key of a row without a vector names the problem.
    nid = int(np.flatnonzero(null)[0])
    with pytest.raises(MilvusException, match="no vector"):
        client.search(name, ids=[nid], limit=3, anns_field="vec")
    # A non-nullable vector field still needs a vector in every row.
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name + "_plain", schema=schema)
    with pytest.raises(Exception):
        client.insert(name + "_plain", [{"id": 1, "vec": None}])


def test_range_and_grouping_skip_null_vectors(client, name):
    base, null, rows = data(1234)
    make(client, name)
    client.insert(name, rows)
    q = np.random.default_rng(11).standard_normal(DIM).astype(np.float32)
    ids = np.flatnonzero(~null)
    d = ((base[ids].astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1)
    sd = np.sort(d)
    radius = float((sd[39] + sd[40]) / 2)  # L2 range: distances below the radius; midway, so float32 rounding cannot flip a row
    res = client.search(name, [q.tolist()], limit=200, anns_field="vec", search_params={"params": {"radius": radius}})[0]
    want = {int(ids[i]) for i in np.flatnonzero(d < radius)}
    assert {h["id"] for h in res} == want
    grouped = client.search(name, [q.tolist()], limit=K, anns_field="vec", group_by_field="tag")[0]
    assert [h["id"] for h in grouped] == exact(base, ~null, q)
