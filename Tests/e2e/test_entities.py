"""Ingest real passages + embeddings over REST, then search / query / get / delete / upsert, checking
results against numpy exact search, the server's own exact search and the dataset's ground truth."""
import numpy as np
import pytest

BATCH = 500


def custom_schema(name, dim, index_type="FLAT", metric="IP", params=None):
    return {
        "collectionName": name,
        "schema": {
            "autoID": False, "enableDynamicField": True,
            "fields": [
                {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}},
                {"fieldName": "text", "dataType": "VarChar", "elementTypeParams": {"max_length": "2000"}},
                {"fieldName": "source", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
                {"fieldName": "n", "dataType": "Int64"},
            ],
        },
        "indexParams": [{"fieldName": "vector", "indexName": "vec_idx", "metricType": metric, "indexType": index_type, "params": params or {}}],
    }


@pytest.fixture(scope="module")
def docs(client, dataset):
    """A FLAT/IP collection with the first N passages."""
    name = "docs_flat"
    client.ok("collections/create", custom_schema(name, dataset.dim))
    total = 0
    for start in range(0, dataset.n, BATCH):
        rows = dataset.rows(start, min(dataset.n, start + BATCH))
        data = client.ok("entities/insert", {"collectionName": name, "data": rows})
        assert data["insertCount"] == len(rows)
        assert data["insertIds"] == [r["id"] for r in rows]
        total += len(rows)
    assert client.count(name) == total == dataset.n
    return name


def test_search_matches_numpy_exact_and_ground_truth(client, dataset, docs):
    qs = dataset.queries[:20]
    hits = client.call("entities/search", {"collectionName": docs, "data": qs.tolist(), "limit": 10})
    assert hits["code"] == 0
    assert hits["topks"] == [10] * len(qs)
    flat = hits["data"]
    assert len(flat) == 10 * len(qs)
    agree = 0
    for qi, q in enumerate(qs):
        got = [h["id"] for h in flat[qi * 10:(qi + 1) * 10]]
        want = dataset.exact_topk(q, 10)
        # Identical up to float rounding: compare as sets, allow a swap at the boundary.
        assert len(set(got) & set(want)) >= 9, (qi, got, want)
        agree += got == want
        scores = [h["distance"] for h in flat[qi * 10:(qi + 1) * 10]]
        assert scores == sorted(scores, reverse=True)  # IP: larger is closer
        np.testing.assert_allclose(scores[0], float(dataset.base[got[0]] @ q), rtol=1e-4, atol=1e-5)
        # Ground truth over all 50k rows: its ids that we ingested must be the top of our exact list.
        gt = [int(g) for g in dataset.groundtruth[qi] if g < dataset.n][:10]
        assert got[:len(gt)] == gt or set(got[:len(gt)]) == set(gt), (qi, got, gt)
    assert agree >= len(qs) - 2


def test_search_filter_output_fields_offset(client, dataset, docs):
    q = dataset.queries[0]
    data = client.ok("entities/search", {"collectionName": docs, "data": [q.tolist()], "limit": 5, "filter": "n == 3 and id > 100",
                                         "outputFields": ["text", "n"]})
    assert len(data) == 5
    ids = [i for i in range(dataset.n) if i % 10 == 3 and i > 100]
    want = dataset.exact_topk(q, 5, ids=np.array(ids))
    assert [h["id"] for h in data] == want
    for h in data:
        assert h["n"] == 3 and h["text"] == dataset.passages[h["id"]]["text"][:2000]
        assert set(h) == {"id", "distance", "text", "n"}
    page2 = client.ok("entities/search", {"collectionName": docs, "data": [q.tolist()], "limit": 3, "offset": 2, "filter": "n == 3 and id > 100"})
    assert [h["id"] for h in page2] == want[2:5]


def test_search_default_limit_and_int64_as_string(client, dataset, docs):
    q = dataset.queries[1].tolist()
    data = client.ok("entities/search", {"collectionName": docs, "data": [q]})
    assert len(data) == 100  # Milvus' default limit
    as_str = client.ok("entities/search", {"collectionName": docs, "data": [q], "limit": 3, "outputFields": ["n"]},
                       headers={"Accept-Type-Allow-Int64": "false"})
    assert all(isinstance(h["id"], str) and isinstance(h["n"], str) for h in as_str)
    assert [int(h["id"]) for h in as_str] == [h["id"] for h in data[:3]]


