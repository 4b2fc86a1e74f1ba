"""The 8-bit scalar-quantised indexes through pymilvus (pinned 3.0.2), unchanged: `HNSW_SQ` (M, efConstruction,
sq_type "SQ8", refine true/false, refine_type; search ef and refine_k) and `IVF_SQ8` (nlist; search nprobe and
refine_k), with metric IP, L2 and COSINE.

Data: 3,000 seeded clustered 64-d float vectors whose norms are spread over 0.5 … 2 (so COSINE is not IP, and the
server must normalise for COSINE itself), an int `bucket` column 0..99; the rows are inserted, flushed (sealed), the
test waits until describe_index reports every row indexed (so the quantised index, not a brute-force scan of growing
rows, answers), then the rows with `bucket >= 90` are deleted by filter. Every expectation comes from numpy over the
live rows as inserted:
  * recall@10 against the exact top-10;
  * with re-ranking (HNSW_SQ refine=True, IVF_SQ8 refine_k) the returned distances equal numpy's exact scores;
  * without re-ranking the distances are those of SQ8 codes: within the error bound SQ8 itself implies (each
    coordinate within half a step, a step being 1/255 of the coordinate's range over the encoded rows; IVF_SQ8
    encodes residuals to centroids, which lie inside the rows' hull, so its ranges are at most twice the rows'),
    and not all exact (the codes, not the float vectors, were searched).
Filtered searches (`bucket < 30`) return only matching live rows with recall ≥ 0.9 against the exact filtered top-10
(Vireo may answer them by an exact scan of the allowed rows; that is its choice, so they are not required to show code
distances). test_sq8_premise checks, without a server, that brute force over SQ8 codes keeps ≥ 0.95 of the exact
top-10 on this data, so the thresholds are reachable.

Vireo only (Milvus Lite 3.2.2 has neither index type)."""
import time

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException

from conftest import TARGET
from metric_flows import scores  # noqa: E402  (Tests/e2e_common, on the path conftest sets)

pytestmark = pytest.mark.skipif(TARGET != "vireo", reason="Milvus Lite 3.2.2 builds neither HNSW_SQ nor IVF_SQ8")

N = 3000
DIM = 64
NQ = 40
K = 10
CLUSTERS = 24
NLIST = 32
METRICS = ["IP", "L2", "COSINE"]
DELETE_FILTER = "bucket >= 90"
FILTER = "bucket < 30"
HNSW_SQ_REFINE = {"M": 16, "efConstruction": 100, "sq_type": "SQ8", "refine": True, "refine_type": "FP32"}
HNSW_SQ_PLAIN = {"M": 16, "efConstruction": 100, "sq_type": "SQ8", "refine": False}
IVF_SQ8 = {"nlist": NLIST}
RTOL = 1e-4          # float32 scores against numpy's float64 over the same float32 inputs
INDEX_TIMEOUT_S = 120
# Without re-ranking, some distance of the top-10s must differ from the exact score by more than this (relative to
# 1 + |score|): float32 rounding of a 64-d score stays near 1e-7, SQ8 codes err by 1e-4 … 1e-2 on this data.
CODES_DEV = 1e-5


# --- data and numpy oracle ---------------------------------------------------------------------------

class Data:
    def __init__(self, seed=20261205):
        rng = np.random.default_rng(seed)
        centers = rng.standard_normal((CLUSTERS, DIM))
        assign = rng.integers(0, CLUSTERS, N)
        base = centers[assign] + 0.45 * rng.standard_normal((N, DIM))
        base *= np.exp(rng.uniform(np.log(0.5), np.log(2.0), (N, 1)))          # norms not 1: COSINE ≠ IP
        self.base = base.astype(np.float32)
        self.ids = rng.permutation(10 * N)[:N].astype(np.int64)               # not 0..N-1
        self.bucket = rng.integers(0, 100, N).astype(np.int64)
        q = centers[rng.integers(0, CLUSTERS, NQ)] + 0.6 * rng.standard_normal((NQ, DIM))
        q *= np.exp(rng.uniform(np.log(0.5), np.log(2.0), (NQ, 1)))
        self.queries = q.astype(np.float32)
        self.live = self.bucket < 90                                          # after delete(DELETE_FILTER)
        self.row_of = {int(i): r for r, i in enumerate(self.ids)}

    def rows(self):
        return [{"id": int(i), "bucket": int(b), "vec": v.tolist()} for i, b, v in zip(self.ids, self.bucket, self.base)]


