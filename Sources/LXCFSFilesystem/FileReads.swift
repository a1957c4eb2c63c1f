import FUSEProtocol
import LXCFSCore

extension ContainerFilesystem {
    /// READ of `size` bytes at `offset` of handle `fh`: served from the
    /// handle's snapshot, or rendered for the caller (`HandleStore`).
    public func read(_ h: FUSERequestHeader, handle fh: UInt64, offset rawOffset: UInt64, size rawSize: UInt32)
        -> Result<ArraySlice<UInt8>, FUSEErrno> {
        let offset = Int(clamping: rawOffset)
        let size = Int(rawSize)
        let store = handles.store
        var plan = store.plan(fh, offset: offset, size: size)
        if case .unknown = plan {
            if offset > 0, HandleTable.snapshotLength(fh) != nil {
                // A handle from an earlier process, read past 0, of a file
                // under 32 KiB: its reader read it at once and has all of
                // the rendering it got (whose length may differ from the
                // open's by the moment between them), or, rarely, reads it in
                // small pieces: end of file, never the tail of a new
                // rendering spliced on. A larger file's reader (cpuinfo of a
                // big host) reads in pieces: it gets the rest of a new rendering.
                return .success([])
            }
            // A handle from an earlier process (or one this process never
            // issued): render anew for the caller from here on.
            guard let path = resolve(h.nodeID) else { return .failure(FSErrno.staleHandle) }
            let file: VirtualFile?
            switch tree.node(at: path) {
            case .file(let f)?: file = f
            case .directory?: return .failure(FSErrno.isDirectory)
            case nil: file = nil
            }
            handles.adopt(fh, file: file)
            plan = .render(file: file, resume: nil, reuse: true)
        }
        switch plan {
        case .serve(let bytes):
            return .success(bytes)
        case .endOfFile, .unknown:
            return .success([])
        case .render(let file, let resume, let reuse, let first):
            let rendering: ContainerView.Rendering
            if let file {
                // A first read takes the open's rendering when the cache still
                // has one of that length (the length the handle carries).
                rendering = view.rendering(file, for: h.pid, reuse: reuse,
                                           length: first ? HandleTable.snapshotLength(fh) : nil)
                // The host file behind it could not be read: an error, not an empty file.
                if rendering.failed { return .failure(FSErrno.inputOutput) }
            } else {
                guard let path = resolve(h.nodeID) else { return .failure(FSErrno.staleHandle) }
                switch passthroughBytes(path, pid: h.pid) {
                case .failure(let e): return .failure(e)
                case .success(let bytes): rendering = .init(bytes: bytes, container: nil)
                }
            }
            // The container is needed only when a snapshot is held (the read
            // does not reach the end), for its budget.
            let rendered = rendering.bytes ?? []
            var container = rendering.container
            if container == nil, resume != nil || offset + size < rendered.count {
                container = view.membership(of: h.pid)
            }
            return .success(store.complete(fh, offset: offset, size: size, rendering: rendered,
                                           resume: resume, container: container))
        }
    }
}
