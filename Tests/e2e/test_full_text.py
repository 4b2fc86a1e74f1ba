"""Full-text search over REST v2, mirroring Tests/e2e_pymilvus/test_full_text.py (which is checked against Milvus
Lite; Lite has no REST, so these shapes come from Milvus' REST docs and its httpserver, see the notes): a VarChar
field with enable_analyzer/enable_match, a BM25 function into a SparseFloatVector field, SPARSE_INVERTED_INDEX
with metric BM25, text queries in `entities/search`, `text_match` in `entities/query` and `entities/delete`,
plain sparse vectors (metric IP, `{"index": weight}` objects), and `entities/hybrid_search` with RRF / weighted
fusion of a dense and the BM25 field. Expectations come from Tests/e2e_common/bm25_reference.py (Milvus'
`standard` analyzer and BM25, defaults k1 = 1.2, b = 0.75) and numpy, over the first 2,000 passages."""
import json
import sys

import numpy as np
import pytest

from conftest import DATA, ROOT

sys.path.insert(0, str(ROOT / "Tests/e2e_common"))
import bm25_reference as ref  # noqa: E402

N_DOCS = 2000
REL = 1e-4
NO_MATCH = "zqxjvk wvqzzx"


def bm25_create(name, dim=None, algo="DAAT_MAXSCORE", extra_params=None):
    """REST shapes as in Milvus' full-text-search docs (cURL tab): `schema.functions` with `type: "BM25"`,
    `inputFieldNames` / `outputFieldNames`; `elementTypeParams` carries enable_analyzer / enable_match."""
    fields = [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "text", "dataType": "VarChar",
         "elementTypeParams": {"max_length": 8192, "enable_analyzer": True, "enable_match": True}},
        {"fieldName": "n", "dataType": "Int64"},
        {"fieldName": "sparse", "dataType": "SparseFloatVector"},
    ]
    index = [{"fieldName": "sparse", "indexName": "sparse_idx", "metricType": "BM25",
              "indexType": "SPARSE_INVERTED_INDEX", "params": {"inverted_index_algo": algo, **(extra_params or {})}}]
    if dim:
        fields.append({"fieldName": "dense", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}})
        index.append({"fieldName": "dense", "indexName": "dense_idx", "metricType": "IP", "indexType": "FLAT"})
    return {"collectionName": name,
            "schema": {"autoID": False, "enableDynamicField": False, "fields": fields,
                       "functions": [{"name": "text_bm25", "type": "BM25", "inputFieldNames": ["text"],
                                      "outputFieldNames": ["sparse"], "params": {}}]},
            "indexParams": index}


def insert_passages(client, name, dataset, n=N_DOCS, dense=False):
    for start in range(0, n, 500):
        rows = [{"id": i, "text": dataset.passages[i]["text"], "n": i % 10,
                 **({"dense": dataset.base[i].tolist()} if dense else {})} for i in range(start, min(n, start + 500))]
        assert client.ok("entities/insert", {"collectionName": name, "data": rows})["insertCount"] == len(rows)


def per_query(reply):
    """Split a search reply's flat `data` by its `topks`."""
    assert reply["code"] == 0, reply
    out, at = [], 0
    for k in reply["topks"]:
        out.append(reply["data"][at:at + k])
        at += k
    assert at == len(reply["data"])
    return out


def load_queries():
    return ref.dev_queries(DATA)


@pytest.fixture(scope="module")
def texts(dataset):
    assert dataset.n >= N_DOCS, "set VIREO_E2E_ROWS to at least 2000"
    return {i: dataset.passages[i]["text"] for i in range(N_DOCS)}


@pytest.fixture(scope="module")
def docs(client, dataset):
    name = "fts_docs"
    client.ok("collections/create", bm25_create(name))
    insert_passages(client, name, dataset)
    assert client.count(name) == N_DOCS
    return name


def test_describe_shows_function_and_fields(client, docs):
    d = client.ok("collections/describe", {"collectionName": docs})
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["sparse"]["type"] == "SparseFloatVector"
    params = {p["key"]: p["value"] for p in fields["text"]["params"]}
    # Milvus echoes type params as strings; accept a JSON boolean too.
    assert str(params["enable_analyzer"]).lower() == "true" and str(params["enable_match"]).lower() == "true"
    # UNSURE: Milvus' httpserver emits the proto FunctionSchema as JSON (`name`, `type` as "BM25" or 1, the field
    # names under input_field_names/inputFieldNames); only the name and the two field names are checked.
    (fn,) = d["functions"]
    assert fn["name"] == "text_bm25"
    blob = json.dumps(fn)
    assert '"text"' in blob and '"sparse"' in blob
    assert any(i.get("fieldName") == "sparse" and i.get("metricType") == "BM25" for i in d["indexes"])


