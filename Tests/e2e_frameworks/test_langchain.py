"""LangChain's `Milvus` vector store (langchain-milvus 0.4.0 over pymilvus 3.x) driven through a RAG flow against
`vireo serve`, every result checked against numpy. Runs in .venv-langchain (requirements-langchain.txt).

The store's defaults are what is tested: an AUTOINDEX index with metric L2 (Milvus.__init__ / _create_index's
`default_index_params`), so the oracle is squared L2; a VARCHAR primary key (max_length 65,535) when ids are given,
an auto-id INT64 one when they are not; one typed field per metadata key, inferred from the first document.
Full-text search (the section at the end): `builtin_function=BM25BuiltInFunction()` stores, hybrid (dense + BM25)
and BM25-only, checked against Tests/e2e_common/bm25_reference.py and numpy.
"""
import asyncio

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_milvus import BM25BuiltInFunction, Milvus
from langchain_milvus.vectorstores.milvus import maximal_marginal_relevance
from pymilvus import DataType, Function, FunctionType

import bm25_reference as ref  # Tests/e2e_common, on sys.path through conftest
from conftest import K, LITE, TARGET, TIE, bm25_model, hybrid_cases, tokens

METRIC = "L2"  # langchain-milvus' default index: {"metric_type": "L2", "index_type": "AUTOINDEX"}


