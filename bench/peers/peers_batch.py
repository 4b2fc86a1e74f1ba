#!/usr/bin/env python3
"""Engine-to-engine peer benchmark: hnswlib and faiss, one search thread, batch and one-query-per-call.

Usage:
  peers_batch.py DATASET_DIR --out FILE.csv [--only CFG[,CFG...]] [--max-queries N] [--repeat 3]
                 [--build-threads 2] [--ef LIST] [--nprobe LIST] [--filter-ef LIST] [--selectivity LIST]

DATASET_DIR: base.fvecs, query.fvecs, groundtruth.ivecs (TEXMEX layout: every record is a little-endian
int32 dimension followed by that many float32 / int32 values). Vectors are unit length; metric is inner
product; k = 10.

Configs (default: all, in this order):
  hnswlib_hnsw         hnswlib 'ip', M 16, efConstruction 200                         sweep --ef
  faiss_hnswflat16     IndexHNSWFlat(d, 16, IP), efConstruction 200                    sweep --ef
  faiss_hnswsq         IndexHNSWSQ(d, QT_8bit, 16, IP), efConstruction 200             sweep --ef
  faiss_hnswsq_refine  IndexRefineFlat(the above), k_factor 2                          sweep --ef
  faiss_ivfsq8         IndexIVFScalarQuantizer(FlatIP, d, round(4 sqrt N), QT_8bit, IP) sweep --nprobe
  faiss_ivfpq_refine   IndexRefineFlat(IndexIVFPQ(FlatIP, d, round(4 sqrt N), 48, 8, IP)), k_factor 4
                                                                                       sweep --nprobe
  faiss_flatip         IndexFlatIP                                                     one point
  faiss_hnsw_filtered  IndexHNSWFlat M 16 searched with an IDSelectorBitmap at each --selectivity
                       (sweep --filter-ef), plus exact search over the passing rows (the HNSW's own
                       IndexFlatIP storage + the same IDSelectorBitmap), one point per selectivity.
                       Filter = Vireo's bench filter: row i passes iff bucket[i] < round(S * 10000),
                       bucket[i] = SplitMix64(seed 7).next() % 10000 for i = 0..N-1 in order.
                       Ground truth: exact filtered top-10 computed here with numpy.

Each config runs in its own child process (peak RSS is per config). Before each config the parent waits
(at most 120 s) until other processes use < 10 % of the machine. Every sweep point is measured on ONE
thread (faiss.omp_set_num_threads(1), which the OpenMP build of OpenBLAS inside faiss follows too;
hnswlib num_threads=1):
  batch1t_qps   all queries in one call: one warm-up call, then the best of --repeat calls
  qps/p50/p99   one query per call from a Python loop (includes a few us of Python/binding overhead)
  recall@10     |returned top-10 ∩ true top-10| / 10 (filtered: / min(10, passing rows)), mean over queries
  load1         /proc/loadavg 1-minute value at the start of the point
  others_cpu_pct  % of the whole machine's CPU used by other processes during the timed batch calls
                (/proc/stat busy time minus this process' CPU time; rough, 1/CLK_TCK granularity)
Per config: build_s (wall, includes training), build_threads, rss_mb (ru_maxrss, taken before
serialization), serialized_mb (faiss.serialize_index / hnswlib save_index size).

Writes FILE.csv (rewritten after every config) and FILE.meta.json (OPENBLAS_CORETYPE, versions, BLAS,
CPU, command line, per-config quiet-wait results). Tables go to stderr.
"""
from __future__ import annotations

import argparse
import csv
import ctypes
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

K = 10
CONFIGS = ["hnswlib_hnsw", "faiss_hnswflat16", "faiss_hnswsq", "faiss_hnswsq_refine", "faiss_ivfsq8",
           "faiss_ivfpq_refine", "faiss_ivfflat", "faiss_flatip", "faiss_hnsw_filtered"]
COLS = ["library", "index", "params", "build_s", "recall@10", "qps", "p50_ms", "p99_ms", "rss_mb", "serialized_mb",
        "batch1t_qps", "build_threads", "n_base", "n_query", "dataset", "load1", "others_cpu_pct"]
