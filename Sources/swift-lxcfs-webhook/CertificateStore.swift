import NIOConcurrencyHelpers
import NIOSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The serving certificate and key, re-read when either file changes.
///
/// cert-manager and kubelet rotate a Secret's files by swapping a symlink
/// (`..data`), and `scripts/webhook-certs.sh` rewrites them in place: both
/// change the file's device, inode, size or modification time as `stat(2)`
/// sees it through the symlink. Every new connection asks for the context;
/// at most once a second the two files are `stat`ed and, if they changed,
/// loaded into a new TLS context. Connections already open keep the context
/// they started with. A pair that does not load (a half-written rotation, a
/// key that does not match the certificate) keeps the previous context until
/// the next change.
final class CertificateStore: Sendable {
    /// What `stat(2)` reports of one file: device, inode, size, mtime (ns).
    struct Stamp: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, mtime: Int64, ctime: Int64

        init?(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        }
    }

    private struct State {
        var context: NIOSSLContext
        var stamps: [Stamp?]
        var checkedAt: UInt64
    }

    let certificatePath: String
    let privateKeyPath: String
    private let state: NIOLockedValueBox<State>
    private let onReload: @Sendable (Result<Void, Error>) -> Void

    /// Loads the pair once; throws `NIOSSLError` or `BoringSSLError` when the files do not load.
    init(certificatePath: String, privateKeyPath: String, onReload: @escaping @Sendable (Result<Void, Error>) -> Void) throws {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.onReload = onReload
        let stamps = [Stamp(certificatePath), Stamp(privateKeyPath)]
        let context = try Self.load(certificatePath, privateKeyPath)
        state = NIOLockedValueBox(State(context: context, stamps: stamps, checkedAt: Self.nowNanoseconds()))
    }

    /// The context for a new connection, reloaded first if the files changed.
    func context() -> NIOSSLContext {
        let now = Self.nowNanoseconds()
        let (current, due) = state.withLockedValue { s -> (NIOSSLContext, [Stamp?]?) in
            guard now &- s.checkedAt >= 1_000_000_000 else { return (s.context, nil) }
            s.checkedAt = now
            let stamps = [Stamp(certificatePath), Stamp(privateKeyPath)]
            return (s.context, stamps == s.stamps ? nil : stamps)
        }
        guard let stamps = due else { return current }
        do {
            let fresh = try Self.load(certificatePath, privateKeyPath)
            state.withLockedValue { s in
                s.context = fresh
                s.stamps = stamps
            }
            onReload(.success(()))
            return fresh
        } catch {
            // Keep serving the old pair; try again once the files change again.
            state.withLockedValue { $0.stamps = stamps }
            onReload(.failure(error))
            return current
        }
    }

    private static func load(_ certificatePath: String, _ privateKeyPath: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        let key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }

    private static func nowNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
