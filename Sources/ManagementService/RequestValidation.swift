import Configuration
import Foundation

/// Decodes API request bodies strictly: malformed JSON, wrong types and unknown fields are all
/// 400s that name the field, so a typo never silently becomes a default.
public enum RequestValidation {
    public static let maximumBody = 256 * 1024

    public static func decode<T: Codable>(_ type: T.Type, from body: [UInt8]) throws(ServiceError) -> T {
        let raw: Any
        do {
            raw = try JSONSerialization.jsonObject(with: Data(body), options: [])
        } catch {
            throw .invalidRequest("the body is not valid JSON", hint: "send a JSON object with Content-Type: application/json")
        }
        guard raw is [String: Any] else { throw .invalidRequest("the body must be a JSON object") }
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: Data(body))
        } catch let DecodingError.keyNotFound(key, context) {
            throw .invalidRequest("missing field \(path(context.codingPath + [key]))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw .invalidRequest("field \(path(context.codingPath)) has the wrong type: \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(_, context) {
            throw .invalidRequest("field \(path(context.codingPath)) must not be null")
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.isEmpty {
                throw .invalidRequest("a value does not fit its field (a negative or too large number?)")
            }
            throw .invalidRequest("field \(path(context.codingPath)): \(context.debugDescription)")
        } catch {
            throw .invalidRequest("cannot read the request: \(error)")
        }
        // Unknown fields: every key the client sent must survive a decode/encode round trip.
        guard let reencoded = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) else { return value }
        if let unknown = unknownKeys(raw, known: reencoded, prefix: "").first {
            throw .invalidRequest("unknown field \(unknown)", hint: "see /openapi.yaml for the fields this API accepts")
        }
        return value
    }

    static func unknownKeys(_ sent: Any, known: Any, prefix: String) -> [String] {
        guard let sent = sent as? [String: Any] else { return [] }
        let known = known as? [String: Any] ?? [:]
        var result: [String] = []
        for (key, value) in sent.sorted(by: { $0.key < $1.key }) {
            if value is NSNull { continue }
            guard let knownValue = known[key] else {
                result.append(prefix + key)
                continue
            }
            result += unknownKeys(value, known: knownValue, prefix: prefix + key + ".")
        }
        return result
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "(body)" : keys.map(\.stringValue).joined(separator: ".")
    }

    /// Checks a configuration: its own rules plus paths inside the allowed directories.
    public static func validate(_ configuration: VMConfiguration, allowedDirectories: [String]) throws(ServiceError) {
        if let problem = configuration.validationErrors().first {
            throw .invalidRequest("\(problem.field): \(problem.problem)")
        }
        if configuration.name.count == 36, UUID(uuidString: configuration.name) != nil {
            throw .invalidRequest("name: a VM name must not look like a VM id")
        }
        try checkPath(configuration.boot.kernel, field: "boot.kernel", allowed: allowedDirectories)
        if let initrd = configuration.boot.initrd { try checkPath(initrd, field: "boot.initrd", allowed: allowedDirectories) }
    }

    /// A path must be absolute, resolve (through symlinks) inside an allowed directory, and name
    /// a readable regular file.
    static func checkPath(_ path: String, field: String, allowed: [String]) throws(ServiceError) {
        guard path.hasPrefix("/") else { throw .invalidRequest("\(field): \(path) is not an absolute path") }
        let resolved = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let roots = allowed.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
        guard roots.contains(where: { resolved == $0 || resolved.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            throw .invalidRequest(
                "\(field): \(path) is outside the directories hvd may read",
                hint: "put it under one of: \(allowed.joined(separator: ", ")) (hvd --allow-dir adds more)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue,
            FileManager.default.isReadableFile(atPath: resolved)
        else { throw .invalidRequest("\(field): \(path) is not a readable file") }
    }
}
