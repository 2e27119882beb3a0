// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "charrnn",
    products: [
        .library(name: "CharRNN", targets: ["CharRNN"]),
        // The C ABI described by include/charrnn.h, as a static library for Swift packages that embed
        // it. `make lib` links the same objects into libcharrnn.so.MAJOR.MINOR.PATCH with the Swift
        // runtime inside, a SONAME and only the header's functions exported (see the Makefile).
        .library(name: "charrnn", type: .static, targets: ["CharRNNCAPI"]),
        // The command line. SwiftPM cannot name an executable like the library product above, so the
        // binary is charrnn-cli and `make` links it as .build/release/charrnn.
        .executable(name: "charrnn-cli", targets: ["charrnn"]),
        .executable(name: "charrnn-repl", targets: ["charrnn-repl"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
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
        // include/charrnn.h as a Clang module, so the exports use the header's own structs, enums and
        // callback types, and the core its version macros.
        .target(name: "CCharRNNHeader"),
        .target(
            name: "CharRNN",
            dependencies: ["CBLAS", "CharRNNKernels", "CCharRNNHeader"]
        ),
        .target(
            name: "CharRNNCAPI",
            dependencies: ["CharRNN", "CCharRNNHeader"]
        ),
        // What the two programs share: their main(), stdout's failure check, where a model is found, and
        // the explain page.
        .target(
            name: "CommandLineSupport",
            dependencies: ["CharRNN", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            // The page of `charrnn explain` and the REPL's :explain, compiled into the programs (Python's
            // package carries the same file: bindings/python/setup.py).
            resources: [.embedInCode("Resources/explain.html")]
        ),
        .executableTarget(
            name: "charrnn",
            dependencies: [
                "CharRNN", "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),
        .executableTarget(
            name: "charrnn-repl",
            dependencies: [
                "CharRNN", "CommandLineSupport", "CEditLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),
        .testTarget(name: "CharRNNTests", dependencies: ["CharRNN"])
    ]
)