def test_bm25_search_matches_reference(client, docs, texts):
    model = ref.BM25(texts)
    queries = load_queries()
    reply = client.call("entities/search", {"collectionName": docs, "data": queries, "annsField": "sparse",
                                            "limit": 10, "outputFields": ["text", "n"]})
    for q, hits in zip(queries, per_query(reply)):
        got = [(h["id"], h["distance"]) for h in hits]
        ref.check_topk(got, model.scores(q), 10, rel=REL, what=q[:40])
        assert all(s > 0 for _, s in got)
        assert all(h["text"] == texts[h["id"]] and h["n"] == h["id"] % 10 for h in hits)
    assert client.ok("entities/search", {"collectionName": docs, "data": [NO_MATCH], "annsField": "sparse",
                                         "limit": 10}) == []


@pytest.mark.parametrize("algo,k1,b", [("TAAT_NAIVE", None, None), ("DAAT_WAND", 1.8, 0.3)])
def test_bm25_algorithms_and_parameters(client, dataset, texts, name, algo, k1, b):
    extra = {} if k1 is None else {"bm25_k1": k1, "bm25_b": b}
    client.ok("collections/create", bm25_create(name, algo=algo, extra_params=extra))
    insert_passages(client, name, dataset)
    model = ref.BM25(texts, **({} if k1 is None else {"k1": k1, "b": b}))
    queries = load_queries()[:12]
    reply = client.call("entities/search", {"collectionName": name, "data": queries, "annsField": "sparse", "limit": 10})
    for q, hits in zip(queries, per_query(reply)):
        ref.check_topk([(h["id"], h["distance"]) for h in hits], model.scores(q), 10, rel=REL, what=f"{algo} {q[:30]}")


def test_bm25_search_with_filter(client, docs, texts):
    model = ref.BM25(texts)
    for expr, keep in [("n in [1, 4, 7]", lambda i: i % 10 in (1, 4, 7)),
                       ("text_match(text, 'generator function')",
                        lambda i: bool({"generator", "function"} & set(ref.tokenize(texts[i]))))]:
        allowed = [i for i in texts if keep(i)]
        queries = load_queries()[:6]
        reply = client.call("entities/search", {"collectionName": docs, "data": queries, "annsField": "sparse",
                                                "limit": 10, "filter": expr})
        for q, hits in zip(queries, per_query(reply)):
            ref.check_topk([(h["id"], h["distance"]) for h in hits], model.scores(q, ids=allowed), 10, rel=REL,
                           what=f"{expr}: {q[:30]}")


@pytest.mark.parametrize("expr,keep", [
    ("text_match(text, 'Socket THREAD')", lambda i, toks: bool({"socket", "thread"} & toks)),
    ("text_match(text, 'init') and n < 5", lambda i, toks: "init" in toks and i % 10 < 5),
    ("not text_match(text, 'the') and n == 3", lambda i, toks: "the" not in toks and i % 10 == 3),
])
def test_text_match_query(client, docs, texts, expr, keep):
    want = {i for i, t in texts.items() if keep(i, set(ref.tokenize(t)))}
    got = client.ok("entities/query", {"collectionName": docs, "filter": expr, "outputFields": ["id"], "limit": 16384})
    assert sorted(r["id"] for r in got) == sorted(want)


def test_function_output_field(client, docs):
    rows = client.ok("entities/query", {"collectionName": docs, "filter": "id < 3", "outputFields": ["*"], "limit": 10})
    assert len(rows) == 3 and all("sparse" not in r and "text" in r for r in rows)
    reply = client.call("entities/query", {"collectionName": docs, "filter": "id < 3", "outputFields": ["sparse"],
                                           "limit": 10})
    assert reply["code"] != 0 and "not allowed to retrieve raw data of field sparse" in reply["message"], reply
    # UNSURE of Milvus' REST wording for writing a function output field; only the refusal is checked.
    reply = client.call("entities/insert", {"collectionName": docs, "data": [
        {"id": 99999, "text": "alpha", "n": 9, "sparse": {"3": 0.5}}]})
    assert reply["code"] != 0, reply
    assert client.count(docs, "id == 99999") == 0