def test_query_count_get(client, dataset, docs):
    assert client.count(docs) == dataset.n
    assert client.count(docs, "n == 7") == len([i for i in range(dataset.n) if i % 10 == 7])
    rows = client.ok("entities/query", {"collectionName": docs, "filter": "id < 30 and source like \"python%\"", "outputFields": ["source", "n"], "limit": 10})
    want = [i for i in range(30) if dataset.passages[i]["source"].startswith("python")][:10]
    assert [r["id"] for r in rows] == want
    assert all(set(r) == {"id", "source", "n"} for r in rows)
    default = client.ok("entities/query", {"collectionName": docs, "filter": "id >= 0"})
    assert len(default) == 100  # default limit
    paged = client.ok("entities/query", {"collectionName": docs, "filter": "", "limit": 5, "offset": 10, "outputFields": ["n"]})
    assert [r["id"] for r in paged] == list(range(10, 15))
    got = client.ok("entities/get", {"collectionName": docs, "id": [5, 3, 999999], "outputFields": ["text", "vector"]})
    assert [r["id"] for r in got] == [5, 3]
    np.testing.assert_allclose(got[0]["vector"], dataset.base[5], rtol=1e-6)
    one = client.ok("entities/get", {"collectionName": docs, "id": 7})
    assert one[0]["id"] == 7 and one[0]["text"] == dataset.passages[7]["text"][:2000]
    assert "vector" in one[0]  # default output fields: all


