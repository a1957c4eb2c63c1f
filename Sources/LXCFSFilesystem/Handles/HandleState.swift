import LXCFSCore

/// One read-only handle's state: 16 bytes, no rendering until the first read.
struct HandleState {
    enum Held {
        case nothing
        /// The rendering being served, between first read and end.
        case rendering(HeldRendering)
        /// Where the reader stood in a dropped rendering.
        case resume(ResumePoint)
    }
    var held = Held.nothing
    /// The reader's offset at the end of the last rendering whose end was
    /// served, -1 if none: a read at or past it is at end of file.
    var endOffset: Int32 = -1
    /// The virtual file; `nil` for a host file of the CPU tree.
    var file: VirtualFile?
    /// `lost`, `used` and `read`, one bit each.
    private var flags: UInt8 = 0
    /// The handle's tag (`HandleSlots`).
    var tag: UInt8 = 0

    private func flag(_ bit: UInt8) -> Bool { flags & bit != 0 }
    private mutating func set(_ bit: UInt8, _ on: Bool) { flags = on ? flags | bit : flags & ~bit }
    /// A dropped rendering left no resume point: reads past 0 are at end
    /// of file until the reader starts again at 0.
    var lost: Bool { get { flag(1) } set { set(1, newValue) } }
    /// The slot holds a handle (`HandleSlots`).
    var used: Bool { get { flag(2) } set { set(2, newValue) } }
    /// The handle was read before: a read at offset 0 then wants a new
    /// rendering, not the render cache's.
    var read: Bool { get { flag(4) } set { set(4, newValue) } }

    init(file: VirtualFile? = nil) {
        self.file = file
    }

    /// The held rendering, if any; setting `nil` drops only a rendering.
    var snapshot: HeldRendering? {
        get { if case .rendering(let s) = held { return s } else { return nil } }
        set {
            if let newValue { held = .rendering(newValue) } else if snapshot != nil { held = .nothing }
        }
    }
    /// The resume point, if any; setting `nil` drops only a resume point.
    var resume: ResumePoint? {
        get { if case .resume(let r) = held { return r } else { return nil } }
        set {
            if let newValue { held = .resume(newValue) } else if resume != nil { held = .nothing }
        }
    }
    /// `endOffset` as an `Int` (-1: none).
    var end: Int {
        get { Int(endOffset) }
        set { endOffset = Int32(clamping: newValue) }
    }

    /// What the read decision sees of this handle.
    var facts: HandleFacts {
        var f = HandleFacts(readBefore: read, end: endOffset >= 0 ? Int(endOffset) : nil, lost: lost)
        switch held {
        case .nothing: break
        case .rendering(let r): f.held = r.span
        case .resume(let r): f.resumeAt = r.at
        }
        return f
    }
}

/// The handles of this process in an array indexed by the handle's low 24
/// bits (with an 8-bit tag above them): 16 bytes a handle, where a
/// dictionary would take three times that. Handles another process issued
/// (read after a restart) are held in a dictionary beside it.
struct HandleSlots {
    let generation: UInt64
    var slots: [HandleState] = []
    var free: [UInt32] = []
    var foreign: [UInt64: HandleState] = [:]
    private(set) var count = 0
    /// The slot index meaning "not tracked" (past 2^24 - 1 handles open at once).
    static let untracked: UInt32 = HandleLayout.untrackedSlot

    init(generation: UInt64) {
        self.generation = generation
    }

    /// Takes a slot for a new handle; returns the handle's low 32 bits.
    mutating func allocate(_ file: VirtualFile?) -> UInt64 {
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
        } else if slots.count < Int(Self.untracked) {
            index = UInt32(slots.count)
            slots.append(HandleState())
        } else {
            return UInt64(Self.untracked)
        }
        let tag = slots[Int(index)].tag &+ 1
        var h = HandleState(file: file)
        h.used = true
        h.tag = tag
        slots[Int(index)] = h
        count += 1
        return HandleLayout.slotBits(index: index, tag: tag)
    }

    /// The slot of `fh`: `nil` for another process's handle, -1 for one of
    /// this process that is not open.
    private func slot(_ fh: UInt64) -> Int? {
        guard HandleLayout.generation(of: fh) == generation else { return nil }
        let index = HandleLayout.slotIndex(of: fh)
        guard index < slots.count, slots[index].used, slots[index].tag == HandleLayout.tag(of: fh) else { return -1 }
        return index
    }

    /// The state of a handle; setting `nil` forgets it. Setting a handle of
    /// this process that is not open (released meanwhile) does nothing.
    subscript(fh: UInt64) -> HandleState? {
        get {
            switch slot(fh) {
            case nil: return foreign[fh]
            case .some(-1): return nil
            case let i?: return slots[i]
            }
        }
        set {
            switch slot(fh) {
            case nil:
                if newValue == nil { if foreign.removeValue(forKey: fh) != nil { count -= 1 } }
                else {
                    if foreign[fh] == nil { count += 1 }
                    foreign[fh] = newValue
                }
            case .some(-1):
                return
            case let i?:
                if var h = newValue {
                    h.used = true
                    h.tag = slots[i].tag
                    slots[i] = h
                } else {
                    let tag = slots[i].tag
                    slots[i] = HandleState()
                    slots[i].tag = tag
                    free.append(UInt32(i))
                    count -= 1
                }
            }
        }
    }
}
