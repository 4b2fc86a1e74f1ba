"""Full-text search the way a RAG application uses it through pymilvus, unchanged: a VarChar field with
`enable_analyzer`/`enable_match`, a BM25 Function filling a SPARSE_FLOAT_VECTOR field, SPARSE_INVERTED_INDEX with
metric BM25 (each inverted_index_algo, custom bm25_k1/bm25_b), text queries, filters, `text_match` in query /
search / delete, plain sparse vectors with metric IP, hybrid search (RRF and weighted) over a dense and the BM25
field, BM25 statistics around deletes and compaction, and run_analyzer.

Every expectation comes from Tests/e2e_common/bm25_reference.py (the `standard` analyzer and Milvus' BM25 formula,
with query term frequencies as weights) or numpy, over the first 2,000 passages of the dev dataset and its query
texts, or over seeded random sparse vectors.

Run against Milvus Lite 3.2.2 (E2E_TARGET=lite) the same tests pass, with these differences of that pure-Python
rewrite of Milvus, each confined to a constant or a single skip:
  * its `standard` analyzer is `\\w+`, so `_` joins tokens (Milvus' tantivy tokenizer splits on it):
    UNDERSCORE_JOINS;
  * it ignores bm25_k1 / bm25_b / inverted_index_algo as pymilvus 3.0.2 sends them (one KeyValuePair each; it
    reads only a JSON `params` pair) and scores with k1 = 1.5 (Milvus' proxy fills in 1.2): K1_SERVER;
  * its plain search returns -BM25 as the distance (its hybrid search returns the fused score as Milvus does):
    bm25_hits();
  * with rows still in its memtable it computes the statistics over the rows that pass the filter, so the
    collections are flushed before searching (Milvus computes them over the whole collection either way);
  * it returns the BM25 output field from query/search, accepts text_match on a field without enable_match, has
    no RunAnalyzer and a no-op compact(): those tests run against Vireo only.
"""
import json
import sys
import time

import numpy as np
import pytest
from pymilvus import (AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, MilvusException,
                      RRFRanker, WeightedRanker)

from conftest import DATA, ROOT, TARGET, VireoServer

sys.path.insert(0, str(ROOT / "Tests/e2e_common"))
import bm25_reference as ref  # noqa: E402

LITE = TARGET == "lite"
UNDERSCORE_JOINS = LITE
K1_SERVER = 1.5 if LITE else ref.K1_DEFAULT   # the k1 the server applies when the index does not set one
N_DOCS = 2000
REL = 1e-4                                     # float32 scoring against the float64 reference
ALGOS = ["TAAT_NAIVE", "DAAT_WAND", "DAAT_MAXSCORE"]
NO_MATCH = "zqxjvk wvqzzx"                     # shares no token with the corpus (checked below)
# Milvus' built-in English stop words (tantivy-binding stop_words::ENGLISH, Lucene's list).
ENGLISH_STOP = set("a an and are as at be but by for if in into is it no not of on or such that the their then "
                   "there these they this to was will with".split())


def bm25_hits(hits):
    """[(id, score)] of one query's BM25 hits. Milvus returns the BM25 score itself as the distance (positive,
    larger is better); Milvus Lite 3.2.2's plain search returns its negation."""
    sign = -1.0 if LITE else 1.0
    return [(h["id"], sign * h["distance"]) for h in hits]


def tokens(text):
    return ref.tokenize(text, underscore_joins=UNDERSCORE_JOINS)


def reference(texts, k1=None, b=ref.B_DEFAULT, stats_ids=None):
    return ref.BM25(texts, k1=K1_SERVER if k1 is None else k1, b=b, stats_ids=stats_ids,
                    underscore_joins=UNDERSCORE_JOINS)


def bm25_schema(text_max=8192, dense_dim=None, match=True):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=text_max, enable_analyzer=True, enable_match=match)
    schema.add_field("n", DataType.INT64)
    schema.add_field("source", DataType.VARCHAR, max_length=256)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    if dense_dim:
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dense_dim)
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    return schema


def create_bm25(client, name, texts, sources, params=None, dense=None):
    """A collection over `texts` ({id: text}), n = id % 10, flushed (see the module docstring)."""
    schema = bm25_schema(dense_dim=None if dense is None else dense.shape[1])
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                           params=params or {})
    if dense is not None:
        index_params.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")
    rows = []
    for i, t in texts.items():
        row = {"id": i, "text": t, "n": i % 10, "source": sources[i]}
        if dense is not None:
            row["dense"] = dense[i].tolist()
        rows.append(row)
    for start in range(0, len(rows), 500):
        client.insert(name, rows[start:start + 500])
    client.flush(name)