def test_exact_search_param_equals_flat(client, dataset, docs, name):
    """An HNSW collection searched with exact=true gives the FLAT collection's answer; with HNSW
    parameters, high recall against it."""
    client.ok("collections/create", custom_schema(name, dataset.dim, "HNSW", "IP", {"M": 16, "efConstruction": 100}))
    for start in range(0, 2000, BATCH):
        client.ok("entities/insert", {"collectionName": name, "data": dataset.rows(start, start + BATCH)})
    client.ok("collections/flush", {"collectionName": name})
    qs = dataset.queries[:10].tolist()
    exact = client.ok("entities/search", {"collectionName": name, "data": qs, "limit": 10, "searchParams": {"params": {"exact": True}}})
    oracle = client.ok("entities/search", {"collectionName": docs, "data": qs, "limit": 10, "filter": "id < 2000"})
    assert [h["id"] for h in exact] == [h["id"] for h in oracle]
    approx = client.ok("entities/search", {"collectionName": name, "data": qs, "limit": 10, "searchParams": {"params": {"ef": 64}}})
    recall = len({(i // 10, h["id"]) for i, h in enumerate(approx)} & {(i // 10, h["id"]) for i, h in enumerate(exact)}) / len(exact)
    assert recall >= 0.9
    client.ok("collections/drop", {"collectionName": name})


def test_delete_and_upsert(client, dataset, name):
    client.ok("collections/create", custom_schema(name, dataset.dim))
    client.ok("entities/insert", {"collectionName": name, "data": dataset.rows(0, 200)})
    d = client.ok("entities/delete", {"collectionName": name, "filter": "id in [1, 2, 3] or n == 9"})
    deleted = {1, 2, 3} | {i for i in range(200) if i % 10 == 9}
    assert d["deleteCount"] == len(deleted)
    assert client.count(name) == 200 - len(deleted)
    assert client.ok("entities/get", {"collectionName": name, "id": [1, 4]})[0]["id"] == 4
    q = dataset.base[1].tolist()
    hits = client.ok("entities/search", {"collectionName": name, "data": [q], "limit": 200})
    assert not deleted & {h["id"] for h in hits}
    # Upsert: replace row 4 (new vector and text) and re-add row 1.
    rows = dataset.rows(4, 5, ) + dataset.rows(1, 2)
    rows[0]["text"] = "replaced"
    rows[0]["vector"] = dataset.base[150].tolist()
    up = client.ok("entities/upsert", {"collectionName": name, "data": rows})
    assert up["upsertCount"] == 2 and up["upsertIds"] == [4, 1]
    assert client.count(name) == 200 - len(deleted) + 1
    got = client.ok("entities/get", {"collectionName": name, "id": 4, "outputFields": ["text"]})
    assert got == [{"id": 4, "text": "replaced"}]
    top = client.ok("entities/search", {"collectionName": name, "data": [dataset.base[150].tolist()], "limit": 2, "filter": "id in [4, 150]"})
    assert {h["id"] for h in top} == {4, 150}
    client.ok("collections/drop", {"collectionName": name})


def test_quick_create_dynamic_fields_varchar_ids(client, dataset, name):
    client.ok("collections/create", {"collectionName": name, "dimension": dataset.dim, "idType": "VarChar",
                                     "params": {"max_length": 64}})
    desc = client.ok("collections/describe", {"collectionName": name})
    assert desc["load"] == "LoadStateLoaded" and desc["enableDynamicField"] is True
    assert desc["indexes"] == [{"indexName": "vector", "fieldName": "vector", "metricType": "COSINE"}]
    rows = [{"id": f"doc-{i}", "vector": dataset.base[i].tolist(), "text": dataset.passages[i]["text"][:200], "lang": "en" if i % 2 else "de"}
            for i in range(300)]
    ins = client.ok("entities/insert", {"collectionName": name, "data": rows})
    assert ins["insertIds"][:2] == ["doc-0", "doc-1"]
    hits = client.ok("entities/search", {"collectionName": name, "data": [dataset.queries[3].tolist()], "limit": 5,
                                         "filter": "lang == \"en\"", "outputFields": ["text", "lang"]})
    want = dataset.exact_topk(dataset.queries[3], 5, metric="IP", ids=np.arange(1, 300, 2))  # unit vectors: COSINE == IP order
    assert [h["id"] for h in hits] == [f"doc-{i}" for i in want]
    assert all(h["lang"] == "en" for h in hits)
    assert client.ok("entities/get", {"collectionName": name, "id": "doc-7", "outputFields": ["lang"]}) == [{"id": "doc-7", "lang": "en"}]
    client.ok("collections/drop", {"collectionName": name})


def test_hybrid_search_rrf_and_weighted(client, dataset, name):
    dim = dataset.dim
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "a", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}},
            {"fieldName": "b", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}},
        ]},
        "indexParams": [{"fieldName": "a", "metricType": "IP", "indexType": "FLAT"},
                        {"fieldName": "b", "metricType": "L2", "indexType": "FLAT"}],
    })
    n = 500
    rows = [{"id": i, "a": dataset.base[i].tolist(), "b": dataset.base[(i * 7) % n].tolist()} for i in range(n)]
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    qa, qb = dataset.queries[0], dataset.queries[1]
    la = client.ok("entities/search", {"collectionName": name, "annsField": "a", "data": [qa.tolist()], "limit": 20})
    lb = client.ok("entities/search", {"collectionName": name, "annsField": "b", "data": [qb.tolist()], "limit": 20})
    fused = client.ok("entities/hybrid_search", {"collectionName": name, "search": [
        {"data": [qa.tolist()], "annsField": "a", "limit": 20}, {"data": [qb.tolist()], "annsField": "b", "limit": 20}],
        "rerank": {"strategy": "rrf", "params": {"k": 60}}, "limit": 10})
    scores = {}
    for lst in (la, lb):
        for rank, h in enumerate(lst, 1):
            scores[h["id"]] = scores.get(h["id"], 0) + 1 / (60 + rank)
    want = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [h["id"] for h in fused] == [k for k, _ in want]
    np.testing.assert_allclose([h["distance"] for h in fused], [v for _, v in want], rtol=1e-5)
    weighted = client.ok("entities/hybrid_search", {"collectionName": name, "search": [
        {"data": [qa.tolist()], "annsField": "a", "limit": 20}, {"data": [qb.tolist()], "annsField": "b", "limit": 20}],
        "rerank": {"strategy": "weighted", "params": {"weights": [0.7, 0.3]}}, "limit": 5, "outputFields": ["a"]})
    ws = {}
    for lst, w, norm in ((la, 0.7, lambda s: 0.5 + np.arctan(s) / np.pi), (lb, 0.3, lambda d: 1 - 2 * np.arctan(d) / np.pi)):
        for h in lst:
            ws[h["id"]] = ws.get(h["id"], 0) + w * norm(h["distance"])
    want = sorted(ws.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [h["id"] for h in weighted] == [k for k, _ in want]
    assert all(len(h["a"]) == dim for h in weighted)
    # Several vector fields: search needs annsField.
    client.err("entities/search", {"collectionName": name, "data": [qa.tolist()]}, 1100)
    client.ok("collections/drop", {"collectionName": name})


def test_scalar_indexes_keep_filter_results(client, dataset, docs):
    """INVERTED / STL_SORT / TRIE indexes on scalar fields (and AUTOINDEX on a scalar field) change
    how filters run, not what they return."""
    filters = ["n == 4", "n in [1, 2] and id < 500", "source like \"python3%\"", "n >= 7"]
    before = [client.ok("entities/query", {"collectionName": docs, "filter": f, "limit": 1000, "outputFields": ["n"]}) for f in filters]
    client.ok("collections/flush", {"collectionName": docs})
    client.ok("indexes/create", {"collectionName": docs, "indexParams": [
        {"fieldName": "n", "indexName": "n_idx", "indexType": "STL_SORT"},
        {"fieldName": "source", "indexType": "AUTOINDEX"}]})
    d = {x["indexName"]: x for x in client.ok("indexes/describe", {"collectionName": docs, "indexName": "n_idx"})}
    assert d["n_idx"]["indexType"] == "STL_SORT" and d["n_idx"]["fieldName"] == "n"
    assert client.ok("indexes/describe", {"collectionName": docs, "indexName": "source"})[0]["indexType"] == "AUTOINDEX"  # as asked, like Milvus
    after = [client.ok("entities/query", {"collectionName": docs, "filter": f, "limit": 1000, "outputFields": ["n"]}) for f in filters]
    assert after == before
    assert sorted(client.ok("indexes/list", {"collectionName": docs})) == ["n_idx", "source", "vec_idx"]
    client.err("indexes/create", {"collectionName": docs, "indexParams": [{"fieldName": "text", "indexType": "STL_SORT"}]}, 1100)
    client.ok("indexes/drop", {"collectionName": docs, "indexName": "n_idx"})
    client.ok("indexes/drop", {"collectionName": docs, "indexName": "source"})
    assert client.ok("indexes/list", {"collectionName": docs}) == ["vec_idx"]


def test_range_search_matches_numpy(client, dataset, docs):
    """searchParams.params radius / range_filter (IP: radius < score ≤ range_filter), bounds at clear gaps."""
    for qi in range(3):
        q = dataset.queries[qi]
        scores = np.sort(dataset.base[:dataset.n] @ q)[::-1]
        order = dataset.exact_topk(q, dataset.n)

        def gap(rank):
            while abs(scores[rank - 1] - scores[rank]) <= 1e-4:
                rank += 1
            return float((scores[rank - 1] + scores[rank]) / 2), rank
        inner, first = gap(15)
        outer, last = gap(200)
        hits = client.ok("entities/search", {"collectionName": docs, "data": [q.tolist()], "limit": 50,
                                             "searchParams": {"metricType": "IP", "params": {"radius": outer, "range_filter": inner}}})
        assert [h["id"] for h in hits] == order[first:last][:50]
    msg = client.err("entities/search", {"collectionName": docs, "data": [dataset.queries[0].tolist()], "limit": 5,
                                         "searchParams": {"params": {"radius": 0.9, "range_filter": 0.1}}}, 1100)
    assert "range_filter" in msg


def test_grouping_search_matches_numpy(client, dataset, docs):
    """groupingField `n` (id mod 10), groupSize 2, strictGroupSize: the best 4 groups with 2 rows each."""
    q = dataset.queries[3]
    groups, slot = [], {}
    for i in dataset.exact_topk(q, dataset.n):
        g = i % 10
        if g in slot:
            if len(groups[slot[g]]) < 2:
                groups[slot[g]].append(i)
        else:
            slot[g] = len(groups)
            groups.append([i])
    hits = client.ok("entities/search", {"collectionName": docs, "data": [q.tolist()], "limit": 4, "outputFields": ["n"],
                                         "groupingField": "n", "groupSize": 2, "strictGroupSize": True})
    assert [h["id"] for h in hits] == [i for g in groups[:4] for i in g]
    assert all(h["n"] == h["id"] % 10 for h in hits)
    client.err("entities/search", {"collectionName": docs, "data": [q.tolist()], "limit": 4, "groupingField": "vector"}, 1100)
