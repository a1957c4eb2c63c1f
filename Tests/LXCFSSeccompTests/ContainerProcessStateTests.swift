import LXCFSSeccomp
import XCTest

final class ContainerProcessStateTests: XCTestCase {
    typealias Refusal = ContainerProcessState.Refusal

    func decode(_ text: String, _ count: Int) -> Result<(ContainerProcessState, Int), Refusal> {
        Result { () throws(Refusal) in try ContainerProcessState.decode(Array(text.utf8), descriptorCount: count) }
    }

    /// runc 1.1.5's message, as it sent it on this machine.
    func testRuncsMessage() throws {
        let text = """
            {"ociVersion":"1.0.2-dev","fds":["seccompFd"],"pid":4242,"metadata":"",\
            "state":{"ociVersion":"1.0.2-dev","id":"c1","status":"creating","pid":4242,"bundle":"/b"}}
            """
        let (state, index) = try decode(text, 1).get()
        XCTAssertEqual(index, 0)
        XCTAssertEqual(state.pid, 4242)
        XCTAssertEqual(state.state?.id, "c1")
    }

    func testTheListenerIsFoundByName() throws {
        let (_, index) = try decode(#"{"ociVersion":"1","fds":["other","seccompFd"],"pid":1}"#, 2).get()
        XCTAssertEqual(index, 1)
    }

    func testBadMessagesAreRefused() {
        for (text, count) in [("not json", 1), ("", 1), (#"{"ociVersion":"1","pid":1}"#, 1),
                              (#"{"ociVersion":"1","fds":["other"],"pid":1}"#, 1),
                              (#"{"ociVersion":"1","fds":["seccompFd"],"pid":1}"#, 0),
                              (#"{"ociVersion":"1","fds":["seccompFd"],"pid":"x"}"#, 1)] {
            if case .success = decode(text, count) { XCTFail("accepted \(text) with \(count) descriptor(s)") }
        }
    }
}
