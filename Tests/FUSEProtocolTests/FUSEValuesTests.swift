import XCTest
@testable import FUSEProtocol

/// The Swift values a filesystem gets and answers with, against the kernel's numbers.
final class FUSEValuesTests: XCTestCase {
    /// open(2) flags as `fuse_open_in.flags` carries them (x86_64 and aarch64 values).
    func testOpenFlagsTellTheAccessModeAndTruncation() {
        let readOnly = FUSEOpenFlags(rawValue: 0)
        XCTAssertTrue(readOnly.isReadOnly)
        XCTAssertFalse(readOnly.truncates)
        XCTAssertEqual(FUSEOpenFlags.readOnly, readOnly)
        XCTAssertFalse(FUSEOpenFlags(rawValue: 1).isReadOnly)           // O_WRONLY
        XCTAssertFalse(FUSEOpenFlags(rawValue: 2).isReadOnly)           // O_RDWR
        XCTAssertFalse(FUSEOpenFlags(rawValue: 3).isReadOnly)           // O_ACCMODE
        let truncating = FUSEOpenFlags(rawValue: 0o1000)                // O_RDONLY | O_TRUNC
        XCTAssertTrue(truncating.isReadOnly)
        XCTAssertTrue(truncating.truncates)
        // Other bits (O_NONBLOCK, O_CLOEXEC, O_LARGEFILE) change neither.
        let other = FUSEOpenFlags(rawValue: 0o4000 | 0o2000000 | 0o100000)
        XCTAssertTrue(other.isReadOnly)
        XCTAssertFalse(other.truncates)
    }

    /// `st_mode` of the two node types the mount serves.
    func testFileTypeModes() {
        XCTAssertEqual(FUSEFileType.directory.mode(permissions: 0o555), 0o040555)
        XCTAssertEqual(FUSEFileType.regular.mode(permissions: 0o444), 0o100444)
    }

    /// The named errors are the kernel's numbers (sent negated on the wire).
    func testNamedErrnos() {
        XCTAssertEqual(FUSEErrno.noSuchFileOrDirectory.code, 2)
        XCTAssertEqual(FUSEErrno.permissionDenied.code, 13)
        XCTAssertEqual(FUSEErrno.isDirectory.code, 21)
        XCTAssertEqual(FUSEErrno.staleHandle.code, 116)
        XCTAssertEqual(FUSEErrno.readOnlyFileSystem.code, 30)
        XCTAssertEqual(FUSEErrno.notSupported.code, 95)
        XCTAssertEqual(FUSEErrno.invalidArgument.code, 22)
        XCTAssertEqual(FUSEErrno.notImplemented.code, 38)
        XCTAssertEqual(FUSEErrno.protocolError.code, 71)
    }

    /// POLL reply masks.
    func testPollEvents() {
        XCTAssertEqual(FUSEPollEvents.readable, 0x041)       // POLLIN | POLLRDNORM
        XCTAssertEqual(FUSEPollEvents.errorPriority, 0x00a)  // POLLERR | POLLPRI
    }
}
