"""What the REST (Tests/e2e) and pymilvus (Tests/e2e_pymilvus) metric-model tests share: the data, the numpy
oracle over the RAW inserted vectors, and the background writer of the create-index-while-writing flow. Each suite
puts this folder on sys.path; the clients stay in the suites."""
import threading
import time

import numpy as np

N = 1500
NQ = 20
K = 10
DIM = 8
PQ_DIM = 16  # IVF_PQ: m = 8 divides it
NLIST = 16
REFINE_K = 8
METRICS = ["L2", "IP", "COSINE"]
BUILD = {
    "FLAT": {},
    "HNSW": {"M": 16, "efConstruction": 128},
    "IVF_FLAT": {"nlist": NLIST},
    "IVF_PQ": {"nlist": NLIST, "m": 8, "nbits": 8},
}
MIN_OVERLAP = {"FLAT": 0.95, "HNSW": 0.95, "IVF_FLAT": 0.95, "IVF_PQ": 0.8}


def search_params(nprobe=NLIST):
    """Per-index search parameters; nprobe = nlist makes IVF exact, refine_k re-ranks limit × refine_k exactly."""
    return {
        "FLAT": {},
        "HNSW": {"ef": 128},
        "IVF_FLAT": {"nprobe": nprobe},
        "IVF_PQ": {"nprobe": nprobe, "refine_k": REFINE_K},
    }


# --- numpy oracle ------------------------------------------------------------------------------------

def spread_vectors(rng, n, dim, lo=0.05, hi=20.0):
    """Random directions scaled to norms log-uniform in [lo, hi], as float32."""
    v = rng.standard_normal((n, dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v *= 10 ** rng.uniform(np.log10(lo), np.log10(hi), (n, 1))
    return v.astype(np.float32)


def scores(base, q, metric):
    """The score Milvus returns for every row of `base` against `q` (float64 over the float32 inputs): squared L2,
    dot product, cosine similarity."""
    b, q = base.astype(np.float64), np.asarray(q, dtype=np.float64)
    if metric == "L2":
        return ((b - q) ** 2).sum(axis=1)
    if metric == "IP":
        return b @ q
    return (b @ q) / (np.linalg.norm(b, axis=1) * np.linalg.norm(q))


def exact_topk(base, ids, q, metric, k=K):
    s = scores(base, q, metric)
    order = np.argsort(s if metric == "L2" else -s, kind="stable")[:k]
    return [int(ids[i]) for i in order]


def bits(v):
    return np.asarray(v, dtype=np.float32).view(np.uint32)


# --- inserts while create_index runs -----------------------------------------------------------------

W_DIM = 32
W_BASE = 20_000
W_BATCH = 50
W_FIRST = 1_000_000  # writer ids: W_FIRST + b * W_BATCH + i
W_PACE_S = 0.02  # between batches: ≤ ~50 batches/s, so a slow build does not grow the collection without bound
W_MAX_BATCHES = 600


class Writer(threading.Thread):
    """Inserts batches of W_BATCH rows with unique ids through `insert(rows) -> acknowledged count` until stopped;
    records what was acknowledged and when."""

    def __init__(self, insert, seed):
        super().__init__(daemon=True)
        self.insert = insert
        self.rng = np.random.default_rng(seed)
        self.stop = threading.Event()
        self.acked = {}  # id -> vector, acknowledged rows only
        self.calls = []  # (start, end) of every acknowledged insert
        self.error = None
        self.batches = 0
        self.progress = threading.Condition()

    def run(self):
        b = 0
        try:
            while not self.stop.is_set() and b < W_MAX_BATCHES:
                vecs = spread_vectors(self.rng, W_BATCH, W_DIM)
                first = W_FIRST + b * W_BATCH
                rows = [{"id": first + i, "vec": vecs[i].tolist()} for i in range(W_BATCH)]
                t0 = time.monotonic()
                count = self.insert(rows)
                t1 = time.monotonic()
                assert count == W_BATCH, count
                with self.progress:
                    for i in range(W_BATCH):
                        self.acked[first + i] = vecs[i]
                    self.calls.append((t0, t1))
                    self.batches += 1
                    self.progress.notify_all()
                b += 1
                self.stop.wait(W_PACE_S)
        except Exception as e:  # noqa: BLE001 — reported by the test
            self.error = e
            with self.progress:
                self.progress.notify_all()

    def wait_for(self, batches, timeout=60):
        batches = min(batches, W_MAX_BATCHES)
        deadline = time.monotonic() + timeout
        with self.progress:
            while self.batches < batches and self.error is None:
                left = deadline - time.monotonic()
                assert left > 0, f"the writer acknowledged only {self.batches} batches in {timeout} s"
                self.progress.wait(left)
        assert self.error is None, self.error
