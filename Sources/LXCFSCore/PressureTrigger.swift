/// A PSI trigger as a process writes it to `/proc/pressure/{cpu,io,memory}`:
/// `some|full <stall us> <window us>` (Documentation/accounting/psi.rst,
/// "Monitoring for pressure thresholds").
///
/// The text is taken the way the kernel's `psi_write` (kernel/sched/psi.c)
/// takes a write to `/proc/pressure/*`: at most 32 bytes, the last byte of
/// the write dropped (it stands for the newline or the NUL that the
/// documented example writes), the rest read as `sscanf("some %u %u")` or
/// `sscanf("full %u %u")` would, trailing bytes ignored.
///
/// `parse` checks the rules every kernel applies: a window of 500 ms to
/// 10 s (Linux before 6.6 refuses windows under 500 ms, 6.6 and later take
/// them; the stricter rule keeps a trigger valid on every kernel) and a
/// stall of at least 1 us and at most the window. The rest is the kernel's
/// to judge when the trigger is registered on a cgroup's pressure file:
/// `full` for cpu (Linux 5.13 and later), PSI turned off (`psi=0`).
package struct PressureTrigger: Sendable, Equatable {
    /// Which line of the pressure file the trigger watches.
    package enum Stall: String, Sendable {
        /// Some task stalled (`some`).
        case some
        /// All non-idle tasks stalled at once (`full`).
        case full
    }

    /// The line watched.
    package let stall: Stall
    /// Stall time within one window that fires the trigger, microseconds.
    package let thresholdMicroseconds: UInt32
    /// The tracking window, microseconds.
    package let windowMicroseconds: UInt32

    /// The smallest window every kernel accepts: 500 ms, in microseconds.
    package static let minimumWindowMicroseconds: UInt32 = 500_000
    /// The largest window: 10 s, in microseconds (`WINDOW_MAX_US`).
    package static let maximumWindowMicroseconds: UInt32 = 10_000_000
    /// The bytes of a write the kernel looks at (`char buf[32]` in `psi_write`).
    package static let maximumWriteBytes = 32

    package init(stall: Stall, thresholdMicroseconds: UInt32, windowMicroseconds: UInt32) {
        self.stall = stall
        self.thresholdMicroseconds = thresholdMicroseconds
        self.windowMicroseconds = windowMicroseconds
    }

    /// The trigger as written to a cgroup's `*.pressure` file, which takes
    /// the whole write (kernfs adds the NUL): `some 150000 1000000`.
    package var text: String { "\(stall.rawValue) \(thresholdMicroseconds) \(windowMicroseconds)" }

    /// Why a write is not a trigger (the reply is EINVAL either way).
    package enum Invalid: Error, Equatable, Sendable {
        /// Not `some|full <u32> <u32>`.
        case syntax
        /// The window is outside 500 ms to 10 s.
        case window
        /// The stall is 0 or longer than the window.
        case threshold
    }

    /// Parses what a process wrote to a `/proc/pressure` file.
    /// - Parameter written: the bytes of one write(2), as many as it wrote.
    /// - Returns: the trigger, or why it is invalid.
    package static func parse<C: Collection>(written: C) -> Result<PressureTrigger, Invalid> where C.Element == UInt8 {
        // psi_write: buf_size = min(nbytes, 32); buf[buf_size - 1] = '\0'.
        var text = Array(written.prefix(maximumWriteBytes))
        guard !text.isEmpty else { return .failure(.syntax) }
        text.removeLast()
        if let nul = text.firstIndex(of: 0) { text.removeSubrange(nul...) }
        return parse(text: text)
    }

    /// Parses a trigger's text without the kernel's dropped last byte (as a
    /// cgroup `*.pressure` file takes it).
    package static func parse(text: [UInt8]) -> Result<PressureTrigger, Invalid> {
        let stall: Stall
        if text.starts(with: "some".utf8) { stall = .some }
        else if text.starts(with: "full".utf8) { stall = .full }
        else { return .failure(.syntax) }
        var i = 4
        func number() -> UInt32? {
            // A blank in sscanf's format matches any run of white space, none too.
            while i < text.count, isSpace(text[i]) { i += 1 }
            var value: UInt64 = 0
            let start = i
            while i < text.count, text[i] >= UInt8(ascii: "0"), text[i] <= UInt8(ascii: "9") {
                value = value * 10 + UInt64(text[i] - UInt8(ascii: "0"))
                if value > UInt64(UInt32.max) { return nil }
                i += 1
            }
            return i > start ? UInt32(value) : nil
        }
        guard let threshold = number(), let window = number() else { return .failure(.syntax) }
        guard window >= minimumWindowMicroseconds, window <= maximumWindowMicroseconds else { return .failure(.window) }
        guard threshold > 0, threshold <= window else { return .failure(.threshold) }
        return .success(PressureTrigger(stall: stall, thresholdMicroseconds: threshold, windowMicroseconds: window))
    }

    /// The window rule for a writer without CAP_SYS_RESOURCE (Linux 6.5 and
    /// later): only whole multiples of 2 s, which the kernel serves from its
    /// averaging work instead of a real-time polling thread.
    package var allowedUnprivileged: Bool { windowMicroseconds % 2_000_000 == 0 }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || (b >= 0x09 && b <= 0x0d)
    }

    /// Whether a process has CAP_SYS_RESOURCE in its effective set
    /// (`CapEff:` of `/proc/PID/status`, bit 24), the kernel's test for a
    /// privileged trigger. A process whose status cannot be read counts as unprivileged.
    /// - Parameters:
    ///   - pid: the writer's host pid.
    ///   - root: where `/proc` is read (opened, read and closed once).
    package static func isPrivileged(pid: Int32, root: HostRoot) -> Bool {
        isPrivileged(pid: pid, files: DirectFileReader(root: root))
    }

    /// `isPrivileged(pid:root:)`, reading `/proc/PID/status` through `files`.
    package static func isPrivileged(pid: Int32, files: any KernelFileReader) -> Bool {
        guard let status = files.read("/proc/\(pid)/status", sizeHint: 2048) else { return false }
        let key = Array("CapEff:".utf8)
        var lineStart = 0
        while lineStart < status.count {
            let end = status[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? status.count
            if status[lineStart..<end].starts(with: key) {
                let hex = status[(lineStart + key.count)..<end].filter { !isSpace($0) }
                guard let caps = UInt64(String(decoding: hex, as: UTF8.self), radix: 16) else { return false }
                return caps & (1 << 24) != 0
            }
            lineStart = end + 1
        }
        return false
    }
}

extension ContainerView {
    /// The pressure file of `pid`'s container cgroup, where a trigger is
    /// registered: `cpu.pressure`, `io.pressure` or `memory.pressure` of
    /// its cgroup on the unified hierarchy (`ContainerCgroup`'s choice).
    /// - Returns: the host path to open, such as
    ///   `/sys/fs/cgroup/lxc/c1/cpu.pressure`; `nil` where the resource's
    ///   controller is on a v1 hierarchy, the process has exited, or the
    ///   file does not exist (PSI off, a kernel before 4.20).
    package func pressureTriggerFile(_ resource: PressureResource, for pid: Int32) -> String? {
        guard let membership = membership(of: pid),
              let file = cgroupReader().pressureFile(resource, membership) else { return nil }
        guard root.exists(file) else { return nil }
        return root.resolve(file)
    }
}
