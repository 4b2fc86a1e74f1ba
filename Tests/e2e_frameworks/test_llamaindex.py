"""LlamaIndex's `MilvusVectorStore` (llama-index-vector-stores-milvus 1.2.0 over pymilvus 2.6.x) driven through a
RAG flow against `vireo serve`, every result checked against numpy. Runs in .venv-llamaindex
(requirements-llamaindex.txt).

The store's defaults are what is tested: a FLAT index with metric IP (`similarity_metric="IP"`,
`_add_dense_index_params`), so the oracle is the dot product; a VARCHAR primary key `id` (max_length 65,535), a
VARCHAR `doc_id`, a dynamic field holding the node metadata and its JSON (`_node_content`). Full-text search (the
section at the end): `enable_sparse=True` with `BM25BuiltInFunction()`, hybrid / text_search / sparse query modes
and a BM25-only store, checked against Tests/e2e_common/bm25_reference.py and numpy.
"""
import asyncio

import numpy as np
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.llms.mock import MockLLM
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (FilterCondition, FilterOperator, MetadataFilter, MetadataFilters,
                                                 VectorStoreQuery, VectorStoreQueryMode)
from llama_index.vector_stores.milvus import MilvusVectorStore
from llama_index.vector_stores.milvus.utils import BM25BuiltInFunction
from pydantic import PrivateAttr
from pymilvus import DataType, FunctionType

import bm25_reference as ref  # Tests/e2e_common, on sys.path through conftest
from conftest import K, LITE, TIE, bm25_model, hybrid_cases, tokens

METRIC = "IP"  # MilvusVectorStore's default: similarity_metric="IP", index_type "FLAT"
DIM = 384


class LookupEmbedding(BaseEmbedding):
    """The dataset's precomputed all-MiniLM-L6-v2 vectors: passages for texts, queries (or passages) for queries.
    Any other text raises."""

    _dataset: object = PrivateAttr()

    def __init__(self, dataset, **kwargs):
        super().__init__(model_name="dev-dataset-lookup", embed_batch_size=500, **kwargs)
        self._dataset = dataset

    def _get_query_embedding(self, query):
        return self._dataset.query_vector(query)

    async def _aget_query_embedding(self, query):
        return self._dataset.query_vector(query)

    def _get_text_embedding(self, text):
        return self._dataset.passage_vector(text)


def ref_doc_of(dataset, i):
    """The document a passage was chunked from (its HTML page): the nodes' SOURCE relationship."""
    m = dataset.docs[i]["metadata"]
    return f"{m['source']}:{m['path']}"


def nodes(dataset, idx):
    out = []
    for i in idx:
        d = dataset.docs[i]
        n = TextNode(id_=d["id"], text=d["text"], metadata=dict(d["metadata"]),
                     relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=ref_doc_of(dataset, i))})
        # embed the passage text alone (the lookup embedder knows only the passages), as a metadata-free embed would
        n.excluded_embed_metadata_keys = list(d["metadata"])
        out.append(n)
    return out


def rows_of(dataset, results):
    """Dataset indexes of retrieved NodeWithScore (by node id), checking text, metadata and ref doc came back."""
    out = []
    for r in results:
        i = dataset.index_of_id[r.node.node_id]
        assert r.node.get_content() == dataset.docs[i]["text"]
        assert r.node.metadata["row"] == dataset.docs[i]["metadata"]["row"]
        assert r.node.metadata["source"] == dataset.docs[i]["metadata"]["source"]
        assert r.node.ref_doc_id == ref_doc_of(dataset, i)
        out.append(i)
    return out


def open_store(server, name, **kw):
    return MilvusVectorStore(uri=server.uri, collection_name=name, dim=DIM, **kw)


@pytest.fixture(scope="module")
def index(dataset, server):
    """The whole sample as TextNodes through VectorStoreIndex (embedded by the lookup embedder) into a new
    collection (`overwrite=True`)."""
    store = open_store(server, "li_rag", overwrite=True)
    ctx = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex(nodes(dataset, range(dataset.n)), storage_context=ctx,
                            embed_model=LookupEmbedding(dataset), insert_batch_size=1000)


