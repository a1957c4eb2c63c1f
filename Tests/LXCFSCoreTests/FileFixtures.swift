import Foundation
import LXCFSCore

/// Fixture roots shipped with the tests (`Fixtures/v1`, `Fixtures/v2`) and
/// scratch roots built per test.
enum FileFixtures {
    /// A fixture host under `Fixtures/NAME`.
    static func named(_ name: String) -> HostRoot {
        let base = Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(name)
        return HostRoot(base.path)
    }

    /// A new empty folder to build a host in; removed by the caller.
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swl-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `text` at `path` under `root`, creating folders.
    static func write(_ root: URL, _ path: String, _ text: String) throws {
        let url = root.appendingPathComponent(String(path.drop { $0 == "/" }))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
