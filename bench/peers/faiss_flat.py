#!/usr/bin/env python3
"""Exact (brute-force) inner-product search with faiss IndexFlatIP, as a peer baseline for Vireo.

Prints JSON Lines on stdout:
  * one "env" line (OPENBLAS_CORETYPE, faiss version / compile options, the BLAS library faiss loaded, ...);
  * one line per measurement: mode "batch" (all queries in one index.search call, 1 and 2 OpenMP
    threads, best of --repeat runs) and mode "single" (one query per call from a Python loop, 1 thread,
    with p50/p99 latency; the few microseconds of Python/SWIG overhead per call are included).

Dataset directory: base.fvecs, query.fvecs, groundtruth.ivecs
(each record = little-endian int32 dim, then dim float32 / int32 values).
Nothing is written to disk.

Usage: faiss_flat.py [--data DIR] [--k 10] [--repeat 3]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import sys
import time

import numpy as np
import faiss


def load_vecs(path: str, dtype) -> np.ndarray:
    """Read an .fvecs/.ivecs file into a (n, dim) array of `dtype` (float32 or int32)."""
    raw = np.fromfile(path, dtype="<i4")
    if raw.size == 0:
        raise SystemExit(f"{path}: empty file")
    dim = int(raw[0])
    if raw.size % (dim + 1):
        raise SystemExit(f"{path}: size is not a multiple of (1 + dim={dim}) words")
    rows = raw.reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        raise SystemExit(f"{path}: records with differing dimensions")
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def recall10(ids: np.ndarray, gt: np.ndarray):
    """Mean |returned top-10 ∩ ground-truth top-10| / 10; None if fewer than 10 results were asked for."""
    if ids.shape[1] < 10 or gt.shape[1] < 10:
        return None
    hits = sum(np.intersect1d(r[:10], g[:10]).size for r, g in zip(ids, gt))
    return hits / (10 * len(gt))


def blas_info() -> dict:
    """Which BLAS faiss loaded (found via /proc/self/maps) and what OpenBLAS says about itself."""
    info: dict = {"blas_lib": None, "openblas_corename": None, "openblas_config": None}
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "blas" in ln.lower() and "/" in ln})
    except OSError:
        return info
    # Prefer the BLAS that ships with faiss (numpy bundles its own, separate, OpenBLAS).
    libs.sort(key=lambda p: ("faiss" not in p, p))
    info["blas_libs_loaded"] = libs
    if not libs:
        return info
    info["blas_lib"] = libs[0]
    try:
        lib = ctypes.CDLL(libs[0])
        for key, sym in (("openblas_corename", "openblas_get_corename"), ("openblas_config", "openblas_get_config")):
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                info[key] = fn().decode(errors="replace")
    except OSError:
        pass
    return info


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/dev", help="dataset dir (base/query .fvecs, groundtruth.ivecs)")
    ap.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    ap.add_argument("--repeat", type=int, default=3, help="batch runs per thread count; best is reported (default 3)")
    args = ap.parse_args()

    xb = load_vecs(os.path.join(args.data, "base.fvecs"), np.float32)
    xq = load_vecs(os.path.join(args.data, "query.fvecs"), np.float32)
    gt = load_vecs(os.path.join(args.data, "groundtruth.ivecs"), np.int32)
    if xb.shape[1] != xq.shape[1] or len(gt) != len(xq):
        raise SystemExit("dataset shapes disagree (base/query dim or query/groundtruth count)")
    nb, d = xb.shape
    nq = len(xq)
    k = args.k

    # Recent faiss (e.g. 1.15.1, default 128000) switches from the per-query SIMD loop to BLAS sgemm when
    # nq * d >= this threshold (old releases compared nq alone against 20). Recorded so that the "kernel"
    # field below (an inference, not a measurement) can be checked against the installed version.
    thr = int(faiss.cvar.distance_compute_blas_threshold)
    get_opts = getattr(faiss, "get_compile_options", None)
    env = {
        "library": "faiss", "mode": "env",
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "faiss_version": getattr(faiss, "__version__", None),
        "faiss_compile_options": get_opts().strip() if get_opts else None,
        "faiss_omp_max_threads": faiss.omp_get_max_threads(),
        "distance_compute_blas_threshold": thr,
        **blas_info(),
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "dataset": os.path.abspath(args.data), "n_base": nb, "dim": d, "nq": nq,
    }
    emit(env)

    t = time.perf_counter()
    index = faiss.IndexFlatIP(d)
    index.add(xb)
    add_s = time.perf_counter() - t

    common = {"library": "faiss", "index": "FlatIP", "k": k, "n_base": nb, "dim": d}

    # Warm-up (page in the base vectors, spin up the OpenMP pool).
    faiss.omp_set_num_threads(1)
    index.search(xq[:64], k)

    # (a) batch: every query in one call.
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        times = []
        ids = None
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            _, ids = index.search(xq, k)
            times.append(time.perf_counter() - t)
        best = min(times)
        emit({**common, "mode": "batch", "threads": threads, "nq": nq, "seconds": round(best, 6),
              "qps": round(nq / best, 1), "recall@10": recall10(ids, gt), "p50_ms": None, "p99_ms": None,
              "all_seconds": [round(x, 6) for x in times],
              "kernel": "blas" if nq * d >= thr else "simd_seq", "add_s": round(add_s, 4)})

    # (b) single: one query per call, 1 thread.
    faiss.omp_set_num_threads(1)
    ids = np.empty((nq, k), dtype=np.int64)
    lat = np.empty(nq)
    clock = time.perf_counter
    t0 = clock()
    for i in range(nq):
        s = clock()
        _, I = index.search(xq[i:i + 1], k)
        lat[i] = clock() - s
        ids[i] = I[0]
    total = clock() - t0
    emit({**common, "mode": "single", "threads": 1, "nq": nq, "seconds": round(total, 6),
          "qps": round(nq / total, 1), "recall@10": recall10(ids, gt),
          "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 4),
          "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 4),
          "kernel": "blas" if d >= thr else "simd_seq"})


if __name__ == "__main__":
    sys.exit(main())