class LookupEmbeddings(Embeddings):
    """The dataset's precomputed all-MiniLM-L6-v2 vectors: passages for documents, queries (or passages) for
    queries. Any other text raises."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.document_calls = 0
        self.query_calls = 0

    def embed_documents(self, texts):
        self.document_calls += 1
        return [self.dataset.passage_vector(t) for t in texts]

    def embed_query(self, text):
        self.query_calls += 1
        return self.dataset.query_vector(text)


def documents(dataset, idx):
    return [Document(page_content=dataset.docs[i]["text"], metadata=dict(dataset.docs[i]["metadata"])) for i in idx]


def ids_of(dataset, idx):
    return [dataset.docs[i]["id"] for i in idx]


def rows_of(dataset, docs):
    """Dataset indexes of result Documents (by text), checking the metadata came back with them."""
    out = []
    for d in docs:
        i = dataset.index_of_text[d.page_content]
        assert d.metadata["row"] == dataset.docs[i]["metadata"]["row"], d.metadata
        assert d.metadata["source"] == dataset.docs[i]["metadata"]["source"], d.metadata
        out.append(i)
    return out


def connection(server):
    return {"uri": server.uri}


@pytest.fixture(scope="module")
def store(dataset, server):
    """The whole sample through `Milvus.from_documents` with string ids and metadata (the RAG ingest)."""
    emb = LookupEmbeddings(dataset)
    idx = list(range(dataset.n))
    s = Milvus.from_documents(documents(dataset, idx), emb, ids=ids_of(dataset, idx), collection_name="lc_rag",
                              connection_args=connection(server), drop_old=True)
    return s


def test_from_documents_creates_the_store_langchain_expects(store, dataset):
    c = store.client
    info = c.describe_collection("lc_rag")
    fields = {f["name"]: f for f in info["fields"]}
    assert set(fields) == {"pk", "text", "vector", "source", "path", "row", "words"}, sorted(fields)
    assert fields["pk"].get("is_primary") is True
    assert fields["pk"]["params"].get("max_length") == 65535
    idx = c.describe_index("lc_rag", c.list_indexes("lc_rag")[0])
    assert idx["metric_type"] == METRIC, idx
    assert store.search_params["metric_type"] == METRIC
    n = c.query("lc_rag", filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert n == dataset.n
    got = c.get("lc_rag", ids=["passage-0", dataset.docs[7]["id"]], output_fields=["text", "row"])
    assert sorted(g["row"] for g in got) == sorted([dataset.docs[0]["metadata"]["row"], dataset.docs[7]["metadata"]["row"]])


def test_similarity_search_top10_is_exact(store, dataset):
    for qi, text in enumerate(dataset.query_texts):
        docs = store.similarity_search(text, k=K)
        dataset.check_topk(rows_of(dataset, docs), dataset.queries[qi], METRIC)


def test_similarity_search_with_score_returns_squared_l2(store, dataset):
    for qi, text in enumerate(dataset.query_texts[:10]):
        pairs = store.similarity_search_with_score(text, k=K)
        got = rows_of(dataset, [d for d, _ in pairs])
        dataset.check_topk(got, dataset.queries[qi], METRIC, got_scores=[s for _, s in pairs])


def test_relevance_scores_follow_the_l2_mapping(store, dataset):
    pairs = store.similarity_search_with_relevance_scores(dataset.query_texts[0], k=K)
    got = rows_of(dataset, [d for d, _ in pairs])
    l2 = dataset.scores(dataset.queries[0], METRIC, got)
    np.testing.assert_allclose([s for _, s in pairs], 1 - l2 / 4.0, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("expr,pred", [
    ('source == "python-django-doc"', lambda m: m["source"] == "python-django-doc"),
    ('source in ["python-sklearn-doc", "python-flask-doc"] and words > 30',
     lambda m: m["source"] in ("python-sklearn-doc", "python-flask-doc") and m["words"] > 30),
    ('row >= 20000 and row < 30000', lambda m: 20000 <= m["row"] < 30000),
    ('path like "doc/python3.11/html/library/%"', lambda m: m["path"].startswith("doc/python3.11/html/library/")),
])
def test_metadata_filter_expr_is_exact(store, dataset, expr, pred):
    allowed = dataset.where(pred)
    assert 0 < len(allowed) < dataset.n, f"{expr} must select some rows but not all ({len(allowed)})"
    for qi, text in enumerate(dataset.query_texts[:8]):
        pairs = store.similarity_search_with_score(text, k=K, expr=expr)
        got = rows_of(dataset, [d for d, _ in pairs])
        dataset.check_topk(got, dataset.queries[qi], METRIC, allowed=allowed, got_scores=[s for _, s in pairs])


def test_search_by_metadata(store, dataset):
    want = dataset.where(lambda m: m["source"] == "python-requests-doc")
    docs = store.search_by_metadata('source == "python-requests-doc"', limit=1000)
    assert sorted(rows_of(dataset, docs)) == sorted(want)


def test_max_marginal_relevance_search(store, dataset):
    k, fetch_k = 5, 20
    for qi, text in enumerate(dataset.query_texts[:8]):
        docs = store.max_marginal_relevance_search(text, k=k, fetch_k=fetch_k, lambda_mult=0.5)
        got = rows_of(dataset, docs)
        assert len(got) == k and len(set(got)) == k
        q = dataset.queries[qi]
        cand, cand_scores = dataset.exact(q, METRIC, fetch_k)
        near = set(cand)
        # every MMR pick is one of the fetch_k exact neighbours (or ties with the fetch_k-th)
        s = dataset.scores(q, METRIC, got)
        assert all(i in near or si <= cand_scores[-1] + TIE for i, si in zip(got, s)), (got, cand)
        if not dataset._boundary_tie(q, METRIC, cand_scores[-1], None):
            # the same MMR over numpy's exact candidates (the framework's own function) picks the same rows
            order = maximal_marginal_relevance(np.array(q, dtype=np.float64), [dataset.base[i] for i in cand],
                                               k=k, lambda_mult=0.5)
            assert got == [cand[j] for j in order], ([dataset.rows[i] for i in got], [dataset.rows[cand[j]] for j in order])


def test_retriever_and_rag_chain(store, dataset):
    retriever = store.as_retriever(search_kwargs={"k": K})
    for qi, text in enumerate(dataset.query_texts[:5]):
        dataset.check_topk(rows_of(dataset, retriever.invoke(text)), dataset.queries[qi], METRIC)

    # retriever | format | prompt | "LLM": the prompt the model sees holds the exact top-k passages, best first
    seen = []

    def fake_llm(prompt_value):
        seen.append(prompt_value.to_string())
        return "answer"

    prompt = PromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")
    chain = ({"context": retriever | RunnableLambda(lambda ds: "\n---\n".join(d.page_content for d in ds)),
              "question": RunnablePassthrough()} | prompt | RunnableLambda(fake_llm))
    text = dataset.query_texts[3]
    assert chain.invoke(text) == "answer"
    context = seen[0].split("Context:\n", 1)[1].split("\n\nQuestion: ", 1)[0].split("\n---\n")
    assert seen[0].endswith(f"Question: {text}")
    got = [dataset.index_of_text[t] for t in context]
    dataset.check_topk(got, dataset.queries[3], METRIC)


def test_async_similarity_search(server, dataset, store):
    async def run():
        s = Milvus(LookupEmbeddings(dataset), collection_name="lc_rag", connection_args=connection(server))
        out = []
        for text in dataset.query_texts[:6]:
            out.append(await s.asimilarity_search(text, k=K))
        pairs = await s.asimilarity_search_with_score(dataset.query_texts[6], k=K,
                                                      expr='source == "python-django-doc"')
        return out, pairs

    results, pairs = asyncio.run(run())
    for qi, docs in enumerate(results):
        dataset.check_topk(rows_of(dataset, docs), dataset.queries[qi], METRIC)
    allowed = dataset.where(lambda m: m["source"] == "python-django-doc")
    dataset.check_topk(rows_of(dataset, [d for d, _ in pairs]), dataset.queries[6], METRIC, allowed=allowed,
                       got_scores=[s for _, s in pairs])


def test_reopen_sees_the_data(server, dataset, store):
    """A new store object on the existing collection (no drop_old): it finds the schema, the index and its metric."""
    emb = LookupEmbeddings(dataset)
    s = Milvus(emb, collection_name="lc_rag", connection_args=connection(server))
    assert s.search_params["metric_type"] == METRIC
    assert set(s.fields) >= {"pk", "text", "vector", "source", "row"}
    for qi, text in enumerate(dataset.query_texts[:5]):
        dataset.check_topk(rows_of(dataset, s.similarity_search(text, k=K)), dataset.queries[qi], METRIC)
    assert emb.query_calls == 5 and emb.document_calls == 0


def _small_store(dataset, server, name, idx):
    s = Milvus(LookupEmbeddings(dataset), collection_name=name, connection_args=connection(server), drop_old=True)
    got_ids = s.add_texts([dataset.docs[i]["text"] for i in idx], metadatas=[dataset.docs[i]["metadata"] for i in idx],
                          ids=ids_of(dataset, idx))
    assert got_ids == ids_of(dataset, idx)
    return s


def _count(s):
    return s.client.query(s.collection_name, filter="", output_fields=["count(*)"])[0]["count(*)"]


def test_delete_by_ids(server, dataset, name):
    idx = list(range(0, dataset.n, 3))  # 1,000 rows
    s = _small_store(dataset, server, name, idx)
    q = dataset.queries[0]
    # delete the exact top 10 of query 0 and 25 more
    top, _ = dataset.exact(q, METRIC, K, allowed=idx)
    gone = top + [i for i in idx if i not in top][:25]
    assert s.delete(ids=ids_of(dataset, gone)) is True
    assert _count(s) == len(idx) - len(gone)
    remaining = sorted(set(idx) - set(gone))
    for qi, text in enumerate(dataset.query_texts[:5]):
        got = rows_of(dataset, s.similarity_search(text, k=K))
        assert not set(got) & set(gone)
        dataset.check_topk(got, dataset.queries[qi], METRIC, allowed=remaining)
    assert s.get_pks(f'pk in {ids_of(dataset, gone[:3])}') == []
    # delete by expression too
    assert s.delete(expr='source == "python-django-doc"') is True
    remaining = [i for i in remaining if dataset.docs[i]["metadata"]["source"] != "python-django-doc"]
    assert _count(s) == len(remaining)
    dataset.check_topk(rows_of(dataset, s.similarity_search(dataset.query_texts[1], k=K)), dataset.queries[1], METRIC,
                       allowed=remaining)


def test_upsert_replaces_existing_ids(server, dataset, name):
    idx = list(range(1, dataset.n, 3))  # 1,000 rows
    s = _small_store(dataset, server, name, idx)
    q = dataset.queries[2]
    # the ids of query 2's exact top 10 get the passages (text, vector, metadata) of 10 rows not in the store
    victims, _ = dataset.exact(q, METRIC, K, allowed=idx)
    outside = [i for i in range(dataset.n) if i % 3 != 1]
    newcomers, _ = dataset.exact(dataset.queries[3], METRIC, K, allowed=outside)
    s.upsert(ids=ids_of(dataset, victims), documents=documents(dataset, newcomers))
    assert _count(s) == len(idx)  # replaced, not added
    content = sorted((set(idx) - set(victims)) | set(newcomers))
    pk_of = {i: dataset.docs[i]["id"] for i in idx}
    pk_of.update({n: dataset.docs[v]["id"] for v, n in zip(victims, newcomers)})
    for qi in (2, 3):
        pairs = s.similarity_search_with_score(dataset.query_texts[qi], k=K)
        got = rows_of(dataset, [d for d, _ in pairs])
        dataset.check_topk(got, dataset.queries[qi], METRIC, allowed=content, got_scores=[x for _, x in pairs])
        for d, i in zip([d for d, _ in pairs], got):
            assert d.metadata["pk"] == pk_of[i], (d.metadata, pk_of[i])
    assert not set(rows_of(dataset, s.similarity_search(dataset.query_texts[2], k=K))) & set(victims)


def test_auto_id_store(server, dataset, name):
    """No ids: the store switches to an auto-id INT64 primary key (the one flow that needs no VARCHAR key)."""
    idx = list(range(2, dataset.n, 5))
    s = Milvus.from_texts([dataset.docs[i]["text"] for i in idx], LookupEmbeddings(dataset),
                          metadatas=[dataset.docs[i]["metadata"] for i in idx], collection_name=name,
                          connection_args=connection(server), drop_old=True)
    assert s.auto_id
    assert _count(s) == len(idx)
    for qi, text in enumerate(dataset.query_texts[:5]):
        pairs = s.similarity_search_with_score(text, k=K)
        dataset.check_topk(rows_of(dataset, [d for d, _ in pairs]), dataset.queries[qi], METRIC, allowed=idx,
                           got_scores=[x for _, x in pairs])
    pks = s.get_pks('source == "python-django-doc"')
    django = [i for i in idx if dataset.docs[i]["metadata"]["source"] == "python-django-doc"]
    assert len(pks) == len(django) and all(isinstance(p, int) for p in pks)
    assert s.delete(ids=pks) is True
    assert _count(s) == len(idx) - len(django)
    dataset.check_topk(rows_of(dataset, s.similarity_search(dataset.query_texts[0], k=K)), dataset.queries[0], METRIC,
                       allowed=sorted(set(idx) - set(django)))


def test_dynamic_field_cosine_store_async_writes(server, dataset, name):
    """The other common configuration: `enable_dynamic_field=True` (metadata in `$meta`, returned through the
    `$meta` output field) with a COSINE FLAT index, written and read through the async API (AsyncMilvusClient)."""
    metric = "COSINE"
    idx = list(range(3, dataset.n, 4))

    async def run():
        s = Milvus(LookupEmbeddings(dataset), collection_name=name, connection_args=connection(server), drop_old=True,
                   enable_dynamic_field=True, index_params={"index_type": "FLAT", "metric_type": metric})
        ids = await s.aadd_documents(documents(dataset, idx), ids=ids_of(dataset, idx))
        assert ids == ids_of(dataset, idx)
        plain = await s.asimilarity_search_with_score(dataset.query_texts[0], k=K)
        filtered = await s.asimilarity_search_with_score(dataset.query_texts[1], k=K,
                                                         expr='source == "python-sklearn-doc" and words >= 30')
        mmr = await s.amax_marginal_relevance_search(dataset.query_texts[2], k=4, fetch_k=12)
        gone = [d.metadata["pk"] for d, _ in plain[:3]]
        assert await s.adelete(ids=gone) is True
        after = await s.asimilarity_search(dataset.query_texts[0], k=K)
        return s, plain, filtered, mmr, gone, after

    s, plain, filtered, mmr, gone, after = asyncio.run(run())
    fields = {f["name"] for f in s.client.describe_collection(name)["fields"]}
    assert fields == {"pk", "text", "vector"}, fields  # metadata went to the dynamic field
    dataset.check_topk(rows_of(dataset, [d for d, _ in plain]), dataset.queries[0], metric, allowed=idx,
                       got_scores=[x for _, x in plain])
    allowed = [i for i in idx if dataset.docs[i]["metadata"]["source"] == "python-sklearn-doc"
               and dataset.docs[i]["metadata"]["words"] >= 30]
    assert allowed
    dataset.check_topk(rows_of(dataset, [d for d, _ in filtered]), dataset.queries[1], metric, allowed=allowed,
                       got_scores=[x for _, x in filtered])
    got = rows_of(dataset, mmr)
    cand, _ = dataset.exact(dataset.queries[2], metric, 12, allowed=idx)
    order = maximal_marginal_relevance(np.array(dataset.queries[2], dtype=np.float64),
                                       [dataset.base[i] for i in cand], k=4, lambda_mult=0.5)
    assert got == [cand[j] for j in order]
    remaining = [i for i in idx if dataset.docs[i]["id"] not in gone]
    assert len(remaining) == len(idx) - 3
    dataset.check_topk(rows_of(dataset, after), dataset.queries[0], metric, allowed=remaining)


def test_long_string_ids(server, dataset, name):
    """Ids past 511 bytes (a 700-byte shared prefix, then the page and row; up to a few KB of UTF-8): ingest, the ids
    coming back with search results, get, delete by ids and upsert, all by the framework's own calls."""
    idx = list(range(5, dataset.n, 6))
    prefix = "tenant/" + "ü" * 350 + "/"  # 707 bytes shared by every id
    long_ids = {i: f"{prefix}{dataset.docs[i]['metadata']['source']}:{dataset.docs[i]['metadata']['path']}"
                   f"#{dataset.docs[i]['metadata']['row']}" + "x" * (i % 7 * 300) for i in idx}
    assert min(len(v.encode()) for v in long_ids.values()) > 700 and max(len(v.encode()) for v in long_ids.values()) > 2500
    assert len(set(long_ids.values())) == len(idx)
    s = Milvus(LookupEmbeddings(dataset), collection_name=name, connection_args=connection(server), drop_old=True)
    assert s.add_documents(documents(dataset, idx), ids=[long_ids[i] for i in idx]) == [long_ids[i] for i in idx]
    assert _count(s) == len(idx)
    pairs = s.similarity_search_with_score(dataset.query_texts[0], k=K)
    got = rows_of(dataset, [d for d, _ in pairs])
    dataset.check_topk(got, dataset.queries[0], METRIC, allowed=idx, got_scores=[x for _, x in pairs])
    assert [d.metadata["pk"] for d, _ in pairs] == [long_ids[i] for i in got]
    fetched = s.client.get(name, ids=[long_ids[i] for i in got[:4]], output_fields=["row"])
    assert sorted(f["pk"] for f in fetched) == sorted(long_ids[i] for i in got[:4])
    # delete the top 5 by their ids, upsert the next 5 with other passages
    assert s.delete(ids=[long_ids[i] for i in got[:5]]) is True
    outside = [i for i in range(dataset.n) if i % 6 != 5]
    newcomers, _ = dataset.exact(dataset.queries[1], METRIC, 5, allowed=outside)
    s.upsert(ids=[long_ids[i] for i in got[5:10]], documents=documents(dataset, newcomers))
    assert _count(s) == len(idx) - 5
    content = sorted((set(idx) - set(got[:10])) | set(newcomers))
    pk_of = dict(long_ids)
    pk_of.update({n: long_ids[v] for v, n in zip(got[5:10], newcomers)})
    for qi in (0, 1):
        pairs = s.similarity_search_with_score(dataset.query_texts[qi], k=K)
        res = rows_of(dataset, [d for d, _ in pairs])
        dataset.check_topk(res, dataset.queries[qi], METRIC, allowed=content, got_scores=[x for _, x in pairs])
        assert [d.metadata["pk"] for d, _ in pairs] == [pk_of[i] for i in res]


