/// The messages of the live-upgrade exchange on the takeover socket
/// (SOCK_SEQPACKET, one message per packet; see `TakeoverSocket`):
///
///     new -> old   request    swift-lxcfs takeover 1
///     old -> new   handover   swift-lxcfs handover 1   + SCM_RIGHTS [fuse, state]
///     new -> old   ok | abort
///     old -> new   bye
///
/// The texts are the wire format an older swift-lxcfs speaks; they must not change.
package enum TakeoverMessage: String, CaseIterable, Sendable {
    /// The new process asks for the connection.
    case request = "swift-lxcfs takeover 1"
    /// The old process sends the `/dev/fuse` and state descriptors.
    case handover = "swift-lxcfs handover 1"
    /// The new process serves with the descriptors: the old one must stop.
    case ok
    /// The new process gives the descriptors back: the old one serves on.
    case abort
    /// The old process has closed its takeover socket and exits 0.
    case bye

    /// The packet's bytes (UTF-8, no terminator).
    package var bytes: [UInt8] { Array(rawValue.utf8) }

    /// The message a packet holds, exactly; `nil` for anything else
    /// (another version, a truncated packet, trailing bytes).
    package init?(packet: some Collection<UInt8>) {
        self.init(rawValue: String(decoding: packet, as: UTF8.self))
    }
}
