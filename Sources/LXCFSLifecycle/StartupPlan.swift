/// Where the daemon's FUSE connection comes from.
package enum ConnectionSource: Sendable, Equatable {
    /// Descriptors inherited from the fd store (systemd's or the
    /// supervisor's: `LISTEN_FDS`, `LISTEN_FDNAMES` = `fuse:state`).
    case fdStore
    /// Descriptors handed over by the swift-lxcfs serving the mount point
    /// now (`--takeover`; see `TakeoverMessage`).
    case takeover
    /// A new mount (`/dev/fuse` opened, mount(2)).
    case freshMount
}

/// The daemon's start-up path, chosen before any side effect from what the
/// environment and the command line say: the connection sources to try in
/// order, the first that gives a connection serving. Each source but the
/// last may fail into the next one; how, and what that means for the fresh
/// mount at the end, is `next(after:_:)`.
package struct StartupPlan: Sendable, Equatable {
    /// What `LISTEN_FDS` holds, as read from the environment.
    package enum Inherited: Sendable, Equatable {
        /// Nothing inherited (no `LISTEN_FDS` for this pid).
        case none
        /// Descriptors that do not make a connection (sentence: why).
        case unusable(String)
        /// A `fuse` and a `state` descriptor.
        case present
    }

    /// How trying one source ended, when it gave no connection.
    package enum Failure: Sendable, Equatable {
        /// Nobody was there to ask (no takeover socket answers): nothing was touched.
        case nobody
        /// The source was there but did not work; what it left must be cleared.
        case failed
    }

    /// The sources, in the order tried; the last is always `.freshMount`.
    package let sources: [ConnectionSource]
    /// Whether the fresh mount, when it comes to that, follows a failure
    /// and must first detach a dead mount left at the mount point and
    /// refuse a live one without waiting on it (`prepareMountPoint(fellBack:)`).
    package private(set) var fallBack: Bool

    /// The plan for `inherited` and `--takeover`.
    package init(inherited: Inherited, takeover: Bool) {
        var sources: [ConnectionSource] = []
        if inherited == .present { sources.append(.fdStore) }
        if takeover { sources.append(.takeover) }
        sources.append(.freshMount)
        self.sources = sources
        if case .unusable = inherited { fallBack = true } else { fallBack = false }
    }

    /// The source to try after `source` failed as `failure` (`nil` after
    /// the last). A `.failed` source makes the fresh mount a fall-back.
    /// Failures that forbid going on (the old process still serves the
    /// mount point) are the caller's to throw; they never come here.
    package mutating func next(after source: ConnectionSource, _ failure: Failure) -> ConnectionSource? {
        if failure == .failed { fallBack = true }
        guard let i = sources.firstIndex(of: source), i + 1 < sources.count else { return nil }
        return sources[i + 1]
    }

    /// Whether the daemon sends its descriptors to the fd store
    /// (`FDSTORE=1`) once it serves from `source`: a store it resumed from
    /// holds them already; after a takeover or a fresh mount it is empty.
    package static func storesDescriptors(servedFrom source: ConnectionSource) -> Bool { source != .fdStore }

    /// Whether the pidfile lock must be taken before serving from `source`
    /// (a fresh mount: another daemon may run), or may wait until a
    /// predecessor that still holds it lets go (a resume or a takeover:
    /// the mount is served first).
    package static func pidfileLockRequired(servedFrom source: ConnectionSource) -> Bool { source == .freshMount }
}
