"""FLOAT16, BFLOAT16, INT8 and BINARY vector fields through pymilvus (gRPC): insert in pymilvus' own encodings
(numpy float16 / int8 arrays, bfloat16 and packed bits as raw bytes), search with the same encodings, results
checked against numpy's exact top-k over the stored values, and query returning the bytes that were inserted.
Seeded random data; no expected value is written by hand."""
import numpy as np
import pytest
from pymilvus import DataType, MilvusException

from conftest import TARGET

DIM = 32
N = 600
NQ = 8
K = 10


def bf16_bits(x):
    """float32 → bfloat16 bit patterns, rounded to nearest even (numpy has no bfloat16 without ml_dtypes)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_values(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def make(client, name, dtype, dim, index_type, metric, params=None):
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", dtype, dim=dim)
    idx = client.prepare_index_params()
    idx.add_index("vec", index_type=index_type, metric_type=metric, params=params or {})
    client.create_collection(name, schema=schema, index_params=idx)


def exact(base, q, metric, k=K):
    """numpy brute force over float64 copies of the stored values: (ids, scores) best first."""
    base = base.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "L2":
        d = ((base - q) ** 2).sum(axis=1)
        order = np.argsort(d, kind="stable")[:k]
        return order, d[order]
    s = base @ q
    if metric == "COSINE":
        s = s / (np.linalg.norm(base, axis=1) * np.linalg.norm(q))
    order = np.argsort(-s, kind="stable")[:k]
    return order, s[order]


def as_bytes(v, dtype):
    """A query result's vector as bytes, whatever container pymilvus gives it in."""
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], (bytes, bytearray)):
        v = v[0]
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, np.ndarray):
        return v.tobytes()
    if dtype == DataType.INT8_VECTOR:
        return np.asarray(v, dtype=np.int8).tobytes()
    raise AssertionError(f"unexpected vector value {type(v)}: {v!r:.80}")


