// swift-tools-version: 6.1
// Vireo: a Milvus-style vector database in Swift.
//
// Layers (arrows point down only; see Sources/Vireo/Vireo.docc/Architecture.md):
//   vireo  →  VireoServer (Hummingbird 2 REST and grpc-swift-2 gRPC adapters over transport-independent handlers)  →  Vireo
//                         →  VireoMilvusProto (generated Milvus wire types)
//   vireo, vireo-bench  →  Vireo  →  VireoIndex → VireoKernels → CVireoKernels, COpenBLAS
//                                 →  VireoStorage → CLMDB, CZstd
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode (strict concurrency) plus the upcoming
/// features that keep existentials and imports explicit.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Vireo",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Vireo", targets: ["Vireo"]),
        .executable(name: "vireo", targets: ["vireo"]),
        .executable(name: "vireo-bench", targets: ["vireo-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        // The server. Hummingbird without its default traits: no swift-configuration (we parse flags
        // ourselves) — fewer packages to build in CI.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        // Milvus wire types (VireoMilvusProto).
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        // HTTP/2 for our own plaintext gRPC server transport (Sources/VireoServer/GRPC/H2CServerTransport.swift):
        // grpc-swift-nio-transport would also build swift-nio-ssl and swift-crypto/swift-certificates.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        // Latency percentiles in vireo-bench.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // System libraries (Debian: apt-get install liblmdb-dev libopenblas-dev libzstd-dev).
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Snowball stemmers (Debian ships no .pc file for it, so no pkgConfig name).
        .systemLibrary(name: "CStemmer", providers: [.apt(["libstemmer-dev"])]),

        // Distance kernels and checksums in C with function multi-versioning (AVX-512 / AVX2 / baseline
        // chosen at load time), so one portable binary runs the widest SIMD the CPU has.
        .target(
            name: "CVireoKernels",
            cSettings: [.unsafeFlags(["-O3", "-ffp-contract=fast", "-mprefer-vector-width=512"])]
        ),
        .target(
            name: "VireoKernels",
            dependencies: ["CVireoKernels", "COpenBLAS"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VireoIndex",
            dependencies: ["VireoKernels", "CVireoKernels"],
            swiftSettings: swiftSettings
        ),
        // Full-text search core: analyzers, sparse vectors, BM25 statistics, compressed posting lists
        // and dynamic-pruning top-k (see Sources/VireoText/VireoText.docc/VireoText.md).
        .target(
            name: "VireoText",
            dependencies: ["CStemmer", "CVireoKernels"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VireoStorage",
            dependencies: ["CLMDB", "CZstd", "CVireoKernels"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Vireo",
            dependencies: ["VireoIndex", "VireoStorage", "VireoKernels", "VireoText"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VireoServer",
            dependencies: [
                "Vireo", "VireoKernels", "VireoText",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                // The gRPC adapter (Sources/VireoServer/GRPC) and the shared-port listener.
                "VireoMilvusProto",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: swiftSettings
        ),
        // Milvus' gRPC messages and MilvusService stubs, generated from proto/ by
        // scripts/generate-grpc.sh and committed (package access: for VireoServer and tests only).
        .target(
            name: "VireoMilvusProto",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "vireo",
            dependencies: [
                "Vireo", "VireoKernels", "VireoServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // vireo-bench: the reusable parts (dataset readers, ground truth, recall, runner, JSON/Markdown/SVG
        // output, peers CSV) live in VireoBenchKit so VireoBenchTests can reach them; the executable is the
        // command line.
        .target(
            name: "VireoBenchKit",
            dependencies: [
                "Vireo", "VireoIndex", "VireoKernels",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                // The REST client (HTTPClient.swift: why not URLSession).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "bench/VireoBenchKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "vireo-bench",
            dependencies: [
                "Vireo", "VireoIndex", "VireoKernels", "VireoBenchKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/VireoBench",
            swiftSettings: swiftSettings
        ),

        // BM25 benchmark of VireoText against peers (bench/text_peers.py runs tantivy and bm25s).
        .executableTarget(
            name: "vireo-text-bench",
            dependencies: ["VireoText"],
            path: "bench/VireoTextBench",
            swiftSettings: swiftSettings
        ),

        // Test support and tests (swift-testing). The crash writer is a child process for the
        // kill -9 durability test.
        .executableTarget(
            name: "vireo-crash-writer",
            dependencies: ["Vireo"],
            path: "Tests/CrashWriter",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VireoTestSupport",
            dependencies: ["Vireo", "VireoKernels"],
            path: "Tests/VireoTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoKernelsTests",
            dependencies: ["VireoKernels", "VireoTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoIndexTests",
            dependencies: ["VireoIndex", "VireoKernels", "VireoTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoTextTests",
            dependencies: ["VireoText", "VireoKernels"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoStorageTests",
            dependencies: ["VireoStorage", "VireoKernels", "VireoTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoServerTests",
            // "vireo": the release test build also builds the binary the e2e suite (scripts/test.sh) runs.
            dependencies: [
                "VireoServer", "Vireo", "VireoKernels", "VireoMilvusProto", "VireoTestSupport", "vireo",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                // The gRPC transport's stream handler, driven in an EmbeddedChannel.
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoMilvusProtoTests",
            dependencies: ["VireoMilvusProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoBenchTests",
            dependencies: ["VireoBenchKit", "Vireo", "VireoTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VireoTests",
            dependencies: ["Vireo", "VireoIndex", "VireoStorage", "VireoTestSupport", "vireo-crash-writer"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
