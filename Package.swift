// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Forklift",
    products: [
        .library(name: "Forklift", targets: ["Forklift"]),
        .library(name: "ForkliftConcurrency", targets: ["ForkliftConcurrency"]),
        .executable(name: "forklift", targets: ["ForkliftCLI"]),
    ],
    targets: [
        // Lua 5.4 from Debian's liblua5.4-dev, plus a shim for the macros Swift cannot import.
        .systemLibrary(
            name: "CLua", path: "CLua", pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]),
        // libedit for the REPL's line editing and history.
        .systemLibrary(
            name: "CEditLine", path: "Sources/CEditLine", pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]),
        // The Linux calls Swift cannot reach directly (_GNU_SOURCE-only or variadic).
        .target(name: "CSystem", path: "Sources/CSystem"),
        .target(
            name: "Forklift", dependencies: ["CLua", "CSystem"],
            swiftSettings: strict),
        .executableTarget(
            name: "ForkliftCLI", dependencies: ["Forklift", "CLua", "CEditLine"],
            swiftSettings: strict,
            // Every fork copies the page tables of each mapped library and each
            // child binds lazily resolved symbols again: a statically linked Swift
            // runtime and eager binding make start+join ~25% cheaper (docs/performance.md).
            linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "-z", "-Xlinker", "now"], .when(configuration: .release))]),
        // Timing loops for the hot paths; a plain executable so `swift test` never runs it.
        .executableTarget(
            name: "ForkliftMicroBench", dependencies: ["Forklift", "CLua"], path: "Benchmarks/ForkliftMicroBench",
            swiftSettings: strict),
        // Swift-concurrency conveniences (AsyncSequence of pool results), kept
        // out of `Forklift` so the library that forks never uses concurrency.
        .target(name: "ForkliftConcurrency", dependencies: ["Forklift"], swiftSettings: strict),
        // A Swift tool embedding Forklift (README, "Embedding Forklift in Swift").
        .executableTarget(
            name: "ForkliftEmbedDemo", dependencies: ["Forklift"], path: "Examples/ForkliftEmbedDemo",
            swiftSettings: strict),
        // Single-threaded scenarios the end-to-end tests run for the embedding API (they fork).
        .executableTarget(
            name: "ForkliftEmbedScenarios", dependencies: ["Forklift"], path: "Tests/EmbedScenarios",
            swiftSettings: strict),
        .testTarget(name: "ForkliftTests", dependencies: ["Forklift", "ForkliftConcurrency", "CLua"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: [], swiftSettings: strict),
    ]
)