# --- Full-text search: BM25BuiltInFunction ------------------------------------------------------------------------
# The store as langchain-milvus documents it for hybrid retrieval: `builtin_function=BM25BuiltInFunction()` with
# `vector_field=["dense", "sparse"]` (the text field gets enable_analyzer with the `standard` analyzer, `sparse` is
# the function's SPARSE_FLOAT_VECTOR output, indexed AUTOINDEX/BM25 next to the dense AUTOINDEX/L2), searched by
# `similarity_search*` with `ranker_type` "rrf" / "weighted" (one AnnSearchRequest per field, each with
# limit=fetch_k and the `expr`, then hybrid_search with limit=k), and a BM25-only store (`embedding=None`,
# `vector_field="sparse"`, plain text search). Every expectation comes from Tests/e2e_common/bm25_reference.py (the
# analyzer, Milvus' BM25 with k1=1.2, b=0.75 over the whole collection, RRF and the weighted ranker's
# normalization) and numpy's exact dense top-k.
#
# langchain-milvus 0.4.0 bug, not the server's: `_remove_forbidden_fields` (run by every search) extends
# `self._vector_field` in place with the BM25 output field, so the store's *default* ranker,
# WeightedRanker(*[1.0] * len(self._vector_field)), gets one weight more per search and the 2nd search on a store
# object is refused by Milvus too (weights vs requests). Explicit `ranker_type`/`ranker_params` are unaffected;
# the default ranker is tested on a store object's first search only.

