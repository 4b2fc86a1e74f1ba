# faiss IndexHNSWFlat (M 16, efConstruction 200) filtered with IDSelectorBitmap: recall@10 against the exact
# filtered top 10 and the distances per query its walk computes (faiss.cvar.hnsw_stats), one thread.
#   /tmp/peers/bin/python bench/walkfloor/faiss_distances.py ../shared/data/dev 12,14,16,20,24,28,32
import numpy as np, faiss, time, sys
def fvecs(p):
    a = np.fromfile(p, dtype=np.int32); d = a[0]; return a.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()
xb = fvecs(sys.argv[1] + "/base.fvecs"); xq = fvecs(sys.argv[1] + "/query.fvecs")
n, d = xb.shape
faiss.omp_set_num_threads(2)
idx = faiss.IndexHNSWFlat(d, 16, faiss.METRIC_INNER_PRODUCT); idx.hnsw.efConstruction = 200; idx.add(xb)
faiss.omp_set_num_threads(1)
rng = np.random.default_rng(7); allowed = rng.random(n) < 0.5
# exact filtered top-10
sims = xq @ xb[allowed].T; ids_allowed = np.nonzero(allowed)[0]
gt = ids_allowed[np.argsort(-sims, axis=1)[:, :10]]
bits = np.packbits(allowed.astype(np.uint8), bitorder='little')
sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
for ef in [int(x) for x in sys.argv[2].split(",")]:
    p = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
    faiss.cvar.hnsw_stats.reset()
    t0 = time.perf_counter(); D, I = idx.search(xq, 10, params=p); t = time.perf_counter() - t0
    st = faiss.cvar.hnsw_stats
    rec = np.mean([len(set(I[i]) & set(gt[i])) / 10 for i in range(len(xq))])
    print(f"faiss ef {ef}: R@10 {rec:.4f}, distances/query {st.ndis / len(xq):.1f}, hops/query {st.nhops / len(xq):.1f}, {t / len(xq) * 1e6:.1f} us/query")
