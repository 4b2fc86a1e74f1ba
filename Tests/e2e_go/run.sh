#!/usr/bin/env bash
# The grpc-go smoke test (Tests/e2e_go/README.md): generates Go protobuf/gRPC types from proto/,
# builds Tests/e2e_go/smoke offline in GOPATH mode against Debian's Go sources
# (/usr/share/gocode: golang-google-grpc-dev, golang-google-protobuf-dev), and runs it against
# `vireo serve` (VIREO_BIN, default .build/release/vireo). No module proxy, no network.
#
# Debian packages: golang-go golang-google-grpc-dev golang-google-protobuf-dev protobuf-compiler
#                  protoc-gen-go protoc-gen-go-grpc
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${VIREO_BIN:-$ROOT/.build/release/vireo}
WORK=${GO_SMOKE_WORK:-$ROOT/.build/e2e_go}

for tool in go protoc protoc-gen-go protoc-gen-go-grpc; do
    if ! command -v "$tool" >/dev/null; then
        echo "e2e_go: $tool is missing; apt-get install golang-go golang-google-grpc-dev" \
             "golang-google-protobuf-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc" >&2
        exit 1
    fi
done
for pkg in google.golang.org/grpc google.golang.org/protobuf; do
    test -d "/usr/share/gocode/src/$pkg" || { echo "e2e_go: /usr/share/gocode/src/$pkg is missing (Debian's golang-*-dev)" >&2; exit 1; }
done
test -x "$BIN" || { echo "e2e_go: $BIN is missing (scripts/test.sh builds it)" >&2; exit 1; }

# A GOPATH of our own in front of Debian's: src/vireo-e2e holds the program and the generated types.
SRC=$WORK/src/vireo-e2e
rm -rf "$SRC"
mkdir -p "$SRC/pb/commonpb" "$SRC/pb/schemapb" "$SRC/pb/milvuspb"
cp "$ROOT"/Tests/e2e_go/smoke/*.go "$SRC/"
# proto/ declares no go_package: map each file to its Go package here.
MAP="Mcommon.proto=vireo-e2e/pb/commonpb,Mschema.proto=vireo-e2e/pb/schemapb,Mmilvus.proto=vireo-e2e/pb/milvuspb"
protoc -I "$ROOT/proto" --go_out="$WORK/src" --go_opt="$MAP" --go-grpc_out="$WORK/src" --go-grpc_opt="$MAP" \
    common.proto schema.proto milvus.proto

export GO111MODULE=off GOPATH="$WORK:/usr/share/gocode" GOPROXY=off GOFLAGS= GOTOOLCHAIN=local \
       GOCACHE="$WORK/gocache" CGO_ENABLED=0
t0=$(date +%s)
go vet vireo-e2e
go build -o "$WORK/smoke" vireo-e2e
echo "e2e_go: $(go version | cut -d' ' -f3), grpc-go $(dpkg-query -W -f='${Version}' golang-google-grpc-dev 2>/dev/null || echo '?'); built in $(( $(date +%s) - t0 )) s"
exec "$WORK/smoke" -bin "$BIN" "$@"