#
# Milvus Lite 3.2.2 (E2E_TARGET=lite) differs from Milvus beyond the analyzer and k1 (conftest): its plain BM25
# search returns -score as the distance; it computes BM25 statistics over the filtered rows while they are in its
# memtable, so the Lite runs flush after inserting (Milvus and Vireo need no flush); it refuses the AUTOINDEX/BM25
# index langchain creates on the function's output (Milvus and Vireo accept it) and the `drop_ratio_build` that
# langchain then puts into the search params of a SPARSE_INVERTED_INDEX; and its filtered AUTOINDEX dense search is
# approximate. So the Lite runs name the indexes and search params (FLAT, SPARSE_INVERTED_INDEX; the same requests
# otherwise).
BM25_SIGN = -1.0 if LITE else 1.0
SPARSE_SEARCH = {"metric_type": "BM25", "params": {}}
_LITE_SPARSE_INDEX = {"metric_type": "BM25", "index_type": "SPARSE_INVERTED_INDEX", "params": {}}
HYBRID_INDEXES = {"index_params": [{"metric_type": "L2", "index_type": "FLAT", "params": {}}, _LITE_SPARSE_INDEX],
                  "search_params": [{"metric_type": "L2", "params": {}}, SPARSE_SEARCH]} if LITE else {}