def test_delete_by_text_match(client, dataset, name):
    client.ok("collections/create", bm25_create(name))
    insert_passages(client, name, dataset, n=600)
    sub = {i: dataset.passages[i]["text"] for i in range(600)}
    doomed = {i for i, t in sub.items() if {"thread", "gil"} & set(ref.tokenize(t))}
    assert 20 < len(doomed) < 100
    client.ok("entities/delete", {"collectionName": name, "filter": "text_match(text, 'Thread GIL')"})
    assert client.count(name) == 600 - len(doomed)
    assert client.count(name, "text_match(text, 'thread gil')") == 0
    hits = client.ok("entities/search", {"collectionName": name, "data": ["thread state lock"], "annsField": "sparse",
                                         "limit": 20})
    assert hits and not ({h["id"] for h in hits} & doomed)


def sparse_rows(rng, n):
    out = []
    for _ in range(n):
        k = int(rng.integers(5, 31))
        idx = np.unique(np.concatenate([rng.integers(0, 300, k // 2), rng.integers(0, 10_000, k - k // 2)]))
        vals = rng.uniform(0.05, 2.0, len(idx)).astype(np.float32)
        out.append({int(i): float(v) for i, v in zip(idx, vals)})
    return out


def as_sparse(value):
    """A sparse vector from REST: `{"12": 0.5, …}` (Milvus' output), or `{"indices": […], "values": […]}`."""
    if set(value) == {"indices", "values"}:
        return {int(i): float(v) for i, v in zip(value["indices"], value["values"])}
    return {int(k): float(v) for k, v in value.items()}


def test_plain_sparse_ip(client, name):
    rng = np.random.default_rng(4242)
    rows = sparse_rows(rng, 500)
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"autoID": False, "fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                                               {"fieldName": "sparse", "dataType": "SparseFloatVector"}]},
        "indexParams": [{"fieldName": "sparse", "indexName": "sparse_idx", "metricType": "IP",
                         "indexType": "SPARSE_INVERTED_INDEX", "params": {"inverted_index_algo": "DAAT_MAXSCORE"}}]})
    data = [{"id": i, "sparse": {str(k): v for k, v in r.items()}} for i, r in enumerate(rows)]
    assert client.ok("entities/insert", {"collectionName": name, "data": data})["insertCount"] == 500
    queries = sparse_rows(rng, 8)
    reply = client.call("entities/search", {"collectionName": name, "annsField": "sparse", "limit": 10,
                                            "data": [{str(k): v for k, v in q.items()} for q in queries]})
    for qi, (q, hits) in enumerate(zip(queries, per_query(reply))):
        want = {}
        for i, r in enumerate(rows):
            s = sum(v * q[k] for k, v in r.items() if k in q)
            if s > 0:
                want[i] = s
        ref.check_topk([(h["id"], h["distance"]) for h in hits], want, 10, rel=1e-5, what=f"query {qi}")
    got = client.ok("entities/query", {"collectionName": name, "filter": "id < 50", "outputFields": ["sparse"], "limit": 100})
    assert sorted(r["id"] for r in got) == list(range(50))
    for r in got:
        back = as_sparse(r["sparse"])
        assert sorted(back) == sorted(rows[r["id"]])
        for k, v in rows[r["id"]].items():
            assert back[k] == pytest.approx(v, rel=1e-6)


@pytest.fixture(scope="module")
def hybrid(client, dataset):
    name = "fts_hybrid"
    client.ok("collections/create", bm25_create(name, dim=dataset.dim))
    insert_passages(client, name, dataset, dense=True)
    return name


def hybrid_cases(dataset, texts, dense_k, sparse_k):
    """Queries whose per-request top-k have a clear boundary: (index, text, dense [(id, ip)], BM25 [(id, s)])."""
    with open(DATA / "queries.jsonl") as f:
        qtexts = [json.loads(line)["text"] for line, _ in zip(f, range(40))]
    model = ref.BM25(texts)
    base = dataset.base[:N_DOCS]
    out = []
    for qi, qt in enumerate(qtexts):
        s = base @ dataset.queries[qi]
        order = np.argsort(-s, kind="stable")[:dense_k + 1]
        bm = ref.top(model.scores(qt), sparse_k + 1)
        if s[order[dense_k - 1]] - s[order[dense_k]] < 1e-4 or len(bm) <= sparse_k \
                or bm[sparse_k - 1][1] - bm[sparse_k][1] < 1e-3 * bm[sparse_k][1]:
            continue
        out.append((qi, qt, [(int(i), float(s[i])) for i in order[:dense_k]], bm[:sparse_k]))
        if len(out) == 6:
            break
    assert len(out) >= 4
    return out


@pytest.mark.parametrize("rerank", [{"strategy": "rrf", "params": {"k": 60}},
                                    {"strategy": "weighted", "params": {"weights": [0.4, 0.6]}}])
def test_hybrid_search(client, hybrid, dataset, texts, rerank):
    for qi, qt, dense, bm in hybrid_cases(dataset, texts, 20, 15):
        hits = client.ok("entities/hybrid_search", {
            "collectionName": hybrid,
            "search": [{"data": [dataset.queries[qi].tolist()], "annsField": "dense", "limit": 20},
                       {"data": [qt], "annsField": "sparse", "limit": 15}],
            "rerank": rerank, "limit": 10, "outputFields": ["text"]})
        if rerank["strategy"] == "rrf":
            want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]], k=60)
        else:
            want = ref.weighted([dense, bm], [0.4, 0.6], ["IP", "BM25"])
        ref.check_topk([(h["id"], h["distance"]) for h in hits], want, 10, rel=1e-4, what=f"{rerank['strategy']} {qi}")
        assert all(h["text"] == texts[h["id"]] for h in hits)


