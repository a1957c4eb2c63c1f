import LXCFSSeccomp
import XCTest

final class SeccompProfileTests: XCTestCase {
    func testMinimalAllowsAllAndNotifiesSysinfo() {
        XCTAssertEqual(SeccompProfile.text(SeccompProfile.minimal(socket: "/run/x.sock")), """
            {
              "defaultAction" : "SCMP_ACT_ALLOW",
              "listenerPath" : "/run/x.sock",
              "syscalls" : [
                {
                  "action" : "SCMP_ACT_NOTIFY",
                  "names" : [
                    "sysinfo"
                  ]
                }
              ]
            }

            """)
    }

    /// A base in Docker's format: sysinfo leaves the allow rule, unknown fields stay.
    func testBaseKeepsItsRulesAndGetsOneMore() throws {
        let base = """
            {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"archMap":[{"architecture":"SCMP_ARCH_X86_64"}],
             "syscalls":[{"names":["read","sysinfo","write"],"action":"SCMP_ACT_ALLOW"},
                         {"names":["sysinfo"],"action":"SCMP_ACT_ALLOW","comment":"only sysinfo"},
                         {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}]}
            """
        let profile = try SeccompProfile.adding(to: Array(base.utf8), socket: "/s.sock")
        let expected: JSONValue = .object([
            "defaultAction": .string("SCMP_ACT_ERRNO"), "defaultErrnoRet": .number(1),
            "archMap": .array([.object(["architecture": .string("SCMP_ARCH_X86_64")])]),
            "listenerPath": .string("/s.sock"),
            "syscalls": .array([
                .object(["names": .array([.string("read"), .string("write")]), "action": .string("SCMP_ACT_ALLOW")]),
                .object(["names": .array([.string("ptrace")]), "action": .string("SCMP_ACT_ALLOW"),
                         "includes": .object(["minKernel": .string("4.8")])]),
                .object(["names": .array([.string("sysinfo")]), "action": .string("SCMP_ACT_NOTIFY")]),
            ]),
        ])
        XCTAssertEqual(profile, expected)
        XCTAssertTrue(SeccompProfile.text(profile).contains("\"defaultErrnoRet\" : 1,"))
    }

    func testBadBasesAreRefused() {
        for base in ["[]", "not json", #"{"syscalls":{}}"#, #"{"syscalls":[1]}"#] {
            XCTAssertThrowsError(try SeccompProfile.adding(to: Array(base.utf8), socket: "/s"), base)
        }
    }
}
