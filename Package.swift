// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "charrnn",
    products: [
        .library(name: "CharRNN", targets: ["CharRNN"]),
        // libcharrnn.so: the C ABI described by include/charrnn.h.
        .library(name: "charrnn", type: .dynamic, targets: ["CharRNNCAPI"]),
        // The command line. SwiftPM cannot name an executable like the library product above, so the
        // binary is charrnn-cli and `make` links it as .build/release/charrnn.
        .executable(name: "charrnn-cli", targets: ["charrnn"]),
        .executable(name: "charrnn-repl", targets: ["charrnn-repl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CEditLine",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        // Hot loops in C, compiled for several x86-64 levels and chosen at load time (see its header).
        .target(name: "CharRNNKernels"),
        .target(
            name: "CharRNN",
            dependencies: ["CBLAS", "CharRNNKernels"]
        ),
        .target(
            name: "CharRNNCAPI",
            dependencies: ["CharRNN"],
            // CHeader/module.modulemap imports include/charrnn.h, so the exports use the header's own
            // structs, enums and callback types.
            exclude: ["CHeader"],
            swiftSettings: [
                .unsafeFlags(["-I", String(#filePath.dropLast("Package.swift".count)) + "Sources/CharRNNCAPI/CHeader"]),
            ],
            // The Swift runtime and Foundation are linked into libcharrnn.so, so C programs need no
            // Swift toolchain on their library path.
            linkerSettings: [.unsafeFlags(["-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization"])]
        ),
        // What the two programs share: their main(), stdout's failure check, and where a model is found.
        .target(
            name: "CommandLineSupport",
            dependencies: ["CharRNN", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "charrnn",
            dependencies: ["CharRNN", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "charrnn-repl",
            dependencies: ["CharRNN", "CommandLineSupport", "CEditLine",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "CharRNNTests", dependencies: ["CharRNN"]),
    ]
)