def test_search_by_primary_keys_on_sparse_fields(client, docs, texts, name):
    """`ids` on a BM25 field searches with those rows' text (its term counts are the stored ones): the same
    hits as passing the text itself. On an IP field, the rows' stored sparse vectors; rows may be inserted
    as {"indices": [...], "values": [...]} (Milvus' other JSON form) and read back equal."""
    keys = [3, 141, 1599]
    by_ids = per_query(client.call("entities/search", {"collectionName": docs, "ids": keys, "annsField": "sparse", "limit": 10}))
    by_text = per_query(client.call("entities/search", {"collectionName": docs, "data": [texts[k] for k in keys],
                                                        "annsField": "sparse", "limit": 10}))
    assert [[(h["id"], h["distance"]) for h in q] for q in by_ids] == [[(h["id"], h["distance"]) for h in q] for q in by_text]
    assert all(len(q) == 10 for q in by_ids)

    rng = np.random.default_rng(77)
    rows = sparse_rows(rng, 200)
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"autoID": False, "fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                                               {"fieldName": "sparse", "dataType": "SparseFloatVector"}]},
        "indexParams": [{"fieldName": "sparse", "indexName": "sparse_idx", "metricType": "IP", "indexType": "SPARSE_INVERTED_INDEX"}]})
    data = [{"id": i, "sparse": {"indices": sorted(r), "values": [r[k] for k in sorted(r)]}} for i, r in enumerate(rows)]
    assert client.ok("entities/insert", {"collectionName": name, "data": data})["insertCount"] == 200
    hits = per_query(client.call("entities/search", {"collectionName": name, "ids": [5, 6], "annsField": "sparse", "limit": 5}))
    for key, got in zip([5, 6], hits):
        q = rows[key]
        want = {i: sum(v * q[k] for k, v in r.items() if k in q) for i, r in enumerate(rows)}
        ref.check_topk([(h["id"], h["distance"]) for h in got], {i: s for i, s in want.items() if s > 0}, 5, rel=1e-5, what=f"row {key}")
    back = client.ok("entities/get", {"collectionName": name, "id": [7], "outputFields": ["sparse"]})[0]["sparse"]
    assert as_sparse(back) == pytest.approx(rows[7], rel=1e-6)
    # dim_max_score_ratio is checked (knowhere's range) though Vireo's pruning is always exact.
    bad = client.call("entities/search", {"collectionName": name, "data": [{"1": 1.0}], "annsField": "sparse", "limit": 5,
                                          "searchParams": {"params": {"dim_max_score_ratio": 1.4}}})
    assert bad["code"] == 1100 and "dim_max_score_ratio" in bad["message"]
