import Foundation
import XCTest
@testable import LXCFSCore

/// The host-wide files each thread keeps open (`ThreadKeptFiles.readHost`)
/// on the real host: what is shared between reads and what is read afresh.
final class KeptHostFilesTests: XCTestCase {
    func read(_ files: ThreadKeptFiles, _ path: String) throws -> [UInt8] {
        try XCTUnwrap(XCTUnwrap(files.readHost(path, sizeHint: 8192)))
    }

    /// /proc/stat's `ctxt` and CPU counters move every tick on a running
    /// machine; within the shared lifetime the same bytes come back.
    func testSharedFileIsReusedWithinItsLifetime() throws {
        let files = ThreadKeptFiles(sharedLifetime: 3_600_000_000_000)
        let first = try read(files, "/proc/stat")
        usleep(50_000)
        XCTAssertEqual(try read(files, "/proc/stat"), first)
    }

    /// Runs `body` on a thread of its own and waits for it.
    func onOtherThread(_ body: @escaping @Sendable () -> [UInt8]?) -> [UInt8]? {
        let box = ResultBox()
        Thread { box.value = body(); box.done.signal() }.start()
        box.done.wait()
        return box.value
    }

    /// Another thread serves the same bytes within the lifetime, and once
    /// a newer generation exists, a thread that still holds an older one
    /// serves the newer: a reader whose reads land on different threads
    /// never sees /proc/stat's counters go back.
    func testThreadsServeTheNewestGeneration() throws {
        let files = ThreadKeptFiles(sharedLifetime: 1_000_000_000)
        let first = try read(files, "/proc/stat")
        let other = onOtherThread { files.readHost("/proc/stat", sizeHint: 8192) ?? nil }
        XCTAssertEqual(other, first)
        usleep(1_100_000)
        let newer = try XCTUnwrap(onOtherThread { files.readHost("/proc/stat", sizeHint: 8192) ?? nil })
        XCTAssertNotEqual(newer, first)
        XCTAssertEqual(try read(files, "/proc/stat"), newer)
    }

    /// With no shared lifetime, each read generates the file again: five
    /// tick-apart reads of /proc/stat are not all the same.
    func testUnsharedReadsGenerateTheFileAgain() throws {
        let files = ThreadKeptFiles(sharedLifetime: 0)
        var seen = Set<[UInt8]>()
        for _ in 0..<5 {
            seen.insert(try read(files, "/proc/stat"))
            usleep(20_000)
        }
        XCTAssertGreaterThan(seen.count, 1)
    }

    /// /proc/uptime is never shared, whatever the lifetime: it must move.
    func testUptimeIsNeverShared() throws {
        let files = ThreadKeptFiles(sharedLifetime: 3_600_000_000_000)
        let first = try read(files, "/proc/uptime")
        usleep(30_000)
        XCTAssertNotEqual(try read(files, "/proc/uptime"), first)
    }

    /// A kept file reads the same as an ordinary read of it: /proc/cpuinfo
    /// (larger than the first buffer, so the buffer grows) has as many
    /// `processor` lines either way.
    func testKeptReadIsTheWholeFile() throws {
        let files = ThreadKeptFiles(sharedLifetime: 0)
        let kept = try read(files, "/proc/cpuinfo")
        // 64 bytes first: the ordinary read grows its buffer many times.
        let fd = open("/proc/cpuinfo", O_RDONLY)
        defer { close(fd) }
        let plain = try XCTUnwrap(HostRoot.readAll(fd, sizeHint: 64))
        func processors(_ b: [UInt8]) -> Int {
            String(decoding: b, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("processor") }.count
        }
        XCTAssertGreaterThan(processors(plain), 0)
        XCTAssertEqual(processors(kept), processors(plain))
    }

    /// A file the kernel prints record by record gives one page per
    /// `pread`; read to the end, it is whole. /proc/slabinfo (one line per
    /// cache, some 25 KiB) has as many lines as an ordinary read.
    func testRecordByRecordFileIsReadToTheEnd() throws {
        let fd = open("/proc/slabinfo", O_RDONLY)
        try XCTSkipIf(fd < 0, "/proc/slabinfo is not readable here")
        defer { close(fd) }
        func lines(_ b: [UInt8]) -> Int { b.filter { $0 == UInt8(ascii: "\n") }.count }
        let (whole, n) = ThreadKeptFiles.pread0(fd, 1 << 20, toEnd: true)
        let plain = try XCTUnwrap(HostRoot.readAll(fd, sizeHint: 64))
        XCTAssertGreaterThan(n, 4096)
        XCTAssertEqual(lines(whole), lines(plain))
        let (one, _) = ThreadKeptFiles.pread0(fd, 1 << 20)
        XCTAssertLessThan(one.count, whole.count, "one pread is one page of records")
    }

    /// Files outside the kept set are left to the caller.
    func testOtherFilesAreNotKept() {
        XCTAssertNil(ThreadKeptFiles().readHost("/proc/self/status", sizeHint: 4096) as [UInt8]??)
    }

    /// A v1 file name learnt absent is absent for this thread only.
    func testAbsentNamesAreRemembered() {
        let files = ThreadKeptFiles()
        let child = AbsentName(scope: "/sys/fs/cgroup/blkio/*/", name: "blkio.io_serviced")
        XCTAssertFalse(files.isAbsent(child))
        files.learnAbsent(child)
        XCTAssertTrue(files.isAbsent(child))
        XCTAssertFalse(files.isAbsent(AbsentName(scope: "/sys/fs/cgroup/blkio/", name: "blkio.io_serviced")))
        // Another thread learns for itself.
        XCTAssertNil(onOtherThread { files.isAbsent(child) ? [1] : nil })
    }
}

/// A result handed from a test's helper thread, read after `done`.
final class ResultBox: @unchecked Sendable {
    var value: [UInt8]?
    let done = DispatchSemaphore(value: 0)
}