def exact_topk(data, q, metric, mask, k=K):
    rows = np.flatnonzero(mask)
    s = scores(data.base[rows], q, metric)
    order = np.argsort(s if metric == "L2" else -s, kind="stable")[:k]
    return [int(data.ids[rows[i]]) for i in order]


def encoded(data, metric):
    """The float vectors the codes encode: the rows as inserted, normalised for COSINE."""
    b = data.base.astype(np.float64)
    if metric == "COSINE":
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return b


def sq8_error_bound(data, q, metric, rows, range_factor=1.0):
    """Per row of `rows`: the most an SQ8 distance can differ from the exact one. Each coordinate of a code decodes
    within half a step s_t = range_t / 255 of the value (range_t over the encoded rows, at most range_factor × the
    rows' range), so |IP error| ≤ Σ |q_t| s_t/2 and |squared-L2 error| ≤ Σ s_t/2 (2|x_t − q_t| + s_t/2)."""
    enc = encoded(data, metric)
    s = range_factor * (enc.max(axis=0) - enc.min(axis=0)) / 255
    qq = np.asarray(q, dtype=np.float64)
    if metric == "COSINE":
        qq = qq / np.linalg.norm(qq)
    if metric == "L2":
        x = enc[rows]
        return (s / 2 * (2 * np.abs(x - qq) + s / 2)).sum(axis=1)
    return np.full(len(rows), (np.abs(qq) * s / 2).sum())


def sq8_decode(x, lo, hi):
    step = (hi - lo) / 255
    return lo + step * np.clip(np.floor((x - lo) / np.where(step > 0, step, 1) + 0.5), 0, 255)


# --- server helpers ----------------------------------------------------------------------------------

def schema():
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("bucket", DataType.INT64)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    return s


def wait_indexed(client, name, field="vec"):
    """Polls describe_index until every row is in the index (the build runs in the background after flush)."""
    deadline = time.monotonic() + INDEX_TIMEOUT_S
    while True:
        d = client.describe_index(name, field)
        if d["total_rows"] == N and d["indexed_rows"] == N and d["pending_index_rows"] == 0:
            return d
        assert time.monotonic() < deadline, f"index not built after {INDEX_TIMEOUT_S} s: {d}"
        time.sleep(0.05)


def build(client, name, data, index_type, metric, params):
    """Collection, rows, flush, index built over all of them, delete by filter, load."""
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, schema=schema(), consistency_level="Strong")
    rows = data.rows()
    for s in range(0, N, 1000):
        assert client.insert(name, rows[s:s + 1000])["insert_count"] == len(rows[s:s + 1000])
    client.flush(name)
    ip = client.prepare_index_params()
    ip.add_index(field_name="vec", index_type=index_type, metric_type=metric, params=params)
    client.create_index(name, ip)
    wait_indexed(client, name)
    assert client.delete(name, filter=DELETE_FILTER)["delete_count"] == int((~data.live).sum())
    client.load_collection(name)
    assert client.get_load_state(name)["state"].name == "Loaded"
    assert client.get_collection_stats(name)["row_count"] == int(data.live.sum())


def search(client, name, data, params, flt="", queries=None, output_fields=None):
    queries = data.queries if queries is None else queries
    res = client.search(name, queries.tolist(), limit=K, anns_field="vec", filter=flt,
                        output_fields=output_fields or [], search_params={"params": params})
    assert len(res) == len(queries)
    return res


