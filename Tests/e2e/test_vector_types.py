"""FLOAT16, BFLOAT16, INT8 and BINARY vector fields over REST v2, in Milvus' REST encodings: Float16Vector and
BFloat16Vector as base64 of their little-endian bytes (or a list of floats, rounded by the server), Int8Vector as
a list of integers, BinaryVector as base64 of its packed bytes (or a list of byte values). Reads return the same
encodings (base64 for the byte types, integers for INT8). Results are checked against numpy's exact top-k over the
stored values, on seeded random data."""
import base64

import numpy as np
import pytest

DIM = 16
N = 300
NQ = 5
K = 8


def create(client, name, dtype, dim, index_type, metric, params=None):
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"autoID": False, "enableDynamicField": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vec", "dataType": dtype, "elementTypeParams": {"dim": dim}},
        ]},
        "indexParams": [{"fieldName": "vec", "indexName": "vec_idx", "metricType": metric, "indexType": index_type,
                         "params": params or {}}],
    })


def hits_per_query(client, name, data, limit=K, params=None):
    reply = client.call("entities/search", {"collectionName": name, "data": data, "annsField": "vec", "limit": limit,
                                            "outputFields": ["id"], "searchParams": {"params": params or {}}})
    assert reply["code"] == 0, reply
    out, at = [], 0
    for k in reply["topks"]:
        out.append(reply["data"][at:at + k])
        at += k
    return out


def b64(b):
    return base64.b64encode(b).decode()


def bf16_bits(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def exact(stored, q, metric):
    stored = stored.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "L2":
        d = ((stored - q) ** 2).sum(axis=1)
        return np.sort(d)[:K], d
    s = stored @ q
    if metric == "COSINE":
        s = s / (np.linalg.norm(stored, axis=1) * np.linalg.norm(q))
    return -np.sort(-s)[:K], s


@pytest.mark.parametrize("dtype,metric,encoding", [
    ("Float16Vector", "L2", "base64"), ("Float16Vector", "IP", "floats"),
    ("BFloat16Vector", "COSINE", "base64"), ("BFloat16Vector", "L2", "floats"),
    ("Int8Vector", "IP", "ints"), ("Int8Vector", "L2", "ints"),
])
def test_dense_types(client, name, dtype, metric, encoding):
    rng = np.random.default_rng(len(dtype) * 31 + len(metric))
    f = rng.standard_normal((N + NQ, DIM)).astype(np.float32)
    if dtype == "Float16Vector":
        h = f.astype(np.float16)
        stored, raw = h.astype(np.float32), [r.tobytes() for r in h]
    elif dtype == "BFloat16Vector":
        b = bf16_bits(f)
        stored, raw = (b.astype(np.uint32) << 16).view(np.float32), [r.tobytes() for r in b]
    else:
        i = rng.integers(-128, 128, (N + NQ, DIM), dtype=np.int8)
        stored, raw = i.astype(np.float32), [r.tobytes() for r in i]

    def encode(r):
        if encoding == "base64":
            return b64(raw[r])
        if encoding == "floats":
            return stored[r].tolist()  # exactly representable: the server's rounding keeps them
        return [int(x) for x in stored[r]]

    index = "HNSW" if dtype == "Int8Vector" else "FLAT"
    create(client, name, dtype, DIM, index, metric, {"M": 32, "efConstruction": 400} if index == "HNSW" else {})
    assert client.ok("entities/insert", {"collectionName": name, "data": [{"id": r, "vec": encode(r)} for r in range(N)]})["insertCount"] == N
    desc = client.ok("collections/describe", {"collectionName": name})
    assert [f["type"] for f in desc["fields"] if f["name"] == "vec"] == [dtype]
    res = hits_per_query(client, name, [encode(N + q) for q in range(NQ)], params={"ef": 300} if index == "HNSW" else {})
    for q, hits in enumerate(res):
        want, per_row = exact(stored[:N], stored[N + q], metric)
        assert np.allclose([h["distance"] for h in hits], want, rtol=1e-3, atol=1e-3), ([h["distance"] for h in hits], want)
        for h in hits:
            assert abs(h["distance"] - per_row[h["id"]]) <= 1e-3 * max(1, abs(per_row[h["id"]]))
    rows = client.ok("entities/get", {"collectionName": name, "id": [0, 1, N - 1], "outputFields": ["vec"]})
    assert len(rows) == 3
    for r in rows:
        if dtype == "Int8Vector":
            assert r["vec"] == [int(x) for x in stored[r["id"]]]
        else:
            assert base64.b64decode(r["vec"]) == raw[r["id"]]


@pytest.mark.parametrize("metric,index,encoding", [("HAMMING", "BIN_FLAT", "base64"), ("JACCARD", "BIN_FLAT", "bytes"),
                                                   ("HAMMING", "BIN_IVF_FLAT", "bytes"), ("JACCARD", "BIN_IVF_FLAT", "base64")])
def test_binary(client, name, metric, index, encoding):
    dim = 64
    rng = np.random.default_rng(len(metric) + len(index))
    bits = rng.integers(0, 2, (N + NQ, dim), dtype=np.uint8)
    packed = np.packbits(bits, axis=1)

    def encode(r):
        return b64(packed[r].tobytes()) if encoding == "base64" else [int(x) for x in packed[r]]

    create(client, name, "BinaryVector", dim, index, metric, {"nlist": 8} if index == "BIN_IVF_FLAT" else {})
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": r, "vec": encode(r)} for r in range(N)]})
    res = hits_per_query(client, name, [encode(N + q) for q in range(NQ)], params={"nprobe": 8} if index == "BIN_IVF_FLAT" else {})
    for q, hits in enumerate(res):
        x, y = bits[:N], bits[N + q]
        if metric == "HAMMING":
            d = (x != y).sum(axis=1).astype(np.float64)
        else:
            inter, union = (x & y).sum(axis=1), (x | y).sum(axis=1)
            d = np.where(union == 0, 0.0, 1 - inter / np.maximum(union, 1))
        assert np.allclose([h["distance"] for h in hits], np.sort(d)[:K], atol=1e-5)
        for h in hits:
            assert abs(h["distance"] - d[h["id"]]) <= 1e-5
    rows = client.ok("entities/query", {"collectionName": name, "filter": "id in [0, 7]", "outputFields": ["vec"]})
    for r in rows:
        assert base64.b64decode(r["vec"]) == packed[r["id"]].tobytes()


def test_hostile(client, name):
    reply = client.call("collections/create", {"collectionName": name, "schema": {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vec", "dataType": "BinaryVector", "elementTypeParams": {"dim": 12}}]}})
    assert reply["code"] != 0 and "multiple of 8" in reply["message"], reply
    create(client, name, "Float16Vector", 4, "FLAT", "L2")
    bad = [
        [1, 2, 3],                                  # wrong element count
        [1, 2, 3, 1e6],                             # overflows half precision
        b64(b"\x00" * 6),                           # wrong byte length
        b64(np.array([np.nan] * 4, dtype=np.float16).tobytes()),
        "not base64!",
    ]
    for v in bad:
        reply = client.call("entities/insert", {"collectionName": name, "data": [{"id": 1, "vec": v}]})
        assert reply["code"] != 0 and reply["message"], (v, reply)
    reply = client.call("entities/search", {"collectionName": name, "data": [b64(b"\x00" * 2)], "limit": 3})
    assert reply["code"] != 0, reply
    assert client.count(name) == 0
