import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The checks of the daemon's MOUNTPOINT and pidfile that argument-parser
/// cannot make: both are paths on this host.
enum ServeArguments {
    /// The mount point as the daemon uses it: an absolute path as given
    /// (created later if missing), or an existing directory named relative
    /// to the working directory, made absolute (lxcfs, through libfuse,
    /// takes a relative one too).
    /// - Throws: `ValidationError` for a word that is neither (a mistyped
    ///   subcommand is the usual one): the sentence names the subcommands.
    static func mountPoint(_ word: String) throws -> String {
        if word.hasPrefix("/") { return word }
        var st = stat()
        if stat(word, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, let resolved = realpath(word, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        if word.contains("/") {
            throw ValidationError("the mount point \(word) is neither an absolute path nor an existing directory")
        }
        throw ValidationError("'\(word)' is no subcommand (\(subcommandNames.joined(separator: ", "))) "
                              + "and no directory to mount on")
    }

    /// The subcommands `swift-lxcfs --help` lists, in its order.
    static var subcommandNames: [String] {
        SwiftLXCFS.configuration.subcommands.filter { $0.configuration.shouldDisplay }.map { $0._commandName }
    }

    /// Refuses a pidfile whose directory does not exist: lxcfs 5 fails
    /// on it too (open(2) with O_CREAT, ENOENT), and creating a directory
    /// from a mistyped `-p` would hide the typo.
    /// - Parameter fromRuntimeDir: the pidfile is `--runtime-dir`'s default.
    /// - Throws: `ValidationError` naming the directory and the flag to change.
    static func checkPidfileDirectory(_ pidfile: String, fromRuntimeDir: Bool) throws {
        let slash = pidfile.lastIndex(of: "/")
        let directory = slash.map { $0 == pidfile.startIndex ? "/" : String(pidfile[..<$0]) } ?? "."
        var st = stat()
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            let flag = fromRuntimeDir ? "--runtime-dir" : "-p"
            throw ValidationError("the pidfile's directory \(directory) does not exist; create it or pass another \(flag)")
        }
    }
}