def load_queries():
    return ref.dev_queries(DATA)


@pytest.fixture(scope="module")
def corpus(dataset):
    assert dataset.n >= N_DOCS, "set VIREO_E2E_ROWS to at least 2000"
    texts = {i: dataset.passages[i]["text"] for i in range(N_DOCS)}
    sources = {i: dataset.passages[i]["source"].split("/html/")[-1] for i in range(N_DOCS)}  # c-api/init.html
    return texts, sources


@pytest.fixture(scope="module")
def docs(client, corpus):
    """The 2,000 passages with the server's default BM25 parameters."""
    texts, sources = corpus
    name = f"fts_docs_{TARGET}"
    if client.has_collection(name):
        client.drop_collection(name)
    create_bm25(client, name, texts, sources)
    yield name
    client.drop_collection(name)


def test_reference_analyzer_edges():
    """The reference itself: Milvus' `standard` splits on anything not a letter or digit, lowercases per char."""
    assert ref.tokenize("Hello, World! foo_bar don't stop") == ["hello", "world", "foo", "bar", "don", "t", "stop"]
    assert ref.tokenize("foo_bar x", underscore_joins=True) == ["foo_bar", "x"]
    assert ref.tokenize("Ünïcode CAFÉ 東京 test123 v1.2-beta") == ["ünïcode", "café", "東京", "test123", "v1", "2", "beta"]
    assert ref.tokenize("ΣΊΣΥΦΟΣ") == ["σίσυφοσ"]   # tantivy's LowerCaser has no final-sigma rule
    assert ref.tokenize("  ...  ") == []


@pytest.mark.parametrize("algo", ALGOS)
def test_bm25_search_matches_reference(client, corpus, name, algo):
    texts, sources = corpus
    create_bm25(client, name, texts, sources, params={"inverted_index_algo": algo})
    model = reference(texts)
    queries = load_queries()
    res = client.search(name, data=queries, anns_field="sparse", limit=10, output_fields=["text", "n"],
                        search_params={"metric_type": "BM25"})
    assert len(res) == len(queries)
    for q, hits in zip(queries, res):
        got = bm25_hits(hits)
        ref.check_topk(got, model.scores(q), 10, rel=REL, what=f"{algo} {q[:40]!r}")
        assert all(s > 0 for _, s in got), got
        for h in hits:
            assert h["entity"]["text"] == texts[h["id"]] and h["entity"]["n"] == h["id"] % 10


def test_query_term_frequency_weights_the_score(client, docs, corpus):
    """A query term counted twice contributes twice (Milvus weights each term by its query tf x idf)."""
    texts, _ = corpus
    model = reference(texts)
    once = bm25_hits(client.search(docs, data=["generator object"], anns_field="sparse", limit=10)[0])
    twice = bm25_hits(client.search(docs, data=["generator Generator object"], anns_field="sparse", limit=10)[0])
    ref.check_topk(twice, model.scores("generator Generator object"), 10, rel=REL)
    s_once, s_twice = dict(once), dict(twice)
    gen = model.scores("generator")
    for i in set(s_once) & set(s_twice):
        assert s_twice[i] == pytest.approx(s_once[i] + gen.get(i, 0.0), rel=REL)


def test_no_shared_term_and_rare_terms(client, docs, corpus):
    texts, _ = corpus
    model = reference(texts)
    assert not model.scores(NO_MATCH)
    assert client.search(docs, data=[NO_MATCH], anns_field="sparse", limit=10)[0] == []
    assert client.search(docs, data=[""], anns_field="sparse", limit=10)[0] == []
    # A rare term: only the rows holding it come back, however large the limit.
    rare = sorted(t for t, df in model.df.items() if 3 <= df <= 8 and t.isalpha() and len(t) >= 7)[:3]
    assert len(rare) == 3
    for term in rare:
        got = bm25_hits(client.search(docs, data=[term.upper()], anns_field="sparse", limit=50)[0])
        assert {i for i, _ in got} == {i for i in texts if term in tokens(texts[i])}, term
        ref.check_topk(got, model.scores(term), 50, rel=REL, what=term)