BUCKET_RANGE = 10_000
FILTER_SEED = 7
M64 = (1 << 64) - 1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- data

def read_vecs(path: str, dtype) -> np.ndarray:
    raw = np.fromfile(path, dtype="<i4")
    if raw.size == 0:
        raise SystemExit(f"{path}: empty file")
    d = int(raw[0])
    if raw.size % (d + 1):
        raise SystemExit(f"{path}: size is not a multiple of (1 + dim={d}) words")
    rows = raw.reshape(-1, d + 1)
    if not np.all(rows[:, 0] == d):
        raise SystemExit(f"{path}: records with differing dimensions")
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def load_dataset(ddir: str, max_q: int | None):
    xb = read_vecs(os.path.join(ddir, "base.fvecs"), np.float32)
    xq = read_vecs(os.path.join(ddir, "query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(ddir, "groundtruth.ivecs"), np.int32)
    if xb.shape[1] != xq.shape[1] or len(gt) != len(xq) or gt.shape[1] < K:
        raise SystemExit("dataset shapes disagree (base/query dim, query/groundtruth count, or groundtruth k < 10)")
    if max_q:
        xq, gt = xq[:max_q], gt[:max_q]
    return xb, np.ascontiguousarray(xq), np.ascontiguousarray(gt[:, :K])


def splitmix64_buckets(n: int, seed: int = FILTER_SEED, mod: int = BUCKET_RANGE) -> np.ndarray:
    """bucket[i] = SplitMix64(seed).next() % mod for i = 0..n-1 (Vireo's bench bucket column)."""
    # Vectorised: the i-th next() mixes state = seed + (i+1) * golden (mod 2^64); uint64 numpy ops wrap.
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(mod)).astype(np.int64)


def _splitmix64_scalar(seed: int, count: int) -> list[int]:
    """Plain-integer reference of the generator (checks the vectorised one)."""
    s, out = seed, []
    for _ in range(count):
        s = (s + 0x9E3779B97F4A7C15) & M64
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(z ^ (z >> 31))
    return out


def filter_threshold(sel: float) -> int:
    # Swift's Double.rounded() (to nearest, ties away from zero), as Vireo's Runner.filter(selectivity:)
    return int(math.floor(sel * BUCKET_RANGE + 0.5))


def exact_filtered_topk(xb, xq, rows: np.ndarray, k: int = K, chunk: int = 128) -> list[np.ndarray]:
    """Exact IP top-k over base rows `rows` for every query; returns one id array per query (best first)."""
    kk = min(k, len(rows))
    if kk == 0:
        return [np.empty(0, dtype=np.int64) for _ in range(len(xq))]
    sub = xb[rows]
    out = []
    for s in range(0, len(xq), chunk):
        sc = xq[s:s + chunk] @ sub.T
        part = np.argpartition(-sc, kk - 1, axis=1)[:, :kk] if kk < sc.shape[1] else np.tile(np.arange(sc.shape[1]), (len(sc), 1))
        order = np.argsort(-np.take_along_axis(sc, part, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1)
        out.extend(rows[t].astype(np.int64) for t in top)
    return out


def recall_at_10(ids: np.ndarray, truth) -> float:
    hits = den = 0
    for r, t in zip(np.asarray(ids)[:, :K], truth):
        t = np.asarray(t)[:K]
        hits += np.intersect1d(r[r >= 0], t).size
        den += min(K, len(t))
    return hits / den if den else float("nan")


# ------------------------------------------------------------------------------------- machine state

_TCK = os.sysconf("SC_CLK_TCK")
_NCPU = os.cpu_count() or 1


def load1() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_snap():
    """(wall, machine busy ticks, this process' CPU seconds)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)  # user nice system irq softirq steal
    return time.perf_counter(), busy, time.process_time()


def others_pct(a, b) -> float:
    """% of the machine's total CPU capacity (all cores) used by other processes between two snapshots."""
    dt = b[0] - a[0]
    if dt <= 0:
        return 0.0
    others_s = (b[1] - a[1]) / _TCK - (b[2] - a[2])
    return max(0.0, 100.0 * others_s / (dt * _NCPU))


def wait_quiet(max_pct=10.0, max_wait=120.0):
    """Wait until other processes use < max_pct % of the machine (2 s samples, at most max_wait s).
    Returns (last busy %, seconds waited)."""
    t0 = time.time()
    while True:
        a = cpu_snap()
        time.sleep(2)
        o = others_pct(a, cpu_snap())
        if o < max_pct or time.time() - t0 > max_wait:
            return round(o, 1), round(time.time() - t0, 1)


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def blas_info() -> dict:
    info = {"faiss_blas_lib": None, "openblas_corename": None, "openblas_config": None}
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "blas" in ln.lower() and "/" in ln})
    except OSError:
        return info
    info["blas_libs_loaded"] = libs
    for p in sorted(libs, key=lambda p: ("faiss" not in p, p)):
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        for key, sym in (("openblas_corename", "openblas_get_corename"), ("openblas_config", "openblas_get_config")):
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                info[key] = fn().decode(errors="replace")
        info["faiss_blas_lib"] = p
        break
    return info


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


