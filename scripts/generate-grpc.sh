#!/usr/bin/env bash
# Regenerates Sources/VireoMilvusProto/Generated from proto/*.proto. Run it after editing a .proto and
# commit the result; builds never run protoc (the SwiftPM build plugin would compile protoc and abseil
# from C++ source on every clean build).
#
# Tools, all pinned:
#   protoc                  grpcio-tools 1.85.1 from PyPI (`python -m grpc_tools.protoc`), in a venv
#   protoc-gen-swift        swift-protobuf 1.39.0      } built once, in release, in a scratch package
#   protoc-gen-grpc-swift-2 grpc-swift-protobuf 2.4.1  } outside the repository
# The venv and the scratch package live under $VIREO_TOOLS_DIR (default ~/.cache/vireo-tools); they
# are created on first use (building the plugins takes a few minutes) and reused afterwards.
#
# Usage: scripts/generate-grpc.sh [--check]
#   --check  regenerate into a temporary folder and fail if the committed files differ.
set -euo pipefail
cd "$(dirname "$0")/.."

swift_protobuf_version=1.39.0
grpc_swift_protobuf_version=2.4.1
tools_dir="${VIREO_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vireo-tools}"
venv="$tools_dir/proto-venv"
plugins="$tools_dir/protoc-plugins"
out=Sources/VireoMilvusProto/Generated

# protoc, from PyPI.
if ! "$venv/bin/python" -c 'import grpc_tools, pymilvus' 2>/dev/null; then
    echo "creating $venv (proto/requirements.txt)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r proto/requirements.txt
fi

# The two plugins, from the Swift package mirror, built once.
if [[ ! -x "$plugins/.build/release/protoc-gen-swift" || ! -x "$plugins/.build/release/protoc-gen-grpc-swift-2" ]]; then
    echo "building protoc-gen-swift and protoc-gen-grpc-swift-2 in $plugins (slow, once)"
    mkdir -p "$plugins"
    cat > "$plugins/Package.swift" <<EOF
// swift-tools-version: 6.1
// Scratch package that only builds the protoc plugins for Vireo's scripts/generate-grpc.sh.
import PackageDescription

let package = Package(
    name: "protoc-plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "$swift_protobuf_version"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "$grpc_swift_protobuf_version"),
    ],
    targets: []
)
EOF
    (cd "$plugins" && nice -n 10 swift build -c release --product protoc-gen-swift \
        && nice -n 10 swift build -c release --product protoc-gen-grpc-swift-2)
fi
bin="$plugins/.build/release"
[[ "$("$bin/protoc-gen-swift" --version)" == "protoc-gen-swift $swift_protobuf_version" ]] \
    || { echo "error: $bin/protoc-gen-swift is not version $swift_protobuf_version" >&2; exit 1; }
[[ "$("$bin/protoc-gen-grpc-swift-2" --version)" == "protoc-gen-grpc-swift-2 $grpc_swift_protobuf_version" ]] \
    || { echo "error: $bin/protoc-gen-grpc-swift-2 is not version $grpc_swift_protobuf_version" >&2; exit 1; }

target="$out"
if [[ "${1:-}" == "--check" ]]; then
    target="$(mktemp -d)"
    trap 'rm -rf "$target"' EXIT
else
    rm -rf "$out"
    mkdir -p "$out"
fi

# Visibility=Package: the types are visible to every target of this package (VireoServer, tests)
# and to nothing outside it; VireoMilvusProto is not a product, so no proto type reaches the API
# of the Vireo library.
# Messages and enums of all three files; client and server stubs for MilvusService (the only
# service, in milvus.proto).
"$venv/bin/python" -m grpc_tools.protoc --proto_path=proto \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --swift_out="$target" --swift_opt=Visibility=Package \
    common.proto schema.proto milvus.proto
"$venv/bin/python" -m grpc_tools.protoc --proto_path=proto \
    --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
    --grpc-swift-2_out="$target" --grpc-swift-2_opt=Visibility=Package,Server=true,Client=true \
    milvus.proto

if [[ "${1:-}" == "--check" ]]; then
    if ! diff -r "$out" "$target"; then
        echo "error: $out is stale; run scripts/generate-grpc.sh and commit the result" >&2
        exit 1
    fi
    echo "$out is up to date"
else
    ls -l "$out"
fi