BM25_INDEX = {"index_params": _LITE_SPARSE_INDEX, "search_params": SPARSE_SEARCH} if LITE else {}
FETCH_K = 20


def _settle(store):
    if LITE:
        store.client.flush(store.collection_name)


def _scored(dataset, pairs):
    """[(dataset index, score)] of (Document, score) results, checking metadata and the primary key came back
    and the vector fields did not."""
    got = rows_of(dataset, [d for d, _ in pairs])
    for (d, _), i in zip(pairs, got):
        assert d.metadata["pk"] == dataset.docs[i]["id"], d.metadata
        assert not {"dense", "sparse", "vector"} & set(d.metadata), sorted(d.metadata)
    return [(i, float(s)) for i, (_, s) in zip(got, pairs)]


def _hybrid_store(dataset, server, name, idx, **kw):
    s = Milvus.from_documents(documents(dataset, idx), LookupEmbeddings(dataset), ids=ids_of(dataset, idx),
                              builtin_function=BM25BuiltInFunction(**kw), vector_field=["dense", "sparse"],
                              collection_name=name, connection_args=connection(server), drop_old=True,
                              **HYBRID_INDEXES)
    _settle(s)
    return s


@pytest.fixture(scope="module")
def hybrid_store(dataset, server):
    """The whole sample, dense + BM25 (`enable_match=True`, so `text_match` filters work too)."""
    return _hybrid_store(dataset, server, "lc_hybrid", list(range(dataset.n)), enable_match=True)


