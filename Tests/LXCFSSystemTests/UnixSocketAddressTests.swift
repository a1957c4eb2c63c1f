import LXCFSSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class UnixSocketAddressTests: XCTestCase {
    /// The bytes of `sun_path` up to `count`.
    func pathBytes(_ address: sockaddr_un, _ count: Int) -> [UInt8] {
        withUnsafeBytes(of: address.sun_path) { Array($0.prefix(count)) }
    }

    let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!

    func testAPathCountsItsTerminatingNul() throws {
        let (address, length) = try XCTUnwrap(UnixSocketAddress.make("/run/a.sock"))
        XCTAssertEqual(Int32(address.sun_family), AF_UNIX)
        XCTAssertEqual(Int(length), pathOffset + 11 + 1)
        XCTAssertEqual(pathBytes(address, 12), Array("/run/a.sock".utf8) + [0])
    }

    func testAnAbstractNameStartsWithNulAndHasNoTerminator() throws {
        let (address, length) = try XCTUnwrap(UnixSocketAddress.make("@notify"))
        XCTAssertEqual(Int(length), pathOffset + 7)
        XCTAssertEqual(pathBytes(address, 7), [0] + Array("notify".utf8))
    }

    func testNamesThatCannotBeAddressesAreRefused() {
        XCTAssertNil(UnixSocketAddress.make(""))
        XCTAssertNil(UnixSocketAddress.make("@"))
        XCTAssertNil(UnixSocketAddress.make("/" + String(repeating: "x", count: 107)))
        XCTAssertNotNil(UnixSocketAddress.make("/" + String(repeating: "x", count: 106)))
    }
}
