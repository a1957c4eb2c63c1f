import FoundationEssentials

/// A JSON value, decoded whole so that a profile keeps every field the
/// generator does not know (objects are written back with sorted keys).
package enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    package func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            // Whole numbers (errno values, argument indexes) stay integers.
            if n.rounded() == n, abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

/// `swift-lxcfs seccomp-profile`: a seccomp profile in the format Docker,
/// podman (containers-common) and the OCI config share (`defaultAction`,
/// `syscalls: [{names, action}]`, `listenerPath`), that sends sysinfo(2)
/// to the agent.
package enum SeccompProfile {
    /// The one rule added: sysinfo to the agent.
    package static let notifyRule: JSONValue = .object(["names": .array([.string("sysinfo")]),
                                                        "action": .string("SCMP_ACT_NOTIFY")])

    /// Why a base profile cannot be used (one sentence).
    package struct Unusable: Error, CustomStringConvertible {
        package var description: String
    }

    /// The minimal profile: everything allowed, sysinfo sent to the agent.
    package static func minimal(socket: String) -> JSONValue {
        .object(["defaultAction": .string("SCMP_ACT_ALLOW"), "listenerPath": .string(socket),
                 "syscalls": .array([notifyRule])])
    }

    /// `base` with `listenerPath` set to `socket` and one rule more that
    /// sends sysinfo to SCMP_ACT_NOTIFY. `sysinfo` leaves the names of the
    /// base's other rules (libseccomp refuses two actions for one call);
    /// a rule left with no name goes.
    /// - Throws: `Unusable` when `base` is not a JSON object with a
    ///   `syscalls` array (or none) of objects.
    package static func adding(to base: [UInt8], socket: String) throws(Unusable) -> JSONValue {
        guard case .some(.object(var profile)) = try? JSONDecoder().decode(JSONValue.self, from: Data(base)) else {
            throw Unusable(description: "the base profile is not a JSON object")
        }
        var rules: [JSONValue] = []
        switch profile["syscalls"] {
        case nil, .null?:
            break
        case .array(let existing)?:
            for rule in existing {
                guard case .object(var fields) = rule else {
                    throw Unusable(description: "the base profile's syscalls hold a rule that is not an object")
                }
                if case .array(let names)? = fields["names"], names.contains(.string("sysinfo")) {
                    let rest = names.filter { $0 != .string("sysinfo") }
                    if rest.isEmpty { continue }
                    fields["names"] = .array(rest)
                }
                if case .string("sysinfo")? = fields["name"] { continue }
                rules.append(.object(fields))
            }
        default:
            throw Unusable(description: "the base profile's syscalls is not an array")
        }
        rules.append(notifyRule)
        profile["syscalls"] = .array(rules)
        profile["listenerPath"] = .string(socket)
        return .object(profile)
    }

    /// The profile as pretty-printed JSON with sorted keys and a final newline.
    package static func text(_ profile: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(profile)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