@pytest.mark.skipif(LITE, reason="Milvus Lite 3.2.2 ignores bm25_k1/bm25_b sent by pymilvus 3.0.2 (scores with 1.5/0.75)")
def test_custom_k1_b_change_scores(client, corpus, name):
    texts, sources = corpus
    k1, b = 1.8, 0.3
    create_bm25(client, name, texts, sources, params={"inverted_index_algo": "DAAT_MAXSCORE", "bm25_k1": k1, "bm25_b": b})
    custom, default = reference(texts, k1=k1, b=b), reference(texts)
    changed = 0
    for q in load_queries()[:12]:
        got = bm25_hits(client.search(name, data=[q], anns_field="sparse", limit=10)[0])
        ref.check_topk(got, custom.scores(q), 10, rel=REL, what=q[:40])
        d = default.scores(q)
        changed += any(abs(s - d[i]) > 0.01 * s for i, s in got)
    assert changed >= 10, "bm25_k1/bm25_b did not change the scores"


@pytest.mark.parametrize("expr,keep", [
    ("n in [1, 4, 7]", lambda i, src, t: i % 10 in (1, 4, 7)),
    ("n >= 5 and n != 8", lambda i, src, t: i % 10 >= 5 and i % 10 != 8),
    ("not (n in [0, 9])", lambda i, src, t: i % 10 not in (0, 9)),
    ('source like "c-api/%"', lambda i, src, t: src.startswith("c-api/")),
    ("text_match(text, 'generator function')", lambda i, src, t: bool({"generator", "function"} & set(tokens(t)))),
    ("text_match(text, 'object') and n < 5", lambda i, src, t: "object" in tokens(t) and i % 10 < 5),
])
def test_bm25_search_with_filter(client, docs, corpus, expr, keep):
    """Filters narrow the candidates; the statistics stay those of the whole collection."""
    texts, sources = corpus
    model = reference(texts)
    allowed = [i for i in texts if keep(i, sources[i], texts[i])]
    assert 0 < len(allowed) < len(texts)
    queries = load_queries()[:8]
    res = client.search(docs, data=queries, anns_field="sparse", limit=10, filter=expr)
    for q, hits in zip(queries, res):
        ref.check_topk(bm25_hits(hits), model.scores(q, ids=allowed), 10, rel=REL, what=f"{expr}: {q[:30]!r}")


def test_describe_collection_shows_the_function(client, name):
    schema = bm25_schema()
    schema.add_field("title", DataType.VARCHAR, max_length=64, enable_analyzer=True,
                     analyzer_params={"type": "standard"})
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index_params)
    d = client.describe_collection(name)
    fields = {f["name"]: f for f in d["fields"]}
    text = fields["text"]
    assert text["type"] == DataType.VARCHAR
    assert text["params"]["max_length"] == 8192
    assert str(text["params"]["enable_analyzer"]).lower() == "true"
    assert str(text["params"]["enable_match"]).lower() == "true"
    assert not text.get("is_function_output")
    assert json.loads(fields["title"]["params"]["analyzer_params"]) == {"type": "standard"}
    assert "enable_match" not in fields["title"]["params"]
    assert fields["sparse"]["type"] == DataType.SPARSE_FLOAT_VECTOR
    assert fields["sparse"].get("is_function_output") is True
    assert "dim" not in fields["sparse"]["params"]
    assert [f for f in fields if fields[f].get("is_function_output")] == ["sparse"]
    (fn,) = d["functions"]
    assert fn["name"] == "text_bm25" and fn["type"] == FunctionType.BM25
    assert fn["input_field_names"] == ["text"] and fn["output_field_names"] == ["sparse"]
    assert fn["params"] == {}
    idx = client.describe_index(name, "sparse")
    assert idx["index_type"] == "SPARSE_INVERTED_INDEX" and idx["metric_type"] == "BM25"


def test_function_output_field_cannot_be_written(client, name):
    """pymilvus refuses it from the describe_collection answer (is_function_output) before anything is sent."""
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=bm25_schema(), index_params=index_params, consistency_level="Strong")
    row = {"id": 1, "text": "alpha beta", "n": 1, "source": "s", "sparse": {3: 0.5}}
    for write in (client.insert, client.upsert):
        with pytest.raises(MilvusException, match="function output field"):
            write(name, [row])
    del row["sparse"]
    client.insert(name, [row])
    assert [r["id"] for r in client.query(name, filter="id >= 0", output_fields=["id"])] == [1]


