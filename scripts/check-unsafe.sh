#!/usr/bin/env bash
# Unsafe memory access is allowed only in kernels (VireoKernels, CVireoKernels), arenas and the
# storage layer (VireoStorage). Everything above passes bytes through, never dereferences raw memory.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='loadUnaligned|assumingMemoryBound|bindMemory|UnsafeMutable|\.allocate\(|unsafeUninitializedCapacity|nonisolated\(unsafe\)'
if grep -rnE "$pattern" Sources/Vireo Sources/VireoServer Sources/vireo bench/VireoBench bench/VireoBenchKit; then
    echo "error: unsafe memory access outside kernels, arenas and the storage layer (see above)" >&2
    exit 1
fi
# Every @unchecked Sendable carries a SAFETY comment. Generated code (Sources/*/Generated, written by
# protoc plugins and never edited) is exempt: swift-protobuf marks messages with heap storage
# @unchecked Sendable and guarantees it through copy-on-write.
status=0
while IFS= read -r file; do
    if ! grep -q "SAFETY:" "$file"; then
        echo "error: $file declares @unchecked Sendable without a // SAFETY: comment" >&2
        status=1
    fi
done < <(grep -rlE "@unchecked Sendable" --exclude-dir=Generated Sources)
exit $status