def _count(store):
    return store.client.query(store.collection_name, filter="", output_fields=["count(*)"])[0]["count(*)"]


def test_overwrite_creates_the_collection_llamaindex_expects(index, dataset, server):
    store = index.vector_store
    c = store.client
    info = c.describe_collection("li_rag")
    fields = {f["name"]: f for f in info["fields"]}
    assert set(fields) == {"id", "doc_id", "text", "embedding"}, sorted(fields)
    assert fields["id"].get("is_primary") is True
    assert fields["id"]["params"].get("max_length") == 65535
    assert info.get("enable_dynamic_field") is True
    idx = c.describe_index("li_rag", "embedding")
    assert idx["metric_type"] == METRIC and idx["index_type"] == "FLAT", idx
    assert _count(store) == dataset.n
    # overwrite=True drops what was there
    again = open_store(server, "li_overwrite", overwrite=True)
    again.add([_embedded(dataset, n) for n in nodes(dataset, range(5))])
    assert _count(again) == 5
    again = open_store(server, "li_overwrite", overwrite=True)
    assert _count(again) == 0


def _embedded(dataset, node):
    node.embedding = dataset.passage_vector(node.text)
    return node


def test_retriever_top10_is_exact(index, dataset):
    retriever = index.as_retriever(similarity_top_k=K)
    for qi, text in enumerate(dataset.query_texts):
        res = retriever.retrieve(text)
        dataset.check_topk(rows_of(dataset, res), dataset.queries[qi], METRIC, got_scores=[r.score for r in res])


def test_precomputed_embeddings_through_the_store(dataset, server, name):
    """Nodes that carry their embeddings, added with `store.add`, queried with a VectorStoreQuery."""
    from llama_index.core.vector_stores.types import VectorStoreQuery
    idx = list(range(0, dataset.n, 4))
    store = open_store(server, name, overwrite=True)
    assert store.add([_embedded(dataset, n) for n in nodes(dataset, idx)]) == [dataset.docs[i]["id"] for i in idx]
    for qi in range(5):
        res = store.query(VectorStoreQuery(query_embedding=[float(x) for x in dataset.queries[qi]],
                                           similarity_top_k=K))
        got = [dataset.index_of_id[i] for i in res.ids]
        assert [n.node_id for n in res.nodes] == res.ids
        dataset.check_topk(got, dataset.queries[qi], METRIC, allowed=idx, got_scores=res.similarities)


FILTERS = [
    (MetadataFilters(filters=[MetadataFilter(key="source", value="python-django-doc")]),
     lambda m: m["source"] == "python-django-doc"),
    (MetadataFilters(filters=[MetadataFilter(key="source", operator=FilterOperator.IN,
                                             value=["python-sklearn-doc", "python-flask-doc"]),
                              MetadataFilter(key="words", operator=FilterOperator.GT, value=30)]),
     lambda m: m["source"] in ("python-sklearn-doc", "python-flask-doc") and m["words"] > 30),
    (MetadataFilters(filters=[MetadataFilter(key="row", operator=FilterOperator.LT, value=5000),
                              MetadataFilter(key="row", operator=FilterOperator.GTE, value=45000)],
                     condition=FilterCondition.OR),
     lambda m: m["row"] < 5000 or m["row"] >= 45000),
    (MetadataFilters(filters=[MetadataFilter(key="source", operator=FilterOperator.NE, value="python3.11-doc"),
                              MetadataFilter(key="words", operator=FilterOperator.LTE, value=25)]),
     lambda m: m["source"] != "python3.11-doc" and m["words"] <= 25),
]


@pytest.mark.parametrize("case", range(len(FILTERS)))
def test_metadata_filters_are_exact(index, dataset, case):
    filters, pred = FILTERS[case]
    allowed = dataset.where(pred)
    assert 0 < len(allowed) < dataset.n
    retriever = index.as_retriever(similarity_top_k=K, filters=filters)
    for qi, text in enumerate(dataset.query_texts[:8]):
        res = retriever.retrieve(text)
        dataset.check_topk(rows_of(dataset, res), dataset.queries[qi], METRIC, allowed=allowed,
                           got_scores=[r.score for r in res])


