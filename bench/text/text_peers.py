"""BM25 peers in the same run as vireo-text-bench: tantivy (PyPI `tantivy`) and bm25s, on the tokens
Vireo's english analyzer produced (so all three index exactly the same terms), k1 = 1.2, b = 0.75.

Also computes exact BM25 top-10 (Milvus' formula, query-term counts as weights, over the token
strings, in float64 with numpy; for tantivy, whose query parser drops repeated query words, with
weight 1 per distinct word) and each engine's top-10 overlap with it. Overlap counts a returned
document as correct when its exact score reaches the exact 10th score (ties at the cut are not
penalised).

Usage: python bench/text/text_peers.py OUT_DIR   (after vireo-text-bench DATA_DIR OUT_DIR)
"""
import json
import math
import sys
import time
from collections import Counter, defaultdict

import numpy as np

K1, B, K = 1.2, 0.75, 10


def read_tokens(path):
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f.read().split("\n")[:-1]]


def exact_top(docs, queries, unique=False):
    n = len(docs)
    lengths = np.array([len(d) for d in docs], dtype=np.float64)
    avgdl = lengths.mean()
    postings = defaultdict(lambda: ([], []))
    for i, d in enumerate(docs):
        for t, c in Counter(d).items():
            postings[t][0].append(i)
            postings[t][1].append(c)
    postings = {t: (np.array(r, dtype=np.int64), np.array(c, dtype=np.float64)) for t, (r, c) in postings.items()}
    norm = K1 * (1 - B + B * lengths / avgdl)
    tops, scores_all = [], []
    for q in queries:
        scores = np.zeros(n)
        touched = np.zeros(n, dtype=bool)
        for t, qc in Counter(q).items():
            if unique:
                qc = 1
            if t not in postings:
                continue
            rows, tf = postings[t]
            idf = math.log(1 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
            scores[rows] += qc * idf * tf * (K1 + 1) / (tf + norm[rows])
            touched[rows] = True
        cand = np.nonzero(touched)[0]
        order = cand[np.lexsort((cand, -scores[cand]))][:K]
        tops.append(order.tolist())
        scores_all.append(scores)
    return tops, scores_all


def overlap(result, exact, scores):
    hits, total = 0, 0
    for got, ex, s in zip(result, exact, scores):
        if not ex:
            continue
        cut = s[ex[-1]] - 1e-9 * abs(s[ex[-1]])
        hits += sum(1 for r in got[:K] if s[r] >= cut and s[r] > 0)
        total += len(ex)
    return hits / total if total else 1.0


def bench_tantivy(docs, queries):
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("body", stored=False, tokenizer_name="whitespace", index_option="freq")
    schema = sb.build()
    best_build = best_build_cpu = math.inf
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        index = tantivy.Index(schema)
        writer = index.writer(heap_size=200_000_000, num_threads=1)
        for d in docs:
            writer.add_document(tantivy.Document(body=" ".join(d)))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        best_build = min(best_build, time.perf_counter() - t0)
        # tantivy indexes on its own thread (num_threads=1): process CPU time counts it.
        best_build_cpu = min(best_build_cpu, time.process_time() - c0)
    searcher = index.searcher()
    parsed = [index.parse_query(" ".join(q), ["body"]) if q else None for q in queries]
    best, best_cpu, lat, tops = math.inf, math.inf, [], []
    for rep in range(3):
        out, ls = [], []
        t0, c0 = time.perf_counter(), time.process_time()
        for p in parsed:
            a = time.perf_counter()
            if p is None:
                out.append([])
            else:
                out.append([addr.doc for _, addr in searcher.search(p, K).hits])
            ls.append(time.perf_counter() - a)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        if rep == 0:
            tops, lat = out, ls
    # tantivy's doc ids follow insertion order in a single-segment, single-thread index.
    assert searcher.num_segments == 1, "expected one segment"
    lat.sort()
    return {"build_seconds": best_build, "build_cpu_seconds": best_build_cpu, "qps": len(queries) / best,
            "qps_cpu": len(queries) / best_cpu, "p50_us": lat[len(lat) // 2] * 1e6,
            "p99_us": lat[len(lat) * 99 // 100] * 1e6}, tops


def bench_bm25s(docs, queries):
    import bm25s

    best_build = best_build_cpu = math.inf
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        retriever = bm25s.BM25(method="lucene", k1=K1, b=B)
        retriever.index(docs, show_progress=False)
        best_build = min(best_build, time.perf_counter() - t0)
        best_build_cpu = min(best_build_cpu, time.process_time() - c0)
    nonempty = [q if q else ["\u0000"] for q in queries]
    best, tops, lat = math.inf, [], []
    for rep in range(3):
        t0 = time.perf_counter()
        res, _ = retriever.retrieve(nonempty, k=K, show_progress=False, n_threads=1)
        best = min(best, time.perf_counter() - t0)
        tops = res.tolist()
    ls = []
    for q in nonempty[:200]:
        a = time.perf_counter()
        retriever.retrieve([q], k=K, show_progress=False, n_threads=1)
        ls.append(time.perf_counter() - a)
    ls.sort()
    return {"build_seconds": best_build, "build_cpu_seconds": best_build_cpu, "qps_batch": len(queries) / best, "p50_us": ls[len(ls) // 2] * 1e6,
            "qps_per_query": len(ls) / sum(ls)}, tops


def main():
    out = sys.argv[1]
    docs = read_tokens(out + "/passages.tokens")
    queries = read_tokens(out + "/queries.tokens")
    exact, scores = exact_top(docs, queries)
    vireo = json.load(open(out + "/vireo.json"))
    vireo_tops = json.load(open(out + "/vireo_top10.json"))
    report = {"vireo": vireo, "overlap": {}}
    for algo, tops in vireo_tops.items():
        report["overlap"]["vireo " + algo] = overlap(tops, exact, scores)
    report["tantivy"], t_tops = bench_tantivy(docs, queries)
    # tantivy's query parser keeps one clause per distinct term (a query word's count is ignored),
    # so its overlap is taken against exact BM25 with the same, binary, query weights.
    exact_u, scores_u = exact_top(docs, queries, unique=True)
    report["overlap"]["tantivy"] = overlap(t_tops, exact_u, scores_u)
    report["bm25s"], b_tops = bench_bm25s(docs, queries)
    # bm25s pads with zero-score rows when fewer than k match: drop rows sharing no query term.
    qsets = [set(q) for q in queries]
    b_tops = [[r for r in row if qsets[i] & set(docs[r])] for i, row in enumerate(b_tops)]
    report["overlap"]["bm25s"] = overlap(b_tops, exact, scores)
    json.dump(report, open(out + "/report.json", "w"), indent=2, sort_keys=True)
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
