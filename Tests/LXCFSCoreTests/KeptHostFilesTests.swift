import Foundation
import XCTest
@testable import LXCFSCore

/// The host-wide files each thread keeps open (`ThreadKeptFiles.readHost`)
/// on the real host: what is shared between reads and what is read afresh.
final class KeptHostFilesTests: XCTestCase {
    func read(_ files: ThreadKeptFiles, _ path: String) throws -> [UInt8] {
        try XCTUnwrap(XCTUnwrap(files.readHost(path, sizeHint: 8192)))
    }

    /// Runs `body` on a thread of its own and waits for it.
    func onOtherThread(_ body: @escaping @Sendable () -> [UInt8]?) -> [UInt8]? {
        let box = ResultBox()
        Thread { box.value = body(); box.done.signal() }.start()
        box.done.wait()
        return box.value
    }

    /// Each read generates the file again: five tick-apart reads of
    /// /proc/stat are not all the same.
    func testReadsGenerateTheFileAgain() throws {
        let files = ThreadKeptFiles()
        var seen = Set<[UInt8]>()
        for _ in 0..<5 {
            seen.insert(try read(files, "/proc/stat"))
            usleep(20_000)
        }
        XCTAssertGreaterThan(seen.count, 1)
    }

    /// /proc/uptime moves between two reads 30 ms apart.
    func testUptimeMoves() throws {
        let files = ThreadKeptFiles()
        let first = try read(files, "/proc/uptime")
        usleep(30_000)
        XCTAssertNotEqual(try read(files, "/proc/uptime"), first)
    }

    /// A kept file reads the same as an ordinary read of it: /proc/cpuinfo
    /// (larger than the first buffer, so the buffer grows) has as many
    /// `processor` lines either way.
    func testKeptReadIsTheWholeFile() throws {
        let files = ThreadKeptFiles()
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

/// The host counters of /proc/stat, read by several threads at once through
/// the descriptors the daemon's worker threads keep: for each thread, no
/// counter ever goes back from one read to the next. (With the host files
/// shared between threads for a tick, a thread that lost the race served
/// its own newer bytes, then an older shared generation: `ctxt` went back
/// up to 211 times in 4 x 40,000 reads.)
final class HostCounterConcurrencyTests: XCTestCase {
    /// The counters a reader of /proc/stat expects never to go back:
    /// `ctxt`, the `intr` total, `processes`, and per CPU line user, nice,
    /// system, irq, softirq and steal (not idle and iowait, which proc(5)
    /// says may decrease on the host itself).
    static func counters(_ bytes: [UInt8]) -> [String: [UInt64]] {
        var out: [String: [UInt64]] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let w = line.split(separator: " ")
            guard let key = w.first else { continue }
            if key.hasPrefix("cpu") {
                let f = w.dropFirst().compactMap { UInt64($0) }
                guard f.count >= 8 else { continue }
                out[String(key)] = [f[0], f[1], f[2], f[5], f[6], f[7]]
            } else if key == "intr" || key == "ctxt" || key == "processes", w.count > 1, let v = UInt64(w[1]) {
                out[String(key)] = [v]
            }
        }
        return out
    }

    func testNoHostCounterGoesBackForAThread() throws {
        let files = ThreadKeptFiles()
        let threads = 4, reads = 12_000
        let failures = FailureLog()
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                var last: [String: [UInt64]] = [:]
                for i in 0..<reads {
                    guard let bytes = files.readHost("/proc/stat", sizeHint: 8192) ?? nil else {
                        failures.add("thread \(t) read \(i): no bytes")
                        return
                    }
                    let now = Self.counters(bytes)
                    if now["ctxt"] == nil || now["intr"] == nil || now["processes"] == nil || now["cpu"] == nil {
                        failures.add("thread \(t) read \(i): counters missing")
                        return
                    }
                    for (key, values) in now {
                        if let before = last[key], zip(before, values).contains(where: { $0 > $1 }) {
                            failures.add("thread \(t) read \(i): \(key) went back from \(before) to \(values)")
                        }
                    }
                    last = now
                }
            }.start()
        }
        group.wait()
        XCTAssertEqual(failures.entries.count, 0, failures.entries.prefix(5).joined(separator: "\n"))
    }
}

/// Failures collected from several threads.
final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var entries: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
