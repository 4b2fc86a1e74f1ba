#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs it):
#   1. the Swift test suites (release build),
#   2. the release `vireo` binary (from the same build),
#   3. a Python venv with pinned test tools,
#   4. the end-to-end suite (Tests/e2e) against `vireo serve` on free loopback ports,
#   5. the pymilvus suite (Tests/e2e_pymilvus) against the same binary over gRPC,
#   6. the grpc-go smoke test (Tests/e2e_go, Debian's grpc-go; .ci/run installs its packages).

#   6. the RAG frameworks (Tests/e2e_frameworks): LangChain's and LlamaIndex's Milvus vector stores, each in its
#      own venv with its pinned pymilvus major (their pip installs run in the background from the start, while the
#      Swift build runs).
# Environment: VENV (default .venv-e2e), VIREO_DATASET (default ../shared/data/dev), PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

# 6a. The frameworks' venvs (pinned, full dependency lists in Tests/e2e_frameworks/requirements-*.txt): mostly
#     downloads, so they go on while `swift test` compiles; step 6 waits for them and shows the log of a failure.
FW_DIR=Tests/e2e_frameworks
FW_NAMES=(langchain llamaindex)
FW_LOGS=$(mktemp -d)
FW_PIDS=()
for fw in "${FW_NAMES[@]}"; do
    if [ ! -x ".venv-$fw/bin/python" ]; then
        python3 -m venv ".venv-$fw"
    fi
    ".venv-$fw/bin/pip" install -q --no-compile --disable-pip-version-check -r "$FW_DIR/requirements-$fw.txt" \
        >"$FW_LOGS/$fw.log" 2>&1 &
    FW_PIDS+=($!)
done
trap 'for p in "${FW_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# One release build for both: `swift test -c release` compiles with testability, which a plain
# `swift build -c release` would compile again from scratch, so the e2e suite uses the `vireo` that
# the test build makes (VireoServerTests depends on the executable for that reason).
swift test -c release
test -x .build/release/vireo

VENV=${VENV:-.venv-e2e}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check \
    pytest==9.2.0 requests==2.34.2 numpy==2.4.6 schemathesis==4.32.5 h2==4.1.0

VIREO_BIN="$PWD/.build/release/vireo" "$VENV/bin/python" -m pytest Tests/e2e -q ${PYTEST_ARGS:-}

# 5. The gRPC API through pymilvus (Tests/e2e_pymilvus), in its own venv: pymilvus pulls grpcio, pandas and
#    protobuf, kept apart from schemathesis' pins. (E2E_TARGET=lite runs the same suite against Milvus Lite.)
VENV_PYMILVUS=${VENV_PYMILVUS:-.venv-pymilvus}
if [ ! -x "$VENV_PYMILVUS/bin/python" ]; then
    python3 -m venv "$VENV_PYMILVUS"
fi
"$VENV_PYMILVUS/bin/pip" install -q --disable-pip-version-check pytest==9.2.0 numpy==2.4.6 pymilvus==3.0.2
VIREO_BIN="$PWD/.build/release/vireo" "$VENV_PYMILVUS/bin/python" -m pytest Tests/e2e_pymilvus -q ${PYTEST_ARGS:-}

<<<<<<< HEAD
# 6. The gRPC API through a second HTTP/2 stack: grpc-go from Debian (golang-google-grpc-dev), built offline
#    with types generated from proto/ (Tests/e2e_go/README.md). Skip with VIREO_SKIP_GO=1 where Go is absent.
if [ "${VIREO_SKIP_GO:-0}" = 1 ]; then
    echo "e2e_go: skipped (VIREO_SKIP_GO=1)"
else
    VIREO_BIN="$PWD/.build/release/vireo" Tests/e2e_go/run.sh
fi
=======
# 6. RAG frameworks (Tests/e2e_frameworks): LangChain's `Milvus` (langchain-milvus 0.4.0, pymilvus 3.x) and
#    LlamaIndex's `MilvusVectorStore` (llama-index-vector-stores-milvus 1.2.0, pymilvus 2.6.x) through ingest,
#    retrieval, filters, MMR, deletes, upserts and reopen, checked against numpy top-k on the dev dataset.
for i in "${!FW_NAMES[@]}"; do
    fw=${FW_NAMES[$i]}
    if ! wait "${FW_PIDS[$i]}"; then
        echo "pip install for .venv-$fw failed:" >&2
        cat "$FW_LOGS/$fw.log" >&2
        exit 1
    fi
done
VIREO_BIN="$PWD/.build/release/vireo" .venv-langchain/bin/python -m pytest "$FW_DIR/test_langchain.py" -q ${PYTEST_ARGS:-}
VIREO_BIN="$PWD/.build/release/vireo" .venv-llamaindex/bin/python -m pytest "$FW_DIR/test_llamaindex.py" -q ${PYTEST_ARGS:-}
>>>>>>> rag-frameworks
