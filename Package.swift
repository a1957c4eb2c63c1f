// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-lxcfs",
    products: [
        .executable(name: "swift-lxcfs", targets: ["swift-lxcfs"]),
        .library(name: "LXCFSCore", targets: ["LXCFSCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // libfuse3 bridge: module map and shim header only.
        .systemLibrary(
            name: "CFuse3",
            pkgConfig: "fuse3",
            providers: [.apt(["libfuse3-dev"])]
        ),
        // Linux system calls Swift's Glibc module lacks (setns, open_tree, move_mount).
        .target(name: "CLinux"),
        // cgroup discovery and reading, host snapshot, one renderer per virtual file. No FUSE.
        .target(
            name: "LXCFSCore",
            dependencies: [
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The FUSE operations: path -> renderer, file handles, errors.
        .target(
            name: "LXCFSFilesystem",
            dependencies: [
                "CFuse3",
                "CLinux",
                "LXCFSCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "swift-lxcfs",
            dependencies: [
                "CLinux",
                "LXCFSCore",
                "LXCFSFilesystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(
            name: "LXCFSCoreTests",
            dependencies: ["LXCFSCore"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