def dense_data(dtype, seed):
    """(rows to insert, queries to send, stored values as float32, stored bytes per row)."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((N + NQ, DIM)).astype(np.float32)
    if dtype == DataType.FLOAT16_VECTOR:
        h = f.astype(np.float16)
        return list(h[:N]), list(h[N:]), h[:N].astype(np.float32), [r.tobytes() for r in h[:N]], h[N:].astype(np.float32)
    if dtype == DataType.BFLOAT16_VECTOR:
        b = bf16_bits(f)
        return [r.tobytes() for r in b[:N]], [r.tobytes() for r in b[N:]], bf16_values(b[:N]), [r.tobytes() for r in b[:N]], bf16_values(b[N:])
    i = rng.integers(-128, 128, (N + NQ, DIM), dtype=np.int8)
    return list(i[:N]), list(i[N:]), i[:N].astype(np.float32), [r.tobytes() for r in i[:N]], i[N:].astype(np.float32)


DENSE = [DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR]


@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
@pytest.mark.parametrize("dtype", DENSE, ids=lambda t: t.name)
def test_dense_exact_search_and_roundtrip(client, name, dtype, metric):
    # Milvus indexes INT8 vectors with HNSW only; FLAT elsewhere (exact).
    index = "HNSW" if dtype == DataType.INT8_VECTOR else "FLAT"
    params = {"M": 32, "efConstruction": 400} if index == "HNSW" else {}
    make(client, name, dtype, DIM, index, metric, params)
    rows, queries, stored, stored_bytes, qvals = dense_data(dtype, seed=hash((dtype.name, metric)) % 1000)
    client.insert(name, [{"id": i, "vec": v} for i, v in enumerate(rows)])
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    assert fields["vec"]["type"] == dtype and int(fields["vec"]["params"]["dim"]) == DIM
    search = {"params": {"ef": 600}} if index == "HNSW" else {}
    res = client.search(name, queries, limit=K, anns_field="vec", search_params=search)
    assert len(res) == NQ
    for q, hits in zip(qvals, res):
        ids, scores = exact(stored, q, metric)
        got = [h["id"] for h in hits]
        # ef = N makes HNSW over 600 rows exhaustive in practice; allow one miss per query for graph search.
        overlap = len(set(got) & set(int(i) for i in ids))
        assert overlap >= (K if index == "FLAT" else K - 1), (got, list(ids))
        for h in hits:
            want = exact(stored[[h["id"]]], q, metric, 1)[1][0]
            assert abs(h["distance"] - want) <= 1e-3 * max(1.0, abs(want)), (h, want)
    got = client.query(name, filter="id in [0, 1, 2, 597, 599]", output_fields=["vec"])
    assert len(got) == 5
    for r in got:
        assert as_bytes(r["vec"], dtype) == stored_bytes[r["id"]]


@pytest.mark.parametrize("dtype", DENSE, ids=lambda t: t.name)
def test_dense_hnsw_recall(client, name, dtype):
    make(client, name, dtype, DIM, "HNSW", "L2", {"M": 16, "efConstruction": 200})
    rows, queries, stored, _, qvals = dense_data(dtype, seed=5)
    client.insert(name, [{"id": i, "vec": v} for i, v in enumerate(rows)])
    client.flush(name)
    res = client.search(name, queries, limit=K, anns_field="vec", search_params={"params": {"ef": 64}})
    found = sum(len({h["id"] for h in hits} & {int(i) for i in exact(stored, q, "L2")[0]}) for q, hits in zip(qvals, res))
    assert found / (K * NQ) >= 0.9


def binary_data(seed, dim=128):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (N + NQ, dim), dtype=np.uint8)
    packed = np.packbits(bits, axis=1)  # Milvus' bit order: dimension i is bit 7 - i % 8 of byte i / 8
    return bits, [r.tobytes() for r in packed]


def bit_distances(bits, q, metric):
    inter = (bits & q).sum(axis=1).astype(np.float64)
    union = (bits | q).sum(axis=1).astype(np.float64)
    if metric == "HAMMING":
        return (bits != q).sum(axis=1).astype(np.float64)
    return np.where(union == 0, 0.0, 1.0 - inter / np.maximum(union, 1))


@pytest.mark.parametrize("index,metric", [("BIN_FLAT", "HAMMING"), ("BIN_FLAT", "JACCARD"), ("BIN_IVF_FLAT", "HAMMING"),
                                          ("BIN_IVF_FLAT", "JACCARD")])
def test_binary_search_and_roundtrip(client, name, index, metric):
    params = {"nlist": 16} if index == "BIN_IVF_FLAT" else {}
    make(client, name, DataType.BINARY_VECTOR, 128, index, metric, params)
    bits, packed = binary_data(seed=len(index) * 7 + len(metric))
    client.insert(name, [{"id": i, "vec": packed[i]} for i in range(N)])
    search = {"params": {"nprobe": 16}} if index == "BIN_IVF_FLAT" else {}
    res = client.search(name, packed[N:], limit=K, anns_field="vec", search_params=search)
    for qi, hits in enumerate(res):
        d = bit_distances(bits[:N], bits[N + qi], metric)
        want = np.sort(d, kind="stable")[:K]
        # HAMMING distances tie: compare the sorted distances, then each hit's own distance.
        assert np.allclose([h["distance"] for h in hits], want, atol=1e-5), ([h["distance"] for h in hits], want)
        for h in hits:
            assert abs(h["distance"] - d[h["id"]]) <= 1e-5
    got = client.query(name, filter="id in [3, 4, 599]", output_fields=["vec"])
    for r in got:
        assert as_bytes(r["vec"], DataType.BINARY_VECTOR) == packed[r["id"]]


@pytest.mark.skipif(TARGET == "lite", reason="Vireo's messages")
def test_hostile_inputs_get_milvus_errors(client, name):
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.BINARY_VECTOR, dim=12)
    with pytest.raises(MilvusException, match="multiple of 8"):
        client.create_collection(name, schema=schema)
    make(client, name, DataType.FLOAT16_VECTOR, 8, "FLAT", "L2")
    with pytest.raises(MilvusException):
        client.insert(name, [{"id": 1, "vec": np.array([np.nan] * 8, dtype=np.float16)}])
    with pytest.raises(MilvusException):
        client.insert(name, [{"id": 1, "vec": np.array([np.inf] + [0] * 7, dtype=np.float16)}])
    with pytest.raises(MilvusException):
        client.insert(name, [{"id": 1, "vec": b"\x00" * 6}])
    bname = name + "_b"
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.BINARY_VECTOR, dim=16)
    client.create_collection(bname, schema=schema)
    idx = client.prepare_index_params()
    idx.add_index("vec", index_type="BIN_FLAT", metric_type="L2")
    with pytest.raises(MilvusException, match="metric type L2 not found or not supported"):
        client.create_index(bname, idx)
    idx = client.prepare_index_params()
    idx.add_index("vec", index_type="HNSW", metric_type="HAMMING")
    with pytest.raises(MilvusException, match="can't build with this index HNSW"):
        client.create_index(bname, idx)
    with pytest.raises(MilvusException):
        client.insert(bname, [{"id": 1, "vec": b"\x01\x02\x03"}])
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 0


@pytest.mark.parametrize("index,metric", [("BIN_FLAT", "HAMMING"), ("BIN_FLAT", "JACCARD")])
def test_binary_range_search_follows_distance_direction(client, name, index, metric):
    """radius / range_filter on binary metrics rank like L2 (smaller is closer): a hit has
    range_filter <= distance < radius, and every row in that band is returned."""
    make(client, name, DataType.BINARY_VECTOR, 128, index, metric)
    bits, packed = binary_data(seed=99)
    client.insert(name, [{"id": i, "vec": packed[i]} for i in range(N)])
    d = bit_distances(bits[:N], bits[N], metric)
    lo, hi = (np.quantile(d, 0.05), np.quantile(d, 0.3))
    res = client.search(name, [packed[N]], limit=N, anns_field="vec",
                        search_params={"params": {"radius": float(hi), "range_filter": float(lo)}})
    got = sorted(h["id"] for h in res[0])
    want = sorted(int(i) for i in np.nonzero((d >= lo - 1e-6) & (d < hi - 1e-6))[0])
    assert got == want, (len(got), len(want))
    assert all(lo - 1e-6 <= h["distance"] < hi for h in res[0])