def test_mmr_retriever(index, dataset):
    k, prefetch = 5, 20
    retriever = index.as_retriever(similarity_top_k=k, vector_store_query_mode="mmr",
                                   vector_store_kwargs={"mmr_prefetch_k": prefetch})
    for qi, text in enumerate(dataset.query_texts[:8]):
        got = rows_of(dataset, retriever.retrieve(text))
        q = dataset.queries[qi]
        cand, cand_scores = dataset.exact(q, METRIC, prefetch)
        assert len(got) == k and len(set(got)) == k
        s = dataset.scores(q, METRIC, got)
        assert all(i in cand or si >= cand_scores[-1] - TIE for i, si in zip(got, s)), (got, cand)
        if not dataset._boundary_tie(q, METRIC, cand_scores[-1], None):
            _, want = get_top_k_mmr_embeddings(query_embedding=[float(x) for x in q],
                                               embeddings=[[float(x) for x in dataset.base[i]] for i in cand],
                                               similarity_top_k=k, embedding_ids=cand)
            assert got == list(want), ([dataset.rows[i] for i in got], [dataset.rows[i] for i in want])


def test_query_engine_rag_flow(index, dataset):
    """retrieve -> synthesize with an LLM stand-in (MockLLM echoes nothing useful; the sources are the point)."""
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=K)
    for qi in (0, 7):
        response = engine.query(dataset.query_texts[qi])
        dataset.check_topk(rows_of(dataset, response.source_nodes), dataset.queries[qi], METRIC,
                           got_scores=[r.score for r in response.source_nodes])


def test_async_retrieve(index, dataset):
    retriever = index.as_retriever(similarity_top_k=K)

    async def run():
        return [await retriever.aretrieve(t) for t in dataset.query_texts[:6]]

    for qi, res in enumerate(asyncio.run(run())):
        dataset.check_topk(rows_of(dataset, res), dataset.queries[qi], METRIC, got_scores=[r.score for r in res])


def test_reopen_sees_the_data(index, dataset, server):
    """A new store object on the existing collection (overwrite=False) and an index over it."""
    store = open_store(server, "li_rag")
    assert _count(store) == dataset.n
    reopened = VectorStoreIndex.from_vector_store(store, embed_model=LookupEmbedding(dataset))
    retriever = reopened.as_retriever(similarity_top_k=K)
    for qi, text in enumerate(dataset.query_texts[:5]):
        res = retriever.retrieve(text)
        dataset.check_topk(rows_of(dataset, res), dataset.queries[qi], METRIC, got_scores=[r.score for r in res])


def test_delete_by_ref_doc_id(dataset, server, name):
    idx = list(range(1, dataset.n, 2))
    store = open_store(server, name, overwrite=True)
    index = VectorStoreIndex(nodes(dataset, idx), storage_context=StorageContext.from_defaults(vector_store=store),
                             embed_model=LookupEmbedding(dataset))
    assert _count(store) == len(idx)
    # the pages (ref docs) of query 0's exact top 10: every passage of those pages goes
    top, _ = dataset.exact(dataset.queries[0], METRIC, K, allowed=idx)
    pages = sorted({ref_doc_of(dataset, i) for i in top})
    gone = [i for i in idx if ref_doc_of(dataset, i) in pages]
    assert len(gone) >= len(top)
    for page in pages:
        index.delete_ref_doc(page, delete_from_docstore=True)
    assert _count(store) == len(idx) - len(gone)
    remaining = sorted(set(idx) - set(gone))
    retriever = index.as_retriever(similarity_top_k=K)
    for qi, text in enumerate(dataset.query_texts[:5]):
        got = rows_of(dataset, retriever.retrieve(text))
        assert not set(got) & set(gone)
        dataset.check_topk(got, dataset.queries[qi], METRIC, allowed=remaining)
    # delete_nodes by node id
    more = remaining[:40]
    store.delete_nodes(node_ids=[dataset.docs[i]["id"] for i in more])
    remaining = remaining[40:]
    assert _count(store) == len(remaining)
    dataset.check_topk(rows_of(dataset, retriever.retrieve(dataset.query_texts[1])), dataset.queries[1], METRIC,
                       allowed=remaining)


