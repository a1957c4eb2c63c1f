#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LXCFSBinds

/// The mutating admission webhook's decision for one AdmissionReview: a
/// JSONPatch that binds the daemon's files (hostPath volumes under the mount
/// point, one volumeMount per file or folder in every container and init
/// container), or no patch.
///
/// No patch for: kinds other than Pod, operations other than CREATE, pods
/// annotated `swift-lxcfs.io/inject: "false"`, pods in kube-system or in
/// swift-lxcfs's own namespace, pods labelled as swift-lxcfs's own, and pods
/// that already have every mount (so reinvocation adds nothing).
public struct PodInjector: Sendable {
    /// The pod annotation that opts a pod out (value `"false"`).
    public static let annotation = "swift-lxcfs.io/inject"
    /// Namespaces whose pods are never mutated, whatever the webhook configuration selects.
    public static let excludedNamespaces: Set<String> = ["kube-system", "swift-lxcfs"]
    /// Values of the pod label `app.kubernetes.io/name` of swift-lxcfs's own pods.
    public static let ownNames: Set<String> = ["swift-lxcfs", "swift-lxcfs-webhook"]

    /// The result of one review.
    public enum Outcome: Equatable, Sendable {
        /// 200 with this AdmissionReview (JSON) as the body.
        case review([UInt8])
        /// 400 with this one-sentence reason.
        case badRequest(String)
    }

    public let mountPoint: String
    public let binds: [LXCFSBind]
    public let readOnly: Bool

    /// - Parameters:
    ///   - mountPoint: the daemon's mount point on the node, such as `/var/lib/lxcfs`.
    ///   - binds: what each container binds (default: every file and the cpu tree).
    ///   - readOnly: `readOnly` on every added volumeMount.
    public init(mountPoint: String = LXCFSBind.defaultMountPoint, binds: [LXCFSBind] = LXCFSBind.all, readOnly: Bool = true) {
        self.mountPoint = mountPoint
        self.binds = binds
        self.readOnly = readOnly
    }

