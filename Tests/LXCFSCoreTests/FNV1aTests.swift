import XCTest
@testable import LXCFSCore

/// The 64-bit FNV-1a hash against the test vectors of the FNV spec
/// (draft-eastlake-fnv, "FNV-1a 64-bit" column).
final class FNV1aTests: XCTestCase {
    func testSpecVectors() {
        XCTAssertEqual(FNV1a.hash("".utf8), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(FNV1a.hash("a".utf8), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(FNV1a.hash("foo".utf8), 0xdcb2_7518_fed9_d577)
        XCTAssertEqual(FNV1a.hash("foobar".utf8), 0x8594_4171_f739_67e8)
    }

    func testTheOffsetBasisAndPrimeOfTheSpec() {
        XCTAssertEqual(FNV1a().value, 14_695_981_039_346_656_037)
        XCTAssertEqual(FNV1a.prime, 1_099_511_628_211)
    }

    func testPiecesGiveTheHashOfTheWhole() {
        var fnv = FNV1a()
        fnv.combine("/proc/".utf8)
        fnv.combine(UInt8(ascii: "m"))
        fnv.combine("eminfo".utf8)
        XCTAssertEqual(fnv.value, 0x8918_b20a_e6ad_5038)
        var carried = FNV1a(continuingFrom: FNV1a.hash("foo".utf8))
        carried.combine("bar".utf8)
        XCTAssertEqual(carried.value, 0x8594_4171_f739_67e8)
    }
}
