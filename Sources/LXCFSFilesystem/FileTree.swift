import LXCFSCore

/// The directory tree the mount serves: every `VirtualFile` and the
/// directories down to it. Paths are relative to the mount point and start
/// with `/`.
public struct FileTree: Sendable {
    /// A node of the tree.
    public enum Node: Sendable, Equatable {
        /// A directory and the names of its entries, sorted.
        case directory([String])
        /// A served file.
        case file(VirtualFile)
    }

    /// Every path and its node.
    public let nodes: [String: Node]

    /// Builds the tree of `files`.
    public init(files: [VirtualFile] = VirtualFile.allCases) {
        var children: [String: Set<String>] = ["/": []]
        var nodes: [String: Node] = [:]
        for file in files {
            let path = file.rawValue
            nodes[path] = .file(file)
            var child = path
            while let slash = child.lastIndex(of: "/") {
                let parent = slash == child.startIndex ? "/" : String(child[..<slash])
                let name = String(child[child.index(after: slash)...])
                children[parent, default: []].insert(name)
                if parent == "/" { break }
                child = parent
            }
        }
        for (dir, names) in children { nodes[dir] = .directory(names.sorted()) }
        self.nodes = nodes
    }

    /// The node at `path`, or `nil` (ENOENT).
    public func node(at path: String) -> Node? { nodes[path] }
}
