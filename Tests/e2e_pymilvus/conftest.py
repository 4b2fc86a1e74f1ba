"""End-to-end tests of `vireo serve`'s gRPC API through pymilvus (pinned 3.0.2), unchanged.

Targets (E2E_TARGET):
  vireo (default)  the real release binary, `vireo serve --port 0` on loopback; pymilvus connects with
                   MilvusClient(uri="http://127.0.0.1:PORT") — the same port serves REST.
  lite             Milvus Lite 3.2.2 (`pip install milvus-lite==3.2.2`), MilvusClient("./x.db"): the same
                   suite against Milvus itself, so the suite is known to be right.

    VIREO_BIN=.build/release/vireo venv/bin/python -m pytest Tests/e2e_pymilvus
    E2E_TARGET=lite venv/bin/python -m pytest Tests/e2e_pymilvus
"""
import json
import os
import pathlib
import sys

import numpy as np
import pytest
from pymilvus import MilvusClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests/e2e_common"))
from vireo_server import VireoServer  # noqa: E402,F401  (the suites import it from here)
DATA = pathlib.Path(os.environ.get("VIREO_DATASET", ROOT / "../shared/data/dev")).resolve()
N_ROWS = int(os.environ.get("VIREO_E2E_ROWS", "3000"))
TARGET = os.environ.get("E2E_TARGET", "vireo")
assert TARGET in ("vireo", "lite"), f"E2E_TARGET must be vireo or lite, not {TARGET!r}"


def read_fvecs(path, n=None):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    if n is not None:
        rows = rows[:n]
    return rows[:, 1:].copy().view(np.float32)


class Dataset:
    """The first N_ROWS rows of ../shared/data/dev (384-d embeddings of passages) and its queries."""

    def __init__(self, n):
        self.base = read_fvecs(DATA / "base.fvecs", n)
        self.queries = read_fvecs(DATA / "query.fvecs")
        self.dim = self.base.shape[1]
        self.passages = []
        with open(DATA / "passages.jsonl") as f:
            for i, line in enumerate(f):
                if i >= n:
                    break
                self.passages.append(json.loads(line))
        self.n = len(self.passages)

    def exact(self, q, k, ids=None, metric="IP"):
        """numpy brute force over the rows (or the given ids): (ids, scores) best first."""
        ids = np.arange(self.n) if ids is None else np.asarray(ids)
        base = self.base[ids]
        if metric == "L2":
            d = ((base - q) ** 2).sum(axis=1)
            order = np.argsort(d, kind="stable")[:k]
            return [int(ids[i]) for i in order], [float(d[i]) for i in order]
        s = base @ q
        order = np.argsort(-s, kind="stable")[:k]
        return [int(ids[i]) for i in order], [float(s[i]) for i in order]


@pytest.fixture(scope="session")
def dataset():
    if not (DATA / "base.fvecs").exists():
        pytest.fail(f"dataset missing at {DATA} (set VIREO_DATASET)")
    return Dataset(N_ROWS)



@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The `vireo serve` under test (None for Milvus Lite)."""
    if TARGET == "lite":
        yield None
        return
    s = VireoServer(tmp_path_factory.mktemp("vireo-data"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(tmp_path_factory, server):
    if TARGET == "lite":
        c = MilvusClient(str(tmp_path_factory.mktemp("lite") / "x.db"))
        yield c
        c.close()
        return
    c = MilvusClient(uri=server.uri)
    yield c
    c.close()


_counter = [0]


@pytest.fixture
def name():
    _counter[0] += 1
    return f"py{os.getpid()}_{_counter[0]}"