# ----------------------------------------------------------------------------------------- measuring

def measure_point(batch_fn, one_fn, xq, repeat: int) -> dict:
    """batch_fn(Q[nq,d]) -> ids[nq,k]; one_fn(q[1,d]) -> ids (k). Both must already run on one thread."""
    l1 = load1()
    ids = np.asarray(batch_fn(xq))  # warm-up call; its result is the one scored
    best = float("inf")
    a = cpu_snap()
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        batch_fn(xq)
        best = min(best, time.perf_counter() - t)
    b = cpu_snap()
    threads_used = (b[2] - a[2]) / (b[0] - a[0]) if b[0] > a[0] else float("nan")

    nq = len(xq)
    lat = np.empty(nq)
    one_ids = np.full((nq, K), -1, dtype=np.int64)
    pc = time.perf_counter
    t0 = pc()
    for i in range(nq):
        s = pc()
        r = one_fn(xq[i:i + 1])
        lat[i] = pc() - s
        r = np.asarray(r).reshape(-1)[:K]
        one_ids[i, :len(r)] = r
    tot = pc() - t0
    return dict(ids=ids, one_ids=one_ids, batch1t_qps=nq / best, qps=nq / tot,
                p50_ms=float(np.percentile(lat, 50) * 1e3), p99_ms=float(np.percentile(lat, 99) * 1e3),
                load1=l1, others_cpu_pct=round(others_pct(a, b), 1), cpu_per_wall=threads_used)


HDR = (f"  {'index':20s} {'params':44s} {'R@10':>6s} {'batch1t':>9s} {'qps(1/call)':>11s} {'p50ms':>7s} "
       f"{'p99ms':>7s} {'load1':>5s} {'others%':>7s} {'cpu/wall':>8s} {'1≠batch':>7s}")


