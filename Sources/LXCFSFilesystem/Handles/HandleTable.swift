import LXCFSCore

/// File handles (`fh`) of this process, laid out as `HandleLayout` says so
/// that a successor can serve one without the memory of the process that
/// issued it.
///
/// A read on a handle this process does not know renders the file anew
/// for the caller and serves it from there (`HandleStore`), except a read
/// past offset 0 of a file whose length the handle carries (under 32 KiB):
/// that reader read the file at once and already has the whole rendering
/// of the earlier process (since issue 15 the first read renders, so its
/// length may differ from the open's that the handle carries), and gets
/// end of file, so no reader ever gets the tail of a later rendering
/// spliced onto an earlier one. Releasing an unknown handle frees nothing.
/// What a handle holds between reads is in `HandleStore`, under the
/// snapshot budget.
final class HandleTable: Sendable {
    /// This process's generation, 1 to 2^16 - 1.
    let generation: UInt64
    /// The state of every handle and the renderings they hold.
    let store: HandleStore

    init(budget: SnapshotBudget = SnapshotBudget()) {
        // The system's random generator (getrandom(2)), never 0.
        let g = UInt64.random(in: 1...0xffff)
        generation = g
        store = HandleStore(budget: budget, generation: g)
    }

    /// Whether `fh` was issued by this process.
    func isOurs(_ fh: UInt64) -> Bool { HandleLayout.generation(of: fh) == generation }

    /// Bit 47 of a handle: the file was opened for writing (a pressure file
    /// that may hold a PSI trigger), told from the handle alone by a successor.
    static let writerBit: UInt64 = HandleLayout.writerBit

    /// The length field's value for a rendering of 32767 bytes or more.
    static let lengthUnknown: UInt64 = HandleLayout.lengthUnknown

    /// The rendering length in bytes that `fh` carries, `nil` when unknown.
    static func snapshotLength(_ fh: UInt64) -> Int? { HandleLayout.length(of: fh) }

    /// Whether `fh` was issued for a file opened for writing (by any process).
    static func isWriter(_ fh: UInt64) -> Bool { HandleLayout.isWriter(fh) }

    /// A new handle for `file` (`nil`: a host file of the CPU tree) whose
    /// rendering at open was `length` bytes, with `writerBit` set for
    /// `writer`. Holds no bytes: the first read renders.
    func insert(_ file: VirtualFile?, length: Int, writer: Bool = false) -> UInt64 {
        HandleLayout.lengthAndWriterBits(length: length, writer: writer) | store.open(file)
    }

    /// Whether this process knows `fh`.
    func knows(_ fh: UInt64) -> Bool { store.contains(fh) }

    /// Holds state for a handle another process issued (a read on it renders).
    func adopt(_ fh: UInt64, file: VirtualFile?) {
        store.adopt(fh, file: file)
    }

    /// Forgets a handle and its held rendering (nothing happens for an unknown one).
    func remove(_ fh: UInt64) {
        store.release(fh)
    }
}
