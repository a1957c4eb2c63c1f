import LXCFSSystem
import SystemPackage
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SpawnTests: XCTestCase {
    /// A close-on-exec pipe: (read end, write end).
    func makePipe() throws -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(Glibc.pipe(&fds), 0)
        fds.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    func readAll(_ fd: FileDescriptor) throws -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func testPassedDescriptorsBecomeThreeFourInOrderAndOthersAreClosed() throws {
        let (firstRead, firstWrite) = try makePipe()
        let (secondRead, secondWrite) = try makePipe()
        // Not close-on-exec: only closingOthers keeps it out of the child.
        let null = try FileDescriptor.open("/dev/null", .readOnly)
        let stray = try null.duplicate(as: FileDescriptor(rawValue: 100))
        try null.close()
        defer { [firstRead, secondRead, stray].forEach { try? $0.close() } }
        let script = "echo first >&3; echo second >&4; [ -e /proc/self/fd/\(stray.rawValue) ] && echo leaked >&3; exit 0"
        let pid = try Spawn.start("/bin/sh", arguments: ["sh", "-c", script],
                                  passing: [firstWrite, secondWrite], closingOthers: true)
        try firstWrite.close()
        try secondWrite.close()
        XCTAssertEqual(try Spawn.wait(pid), .exited(0))
        XCTAssertEqual(try readAll(firstRead), "first\n")
        XCTAssertEqual(try readAll(secondRead), "second\n")
    }

    func testTheChildStartsWithNoSignalBlockedAndNoneIgnored() throws {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR1)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &set, &old)
        let previous = signal(SIGUSR2, SIG_IGN)
        defer {
            pthread_sigmask(SIG_SETMASK, &old, nil)
            signal(SIGUSR2, previous)
        }
        let finished = try Spawn.run("/bin/cat", arguments: ["cat", "/proc/self/status"], timeout: 10_000, capture: true)
        XCTAssertEqual(finished.exit, .exited(0))
        let lines = String(decoding: finished.output, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.first { $0.hasPrefix("SigBlk:") }, "SigBlk:\t0000000000000000")
        // Signals 1-31 at their defaults (glibc's posix_spawn leaves its own
        // internal real-time signals 32 and 33 ignored until the new program's libc starts).
        let ignored = lines.first { $0.hasPrefix("SigIgn:") }.flatMap { UInt64($0.dropFirst(8), radix: 16) }
        XCTAssertEqual(ignored.map { $0 & 0x7fff_ffff }, 0)
    }

    func testCaptureAndExitStatus() throws {
        let finished = try Spawn.run("/bin/sh", arguments: ["sh", "-c", "printf hello; echo noise >&2; exit 7"],
                                     timeout: 10_000, capture: true, capacity: 4, standardError: .null)
        XCTAssertEqual(finished.exit, .exited(7))
        XCTAssertEqual(String(decoding: finished.output, as: UTF8.self), "hell")
        let killed = try Spawn.run("/bin/sh", arguments: ["sh", "-c", "kill -TERM $$"], timeout: 10_000, capture: false)
        XCTAssertEqual(killed.exit, .signaled(SIGTERM))
    }

    func testAChildPastItsTimeoutIsKilledWithETIMEDOUT() throws {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let started = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        XCTAssertThrowsError(try Spawn.run("/bin/sleep", arguments: ["sleep", "30"], timeout: 200, capture: true)) {
            XCTAssertEqual($0 as? Errno, .timedOut)
        }
        clock_gettime(CLOCK_MONOTONIC, &ts)
        XCTAssertLessThan(Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 - started, 5)
    }

    func testAMissingProgramIsENOENT() {
        XCTAssertThrowsError(try Spawn.start("/nonexistent/program", arguments: ["x"])) {
            XCTAssertEqual($0 as? Errno, .noSuchFileOrDirectory)
        }
    }
}