def check(data, res, metric, mask, min_recall, exact_scores, bound_factor=None, codes_searched=True, queries=None):
    """Recall@K ≥ min_recall over `mask`'s rows; hits distinct, live, in the mask and ordered the metric's way;
    distances exact (exact_scores) or within the SQ8 bound (bound_factor) and, with codes_searched, not all exact.
    Returns the recall."""
    queries = data.queries if queries is None else queries
    found, dev, worst = 0, [], []
    for qi, (q, hits) in enumerate(zip(queries, res)):
        got = [h["id"] for h in hits]
        assert len(got) == K and len(set(got)) == K, (qi, got)
        rows = [data.row_of[i] for i in got]
        assert all(mask[r] for r in rows), (qi, [i for i, r in zip(got, rows) if not mask[r]])
        found += len(set(got) & set(exact_topk(data, q, metric, mask)))
        dist = np.array([h["distance"] for h in hits], dtype=np.float64)
        assert list(dist) == sorted(dist, reverse=metric != "L2"), (qi, metric, list(dist))
        want = scores(data.base[rows], q, metric)
        if exact_scores:
            np.testing.assert_allclose(dist, want, rtol=RTOL, atol=RTOL * np.abs(want).max(),
                                       err_msg=f"{metric} query {qi}: distances of {got} are not the exact scores")
        else:
            tol = sq8_error_bound(data, q, metric, rows, bound_factor) * 1.001 + RTOL * (1 + np.abs(want))
            over = np.abs(dist - want) - tol
            worst.append((float(over.max()), qi, got[int(over.argmax())]))
            dev.append(float((np.abs(dist - want) / (1 + np.abs(want))).max()))
    recall = found / (K * len(queries))
    assert recall >= min_recall, (metric, recall, min_recall)
    if not exact_scores:
        assert max(worst)[0] <= 0, f"{metric}: an SQ8 distance is outside the SQ8 error bound: {max(worst)}"
    if not exact_scores and codes_searched:
        assert max(dev) > CODES_DEV, f"{metric}: every distance is exact ({max(dev)}): the codes were not searched"
    return recall


@pytest.fixture(scope="module")
def data():
    return Data()


# --- the data premise (no server) --------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_sq8_premise(data, metric):
    """Brute force over SQ8-decoded rows (per-coordinate min/max ranges) keeps ≥ 0.95 of the exact top-10 on this
    data, and the metrics rank differently; so the thresholds below are reachable by SQ8 and leave room for the
    graph/lists, and a server ranking by the wrong metric fails."""
    enc = encoded(data, metric)
    dec = sq8_decode(enc, enc.min(axis=0), enc.max(axis=0))
    found = 0
    for q in data.queries:
        qq = q / np.linalg.norm(q) if metric == "COSINE" else q.astype(np.float64)
        s = ((dec - qq) ** 2).sum(axis=1) if metric == "L2" else dec @ qq
        s = np.where(data.live, s, np.inf if metric == "L2" else -np.inf)
        approx = np.argsort(s if metric == "L2" else -s, kind="stable")[:K]
        found += len(set(int(data.ids[i]) for i in approx) & set(exact_topk(data, q, metric, data.live)))
    assert found / (K * NQ) >= 0.95, found / (K * NQ)
    other = [m for m in METRICS if m != metric]
    for o in other:
        same = np.mean([len(set(exact_topk(data, q, metric, data.live)) & set(exact_topk(data, q, o, data.live))) / K
                        for q in data.queries])
        assert same < 0.8, (metric, o, same)


# --- HNSW_SQ -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_hnsw_sq_refine_exact_scores(client, name, data, metric):
    build(client, name, data, "HNSW_SQ", metric, HNSW_SQ_REFINE)
    res = search(client, name, data, {"ef": 64, "refine_k": 2})
    check(data, res, metric, data.live, 0.95, exact_scores=True)
    # Filtered: only rows with bucket < 30 (and live), recall against the exact filtered top-10.
    mask = data.live & (data.bucket < 30)
    res = search(client, name, data, {"ef": 64, "refine_k": 2}, flt=FILTER, output_fields=["bucket"])
    for hits in res:
        for h in hits:
            assert h["entity"]["bucket"] == data.bucket[data.row_of[h["id"]]] < 30, h
    check(data, res, metric, mask, 0.9, exact_scores=True)
    client.drop_collection(name)


