"""A plain-Python reference for Milvus full-text search, used by the e2e suites to check results exactly.

Analyzer (`standard`, Milvus' default for `enable_analyzer=True`): Milvus' tantivy binding runs its
StandardTokenizer (uax29 off, the default), which is tantivy's SimpleTokenizer: a token is a maximal run of
characters for which Rust's `char::is_alphanumeric()` holds; everything else separates, so `_`, `'`, `-`, `.`
all split ("don't" -> don, t; "foo_bar" -> foo, bar). Then LowerCaser, per character (`char::to_lowercase`, so
no final-sigma rule). No length limit (RemoveLongFilter is not part of `standard`). Rust's `is_alphanumeric` is
Unicode Alphabetic || Numeric; Python's `str.isalnum` differs only on rare combining marks with the
Other_Alphabetic property (e.g. Devanagari vowel signs) and circled letters, which the suites' text avoids.

Milvus Lite 3.2.2 (the pure-Python rewrite the suites check themselves against) tokenizes with `\\w+` on the
lowercased text instead, so `_` joins ("foo_bar" stays one token); `tokenize(..., underscore_joins=True)`
reproduces that for the Lite target only.

BM25 (Milvus: proxy fills bm25_k1=1.2, bm25_b=0.75 when the index omits them; the query node's IDF oracle
sends each query term with weight query_tf * idf, knowhere multiplies by the term's BM25 document part):

    score(d, q) = sum over distinct query terms t:  qtf(t) * idf(t) * tf(t,d)*(k1+1) / (tf(t,d) + k1*(1-b+b*dl(d)/avgdl))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

N = rows counted in the statistics (rows with empty text count, with dl = 0), avgdl = tokens / N, df(t) = rows
containing t. Only rows sharing a term with the query score (and are returned).
"""
import math
from collections import Counter

K1_DEFAULT = 1.2
B_DEFAULT = 0.75


def tokenize(text, underscore_joins=False):
    """The `standard` analyzer's tokens, in order (duplicates kept)."""
    tokens, cur = [], []
    for ch in text:
        if ch.isalnum() or (underscore_joins and ch == "_"):
            cur.append(ch)
        elif cur:
            tokens.append(cur)
            cur = []
    if cur:
        tokens.append(cur)
    return ["".join(c.lower() for c in t) for t in tokens]


class BM25:
    """BM25 statistics over `docs` ({id: text}); `stats_ids` limits which rows the statistics count (default all).

    Scoring is in float64; Milvus computes qtf*idf in float32 and the rest in float32, so compare with a relative
    tolerance (1e-4 is ample)."""

    def __init__(self, docs, k1=K1_DEFAULT, b=B_DEFAULT, stats_ids=None, underscore_joins=False):
        self.k1, self.b = float(k1), float(b)
        self.underscore_joins = underscore_joins
        self.tf = {i: Counter(tokenize(t, underscore_joins)) for i, t in docs.items()}
        self.dl = {i: sum(c.values()) for i, c in self.tf.items()}
        counted = list(docs) if stats_ids is None else list(stats_ids)
        self.n = len(counted)
        self.avgdl = sum(self.dl[i] for i in counted) / self.n if self.n else 0.0
        self.df = Counter()
        for i in counted:
            self.df.update(self.tf[i].keys())
        self.postings = {}
        for i, c in self.tf.items():
            for t in c:
                self.postings.setdefault(t, []).append(i)

    def idf(self, term):
        df = self.df.get(term, 0)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, query, ids=None):
        """{id: score} for every row (of `ids`, default all) sharing a term with `query` (a text)."""
        allowed = None if ids is None else set(ids)
        q = Counter(tokenize(query, self.underscore_joins))
        out = {}
        avgdl = self.avgdl if self.avgdl > 0 else 1.0
        for term, qtf in q.items():
            w = qtf * self.idf(term)
            for i in self.postings.get(term, ()):
                if allowed is not None and i not in allowed:
                    continue
                tf = self.tf[i][term]
                norm = tf * (self.k1 + 1.0) / (tf + self.k1 * (1.0 - self.b + self.b * self.dl[i] / avgdl))
                out[i] = out.get(i, 0.0) + w * norm
        return out

    def topk(self, query, k, ids=None):
        """[(id, score)] best first, ties by ascending id."""
        return top(self.scores(query, ids), k)


def top(scores, k):
    """[(id, score)] of a {id: score} map, best first, ties by ascending id."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def check_topk(got, expected_scores, k, rel=1e-3, what=""):
    """Assert that `got` ([(id, score)] from the server, best first) is an exact top-k of `expected_scores`
    ({id: score} over every candidate), allowing any order among reference scores equal within `rel`:
    the right count, distinct ids, each score equal to the reference's for that id, non-increasing, and no
    left-out candidate scoring clearly above the last returned one."""
    want = top(expected_scores, k)
    assert len(got) == len(want), f"{what}: {len(got)} hits, reference has {len(want)}: {got} vs {want}"
    ids = [i for i, _ in got]
    assert len(set(ids)) == len(ids), f"{what}: duplicate ids {ids}"
    for i, s in got:
        assert i in expected_scores, f"{what}: id {i} is not a candidate (reference top: {want})"
        ref = expected_scores[i]
        assert math.isclose(s, ref, rel_tol=rel, abs_tol=1e-6), f"{what}: id {i} score {s}, reference {ref}"
    for (_, a), (_, b) in zip(got, got[1:]):
        assert a >= b - abs(b) * rel - 1e-6, f"{what}: scores not descending: {got}"
    if got:
        floor = min(expected_scores[i] for i in ids)
        chosen = set(ids)
        for i, s in expected_scores.items():
            if i not in chosen:
                assert s <= floor + abs(floor) * rel + 1e-6, \
                    f"{what}: id {i} (reference {s}) left out for a row scoring {floor}; reference top: {want}"


def rrf(ranked_lists, k=60):
    """Milvus RRFRanker: {id: sum over lists of 1/(k + rank)}, rank from 1, over each request's hits."""
    out = {}
    for hits in ranked_lists:
        for rank, i in enumerate(hits, start=1):
            out[i] = out.get(i, 0.0) + 1.0 / (k + rank)
    return out


def normalize(score, metric):
    """Milvus' WeightedRanker score normalization (norm_score=True) per metric."""
    metric = metric.upper()
    if metric == "COSINE":
        return (1.0 + score) * 0.5
    if metric == "IP":
        return 0.5 + math.atan(score) / math.pi
    if metric == "BM25":
        return 2.0 * math.atan(score) / math.pi
    return 1.0 - 2.0 * math.atan(score) / math.pi  # L2 and other distances


def weighted(scored_lists, weights, metrics, norm=True):
    """Milvus WeightedRanker: {id: sum of weight * normalize(score)} over each request's [(id, score)] hits."""
    out = {}
    for hits, w, m in zip(scored_lists, weights, metrics):
        for i, s in hits:
            out[i] = out.get(i, 0.0) + w * (normalize(s, m) if norm else s)
    return out


def dev_queries(data_dir):
    """10 full query texts of the dev set, 10 five-word prefixes, and two with a repeated word / underscores:
    the queries both full-text suites (pymilvus and REST) search with."""
    import json
    with open(data_dir / "queries.jsonl") as f:
        texts = [json.loads(line)["text"] for line, _ in zip(f, range(20))]
    return (texts[:10] + [" ".join(t.split()[:5]) for t in texts[10:]]
            + ["generator generator object", "the __init__ method of a class_name"])