def test_upsert_mode_replaces_nodes(dataset, server, name):
    idx = list(range(2, dataset.n, 3))
    store = open_store(server, name, overwrite=True, upsert_mode=True)
    store.add([_embedded(dataset, n) for n in nodes(dataset, idx)])
    # query 2's exact top 10 keep their node ids but get 10 other passages' text and vectors
    victims, _ = dataset.exact(dataset.queries[2], METRIC, K, allowed=idx)
    outside = [i for i in range(dataset.n) if i % 3 != 2]
    newcomers, _ = dataset.exact(dataset.queries[3], METRIC, K, allowed=outside)
    replaced = []
    for v, n in zip(victims, newcomers):
        node = _embedded(dataset, nodes(dataset, [n])[0])
        node.id_ = dataset.docs[v]["id"]
        replaced.append(node)
    store.add(replaced)
    assert _count(store) == len(idx)
    content = sorted((set(idx) - set(victims)) | set(newcomers))
    index = VectorStoreIndex.from_vector_store(store, embed_model=LookupEmbedding(dataset))
    id_of = {i: dataset.docs[i]["id"] for i in idx}
    id_of.update({n: dataset.docs[v]["id"] for v, n in zip(victims, newcomers)})
    for qi in (2, 3):
        res = index.as_retriever(similarity_top_k=K).retrieve(dataset.query_texts[qi])
        got = [dataset.index_of_text[r.node.get_content()] for r in res]
        dataset.check_topk(got, dataset.queries[qi], METRIC, allowed=content, got_scores=[r.score for r in res])
        assert [r.node.node_id for r in res] == [id_of[i] for i in got]


def test_get_nodes_filtered_delete_and_clear(dataset, server, name):
    idx = list(range(0, dataset.n, 5))
    store = open_store(server, name, overwrite=True)
    store.add([_embedded(dataset, n) for n in nodes(dataset, idx)])
    some = idx[3:10]
    got = store.get_nodes(node_ids=[dataset.docs[i]["id"] for i in some])
    assert sorted(n.node_id for n in got) == sorted(dataset.docs[i]["id"] for i in some)
    for n in got:
        i = dataset.index_of_id[n.node_id]
        assert n.get_content() == dataset.docs[i]["text"] and n.metadata["row"] == dataset.docs[i]["metadata"]["row"]
        # the stored vector comes back as inserted, bit for bit
        assert np.array_equal(np.asarray(n.embedding, dtype=np.float32).view(np.uint32), dataset.base[i].view(np.uint32))
    flask = MetadataFilters(filters=[MetadataFilter(key="source", value="python-flask-doc")])
    want = [i for i in idx if dataset.docs[i]["metadata"]["source"] == "python-flask-doc"]
    assert want
    assert sorted(n.node_id for n in store.get_nodes(filters=flask)) == sorted(dataset.docs[i]["id"] for i in want)
    store.delete_nodes(filters=flask)
    assert _count(store) == len(idx) - len(want)
    assert store.get_nodes(filters=flask) == []
    remaining = sorted(set(idx) - set(want))
    index = VectorStoreIndex.from_vector_store(store, embed_model=LookupEmbedding(dataset))
    res = index.as_retriever(similarity_top_k=K).retrieve(dataset.query_texts[4])
    dataset.check_topk(rows_of(dataset, res), dataset.queries[4], METRIC, allowed=remaining,
                       got_scores=[r.score for r in res])
    store.clear()
    assert name not in store.client.list_collections()