@pytest.mark.parametrize("metric", METRICS)
def test_hnsw_sq_without_refine_returns_code_distances(client, name, data, metric):
    build(client, name, data, "HNSW_SQ", metric, HNSW_SQ_PLAIN)
    res = search(client, name, data, {"ef": 64})
    check(data, res, metric, data.live, 0.9, exact_scores=False, bound_factor=1.0)
    # Filtered: whether the graph or an exact scan of the allowed rows answers is the server's choice (Vireo scans a
    # segment whose allowed rows are few enough, and then returns exact distances), so only the bound is checked.
    mask = data.live & (data.bucket < 30)
    res = search(client, name, data, {"ef": 64}, flt=FILTER)
    check(data, res, metric, mask, 0.9, exact_scores=False, bound_factor=1.0, codes_searched=False)
    client.drop_collection(name)


def test_hnsw_sq_describe_index_echoes_the_params(client, name, data):
    for params in (HNSW_SQ_REFINE, HNSW_SQ_PLAIN):
        client.create_collection(name, schema=schema(), consistency_level="Strong")
        ip = client.prepare_index_params()
        ip.add_index(field_name="vec", index_type="HNSW_SQ", metric_type="COSINE", params=params)
        client.create_index(name, ip)
        d = client.describe_index(name, "vec")
        assert d["index_type"] == "HNSW_SQ" and d["metric_type"] == "COSINE" and d["field_name"] == "vec", d
        for k, v in params.items():  # pymilvus sends str(value); Milvus echoes the user's params as sent
            assert d.get(k) == str(v), (k, v, d)
        client.drop_collection(name)


@pytest.mark.parametrize("bad, names", [
    ({"sq_type": "SQ4"}, ["SQ8"]),
    ({"refine": "maybe"}, ["true", "false"]),
    ({"refine": True, "refine_type": "INT3"}, ["SQ6", "SQ8", "BF16", "FP16", "FP32"]),
])
def test_hnsw_sq_bad_params_are_refused_naming_the_valid_values(client, name, bad, names):
    client.create_collection(name, schema=schema(), consistency_level="Strong")
    ip = client.prepare_index_params()
    ip.add_index(field_name="vec", index_type="HNSW_SQ", metric_type="IP", params={"M": 16, "efConstruction": 100, **bad})
    with pytest.raises(MilvusException) as e:
        client.create_index(name, ip)
    msg = str(e.value.message)
    assert e.value.code != 0
    bad_key, bad_value = next(iter((k, v) for k, v in bad.items() if k != "refine" or v == "maybe"))
    assert bad_key in msg and str(bad_value) in msg, msg
    for n in names:
        assert n in msg, (n, msg)
    assert client.list_indexes(name) == []   # nothing half-created
    client.drop_collection(name)


# --- IVF_SQ8 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_ivf_sq8_all_lists_and_refine(client, name, data, metric):
    build(client, name, data, "IVF_SQ8", metric, IVF_SQ8)
    d = client.describe_index(name, "vec")
    assert d["index_type"] == "IVF_SQ8" and d["metric_type"] == metric and d["nlist"] == str(NLIST), d
    # nprobe = nlist: every list is scanned, only the codes' error is left.
    res = search(client, name, data, {"nprobe": NLIST})
    check(data, res, metric, data.live, 0.95, exact_scores=False, bound_factor=2.0)
    # refine_k 4: the best 40 by the codes re-ranked on the float vectors.
    res = search(client, name, data, {"nprobe": NLIST, "refine_k": 4})
    check(data, res, metric, data.live, 0.99, exact_scores=True)
    # Filtered, re-ranked.
    mask = data.live & (data.bucket < 30)
    res = search(client, name, data, {"nprobe": NLIST, "refine_k": 4}, flt=FILTER, output_fields=["bucket"])
    for hits in res:
        for h in hits:
            assert h["entity"]["bucket"] == data.bucket[data.row_of[h["id"]]] < 30, h
    check(data, res, metric, mask, 0.9, exact_scores=True)
    client.drop_collection(name)
