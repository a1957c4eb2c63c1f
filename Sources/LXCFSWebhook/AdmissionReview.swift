#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The parts of admission.k8s.io/v1 AdmissionReview and core/v1 Pod that the
// webhook reads. Every other field of the request is ignored (JSONDecoder
// skips unknown keys), so a pod from any Kubernetes version decodes.

/// `AdmissionReview.request` without its object: what every request carries.
struct AdmissionRequestHeader: Decodable {
    struct GroupVersionKind: Decodable {
        var group: String?
        var version: String?
        var kind: String?
    }

    var uid: String
    var kind: GroupVersionKind?
    var namespace: String?
    var operation: String?
    var subResource: String?
}

struct AdmissionReviewHeader: Decodable {
    var apiVersion: String?
    var kind: String?
    var request: AdmissionRequestHeader?
}

/// The pod in `AdmissionReview.request.object`.
struct Pod: Decodable {
    struct Metadata: Decodable {
        var annotations: [String: String]?
        var labels: [String: String]?
    }

    struct Volume: Decodable {
        struct HostPath: Decodable {
            var path: String
        }

        var name: String
        var hostPath: HostPath?
    }

    struct VolumeMount: Decodable {
        var name: String
        var mountPath: String
    }

    struct Container: Decodable {
        var volumeMounts: [VolumeMount]?
    }

    struct Spec: Decodable {
        var volumes: [Volume]?
        var containers: [Container]?
        var initContainers: [Container]?
    }

    var metadata: Metadata?
    var spec: Spec?
}

struct AdmissionReviewPod: Decodable {
    struct Request: Decodable {
        var object: Pod?
    }

    var request: Request
}

/// `AdmissionReview.response`, as the API server reads it.
struct AdmissionResponse: Encodable {
    var uid: String
    var allowed = true
    var patchType: String?
    /// The JSONPatch (RFC 6902), base64 (standard alphabet, padded).
    var patch: String?
}

struct AdmissionReviewResponse: Encodable {
    var apiVersion = "admission.k8s.io/v1"
    var kind = "AdmissionReview"
    var response: AdmissionResponse
}

/// One JSONPatch operation; the webhook only ever adds.
struct PatchOperation: Encodable, Equatable {
    enum Value: Encodable, Equatable {
        case volume(name: String, hostPath: String, type: String)
        case volumes([Value])
        case mount(name: String, mountPath: String, readOnly: Bool)
        case mounts([Value])

        private enum Keys: String, CodingKey { case name, hostPath, path, type, mountPath, readOnly }

        func encode(to encoder: Encoder) throws {
            switch self {
            case let .volume(name, hostPath, type):
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode(name, forKey: .name)
                var h = c.nestedContainer(keyedBy: Keys.self, forKey: .hostPath)
                try h.encode(hostPath, forKey: .path)
                try h.encode(type, forKey: .type)
            case let .mount(name, mountPath, readOnly):
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode(name, forKey: .name)
                try c.encode(mountPath, forKey: .mountPath)
                try c.encode(readOnly, forKey: .readOnly)
            case let .volumes(values), let .mounts(values):
                var c = encoder.singleValueContainer()
                try c.encode(values)
            }
        }
    }

    var op = "add"
    var path: String
    var value: Value
}
