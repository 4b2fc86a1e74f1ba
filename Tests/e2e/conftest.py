"""End-to-end tests of `vireo serve` against the real release binary on a free loopback port.

Run through scripts/test.sh (which builds the binary and the venv), or directly:
    VIREO_BIN=.build/release/vireo venv/bin/python -m pytest Tests/e2e
"""
import json
import os
import pathlib
import select
import signal
import subprocess
import tempfile
import time

import numpy as np
import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("VIREO_BIN", ROOT / ".build/release/vireo"))
DATA = pathlib.Path(os.environ.get("VIREO_DATASET", ROOT / "../shared/data/dev")).resolve()
N_ROWS = int(os.environ.get("VIREO_E2E_ROWS", "4000"))


class Server:
    """A `vireo serve` child process on 127.0.0.1 with a port the kernel picked (--port 0)."""

    def __init__(self, data_dir, *extra, env=None):
        self.data_dir = str(data_dir)
        self.extra = list(extra)
        self.env = env
        self.proc = None
        self.base = None
        self.log = None

    def start(self):
        assert BIN.exists(), f"{BIN} is missing: build it with `swift build -c release --product vireo`"
        env = dict(os.environ)
        env.update(self.env or {})
        self.log = tempfile.NamedTemporaryFile(prefix="vireo-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([str(BIN), "serve", "--data", self.data_dir, "--host", "127.0.0.1", "--port", "0", *self.extra],
                                     stdout=subprocess.PIPE, stderr=self.log, env=env, text=True)
        deadline = time.time() + 60
        line = ""
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if "listening on" in line:
                    break
            if self.proc.poll() is not None:
                raise RuntimeError(f"vireo serve exited with {self.proc.returncode}: {self.stderr()}")
        else:
            raise RuntimeError(f"vireo serve did not start: {self.stderr()}")
        self.base = line.split("listening on ")[1].split()[0]
        return self

    def stderr(self):
        return pathlib.Path(self.log.name).read_text() if self.log else ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def client(self, token=None):
        return Client(self.base, token)


class MilvusError(AssertionError):
    def __init__(self, reply):
        super().__init__(f"Milvus error {reply.get('code')}: {reply.get('message')}")
        self.reply = reply


class Client:
    def __init__(self, base, token=None):
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def raw(self, path, body=None, headers=None, data=None):
        url = f"{self.base}/v2/vectordb/{path}"
        if data is not None:
            return self.session.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, timeout=120)
        return self.session.post(url, json=body if body is not None else {}, headers=headers or {}, timeout=120)

    def call(self, path, body=None, headers=None):
        """POST and return the whole envelope (asserts HTTP 200)."""
        r = self.raw(path, body, headers)
        assert r.status_code == 200, (r.status_code, r.text[:500])
        return r.json()

    def ok(self, path, body=None, headers=None):
        """POST, assert code 0, return `data`."""
        reply = self.call(path, body, headers)
        if reply.get("code") != 0:
            raise MilvusError(reply)
        return reply["data"]

    def err(self, path, body, code):
        """POST, assert the Milvus error `code`, return the message."""
        reply = self.call(path, body)
        assert reply.get("code") == code, reply
        assert reply.get("message"), reply
        return reply["message"]

    def count(self, collection, filter=""):
        return self.ok("entities/query", {"collectionName": collection, "filter": filter, "outputFields": ["count(*)"]})[0]["count(*)"]


def read_fvecs(path, n=None):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    rows = raw.reshape(-1, dim + 1)
    if n is not None:
        rows = rows[:n]
    return rows[:, 1:].copy().view(np.float32), int(dim)


def read_ivecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:]


class Dataset:
    def __init__(self, n):
        self.base, self.dim = read_fvecs(DATA / "base.fvecs", n)
        self.queries, _ = read_fvecs(DATA / "query.fvecs")
        self.groundtruth = read_ivecs(DATA / "groundtruth.ivecs")
        self.passages = []
        with open(DATA / "passages.jsonl") as f:
            for i, line in enumerate(f):
                if i >= n:
                    break
                self.passages.append(json.loads(line))
        assert [p["id"] for p in self.passages] == list(range(len(self.passages)))
        self.n = len(self.passages)

    def rows(self, start, end, **extra):
        return [{"id": i, "vector": self.base[i].tolist(), "text": self.passages[i]["text"][:2000],
                 "source": self.passages[i]["source"].split(":")[0], "n": i % 10, **extra} for i in range(start, end)]

    def exact_topk(self, q, k, metric="IP", ids=None):
        """numpy exact search over the ingested rows (or `ids`): ids ordered best first."""
        base = self.base if ids is None else self.base[ids]
        if metric == "L2":
            d = ((base - q) ** 2).sum(axis=1)
            order = np.argsort(d, kind="stable")[:k]
        else:
            order = np.argsort(-(base @ q), kind="stable")[:k]
        return [int(i) if ids is None else int(ids[i]) for i in order]


@pytest.fixture(scope="session")
def dataset():
    if not (DATA / "base.fvecs").exists():
        pytest.fail(f"dataset missing at {DATA} (set VIREO_DATASET)")
    return Dataset(N_ROWS)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("vireo-data")).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    return server.client()


_counter = [0]


@pytest.fixture
def name():
    """A fresh collection name per test."""
    _counter[0] += 1
    return f"t{os.getpid()}_{_counter[0]}"
