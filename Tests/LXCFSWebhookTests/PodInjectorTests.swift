import Foundation
import LXCFSBinds
@testable import LXCFSWebhook
import XCTest

final class PodInjectorTests: XCTestCase {
    private func review(_ pod: [String: Any], kind: String = "Pod", namespace: String = "apps") throws -> [UInt8] {
        let body: [String: Any] = [
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": ["uid": "u-1", "kind": ["group": "", "version": "v1", "kind": kind],
                        "namespace": namespace, "operation": "CREATE", "object": pod],
        ]
        return Array(try JSONSerialization.data(withJSONObject: body))
    }

    /// The response's patch operations, or nil without a patch.
    private func operations(_ outcome: PodInjector.Outcome) throws -> [[String: Any]]? {
        guard case .review(let bytes) = outcome else {
            XCTFail("not a review: \(outcome)")
            return nil
        }
        let out = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let response = try XCTUnwrap(out["response"] as? [String: Any])
        XCTAssertEqual(response["uid"] as? String, "u-1")
        XCTAssertEqual(response["allowed"] as? Bool, true)
        guard let patch = response["patch"] as? String else { return nil }
        XCTAssertEqual(response["patchType"] as? String, "JSONPatch")
        let json = try XCTUnwrap(Data(base64Encoded: patch))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [[String: Any]])
    }

    func testPodWithoutVolumesGetsTheArrayAndEveryMount() throws {
        let pod: [String: Any] = ["metadata": ["name": "p"], "spec": ["containers": [["name": "a"]]]]
        let ops = try XCTUnwrap(operations(PodInjector().review(review(pod))))
        XCTAssertEqual(ops.map { $0["path"] as? String }, ["/spec/volumes", "/spec/containers/0/volumeMounts"])
        let volumes = try XCTUnwrap(ops[0]["value"] as? [[String: Any]])
        XCTAssertEqual(volumes.count, LXCFSBind.all.count)
        let cpu = try XCTUnwrap(volumes.last?["hostPath"] as? [String: String])
        XCTAssertEqual(cpu, ["path": "/var/lib/lxcfs/sys/devices/system/cpu", "type": "Directory"])
        let mounts = try XCTUnwrap(ops[1]["value"] as? [[String: Any]])
        XCTAssertEqual(mounts.map { $0["mountPath"] as? String }, LXCFSBind.all.map(\.containerPath))
        XCTAssertTrue(mounts.allSatisfy { $0["readOnly"] as? Bool == true })
    }

    func testTakenNamesAndOwnMountsAreRespected() throws {
        let pod: [String: Any] = [
            "spec": [
                "volumes": [["name": "swift-lxcfs-proc-stat", "emptyDir": [:]]],
                "containers": [["name": "a", "volumeMounts": [["name": "swift-lxcfs-proc-stat", "mountPath": "/proc/meminfo/"]]]],
            ],
        ]
        let ops = try XCTUnwrap(operations(PodInjector().review(review(pod))))
        let names = ops.filter { $0["path"] as? String == "/spec/volumes/-" }.compactMap { ($0["value"] as? [String: Any])?["name"] as? String }
        XCTAssertTrue(names.contains("swift-lxcfs-proc-stat-2"))
        XCTAssertFalse(names.contains("swift-lxcfs-proc-stat"))
        let mountPaths = ops.filter { ($0["path"] as? String)?.hasPrefix("/spec/containers/0/") == true }
            .compactMap { ($0["value"] as? [String: Any])?["mountPath"] as? String }
        XCTAssertFalse(mountPaths.contains("/proc/meminfo"))
        XCTAssertEqual(mountPaths.count, LXCFSBind.all.count - 1)
    }

    func testNoPatchForOptOutOtherKindsAndKubeSystem() throws {
        let out: [String: Any] = ["metadata": ["annotations": ["swift-lxcfs.io/inject": "false"]], "spec": ["containers": [["name": "a"]]]]
        XCTAssertNil(try operations(PodInjector().review(review(out))))
        let plain: [String: Any] = ["spec": ["containers": [["name": "a"]]]]
        XCTAssertNil(try operations(PodInjector().review(review(plain, namespace: "kube-system"))))
        XCTAssertNil(try operations(PodInjector().review(review(["data": ["a": "b"]], kind: "ConfigMap"))))
    }

    func testMalformedBodiesAreOneSentence() {
        for body in ["", "nope", "{}", #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#] {
            guard case .badRequest(let reason) = PodInjector().review(Array(body.utf8)) else {
                return XCTFail("accepted \(body)")
            }
            XCTAssertTrue(reason.hasSuffix(".") && !reason.contains("\n"), reason)
        }
    }
}