    /// Reviews one request body (an admission.k8s.io/v1 AdmissionReview, JSON).
    public func review(_ body: [UInt8]) -> Outcome {
        let data = Data(body)
        let decoder = JSONDecoder()
        let header: AdmissionReviewHeader
        do {
            header = try decoder.decode(AdmissionReviewHeader.self, from: data)
        } catch {
            return .badRequest("The body is not an AdmissionReview in JSON (\(Self.reason(error))).")
        }
        guard header.kind == "AdmissionReview", header.apiVersion == "admission.k8s.io/v1" else {
            return .badRequest("The body is not an admission.k8s.io/v1 AdmissionReview.")
        }
        guard let request = header.request else {
            return .badRequest("The AdmissionReview has no request.")
        }
        var response = AdmissionResponse(uid: request.uid)
        if wantsPatch(request) {
            let pod: Pod
            do {
                guard let object = try decoder.decode(AdmissionReviewPod.self, from: data).request.object else {
                    return .badRequest("The AdmissionReview for a Pod has no object.")
                }
                pod = object
            } catch {
                return .badRequest("The AdmissionReview's object is not a Pod (\(Self.reason(error))).")
            }
            let operations = patch(for: pod)
            if !operations.isEmpty {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.withoutEscapingSlashes]
                guard let json = try? encoder.encode(operations) else {
                    return .badRequest("The patch for this pod could not be encoded.")
                }
                response.patchType = "JSONPatch"
                response.patch = json.base64EncodedString()
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let out = try? encoder.encode(AdmissionReviewResponse(response: response)) else {
            return .badRequest("The response to this request could not be encoded.")
        }
        return .review(Array(out))
    }

    /// True for the creation of a Pod (core/v1, no subresource) outside the excluded namespaces.
    func wantsPatch(_ request: AdmissionRequestHeader) -> Bool {
        guard let kind = request.kind, kind.kind == "Pod", (kind.group ?? "") == "" else { return false }
        if let operation = request.operation, operation != "CREATE" { return false }
        if let sub = request.subResource, !sub.isEmpty { return false }
        if let namespace = request.namespace, Self.excludedNamespaces.contains(namespace) { return false }
        return true
    }

    /// The JSONPatch operations that add what `pod` lacks; empty when it lacks nothing or opts out.
    func patch(for pod: Pod) -> [PatchOperation] {
        if pod.metadata?.annotations?[Self.annotation]?.lowercased() == "false" { return [] }
        if let name = pod.metadata?.labels?["app.kubernetes.io/name"], Self.ownNames.contains(name) { return [] }
        let spec = pod.spec ?? Pod.Spec()
        let volumes = spec.volumes ?? []
        var takenNames = Set(volumes.map(\.name))

        // Each bind's volume: the pod's own hostPath volume of the same path, or a new one.
        var volumeName: [String: String] = [:]  // relativePath -> volume name
        var newVolumes: [PatchOperation.Value] = []
        for bind in binds {
            let host = Self.normalized(bind.hostPath(under: mountPoint))
            if let own = volumes.first(where: { $0.hostPath.map { Self.normalized($0.path) } == host }) {
                volumeName[bind.relativePath] = own.name
            }
        }
        // Only binds some container still lacks need a volume.
        let groups: [(field: String, containers: [Pod.Container])] = [
            ("initContainers", spec.initContainers ?? []), ("containers", spec.containers ?? []),
        ]
        var mountOps: [PatchOperation] = []
        for (field, containers) in groups {
            for (index, container) in containers.enumerated() {
                let mounted = Set((container.volumeMounts ?? []).map { Self.normalized($0.mountPath) })
                var adds: [PatchOperation.Value] = []
                for bind in binds where !mounted.contains(bind.containerPath) {
                    let name: String
                    if let known = volumeName[bind.relativePath] {
                        name = known
                    } else {
                        name = Self.freeName("swift-lxcfs-" + bind.slug, taken: takenNames)
                        takenNames.insert(name)
                        volumeName[bind.relativePath] = name
                        newVolumes.append(.volume(name: name, hostPath: bind.hostPath(under: mountPoint),
                                                  type: bind.isDirectory ? "Directory" : "File"))
                    }
                    adds.append(.mount(name: name, mountPath: bind.containerPath, readOnly: readOnly))
                }
                if adds.isEmpty { continue }
                let base = "/spec/\(field)/\(index)/volumeMounts"
                if container.volumeMounts == nil {
                    mountOps.append(PatchOperation(path: base, value: .mounts(adds)))
                } else {
                    mountOps += adds.map { PatchOperation(path: base + "/-", value: $0) }
                }
            }
        }
        var operations: [PatchOperation] = []
        if !newVolumes.isEmpty {
            if spec.volumes == nil {
                operations.append(PatchOperation(path: "/spec/volumes", value: .volumes(newVolumes)))
            } else {
                operations += newVolumes.map { PatchOperation(path: "/spec/volumes/-", value: $0) }
            }
        }
        return operations + mountOps
    }

    /// `base`, or `base-2`, `base-3`, ... : the first not in `taken` (at most 63 characters, a DNS label).
    static func freeName(_ base: String, taken: Set<String>) -> String {
        let stem = String(base.prefix(56))
        if !taken.contains(stem) { return stem }
        var n = 2
        while taken.contains("\(stem)-\(n)") { n += 1 }
        return "\(stem)-\(n)"
    }

    /// A path without trailing slashes and repeated slashes (`/proc//meminfo/` is `/proc/meminfo`).
    static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return "/" + parts.joined(separator: "/")
    }

    /// A decoding error in a few words, without the whole coding path.
    static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(c.codingPath))"
        case DecodingError.keyNotFound(let key, let c):
            return "\(path(c.codingPath + [key])) is missing"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "\(path(c.codingPath)) has the wrong type"
        default:
            return "unreadable"
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop(while: { $0 == "." }).description
    }
}
