"""RAG frameworks against `vireo serve`: LangChain's `Milvus` vector store (langchain-milvus 0.4.0, pymilvus 3.x)
and LlamaIndex's `MilvusVectorStore` (llama-index-vector-stores-milvus 1.2.0, pymilvus 2.6.x), each module in its
own venv (requirements-langchain.txt, requirements-llamaindex.txt beside this file):

    VIREO_BIN=.build/release/vireo .venv-langchain/bin/python -m pytest Tests/e2e_frameworks/test_langchain.py
    VIREO_BIN=.build/release/vireo .venv-llamaindex/bin/python -m pytest Tests/e2e_frameworks/test_llamaindex.py

No embedding model: the frameworks' embedders are lookup tables from a passage or query text of
../shared/data/dev to its precomputed 384-d vector (all-MiniLM-L6-v2), and they fail on any other text. The server
and the vector stores are the things under test; every expected result is numpy over the same float32 vectors
with the metric the store configured.

E2E_TARGET=lite runs both modules against Milvus Lite (milvus-lite is a dependency of both stacks, pinned in the
requirements files) instead of `vireo serve`: the same flows against Milvus itself, so the suite is known to be right.

This file imports neither framework: both modules share it.
"""
import json
import os
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests/e2e_common"))
from vireo_server import VireoServer  # noqa: E402,F401  (the suites import it from here)
import bm25_reference as ref  # noqa: E402
DATA = pathlib.Path(os.environ.get("VIREO_DATASET", ROOT / "../shared/data/dev")).resolve()
# Every STRIDE-th passage of the 50,000 (all 16 documentation sources, not only the first one), N_ROWS of them.
STRIDE = int(os.environ.get("VIREO_FW_STRIDE", "16"))
N_ROWS = int(os.environ.get("VIREO_FW_ROWS", "3000"))
TARGET = os.environ.get("E2E_TARGET", "vireo")
assert TARGET in ("vireo", "lite"), f"E2E_TARGET must be vireo or lite, not {TARGET!r}"
N_QUERIES = int(os.environ.get("VIREO_FW_QUERIES", "20"))
K = 10
# Scores are float32 sums on the server and float64 here: two ranks whose exact scores differ by less than this
# may come back in either order.
TIE = 1e-5


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(np.float32)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


class Dataset:
    """The sampled passages with metadata, their vectors, the queries, and the numpy oracle."""

    def __init__(self):
        base = read_fvecs(DATA / "base.fvecs")
        passages = read_jsonl(DATA / "passages.jsonl")
        assert len(passages) == base.shape[0], "passages.jsonl and base.fvecs disagree"
        rows = list(range(0, len(passages), STRIDE))[:N_ROWS]
        self.rows = rows                                   # row numbers in the dataset
        self.base = base[rows]                             # float32 (n, 384), same order as self.docs
        self.dim = self.base.shape[1]
        self.docs = []
        for r in rows:
            p = passages[r]
            package, _, path = p["source"].partition(":")
            self.docs.append({
                "id": f"passage-{r}",                      # the string primary key the stores are given
                "text": p["text"],
                "metadata": {"source": package, "path": path, "row": r, "words": len(p["text"].split())},
            })
        self.n = len(self.docs)
        queries = read_jsonl(DATA / "queries.jsonl")
        qvecs = read_fvecs(DATA / "query.fvecs")
        assert len(queries) == qvecs.shape[0]
        self.query_texts = [q["text"] for q in queries[:N_QUERIES]]
        self.queries = qvecs[:N_QUERIES]
        # The embedders' lookup tables: text -> vector. Passage texts and query texts are unique in the dataset.
        self.passage_vectors = {d["text"]: self.base[i] for i, d in enumerate(self.docs)}
        self.query_vectors = {t: self.queries[i] for i, t in enumerate(self.query_texts)}
        assert len(self.passage_vectors) == self.n and len(self.query_vectors) == len(self.query_texts)
        self.index_of_id = {d["id"]: i for i, d in enumerate(self.docs)}
        self.index_of_text = {d["text"]: i for i, d in enumerate(self.docs)}

    # --- the embedders' lookups ---------------------------------------------------------------------------

    def passage_vector(self, text):
        v = self.passage_vectors.get(text)
        if v is None:
            raise KeyError(f"not a passage of the dataset sample (the lookup embedder knows no other text): {text[:80]!r}")
        return [float(x) for x in v]

    def query_vector(self, text):
        v = self.query_vectors.get(text)
        if v is None:
            v = self.passage_vectors.get(text)  # a passage text used as a query embeds to its own vector
        if v is None:
            raise KeyError(f"not a query or passage of the dataset sample: {text[:80]!r}")
        return [float(x) for x in v]

    # --- the oracle ---------------------------------------------------------------------------------------

    def scores(self, q, metric, idx=None):
        """What Milvus returns as `distance` for every row (or the rows idx) against q: squared L2, dot product or
        cosine similarity, in float64 over the float32 vectors."""
        b = self.base if idx is None else self.base[np.asarray(idx, dtype=np.int64)]
        b, q = b.astype(np.float64), np.asarray(q, dtype=np.float64)
        if metric == "L2":
            return ((b - q) ** 2).sum(axis=1)
        if metric == "IP":
            return b @ q
        if metric == "COSINE":
            return (b @ q) / (np.linalg.norm(b, axis=1) * np.linalg.norm(q))
        raise ValueError(metric)

    def exact(self, q, metric, k=K, allowed=None):
        """numpy brute force: (indexes into self.docs, scores), best first, over all rows or the `allowed` ones."""
        idx = np.arange(self.n) if allowed is None else np.asarray(sorted(allowed), dtype=np.int64)
        s = self.scores(q, metric, idx)
        order = np.argsort(s if metric == "L2" else -s, kind="stable")[:k]
        return [int(idx[i]) for i in order], [float(s[i]) for i in order]

    def check_topk(self, got, q, metric, k=K, allowed=None, got_scores=None):
        """`got` (indexes into self.docs, best first) is an exact top-k of q among `allowed` (all rows when None):
        k distinct rows, all allowed, each scoring at least as well as the exact k-th (within TIE), in rank order
        (within TIE), the same set as numpy's when no tie straddles the k-th rank; and the server's scores, when
        given, equal numpy's for those rows."""
        want, want_scores = self.exact(q, metric, k, allowed)
        assert len(got) == min(k, len(want)), f"got {len(got)} results, want {min(k, len(want))}"
        assert len(set(got)) == len(got), f"duplicate results: {got}"
        if allowed is not None:
            assert set(got) <= set(allowed), f"results outside the filter: {sorted(set(got) - set(allowed))}"
        s = self.scores(q, metric, got)
        sign = 1.0 if metric == "L2" else -1.0  # smaller sign*score is better
        kth = sign * want_scores[-1]
        for rank, (i, si) in enumerate(zip(got, s)):
            assert sign * si <= kth + TIE, (
                f"rank {rank}: row {self.rows[i]} scores {si}, worse than the exact k-th {want_scores[-1]}; "
                f"got {[self.rows[j] for j in got]}, want {[self.rows[j] for j in want]}")
        for a, b in zip(s, s[1:]):
            assert sign * a <= sign * b + TIE, f"results out of order: {list(s)}"
        boundary_tie = len(want) == k and self._boundary_tie(q, metric, want_scores[-1], allowed)
        if not boundary_tie:
            assert set(got) == set(want), (
                f"got {[self.rows[j] for j in got]}, want {[self.rows[j] for j in want]}")
        if got_scores is not None:
            assert len(got_scores) == len(got)
            np.testing.assert_allclose(np.asarray(got_scores, dtype=np.float64), s, rtol=1e-4, atol=1e-5,
                                       err_msg="the server's distances are not the metric's")
        return want

    def _boundary_tie(self, q, metric, kth_score, allowed):
        idx = np.arange(self.n) if allowed is None else np.asarray(sorted(allowed), dtype=np.int64)
        s = self.scores(q, metric, idx)
        return int((np.abs(s - kth_score) < TIE).sum()) > 1

    def where(self, pred):
        """Indexes of the rows whose metadata satisfies pred."""
        return [i for i, d in enumerate(self.docs) if pred(d["metadata"])]