@pytest.fixture(scope="module")
def bm25(dataset):
    return bm25_model(dataset, range(dataset.n))


def _true(v):
    return str(v).lower() == "true"


def test_bm25_hybrid_store_schema(hybrid_store, dataset):
    c, name = hybrid_store.client, "lc_hybrid"
    info = c.describe_collection(name)
    fields = {f["name"]: f for f in info["fields"]}
    assert set(fields) == {"pk", "text", "dense", "sparse", "source", "path", "row", "words"}, sorted(fields)
    assert _true(fields["text"]["params"].get("enable_analyzer")) and _true(fields["text"]["params"].get("enable_match"))
    assert fields["sparse"]["type"] == DataType.SPARSE_FLOAT_VECTOR and fields["sparse"].get("is_function_output")
    assert fields["dense"]["type"] == DataType.FLOAT_VECTOR and fields["dense"]["params"]["dim"] == dataset.dim
    (fn,) = info["functions"]
    assert fn["type"] == FunctionType.BM25
    assert list(fn["input_field_names"]) == ["text"] and list(fn["output_field_names"]) == ["sparse"]
    idx = {c.describe_index(name, n)["field_name"]: c.describe_index(name, n) for n in c.list_indexes(name)}
    assert idx["dense"]["metric_type"] == "L2" and idx["sparse"]["metric_type"] == "BM25", idx
    assert hybrid_store.search_params == [{"metric_type": "L2", "params": {}}, SPARSE_SEARCH]
    assert c.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == dataset.n


@pytest.mark.parametrize("rrf_k", [None, 20])
def test_hybrid_rrf_is_exact(hybrid_store, dataset, bm25, rrf_k):
    params = {} if rrf_k is None else {"ranker_params": {"k": rrf_k}}
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, FETCH_K):
        pairs = hybrid_store.similarity_search_with_score(dataset.query_texts[qi], k=K, fetch_k=FETCH_K,
                                                          ranker_type="rrf", **params)
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]], k=rrf_k or 60)
        ref.check_topk(_scored(dataset, pairs), want, K, rel=1e-5, what=f"rrf query {qi}")


def test_hybrid_default_fetch_k_limits_each_request(hybrid_store, dataset, bm25):
    """Without fetch_k langchain asks each field for 4 hits (its default), so k=10 returns the union of two top-4
    lists, fewer than 10 rows."""
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, 4)[:3]:
        pairs = hybrid_store.similarity_search_with_score(dataset.query_texts[qi], k=K, ranker_type="rrf")
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]])
        assert len(pairs) == len(want) < K
        ref.check_topk(_scored(dataset, pairs), want, K, rel=1e-5, what=f"rrf fetch_k=4 query {qi}")


@pytest.mark.parametrize("weights", [(0.7, 0.3), (0.2, 0.8)])
def test_hybrid_weighted_is_exact(hybrid_store, dataset, bm25, weights):
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, FETCH_K):
        pairs = hybrid_store.similarity_search_with_score(dataset.query_texts[qi], k=K, fetch_k=FETCH_K,
                                                          ranker_type="weighted",
                                                          ranker_params={"weights": list(weights)})
        want = ref.weighted([dense, bm], weights, [METRIC, "BM25"])
        ref.check_topk(_scored(dataset, pairs), want, K, rel=1e-4, what=f"weighted {weights} query {qi}")