# --- Full-text search: BM25BuiltInFunction ------------------------------------------------------------------------
# MilvusVectorStore(enable_sparse=True, sparse_embedding_function=BM25BuiltInFunction()) as its docs show: the text
# field gets enable_analyzer (`standard`), `sparse_embedding` is the function's output with a SPARSE_INVERTED_INDEX /
# BM25 next to the dense FLAT / IP, and the store answers three query modes:
#   * hybrid: hybrid_search over [dense (IP, limit=similarity_top_k), sparse (BM25 on the query text, same limit)],
#     both with the filters, fused by RRFRanker(60) (default) or WeightedRanker(hybrid_ranker_params["weights"]);
#   * text_search and sparse: a plain search on the sparse field with the query text and search params
#     {"params": {"drop_ratio_search": 0.2}} (fixed by the store).
# drop_ratio_search=0.2 makes the BM25 search approximate for queries of 5 or more distinct terms (Milvus drops the
# query terms whose weight is below the 20th percentile), so the text-search tests use keyword queries of at most
# 3 distinct terms (the 3 longest of a dataset query), where nothing is dropped and the result is exact BM25.
# Expectations: Tests/e2e_common/bm25_reference.py (analyzer, BM25 over the whole collection, RRF, weighted
# normalization) and numpy's exact dense top-k.
# Milvus Lite 3.2.2 (E2E_TARGET=lite) refuses drop_ratio_search != 0, so the text-search tests run against Vireo
# only; the Lite runs flush after inserting (see conftest for its other differences).

LITE_SKIP_TEXT_SEARCH = pytest.mark.skipif(LITE, reason="Milvus Lite 3.2.2 refuses drop_ratio_search=0.2, which "
                                                        "the store always sends for text_search/sparse")


def _settle(store):
    if LITE:
        store.client.flush(store.collection_name)


@pytest.fixture(scope="module")
def hybrid_index(dataset, server):
    """The whole sample as TextNodes into a dense + BM25 collection (`enable_match=True` too)."""
    store = open_store(server, "li_hybrid", overwrite=True, enable_sparse=True,
                       sparse_embedding_function=BM25BuiltInFunction(enable_match=True))
    index = VectorStoreIndex(nodes(dataset, range(dataset.n)), storage_context=StorageContext.from_defaults(
        vector_store=store), embed_model=LookupEmbedding(dataset), insert_batch_size=1000)
    _settle(store)
    return index


@pytest.fixture(scope="module")
def bm25(dataset):
    return bm25_model(dataset, range(dataset.n))


def _scored(dataset, results):
    return [(i, float(r.score)) for i, r in zip(rows_of(dataset, results), results)]


def _true(v):
    return str(v).lower() == "true"


def keywords(model, text, n=3):
    """A keyword query from a dataset query: its n longest distinct tokens that occur in the collection."""
    toks = [t for t in dict.fromkeys(tokens(text)) if model.df.get(t)]
    return " ".join(sorted(toks, key=lambda t: (-len(t), toks.index(t)))[:n])


def test_bm25_hybrid_store_schema(hybrid_index, dataset):
    c, name = hybrid_index.vector_store.client, "li_hybrid"
    info = c.describe_collection(name)
    fields = {f["name"]: f for f in info["fields"]}
    assert set(fields) == {"id", "doc_id", "text", "embedding", "sparse_embedding"}, sorted(fields)
    assert _true(fields["text"]["params"].get("enable_analyzer")) and _true(fields["text"]["params"].get("enable_match"))
    assert fields["sparse_embedding"]["type"] == DataType.SPARSE_FLOAT_VECTOR
    assert fields["sparse_embedding"].get("is_function_output")
    (fn,) = info["functions"]
    assert fn["type"] == FunctionType.BM25
    assert list(fn["input_field_names"]) == ["text"] and list(fn["output_field_names"]) == ["sparse_embedding"]
    idx = c.describe_index(name, "sparse_embedding")
    assert idx["metric_type"] == "BM25" and idx["index_type"] == "SPARSE_INVERTED_INDEX", idx
    assert c.describe_index(name, "embedding")["metric_type"] == METRIC
    assert _count(hybrid_index.vector_store) == dataset.n
    # the function's output is never returned, not even by "*" (Milvus Lite 3.2.2 returns it)
    row = c.query(name, filter='id == "passage-0"', output_fields=["*"])[0]
    assert row["text"] == dataset.docs[0]["text"]
    assert LITE or "sparse_embedding" not in row, sorted(row)