# --- full-text search (both modules' BM25 tests) ------------------------------------------------------------------
# Milvus Lite 3.2.2 differs from Milvus as Tests/e2e_pymilvus/test_full_text.py describes: its `standard` analyzer
# keeps `_` inside tokens, and it scores with k1=1.5 when the index sets none (neither framework sets one).
LITE = TARGET == "lite"
BM25_K1 = 1.5 if LITE else ref.K1_DEFAULT


def bm25_model(dataset, idx):
    """The BM25 reference over the passages idx (indexes into dataset.docs), statistics over all of them."""
    return ref.BM25({i: dataset.docs[i]["text"] for i in idx}, k1=BM25_K1, underscore_joins=LITE)


def tokens(text):
    return ref.tokenize(text, underscore_joins=LITE)


def separated(scores, rel, absolute=0.0):
    """No two consecutive scores (best first) closer than rel (relative) + absolute."""
    return all(abs(a - b) > rel * max(abs(a), abs(b)) + absolute for a, b in zip(scores, scores[1:]))


def hybrid_cases(dataset, model, metric, fetch_k, allowed=None, want=6):
    """(query index, dense [(row, score)], BM25 [(row, score)]) for the first `want` queries whose per-request
    top fetch_k lists are unambiguous: no near-tie among the first fetch_k + 1 scores of either (RRF depends on
    every rank, the weighted ranker on which rows make the cut). `allowed`: the rows a filter keeps (the BM25
    statistics stay those of `model`)."""
    cand = None if allowed is None else list(allowed)
    out = []
    for qi, qt in enumerate(dataset.query_texts):
        d_idx, d_s = dataset.exact(dataset.queries[qi], metric, fetch_k + 1, cand)
        bm = ref.top(model.scores(qt, cand), fetch_k + 1)
        if not separated(d_s, 0, 1e-4) or not separated([s for _, s in bm], 1e-4):
            continue
        out.append((qi, list(zip(d_idx, d_s))[:fetch_k], bm[:fetch_k]))
        if len(out) == want:
            break
    assert len(out) >= 3, f"only {len(out)} queries with unambiguous candidate lists"
    return out


@pytest.fixture(scope="session")
def dataset():
    if not (DATA / "base.fvecs").exists():
        pytest.fail(f"dataset missing at {DATA} (set VIREO_DATASET)")
    return Dataset()



class LiteTarget:
    """Milvus Lite: the stores open a local `.db` file (pymilvus starts milvus-lite for it)."""

    def __init__(self, data_dir):
        self.uri = str(data_dir / "milvus.db")

    def stop(self):
        pass


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """What the stores connect to: `server.uri`."""
    data = tmp_path_factory.mktemp("vireo-data")
    s = LiteTarget(data) if TARGET == "lite" else VireoServer(data, log_prefix="vireo-fw-")
    yield s
    s.stop()


_counter = [0]


@pytest.fixture
def name():
    _counter[0] += 1
    return f"fw{os.getpid()}_{_counter[0]}"