def _text_match_pred(dataset, words):
    want = set(tokens(words))
    return lambda i: bool(want & set(tokens(dataset.docs[i]["text"])))


HYBRID_EXPRS = [
    ('source == "python-django-doc"', lambda d, i: d.docs[i]["metadata"]["source"] == "python-django-doc"),
    ('source in ["python-sklearn-doc", "python3.11-doc"] and words > 30',
     lambda d, i: d.docs[i]["metadata"]["source"] in ("python-sklearn-doc", "python3.11-doc")
     and d.docs[i]["metadata"]["words"] > 30),
    ("text_match(text, 'function object class')", lambda d, i: _text_match_pred(d, "function object class")(i)),
    ("text_match(text, 'database') and row < 30000",
     lambda d, i: _text_match_pred(d, "database")(i) and d.docs[i]["metadata"]["row"] < 30000),
]


@pytest.mark.parametrize("case", range(len(HYBRID_EXPRS)))
def test_hybrid_expr_filter_is_exact(hybrid_store, dataset, bm25, case):
    """`expr` goes into both AnnSearchRequests: each list is the exact top fetch_k among the rows it keeps (BM25
    statistics still over the whole collection), fused by RRF."""
    expr, pred = HYBRID_EXPRS[case]
    allowed = [i for i in range(dataset.n) if pred(dataset, i)]
    assert FETCH_K < len(allowed) < dataset.n, (expr, len(allowed))
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, FETCH_K, allowed=allowed, want=4):
        pairs = hybrid_store.similarity_search_with_score(dataset.query_texts[qi], k=K, fetch_k=FETCH_K,
                                                          ranker_type="rrf", expr=expr)
        got = _scored(dataset, pairs)
        assert {i for i, _ in got} <= set(allowed)
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]])
        ref.check_topk(got, want, K, rel=1e-5, what=f"{expr} query {qi}")


def test_hybrid_retriever_and_async(hybrid_store, dataset, bm25):
    cases = hybrid_cases(dataset, bm25, METRIC, FETCH_K, want=4)
    retriever = hybrid_store.as_retriever(search_kwargs={"k": K, "fetch_k": FETCH_K, "ranker_type": "rrf"})
    for qi, dense, bm in cases:
        got = rows_of(dataset, retriever.invoke(dataset.query_texts[qi]))
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]])
        # the retriever drops the scores: rank by the reference score of each returned row
        ref.check_topk([(i, want.get(i, -1.0)) for i in got], want, K, rel=1e-5, what=f"retriever query {qi}")

    async def run():
        weighted = [await hybrid_store.asimilarity_search_with_score(
            dataset.query_texts[qi], k=K, fetch_k=FETCH_K, ranker_type="weighted",
            ranker_params={"weights": [0.5, 0.5]}) for qi, _, _ in cases]
        # the async path sends no ranker at all when none is named (the sync one a WeightedRanker): Milvus fuses
        # with RRF(k=60) then
        plain = [await hybrid_store.asimilarity_search_with_score(dataset.query_texts[qi], k=K, fetch_k=FETCH_K)
                 for qi, _, _ in cases]
        return weighted, plain

    weighted, plain = asyncio.run(run())
    for (qi, dense, bm), pairs, pairs_rrf in zip(cases, weighted, plain):
        want = ref.weighted([dense, bm], (0.5, 0.5), [METRIC, "BM25"])
        ref.check_topk(_scored(dataset, pairs), want, K, rel=1e-4, what=f"async weighted query {qi}")
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]])
        ref.check_topk(_scored(dataset, pairs_rrf), want, K, rel=1e-5, what=f"async no-ranker query {qi}")


def test_reopened_hybrid_store_first_search_uses_the_default_ranker(hybrid_store, dataset, bm25, server):
    """A new store object on the existing collection: it finds both indexes; its default ranker (no ranker_type)
    is WeightedRanker(1.0, 1.0) on its first search (see the langchain-milvus bug above for later ones)."""
    s = Milvus(LookupEmbeddings(dataset), builtin_function=BM25BuiltInFunction(), vector_field=["dense", "sparse"],
               collection_name="lc_hybrid", connection_args=connection(server), **HYBRID_INDEXES)
    assert s.search_params == [{"metric_type": "L2", "params": {}}, SPARSE_SEARCH]
    qi, dense, bm = hybrid_cases(dataset, bm25, METRIC, FETCH_K)[0]
    pairs = s.similarity_search_with_score(dataset.query_texts[qi], k=K, fetch_k=FETCH_K)
    want = ref.weighted([dense, bm], (1.0, 1.0), [METRIC, "BM25"])
    ref.check_topk(_scored(dataset, pairs), want, K, rel=1e-4, what=f"default ranker query {qi}")