def test_hybrid_rrf_retriever_is_exact(hybrid_index, dataset, bm25):
    retriever = hybrid_index.as_retriever(similarity_top_k=K, vector_store_query_mode="hybrid")
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, K, want=8):
        res = retriever.retrieve(dataset.query_texts[qi])
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]], k=60)
        ref.check_topk(_scored(dataset, res), want, K, rel=1e-5, what=f"rrf query {qi}")


@pytest.mark.parametrize("weights", [(0.3, 0.7), (0.8, 0.2)])
def test_hybrid_weighted_ranker_is_exact(hybrid_index, dataset, bm25, server, weights):
    """A second store object on the same collection configured with hybrid_ranker="WeightedRanker"."""
    store = open_store(server, "li_hybrid", enable_sparse=True, sparse_embedding_function=BM25BuiltInFunction(),
                       hybrid_ranker="WeightedRanker", hybrid_ranker_params={"weights": list(weights)})
    retriever = VectorStoreIndex.from_vector_store(store, embed_model=LookupEmbedding(dataset)).as_retriever(
        similarity_top_k=K, vector_store_query_mode="hybrid")
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, K):
        res = retriever.retrieve(dataset.query_texts[qi])
        want = ref.weighted([dense, bm], weights, [METRIC, "BM25"])
        ref.check_topk(_scored(dataset, res), want, K, rel=1e-4, what=f"weighted {weights} query {qi}")


HYBRID_FILTERS = [FILTERS[0], FILTERS[2]]


@pytest.mark.parametrize("case", range(len(HYBRID_FILTERS) + 1))
def test_hybrid_with_filters_is_exact(hybrid_index, dataset, bm25, case):
    """MetadataFilters (or a `string_expr` with text_match, through vector_store_kwargs) filter both requests; the
    BM25 statistics stay the whole collection's."""
    if case < len(HYBRID_FILTERS):
        filters, pred = HYBRID_FILTERS[case]
        allowed = dataset.where(pred)
        retriever = hybrid_index.as_retriever(similarity_top_k=K, vector_store_query_mode="hybrid", filters=filters)
    else:
        words = set(tokens("socket thread"))
        allowed = [i for i in range(dataset.n) if words & set(tokens(dataset.docs[i]["text"]))]
        retriever = hybrid_index.as_retriever(similarity_top_k=K, vector_store_query_mode="hybrid",
                                              vector_store_kwargs={"string_expr": "text_match(text, 'socket thread')"})
    assert K < len(allowed) < dataset.n
    for qi, dense, bm in hybrid_cases(dataset, bm25, METRIC, K, allowed=allowed, want=4):
        got = _scored(dataset, retriever.retrieve(dataset.query_texts[qi]))
        assert {i for i, _ in got} <= set(allowed)
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]])
        ref.check_topk(got, want, K, rel=1e-5, what=f"filter case {case} query {qi}")


def test_hybrid_async_and_query_engine(hybrid_index, dataset, bm25):
    cases = hybrid_cases(dataset, bm25, METRIC, K, want=4)
    retriever = hybrid_index.as_retriever(similarity_top_k=K, vector_store_query_mode="hybrid")

    async def run():
        return [await retriever.aretrieve(dataset.query_texts[qi]) for qi, _, _ in cases]

    engine = hybrid_index.as_query_engine(llm=MockLLM(), similarity_top_k=K, vector_store_query_mode="hybrid")
    for (qi, dense, bm), res in zip(cases, asyncio.run(run())):
        want = ref.rrf([[i for i, _ in dense], [i for i, _ in bm]])
        ref.check_topk(_scored(dataset, res), want, K, rel=1e-5, what=f"async rrf query {qi}")
        sources = engine.query(dataset.query_texts[qi]).source_nodes
        ref.check_topk(_scored(dataset, sources), want, K, rel=1e-5, what=f"query engine query {qi}")