def worker(cfg: str, a) -> list[dict]:
    xb, xq, gt = load_dataset(a.dataset, a.max_queries)
    n, d = xb.shape
    nq = len(xq)
    efs, nprobes, fefs, sels = a.ef, a.nprobe, a.filter_ef, a.selectivity
    nlist = int(math.floor(4 * math.sqrt(n) + 0.5))
    common = dict(build_threads=a.build_threads, n_base=n, n_query=nq,
                  dataset=os.path.basename(os.path.normpath(a.dataset)))
    rows: list[dict] = []
    log(HDR)

    def emit(lib, idx, params, build_s, m, truth):
        rec = recall_at_10(m["ids"], truth)
        # rows where the per-call loop returned other ids than the batch call (should be 0)
        differ = int(sum(set(x.tolist()) != set(y.tolist()) for x, y in zip(m["ids"][:, :K], m["one_ids"])))
        row = dict(library=lib, index=idx, params=params, build_s=round(build_s, 3), **{"recall@10": round(rec, 4)},
                   qps=round(m["qps"], 1), p50_ms=round(m["p50_ms"], 4), p99_ms=round(m["p99_ms"], 4),
                   rss_mb=None, serialized_mb=None, batch1t_qps=round(m["batch1t_qps"], 1),
                   load1=m["load1"], others_cpu_pct=m["others_cpu_pct"], **common)
        rows.append(row)
        log(f"  {idx:20s} {params:44s} {rec:6.4f} {m['batch1t_qps']:9.1f} {m['qps']:11.1f} {m['p50_ms']:7.3f} "
            f"{m['p99_ms']:7.3f} {m['load1']:5.2f} {m['others_cpu_pct']:7.1f} {m['cpu_per_wall']:8.2f} {differ:7d}")
        return row

    ser = {}  # index name -> serialized MB

    if cfg == "hnswlib_hnsw":
        import hnswlib
        p = hnswlib.Index(space="ip", dim=d)
        t = time.perf_counter()
        p.init_index(max_elements=n, M=16, ef_construction=200, random_seed=100)
        p.add_items(xb, np.arange(n), num_threads=a.build_threads)
        build = time.perf_counter() - t
        p.set_num_threads(1)
        for ef in efs:
            p.set_ef(ef)
            m = measure_point(lambda Q: p.knn_query(Q, k=K, num_threads=1)[0],
                              lambda q: p.knn_query(q, k=K, num_threads=1)[0], xq, a.repeat)
            emit("hnswlib", "HNSW", f"M=16 efC=200 ef={ef}", build, m, gt)
        peak = rss_peak_mb()
        with tempfile.TemporaryDirectory() as td:
            p.save_index(os.path.join(td, "h.bin"))
            ser["HNSW"] = os.path.getsize(os.path.join(td, "h.bin")) / 2**20

    elif cfg.startswith("faiss_"):
        import faiss
        faiss.omp_set_num_threads(a.build_threads)
        t = time.perf_counter()
        keep = []  # Python references to sub-indexes the C++ wrappers point to
        if cfg in ("faiss_hnswflat16", "faiss_hnsw_filtered"):
            index = faiss.IndexHNSWFlat(d, 16, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
            if cfg == "faiss_hnsw_filtered":
                # filtered ground truths before the build, so their temporaries do not add to the peak RSS
                buckets = splitmix64_buckets(n)
                assert buckets[:8].tolist() == [x % BUCKET_RANGE for x in _splitmix64_scalar(FILTER_SEED, 8)]
                t_gt = time.perf_counter()
                filt = []
                for s in sels:
                    thr = filter_threshold(s)
                    mask = buckets < thr
                    passing = np.flatnonzero(mask)
                    filt.append((s, thr, mask, passing, exact_filtered_topk(xb, xq, passing)))
                    log(f"  sel={s}: bucket < {thr}, {len(passing)} of {n} rows pass ({100 * len(passing) / n:.2f} %)")
                log(f"  exact filtered top-10 for {len(sels)} selectivities in {time.perf_counter() - t_gt:.1f}s")
                t = time.perf_counter()
            index.add(xb)
            name, sweep, pfx = "HNSWFlat", efs, "M=16 efC=200 ef="
        elif cfg in ("faiss_hnswsq", "faiss_hnswsq_refine"):
            hsq = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
            hsq.hnsw.efConstruction = 200
            if cfg == "faiss_hnswsq":
                index = hsq
                name, pfx = "HNSWSQ8", "M=16 efC=200 qt=8bit ef="
            else:
                keep.append(hsq)
                index = faiss.IndexRefineFlat(hsq)
                index.k_factor = 2
                name, pfx = "HNSWSQ8+RefineFlat", "M=16 efC=200 qt=8bit k_factor=2 ef="
            index.train(xb)
            index.add(xb)
            sweep = efs
        elif cfg == "faiss_ivfsq8":
            q = faiss.IndexFlatIP(d)
            keep.append(q)
            index = faiss.IndexIVFScalarQuantizer(q, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            index.train(xb)
            index.add(xb)
            name, sweep = "IVFSQ8", nprobes
            pfx = f"nlist={nlist} qt=8bit by_residual={int(index.by_residual)} nprobe="
        elif cfg == "faiss_ivfpq_refine":
            q = faiss.IndexFlatIP(d)
            ivf = faiss.IndexIVFPQ(q, d, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
            keep += [q, ivf]
            index = faiss.IndexRefineFlat(ivf)
            index.k_factor = 4
            index.train(xb)
            index.add(xb)
            name, sweep, pfx = "IVFPQ+RefineFlat", nprobes, f"nlist={nlist} m=48 nbits=8 k_factor=4 nprobe="
        elif cfg == "faiss_ivfflat":
            q = faiss.IndexFlatIP(d)
            keep.append(q)
            index = faiss.IndexIVFFlat(q, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(xb)
            index.add(xb)
            name, sweep, pfx = "IVFFlat", nprobes, f"nlist={nlist} nprobe="
        elif cfg == "faiss_flatip":
            index = faiss.IndexFlatIP(d)
            index.add(xb)
            name, sweep, pfx = "FlatIP", [None], "exact=1"
            log(f"  (batch call: nq*d = {nq * d} {'>=' if nq * d >= faiss.cvar.distance_compute_blas_threshold else '<'} "
                f"distance_compute_blas_threshold {faiss.cvar.distance_compute_blas_threshold}: "
                f"{'BLAS sgemm' if nq * d >= faiss.cvar.distance_compute_blas_threshold else 'per-query SIMD'} path)")
        else:
            raise SystemExit(f"unknown config {cfg}")
        build = time.perf_counter() - t
        faiss.omp_set_num_threads(1)

        def set_sweep(v):
            if cfg in ("faiss_hnswflat16", "faiss_hnswsq"):
                index.hnsw.efSearch = v
            elif cfg == "faiss_hnswsq_refine":
                hsq.hnsw.efSearch = v
            elif cfg in ("faiss_ivfsq8", "faiss_ivfflat"):
                index.nprobe = v
            elif cfg == "faiss_ivfpq_refine":
                ivf.nprobe = v

        if cfg == "faiss_hnsw_filtered":
            storage = faiss.downcast_index(index.storage)  # IndexFlatIP holding the raw vectors
            assert storage.metric_type == faiss.METRIC_INNER_PRODUCT
            for s, thr, mask, passing, truth in filt:
                bitmap = np.packbits(mask, bitorder="little")  # IDSelectorBitmap: bit i&7 of byte i>>3
                sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
                for ef in fefs:
                    prm = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
                    m = measure_point(lambda Q: index.search(Q, K, params=prm)[1],
                                      lambda qq: index.search(qq, K, params=prm)[1], xq, a.repeat)
                    got = m["ids"][m["ids"] >= 0]
                    assert mask[got].all(), "filtered HNSW returned a row the filter rejects"
                    emit("faiss", "HNSWFlat-filtered", f"M=16 efC=200 sel={s} ef={ef}", build, m, truth)
                fp = faiss.SearchParameters(sel=sel)
                m = measure_point(lambda Q: storage.search(Q, K, params=fp)[1],
                                  lambda qq: storage.search(qq, K, params=fp)[1], xq, a.repeat)
                got = m["ids"][m["ids"] >= 0]
                assert mask[got].all(), "filtered FlatIP returned a row the filter rejects"
                # no build of its own: it is the HNSW's flat storage
                emit("faiss", "FlatIP-filtered", f"sel={s} exact=1", 0.0, m, truth)
                del prm, fp, sel, bitmap
            peak = rss_peak_mb()
            ser["HNSWFlat-filtered"] = len(faiss.serialize_index(index)) / 2**20
            ser["FlatIP-filtered"] = len(faiss.serialize_index(storage)) / 2**20
        else:
            for v in sweep:
                set_sweep(v)
                m = measure_point(lambda Q: index.search(Q, K)[1], lambda qq: index.search(qq, K)[1], xq, a.repeat)
                emit("faiss", name, pfx + ("" if v is None else str(v)), build, m, gt)
            peak = rss_peak_mb()  # before serialize_index, which makes a full in-memory copy
            ser[name] = len(faiss.serialize_index(index)) / 2**20
    else:
        raise SystemExit(f"unknown config {cfg}")

    for r in rows:
        r["rss_mb"] = round(peak, 1)
        r["serialized_mb"] = round(ser[r["index"]], 2)
    log(f"  build {build:.2f}s on {a.build_threads} threads, peak RSS {peak:.1f} MB, serialized "
        + ", ".join(f"{k} {v:.2f} MB" for k, v in ser.items())
        + f" (float vectors alone: {n * d * 4 / 2**20:.2f} MB)")
    return rows


# ---------------------------------------------------------------------------------------------- main

def float_list(s: str) -> list[float]:
    return [float(x) for x in s.split(",") if x.strip()]


def int_list(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def write_csv(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in COLS})
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--out", help="CSV to write (default: results_<dataset>_batch.csv next to this script)")
    ap.add_argument("--only", default="", help="comma-separated configs (default: all)")
    ap.add_argument("--max-queries", type=int, default=None, help="use the first N queries")
    ap.add_argument("--repeat", type=int, default=3, help="timed batch calls per point, best kept (default 3)")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--ef", type=int_list, default=int_list("10,16,24,32,48,64,96,128,192,256"))
    ap.add_argument("--nprobe", type=int_list, default=int_list("1,2,4,8,16,32,64,128"))
    ap.add_argument("--filter-ef", type=int_list, default=int_list("10,16,32,64,128,256,512"))
    ap.add_argument("--selectivity", type=float_list, default=float_list("0.5,0.1,0.01,0.001"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rows-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if any(not (0 < s <= 1) for s in a.selectivity):
        raise SystemExit("--selectivity values must be in (0, 1]")

    if a.worker:
        rows = worker(a.worker, a)
        with open(a.rows_out, "w") as f:
            json.dump(rows, f)
        return

    cfgs = CONFIGS if not a.only else [c.strip() for c in a.only.split(",") if c.strip()]
    bad = [c for c in cfgs if c not in CONFIGS]
    if bad:
        raise SystemExit(f"unknown config(s) {bad}; known: {','.join(CONFIGS)}")
    dname = os.path.basename(os.path.normpath(a.dataset))
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), f"results_{dname}_batch.csv")
    meta_path = os.path.splitext(out)[0] + ".meta.json"

    import faiss  # only for the environment record; the workers import their own
    meta = {
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "faiss_version": faiss.__version__,
        "faiss_compile_options": faiss.get_compile_options().strip(),
        "distance_compute_blas_threshold": int(faiss.cvar.distance_compute_blas_threshold),
        "hnswlib_version": _dist_version("hnswlib"),
        **blas_info(),
        "numpy_version": np.__version__, "python": platform.python_version(),
        "cpu": cpu_model(), "cpu_count": _NCPU, "nice": os.nice(0),
        "argv": sys.argv, "dataset": os.path.abspath(a.dataset),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "configs": {},
    }
    log(f"OPENBLAS_CORETYPE={meta['OPENBLAS_CORETYPE']!r} (faiss OpenBLAS core {meta['openblas_corename']}), "
        f"faiss {meta['faiss_version']}, hnswlib {meta['hnswlib_version']}, numpy {np.__version__}, "
        f"{meta['cpu']} x{_NCPU}, nice {meta['nice']}")

    all_rows: list[dict] = []
    t_all = time.time()
    for c in cfgs:
        busy, waited = wait_quiet()
        log(f"== {c}   (other processes before start: {busy}% of the machine, waited {waited}s; load1 {load1()})")
        t = time.time()
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
            rows_path = tf.name
        try:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--worker", c,
                                "--rows-out", rows_path])
            rows = []
            if p.returncode == 0:
                with open(rows_path) as f:
                    rows = json.load(f)
            else:
                log(f"  FAILED rc={p.returncode}")
        finally:
            os.unlink(rows_path)
        meta["configs"][c] = {"busy_before_pct": busy, "waited_s": waited, "rc": p.returncode,
                              "seconds": round(time.time() - t, 1)}
        all_rows += rows
        write_csv(out, all_rows)
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)
        log(f"  [{c}: {time.time() - t:.0f}s]")
    log(f"wrote {out} ({len(all_rows)} rows) and {meta_path} in {time.time() - t_all:.0f}s")


if __name__ == "__main__":
    main()
