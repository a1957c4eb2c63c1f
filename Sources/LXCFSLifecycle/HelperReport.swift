/// What became of one stale mount the reattach helper was given.
package enum HelperResult: Sendable, Equatable {
    /// Replaced (detail: how, such as `beneath` or `detach-first`).
    case replaced(String)
    /// The stale mount was gone and a live one was on top (a shared
    /// parent propagated another namespace's repair here).
    case alreadyLive
    /// The stale mount was gone (unmounted meanwhile).
    case gone
    /// It could not be replaced (sentence).
    case failed(String)
}

/// Why the helper could not work in a mount namespace at all.
package enum NamespaceProblem: Sendable, Equatable {
    /// The namespace's process exited (sentence); the caller tries another pid.
    case gone(String)
    /// The namespace or its root could not be entered (sentence).
    case failed(String)

    /// The sentence.
    package var sentence: String {
        switch self {
        case .gone(let s), .failed(let s): return s
        }
    }
}

/// One line of the reattach helper's standard output, and the one codec of
/// the helper (`swift-lxcfs __reattach-ns`, which writes them) and the
/// daemon (which reads them): `KEY<TAB>STATUS<TAB>DETAIL<LF>`, where KEY is
/// a mount ID (`/proc/PID/mountinfo`'s first field) or `ns`, and STATUS is
/// `replaced`, `already`, `gone` or `failed`. The helper is a re-exec of the
/// same program, so the format is private to one binary.
package enum HelperReport: Sendable, Equatable {
    /// The outcome for the stale mount with this mount ID.
    case item(id: Int, HelperResult)
    /// The namespace-level failure.
    case namespace(NamespaceProblem)

    /// The line, newline included; a line break in a detail becomes a space.
    package var line: String {
        let (key, status, detail): (String, String, String)
        switch self {
        case .item(let id, .replaced(let how)): (key, status, detail) = (String(id), "replaced", how)
        case .item(let id, .alreadyLive): (key, status, detail) = (String(id), "already", "a live bind is already there")
        case .item(let id, .gone): (key, status, detail) = (String(id), "gone", "no longer mounted")
        case .item(let id, .failed(let why)): (key, status, detail) = (String(id), "failed", why)
        case .namespace(.gone(let why)): (key, status, detail) = ("ns", "gone", why)
        case .namespace(.failed(let why)): (key, status, detail) = ("ns", "failed", why)
        }
        return "\(key)\t\(status)\t\(detail.split(separator: "\n").joined(separator: " "))\n"
    }

    /// Parses one line (without its newline).
    /// - Returns: `nil` for a line without three TAB-separated fields, a key
    ///   that is neither `ns` nor a mount ID, or an unknown status.
    package init?(line: Substring) {
        let f = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard f.count == 3 else { return nil }
        if f[0] == "ns" {
            switch f[1] {
            case "gone": self = .namespace(.gone(f[2]))
            case "failed": self = .namespace(.failed(f[2]))
            default: return nil
            }
            return
        }
        guard let id = Int(f[0]) else { return nil }
        switch f[1] {
        case "replaced": self = .item(id: id, .replaced(f[2]))
        case "already": self = .item(id: id, .alreadyLive)
        case "gone": self = .item(id: id, .gone)
        case "failed": self = .item(id: id, .failed(f[2]))
        default: return nil
        }
    }

    /// Parses the helper's whole output into a result per mount ID and the
    /// namespace-level failure, if any; lines that do not parse are skipped.
    package static func parse(_ output: String) -> (results: [Int: HelperResult], namespace: NamespaceProblem?) {
        var results: [Int: HelperResult] = [:]
        var namespace: NamespaceProblem?
        for line in output.split(separator: "\n") {
            switch HelperReport(line: line) {
            case .item(let id, let result): results[id] = result
            case .namespace(let problem): namespace = problem
            case nil: continue
            }
        }
        return (results, namespace)
    }
}
