import FUSEProtocol
import LXCFSCore

// The operations of pressure files opened for writing (`--enable-psi-poll`):
// OPEN, WRITE and POLL; the registrations are `PressureTriggers`'.

extension ContainerFilesystem {
    /// For an open of a pressure file for writing: whether it may hold a
    /// trigger. `nil` when the open is not one (read-only, another file).
    /// - Returns: the container cgroup's pressure file to register on, or
    ///   EACCES without `--enable-psi-poll` (as every write), EOPNOTSUPP
    ///   where the container cgroup's controller is not on cgroup v2 or has
    ///   no pressure file (what the kernel answers where PSI is off).
    func pressureTriggerOpen(_ path: String, flags: FUSEOpenFlags, pid: Int32) -> Result<String, FSErrno>? {
        guard !flags.isReadOnly, case .file(let file)? = tree.node(at: path),
              let resource = file.pressureResource else { return nil }
        guard triggers.enabled else { return .failure(FSErrno.permissionDenied) }
        guard let target = view.pressureTriggerFile(resource, for: pid) else { return .failure(FSErrno.notSupported) }
        return .success(target)
    }

    /// FUSE_OPEN of a pressure file for writing with `--enable-psi-poll`:
    /// the file is rendered as for reading, and its handle may take a trigger.
    func openPressureTrigger(_ h: FUSERequestHeader, path: String, target: String) -> Result<FUSEOpenedFile, FSErrno> {
        open(path, flags: .readOnly, uid: h.uid, pid: h.pid).map { file in
            let fh = handles.insert(file.file, length: file.length, writer: true)
            triggers.opened(fh, target: target, privileged: PressureTrigger.isPrivileged(pid: h.pid, root: view.root))
            // Direct I/O; no flush (see `open`); not seekable either way.
            return FUSEOpenedFile(handle: fh, directIO: true, noFlush: true)
        }
    }

    /// FUSE_WRITE: a trigger on a pressure file opened for writing, EACCES otherwise.
    public func write(_ h: FUSERequestHeader, handle fh: UInt64, offset: UInt64, data: [UInt8]) -> Result<Int, FUSEErrno> {
        guard triggers.holds(fh) else { return .failure(FSErrno.permissionDenied) }
        return data.withUnsafeBytes { triggers.write(fh, $0) }
    }

    /// FUSE_POLL. A handle that may hold a trigger reports its events; any
    /// other file is always readable (POLLIN|POLLRDNORM, as a regular file,
    /// no notification scheduled). A handle of an earlier process that was
    /// opened for writing reports POLLERR|POLLPRI, what the kernel reports
    /// for a file without a trigger: its registration died with that process.
    /// Never ENOSYS: the kernel would stop sending polls for the whole
    /// connection (lxc/lxcfs #726).
    public func poll(_ h: FUSERequestHeader, handle fh: UInt64, kh: UInt64, flags: UInt32, events: UInt32,
                     notifier: FUSEPollNotifier) -> UInt32 {
        // Only handles opened for writing can hold a trigger: no lock for the others.
        guard HandleTable.isWriter(fh) else { return FUSEPollEvents.readable }
        if let revents = triggers.poll(fh, kh: kh, scheduleNotify: flags & FUSEPollFlags.scheduleNotify != 0,
                                       notifier: notifier) {
            return revents
        }
        return handles.isOurs(fh) ? FUSEPollEvents.readable : PressureTriggers.defaultMask | FUSEPollEvents.errorPriority
    }
}