@pytest.mark.skipif(LITE, reason="Milvus Lite 3.2.2 returns the BM25 output field; Milvus hides it from '*' and refuses it")
def test_function_output_field_is_not_returned(client, docs):
    rows = client.query(docs, filter="id < 3", output_fields=["*"])
    assert len(rows) == 3 and all("sparse" not in r and "text" in r for r in rows)
    hits = client.search(docs, data=["generator"], anns_field="sparse", limit=3, output_fields=["*"])[0]
    assert len(hits) == 3 and all("sparse" not in h["entity"] and "text" in h["entity"] for h in hits)
    with pytest.raises(MilvusException, match="not allowed to retrieve raw data of field sparse"):
        client.query(docs, filter="id < 3", output_fields=["id", "sparse"])
    with pytest.raises(MilvusException, match="not allowed to retrieve raw data of field sparse"):
        client.search(docs, data=["generator"], anns_field="sparse", limit=3, output_fields=["sparse"])


@pytest.mark.parametrize("expr,keep", [
    ("text_match(text, 'socket')", lambda i, t: "socket" in tokens(t)),
    ("text_match(text, 'Socket THREAD')", lambda i, t: bool({"socket", "thread"} & set(tokens(t)))),
    ("text_match(text, 'init')", lambda i, t: "init" in tokens(t)),
    ("text_match(text, 'generator') and n < 5", lambda i, t: "generator" in tokens(t) and i % 10 < 5),
    ("text_match(text, 'socket') or text_match(text, 'database')",
     lambda i, t: "socket" in tokens(t) or "database" in tokens(t)),
    ("not text_match(text, 'the') and n == 3", lambda i, t: "the" not in tokens(t) and i % 10 == 3),
    ("text_match(text, '%s')" % NO_MATCH, lambda i, t: False),
])
def test_text_match_query(client, docs, corpus, expr, keep):
    texts, _ = corpus
    want = {i for i, t in texts.items() if keep(i, t)}
    got = client.query(docs, filter=expr, output_fields=["id"])
    assert len(got) == len({r["id"] for r in got})
    assert {r["id"] for r in got} == want


@pytest.mark.skipif(LITE, reason="Milvus Lite 3.2.2 evaluates text_match on any VarChar field")
def test_text_match_needs_enable_match(client, name):
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=bm25_schema(match=False), index_params=index_params)
    client.insert(name, [{"id": 1, "text": "alpha", "n": 1, "source": "alpha"}])
    with pytest.raises(MilvusException, match="enable (text )?match"):
        client.query(name, filter="text_match(text, 'alpha')")
    with pytest.raises(MilvusException, match="enable (text )?match"):
        client.query(name, filter="text_match(source, 'alpha')")


def test_delete_by_text_match(client, corpus, name):
    texts, sources = corpus
    sub = {i: texts[i] for i in range(600)}
    create_bm25(client, name, sub, sources)
    doomed = {i for i, t in sub.items() if {"thread", "gil"} & set(tokens(t))}
    assert 20 < len(doomed) < 100
    client.delete(name, filter="text_match(text, 'Thread GIL')")
    live = sorted(set(sub) - doomed)
    assert sorted(r["id"] for r in client.query(name, filter="id >= 0", output_fields=["id"])) == live
    assert client.query(name, filter="text_match(text, 'thread gil')", output_fields=["id"]) == []
    # Deleted rows never come back (their scores depend on when compaction runs, so only the ids are checked).
    model = reference(sub)
    for q in ("thread state lock", "the GIL and threads of the interpreter", "memory allocator"):
        candidates = model.scores(q, ids=live)
        assert candidates
        hits = client.search(name, data=[q], anns_field="sparse", limit=20)[0]
        assert len(hits) == min(20, len(candidates)), q
        assert {h["id"] for h in hits} <= set(candidates), q


