import FoundationEssentials

/// The message an OCI runtime sends to a seccomp agent (the runtime spec's
/// `linux.seccomp.listenerPath`, runc 1.1 and later): one write on a unix
/// stream socket of this JSON, with the descriptors `fds` names as
/// SCM_RIGHTS in the same order; `seccompFd` is the filter's listener.
///
///     {"ociVersion":"1.0.2","fds":["seccompFd"],"pid":4242,"metadata":"",
///      "state":{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":4242,"bundle":"/b"}}
package struct ContainerProcessState: Decodable, Sendable, Equatable {
    package var ociVersion: String
    /// The names of the descriptors that came with the message, in order.
    package var fds: [String]
    /// The container process's pid (in the runtime's pid namespace).
    package var pid: Int32
    /// The `linux.seccomp.listenerMetadata` of the config (may be absent).
    package var metadata: String?
    /// The container's state (`id`, `status`, `bundle`...).
    package var state: State?

    package struct State: Decodable, Sendable, Equatable {
        package var id: String?
        package var status: String?
        package var bundle: String?
    }

    /// Why a message is refused (one sentence for the log).
    package struct Refusal: Error, Equatable, CustomStringConvertible {
        package var description: String
        init(_ description: String) { self.description = description }
    }

    /// The name of the listener descriptor in `fds`.
    package static let listenerName = "seccompFd"

    /// Whether `bytes` are a whole message (they decode), so that reading stops.
    package static func isWhole(_ bytes: [UInt8]) -> Bool {
        (try? JSONDecoder().decode(ContainerProcessState.self, from: Data(bytes))) != nil
    }

    /// Decodes a message and finds its listener among `descriptorCount` descriptors.
    /// - Returns: the state and the listener's index among the descriptors.
    /// - Throws: `Refusal`: not JSON of this shape, no `seccompFd` in `fds`,
    ///   or a descriptor count other than `fds`'s.
    package static func decode(_ bytes: [UInt8], descriptorCount: Int) throws(Refusal) -> (ContainerProcessState, Int) {
        guard !bytes.isEmpty else { throw Refusal("an empty message") }
        let state: ContainerProcessState
        do {
            state = try JSONDecoder().decode(ContainerProcessState.self, from: Data(bytes))
        } catch {
            throw Refusal("not a container process state (JSON with ociVersion, fds and pid)")
        }
        guard let index = state.fds.firstIndex(of: listenerName) else {
            throw Refusal("no \(listenerName) in fds \(state.fds)")
        }
        guard descriptorCount == state.fds.count else {
            throw Refusal("\(descriptorCount) descriptor(s) for fds \(state.fds)")
        }
        return (state, index)
    }
}