@pytest.mark.parametrize("params", [{"reranker": "rrf", "k": 60},
                                    {"reranker": "weighted", "weights": [0.7, 0.3], "norm_score": True}])
def test_hybrid_function_reranker_is_exact(hybrid_store, dataset, bm25, params):
    """langchain-milvus' non-deprecated way to fuse (ranker_type/ranker_params warn DeprecationWarning):
    `reranker=Function(FunctionType.RERANK, params={"reranker": "rrf", ...})`, which pymilvus sends as
    HybridSearchRequest.function_score (one FunctionSchema, type Rerank, no input fields, params as strings)
    instead of rank_params' strategy."""
    reranker = Function(name="fuse", input_field_names=[], function_type=FunctionType.RERANK, params=params)
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, FETCH_K, want=3):
        pairs = hybrid_store.similarity_search_with_score(dataset.query_texts[qi], k=K, fetch_k=FETCH_K,
                                                          reranker=reranker)
        if params["reranker"] == "rrf":
            want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]], k=params["k"])
        else:
            want = ref.weighted([dense, bm], params["weights"], [METRIC, "BM25"])
        ref.check_topk(_scored(dataset, pairs), want, K, rel=1e-4, what=f"{params} query {qi}")


@pytest.fixture(scope="module")
def bm25_store(dataset, server):
    """BM25 only: `embedding=None`, the function's output as the store's one vector field; every other passage."""
    idx = list(range(0, dataset.n, 2))
    s = Milvus.from_documents(documents(dataset, idx), None, ids=ids_of(dataset, idx),
                              builtin_function=BM25BuiltInFunction(), vector_field="sparse",
                              collection_name="lc_bm25", connection_args=connection(server), drop_old=True,
                              **BM25_INDEX)
    _settle(s)
    return s, idx


def test_bm25_only_store_text_search_is_exact(bm25_store, dataset):
    s, idx = bm25_store
    assert s.search_params == SPARSE_SEARCH
    fields = {f["name"] for f in s.client.describe_collection("lc_bm25")["fields"]}
    assert fields == {"pk", "text", "sparse", "source", "path", "row", "words"}, fields
    model = bm25_model(dataset, idx)   # statistics over the rows of this collection
    for qi, text in enumerate(dataset.query_texts):
        pairs = s.similarity_search_with_score(text, k=K)
        got = [(i, BM25_SIGN * sc) for i, sc in _scored(dataset, pairs)]
        assert {i for i, _ in got} <= set(idx)
        ref.check_topk(got, model.scores(text), K, rel=1e-4, what=f"bm25 query {qi}")


@pytest.mark.parametrize("expr,pred", [
    ('source == "python-sqlalchemy-doc"', lambda m: m["source"] == "python-sqlalchemy-doc"),
    ('words <= 40 or row >= 40000', lambda m: m["words"] <= 40 or m["row"] >= 40000),
])
def test_bm25_only_store_expr_and_retriever(bm25_store, dataset, expr, pred):
    s, idx = bm25_store
    model = bm25_model(dataset, idx)
    allowed = [i for i in idx if pred(dataset.docs[i]["metadata"])]
    assert K < len(allowed) < len(idx)
    retriever = s.as_retriever(search_kwargs={"k": K, "expr": expr})
    for qi, text in enumerate(dataset.query_texts[:8]):
        want = model.scores(text, allowed)
        pairs = s.similarity_search_with_score(text, k=K, expr=expr)
        ref.check_topk([(i, BM25_SIGN * sc) for i, sc in _scored(dataset, pairs)], want, K, rel=1e-4,
                       what=f"{expr} query {qi}")
        got = rows_of(dataset, retriever.invoke(text))
        ref.check_topk([(i, want.get(i, -1.0)) for i in got], want, K, rel=1e-4, what=f"retriever {expr} query {qi}")


def test_bm25_only_store_async(bm25_store, dataset):
    s, idx = bm25_store
    model = bm25_model(dataset, idx)

    async def run():
        return [await s.asimilarity_search_with_score(t, k=K) for t in dataset.query_texts[:6]]

    for qi, pairs in enumerate(asyncio.run(run())):
        ref.check_topk([(i, BM25_SIGN * sc) for i, sc in _scored(dataset, pairs)], model.scores(dataset.query_texts[qi]),
                       K, rel=1e-4, what=f"async bm25 query {qi}")