@LITE_SKIP_TEXT_SEARCH
@pytest.mark.parametrize("mode", [VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE])
def test_text_search_keywords_is_exact(hybrid_index, dataset, bm25, mode):
    """text_search / sparse mode on the hybrid store through store.query (the query text is all it needs)."""
    store = hybrid_index.vector_store
    for qi, text in enumerate(dataset.query_texts):
        kw = keywords(bm25, text)
        res = store.query(VectorStoreQuery(query_str=kw, similarity_top_k=K, mode=mode))
        got = [(dataset.index_of_id[i], s) for i, s in zip(res.ids, res.similarities)]
        assert [n.node_id for n in res.nodes] == res.ids
        ref.check_topk(got, bm25.scores(kw), K, rel=1e-4, what=f"{mode.value} {kw!r}")


@LITE_SKIP_TEXT_SEARCH
@pytest.mark.parametrize("case", range(3))
def test_text_search_with_filters_and_async(hybrid_index, dataset, bm25, server, case):
    # a store object of its own: its AsyncMilvusClient binds to the event loop of its first call (asyncio.run)
    store = open_store(server, "li_hybrid", enable_sparse=True, sparse_embedding_function=BM25BuiltInFunction())
    kwargs = {}
    if case < 2:
        filters, pred = [FILTERS[1], FILTERS[3]][case]
        allowed = dataset.where(pred)
    else:
        filters = None
        allowed = [i for i in range(dataset.n) if "class" in tokens(dataset.docs[i]["text"])]
        kwargs = {"string_expr": "text_match(text, 'class')"}
    assert K < len(allowed) < dataset.n

    async def run(kws):
        return [await store.aquery(VectorStoreQuery(query_str=kw, similarity_top_k=K, filters=filters,
                                                    mode=VectorStoreQueryMode.TEXT_SEARCH), **kwargs) for kw in kws]

    kws = [keywords(bm25, t) for t in dataset.query_texts[:8]]
    for kw, ares in zip(kws, asyncio.run(run(kws))):
        res = store.query(VectorStoreQuery(query_str=kw, similarity_top_k=K, filters=filters,
                                           mode=VectorStoreQueryMode.TEXT_SEARCH), **kwargs)
        want = bm25.scores(kw, allowed)
        for r in (res, ares):
            got = [(dataset.index_of_id[i], s) for i, s in zip(r.ids, r.similarities)]
            assert {i for i, _ in got} <= set(allowed)
            ref.check_topk(got, want, K, rel=1e-4, what=f"text_search case {case} {kw!r}")


@LITE_SKIP_TEXT_SEARCH
def test_bm25_only_store(dataset, server, name):
    """enable_dense=False: no dense field at all, nodes through VectorStoreIndex with a stand-in embedder (what
    LlamaIndex resolves `embed_model=None` to), retrieved in text_search mode, BM25 statistics over this
    collection's rows."""
    idx = list(range(1, dataset.n, 2))
    store = open_store(server, name, overwrite=True, enable_dense=False, enable_sparse=True,
                       sparse_embedding_function=BM25BuiltInFunction())
    fields = {f["name"] for f in store.client.describe_collection(name)["fields"]}
    assert fields == {"id", "doc_id", "text", "sparse_embedding"}, fields
    index = VectorStoreIndex(nodes(dataset, idx), storage_context=StorageContext.from_defaults(vector_store=store),
                             embed_model=MockEmbedding(embed_dim=1))
    _settle(store)
    assert _count(store) == len(idx)
    model = bm25_model(dataset, idx)
    retriever = index.as_retriever(similarity_top_k=K, vector_store_query_mode="text_search")
    flask = FILTERS[0]
    filtered = index.as_retriever(similarity_top_k=K, vector_store_query_mode="text_search", filters=flask[0])
    allowed = [i for i in idx if flask[1](dataset.docs[i]["metadata"])]
    for text in dataset.query_texts:
        kw = keywords(model, text)
        ref.check_topk(_scored(dataset, retriever.retrieve(kw)), model.scores(kw), K, rel=1e-4, what=repr(kw))
        got = _scored(dataset, filtered.retrieve(kw))
        assert {i for i, _ in got} <= set(allowed)
        ref.check_topk(got, model.scores(kw, allowed), K, rel=1e-4, what=f"filtered {kw!r}")
