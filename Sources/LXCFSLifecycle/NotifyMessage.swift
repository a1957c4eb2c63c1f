/// One datagram of systemd's notification protocol (sd_notify(3)): the
/// `KEY=VALUE` lines a service sends to the socket `NOTIFY_SOCKET` names,
/// and that the supervisor (`swift-lxcfs supervise`, systemd's stand-in)
/// reads back. The one codec of both ends.
///
/// The fields are those swift-lxcfs speaks; other keys are ignored when
/// parsing. Encoded lines come in a fixed order (`READY`, `STOPPING`,
/// `STATUS`, `MAINPID`, `FDSTORE`, `FDSTOREREMOVE`, `FDNAME`), joined by
/// `\n` without a final newline, so `FDSTORE=1\nFDNAME=fuse` is what
/// swift-lxcfs has always sent.
package struct NotifyMessage: Equatable, Sendable {
    /// `READY=1`: start-up finished, the mount answers.
    package var ready = false
    /// `STOPPING=1`: the service begins to stop.
    package var stopping = false
    /// `STATUS=`: a free-form sentence for `systemctl status` (one line).
    package var status: String?
    /// `MAINPID=`: the service's main process id.
    package var mainPID: Int32?
    /// `FDSTORE=1`: the descriptors sent with the datagram (SCM_RIGHTS) go
    /// to the fd store under `fdName`.
    package var fdStore = false
    /// `FDSTOREREMOVE=1`: the stored descriptors named `fdName` are closed.
    package var fdStoreRemove = false
    /// `FDNAME=`: the name of stored descriptors; systemd's default is `stored`.
    package var fdName: String?

    package init(ready: Bool = false, stopping: Bool = false, status: String? = nil, mainPID: Int32? = nil,
                 fdStore: Bool = false, fdStoreRemove: Bool = false, fdName: String? = nil) {
        self.ready = ready
        self.stopping = stopping
        self.status = status
        self.mainPID = mainPID
        self.fdStore = fdStore
        self.fdStoreRemove = fdStoreRemove
        self.fdName = fdName
    }

    /// `FDSTORE=1` + `FDNAME=name`: store the datagram's descriptors as `name`.
    package static func store(_ name: String) -> NotifyMessage { NotifyMessage(fdStore: true, fdName: name) }

    /// `FDSTOREREMOVE=1` + `FDNAME=name`: close the descriptors stored as `name`.
    package static func remove(_ name: String) -> NotifyMessage { NotifyMessage(fdStoreRemove: true, fdName: name) }

    /// The name stored descriptors get: `FDNAME`, else systemd's `stored`.
    package var storeName: String { fdName ?? "stored" }

    /// The datagram's text: the set fields as `KEY=VALUE` lines. A line
    /// break inside `status` or `fdName` becomes a space (one line per key).
    package var encoded: String {
        var lines: [String] = []
        if ready { lines.append("READY=1") }
        if stopping { lines.append("STOPPING=1") }
        if let status { lines.append("STATUS=" + Self.oneLine(status)) }
        if let mainPID { lines.append("MAINPID=\(mainPID)") }
        if fdStore { lines.append("FDSTORE=1") }
        if fdStoreRemove { lines.append("FDSTOREREMOVE=1") }
        if let fdName { lines.append("FDNAME=" + Self.oneLine(fdName)) }
        return lines.joined(separator: "\n")
    }

    /// Parses a datagram's text as systemd does: one `KEY=VALUE` per line,
    /// the last of a key wins, lines without `=` and unknown keys are skipped;
    /// a flag is set only by the value `1`.
    /// A `MAINPID` that is not a positive number is left out (systemd
    /// ignores it and takes the other fields).
    /// - Returns: `nil` when no line is a `KEY=VALUE` pair with a known key.
    package static func parse(_ text: String) -> NotifyMessage? {
        var fields: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "="), eq != line.startIndex else { continue }
            fields[line[..<eq]] = line[line.index(after: eq)...]
        }
        let known: Set<Substring> = ["READY", "STOPPING", "STATUS", "MAINPID", "FDSTORE", "FDSTOREREMOVE", "FDNAME"]
        guard fields.keys.contains(where: known.contains) else { return nil }
        var message = NotifyMessage()
        message.ready = fields["READY"] == "1"
        message.stopping = fields["STOPPING"] == "1"
        message.status = fields["STATUS"].map(String.init)
        if let pid = fields["MAINPID"].flatMap({ Int32($0) }), pid > 0 { message.mainPID = pid }
        message.fdStore = fields["FDSTORE"] == "1"
        message.fdStoreRemove = fields["FDSTOREREMOVE"] == "1"
        message.fdName = fields["FDNAME"].map(String.init)
        return message
    }

    static func oneLine(_ s: String) -> String { s.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " ") }
}