def random_sparse(rng, n):
    """Seeded sparse rows: 5..30 nonzeros, half from a hot range so rows overlap, indices up to 9,999."""
    out = []
    for _ in range(n):
        k = int(rng.integers(5, 31))
        idx = np.unique(np.concatenate([rng.integers(0, 300, k // 2), rng.integers(0, 10_000, k - k // 2)]))
        vals = rng.uniform(0.05, 2.0, len(idx)).astype(np.float32)
        out.append({int(i): float(v) for i, v in zip(idx, vals)})
    return out


def sparse_ip(a, b):
    return sum(float(v) * float(b[k]) for k, v in a.items() if k in b)


@pytest.mark.parametrize("algo", ["TAAT_NAIVE", "DAAT_MAXSCORE"])
def test_plain_sparse_ip(client, name, algo):
    rng = np.random.default_rng(20250 + len(algo))
    rows = random_sparse(rng, 500)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP",
                           params={"inverted_index_algo": algo})
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")
    for start in range(0, 500, 250):
        client.insert(name, [{"id": i, "sparse": rows[i]} for i in range(start, start + 250)])
    client.flush(name)
    queries = random_sparse(rng, 10)
    res = client.search(name, data=queries, anns_field="sparse", limit=10, output_fields=["sparse"],
                        search_params={"metric_type": "IP"})
    for qi, (q, hits) in enumerate(zip(queries, res)):
        want = {i: s for i, r in enumerate(rows) if (s := sparse_ip(r, q)) > 0}
        assert len(want) >= 10
        ref.check_topk([(h["id"], h["distance"]) for h in hits], want, 10, rel=1e-5, what=f"query {qi}")
        for h in hits:
            assert_sparse_equal(h["entity"]["sparse"], rows[h["id"]])
    filtered = client.search(name, data=queries[:3], anns_field="sparse", limit=10, filter="id < 250")
    for q, hits in zip(queries[:3], filtered):
        want = {i: s for i, r in enumerate(rows[:250]) if (s := sparse_ip(r, q)) > 0}
        ref.check_topk([(h["id"], h["distance"]) for h in hits], want, 10, rel=1e-5, what="filtered")
    got = client.query(name, filter="id >= 0", output_fields=["sparse"], limit=1000)
    assert sorted(r["id"] for r in got) == list(range(500))
    for r in got:
        assert_sparse_equal(r["sparse"], rows[r["id"]])


def assert_sparse_equal(got, want):
    got = {int(k): float(v) for k, v in dict(got).items()}
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-6), k


@pytest.fixture(scope="module")
def hybrid(client, corpus, dataset):
    texts, sources = corpus
    name = f"fts_hybrid_{TARGET}"
    if client.has_collection(name):
        client.drop_collection(name)
    create_bm25(client, name, texts, sources, dense=dataset.base[:N_DOCS])
    yield name
    client.drop_collection(name)


def hybrid_cases(dataset, texts, dense_k, sparse_k):
    """(query index, dense [(id, score)], BM25 [(id, score)]) for queries whose per-request top-k have a clear
    boundary (no near-tie between rank k and k+1), so the candidate lists are unambiguous."""
    with open(DATA / "queries.jsonl") as f:
        qtexts = [json.loads(line)["text"] for line, _ in zip(f, range(40))]
    model = reference(texts)
    out = []
    for qi, qt in enumerate(qtexts):
        ids, scores = dataset.exact(dataset.queries[qi], dense_k + 1, ids=list(range(N_DOCS)))
        bm = ref.top(model.scores(qt), sparse_k + 1)
        if scores[dense_k - 1] - scores[dense_k] < 1e-4 or len(bm) <= sparse_k \
                or bm[sparse_k - 1][1] - bm[sparse_k][1] < 1e-3 * bm[sparse_k][1]:
            continue
        out.append((qi, qt, list(zip(ids, scores))[:dense_k], bm[:sparse_k]))
        if len(out) == 8:
            break
    assert len(out) >= 5
    return out


def hybrid_requests(dataset, qi, qt, dense_k, sparse_k):
    return [AnnSearchRequest(data=[dataset.queries[qi].tolist()], anns_field="dense", param={"metric_type": "IP"},
                             limit=dense_k),
            AnnSearchRequest(data=[qt], anns_field="sparse", param={"metric_type": "BM25"}, limit=sparse_k)]


def test_hybrid_rrf(client, hybrid, corpus, dataset):
    texts, _ = corpus
    for qi, qt, dense, bm in hybrid_cases(dataset, texts, 20, 15):
        res = client.hybrid_search(hybrid, hybrid_requests(dataset, qi, qt, 20, 15), RRFRanker(60), limit=10,
                                   output_fields=["text"])
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]], k=60)
        got = [(h["id"], h["distance"]) for h in res[0]]
        ref.check_topk(got, want, 10, rel=1e-5, what=f"rrf query {qi}")
        assert all(h["entity"]["text"] == texts[h["id"]] for h in res[0])


