// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-lxcfs",
    products: [
        .executable(name: "swift-lxcfs", targets: ["swift-lxcfs"]),
        // The admission webhook: a program of its own, so that the daemon links no HTTP or TLS code.
        .executable(name: "swift-lxcfs-webhook", targets: ["swift-lxcfs-webhook"]),
        .library(name: "LXCFSCore", targets: ["LXCFSCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // The admission webhook's HTTPS server (swift-lxcfs-webhook only).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // libfuse3 bridge: module map and shim header only.
        .systemLibrary(
            name: "CFuse3",
            pkgConfig: "fuse3",
            providers: [.apt(["libfuse3-dev"])]
        ),
        // Linux system calls Swift's Glibc module lacks (setns, open_tree, move_mount, epoll, eventfd).
        .target(name: "CLinux"),
        // The daemon's lifecycle without I/O: the sd_notify, takeover and reattach-helper
        // messages (one codec per exchange) and the supervisor's restart policy as a reducer.
        .target(
            name: "LXCFSLifecycle",
            dependencies: [.product(name: "SystemPackage", package: "swift-system")]
        ),
        // The OS edge: descriptors, descriptor passing, threads, processes (posix_spawn)
        // and unmounting over swift-system's FileDescriptor and Errno (EINTR retried in one place).
        .target(
            name: "LXCFSSystem",
            dependencies: ["CLinux", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // The parser of /proc/PID/mountinfo that every module uses. No dependencies.
        .target(name: "LXCFSMountInfo"),
        // cgroup discovery and reading, host snapshot, one renderer per virtual file. No FUSE.
        .target(
            name: "LXCFSCore",
            dependencies: [
                "CLinux",
                "LXCFSMountInfo",
                "LXCFSSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The FUSE wire: requests decoded once, replies encoded in one place,
        // the transport, INIT, the worker threads. No filesystem.
        .target(
            name: "FUSEProtocol",
            dependencies: ["CFuse3", "LXCFSSystem", .product(name: "Logging", package: "swift-log")]
        ),
        // The FUSE operations: path -> renderer, file handles, errors.
        .target(
            name: "LXCFSFilesystem",
            dependencies: [
                "CFuse3",
                "FUSEProtocol",
                "CLinux",
                "LXCFSCore",
                "LXCFSLifecycle",
                "LXCFSMountInfo",
                "LXCFSSystem",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The seccomp agent: sysinfo(2) answered through seccomp user notification
        // with the figures the views show (runc's listenerPath protocol).
        .target(
            name: "LXCFSSeccomp",
            dependencies: [
                "CLinux",
                "LXCFSCore",
                "LXCFSSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The reattach step: dead lxcfs mounts in every mount namespace
        // replaced with binds of the live mount. No FUSE, no LXCFSCore.
        .target(name: "LXCFSReattach", dependencies: ["CLinux", "LXCFSLifecycle", "LXCFSMountInfo", "LXCFSSystem"]),
        .executableTarget(
            name: "swift-lxcfs",
            dependencies: [
                "CLinux",
                "LXCFSCore",
                "LXCFSFilesystem",
                "LXCFSLifecycle",
                "LXCFSMountInfo",
                "LXCFSReattach",
                "LXCFSSeccomp",
                "LXCFSSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                "LXCFSBinds",
            ]
        ),
        // The files and folders a container binds from the mount point (webhook, CDI spec). No dependencies.
        .target(name: "LXCFSBinds"),
        // The pod patch of the admission webhook, without the server (unit-tested).
        .target(name: "LXCFSWebhook", dependencies: ["LXCFSBinds"]),
        // `swift-lxcfs webhook`: AdmissionReview over HTTPS (SwiftNIO, NIOSSL).
        .executableTarget(
            name: "swift-lxcfs-webhook",
            dependencies: [
                "LXCFSWebhook",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "LXCFSCoreTests",
            dependencies: ["LXCFSCore"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "LXCFSWebhookTests", dependencies: ["LXCFSWebhook"]),
        .testTarget(name: "LXCFSReattachTests", dependencies: ["LXCFSReattach", "LXCFSLifecycle", "LXCFSMountInfo"]),
        // The lifecycle's codecs and the supervisor's reducer (fake clock, no processes).
        .testTarget(name: "LXCFSLifecycleTests", dependencies: ["LXCFSLifecycle"]),
        // Descriptor passing over a socketpair; starting a process (Spawn).
        .testTarget(name: "LXCFSSystemTests", dependencies: ["LXCFSSystem"]),
        // struct sysinfo's bytes, the figures read back from renderings, the runtime's message.
        .testTarget(name: "LXCFSSeccompTests", dependencies: ["LXCFSSeccomp", "LXCFSCore", "CLinux"]),
        .testTarget(name: "LXCFSMountInfoTests", dependencies: ["LXCFSMountInfo"]),
        // The state blob, node ids and the takeover socket path (no mount).
        .testTarget(name: "LXCFSFilesystemTests", dependencies: ["LXCFSFilesystem"]),
        // The request path: request bytes in through a socket pair, reply bytes asserted (no mount).
        .testTarget(
            name: "FUSEProtocolTests",
            dependencies: ["CFuse3", "FUSEProtocol", "LXCFSCore", "LXCFSFilesystem",
                           .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