@pytest.mark.parametrize("weights", [(0.4, 0.6), (0.9, 0.1)])
def test_hybrid_weighted(client, hybrid, corpus, dataset, weights):
    texts, _ = corpus
    for qi, qt, dense, bm in hybrid_cases(dataset, texts, 20, 15):
        res = client.hybrid_search(hybrid, hybrid_requests(dataset, qi, qt, 20, 15), WeightedRanker(*weights),
                                   limit=10)
        want = ref.weighted([dense, bm], weights, ["IP", "BM25"])
        ref.check_topk([(h["id"], h["distance"]) for h in res[0]], want, 10, rel=1e-4, what=f"weighted {qi}")


@pytest.fixture
def stats_client(request, tmp_path_factory):
    """Vireo: a server of its own that seals every 500 rows and compacts only when asked (the shared one compacts
    in the background, which would make 'before compaction' a race). Lite: the session client."""
    if LITE:
        yield request.getfixturevalue("client")
        return
    s = VireoServer(tmp_path_factory.mktemp("fts-stats"), "--seal-rows", "500", "--compaction-interval", "0")
    c = MilvusClient(uri=s.uri)
    yield c
    c.close()
    s.stop()


def test_deleted_rows_count_in_statistics_until_compaction(stats_client, corpus, name):
    """Milvus keeps a deleted row in the BM25 statistics (N, avgdl, df) until compaction rewrites its segment;
    deleted rows are never returned. Milvus Lite shows the first half (its flushed segment keeps its statistics);
    its compact() is a no-op, so the statistics after compaction are checked against Vireo only."""
    client = stats_client
    texts, sources = corpus
    create_bm25(client, name, texts, sources)
    client.delete(name, filter="n in [0, 1, 2]")
    live = [i for i in texts if i % 10 > 2]
    with_deleted, live_only = reference(texts), reference(texts, stats_ids=live)
    queries = load_queries()[:12]

    def check(model, when):
        res = client.search(name, data=queries, anns_field="sparse", limit=10)
        differs = 0
        for q, hits in zip(queries, res):
            got = bm25_hits(hits)
            assert all(i % 10 > 2 for i, _ in got), f"{when}: a deleted row came back"
            ref.check_topk(got, model.scores(q, ids=live), 10, rel=REL, what=f"{when} {q[:30]!r}")
            other = live_only if model is with_deleted else with_deleted
            differs += any(abs(s - other.scores(q, ids=live)[i]) > 1e-3 * s for i, s in got)
        assert differs >= 10, "the two statistics hardly differ: the check cannot tell them apart"

    check(with_deleted, "before compaction")
    job = client.compact(name)
    deadline = time.time() + 120
    while client.get_compaction_state(job) != "Completed":
        assert time.time() < deadline, "compaction did not complete"
        time.sleep(0.05)
    if not LITE:
        check(live_only, "after compaction")
    assert client.query(name, filter="n in [0, 1, 2]", output_fields=["id"]) == []


@pytest.mark.skipif(LITE, reason="Milvus Lite 3.2.2 has no RunAnalyzer")
def test_run_analyzer(client, corpus):
    texts, _ = corpus
    samples = ["Hello, World! foo_bar don't stop", "Ünïcode CAFÉ 東京 test123 v1.2-beta", "ΣΊΣΥΦΟΣ", "   "] + \
        [texts[i] for i in range(0, 200, 7)]
    got = client.run_analyzer(samples, analyzer_params={"type": "standard"})
    assert [r.tokens for r in got] == [ref.tokenize(t) for t in samples]
    one = client.run_analyzer("Foo_Bar baz", analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]})
    assert one.tokens == ["foo", "bar", "baz"]

    sentence = "The dogs are running and jumping over the lazy foxes in the forests quickly"
    english = client.run_analyzer(sentence, analyzer_params={"type": "english"}).tokens
    standard = ref.tokenize(sentence)
    assert all(t == t.lower() for t in english)
    assert not set(english) & ENGLISH_STOP
    assert {"dog", "run", "jump", "fox", "forest", "quick"} <= set(english), english
    assert not {"dogs", "running", "jumping", "foxes", "forests", "quickly"} & set(english), english
    assert len(english) == len([t for t in standard if t not in ENGLISH_STOP])
