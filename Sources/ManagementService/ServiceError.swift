import Configuration

/// A refusal or failure of the service, each with the HTTP status the API answers with.
public enum ServiceError: Error, Equatable, CustomStringConvertible {
    case invalidRequest(String, hint: String? = nil)
    /// Without a hint, the hint is about VMs ("hv vm list shows the VMs").
    case notFound(String, hint: String? = nil)
    case conflict(String, hint: String? = nil)
    case invalidState(String, hint: String? = nil)
    case notSupported(String, hint: String? = nil)
    case timeout(String, hint: String? = nil)
    case workerFailed(String, hint: String? = nil)
    case payloadTooLarge(String)

    public var status: Int {
        switch self {
        case .invalidRequest: 400
        case .notFound: 404
        case .conflict, .invalidState: 409
        case .payloadTooLarge: 413
        case .notSupported: 501
        case .timeout: 504
        case .workerFailed: 502
        }
    }

    public var body: APIErrorBody {
        switch self {
        case .invalidRequest(let m, let h): APIErrorBody(error: "invalid_request", message: m, hint: h)
        case .notFound(let m, let h): APIErrorBody(error: "not_found", message: m, hint: h ?? "hv vm list shows the VMs")
        case .conflict(let m, let h): APIErrorBody(error: "conflict", message: m, hint: h)
        case .invalidState(let m, let h): APIErrorBody(error: "invalid_state", message: m, hint: h)
        case .notSupported(let m, let h): APIErrorBody(error: "not_supported", message: m, hint: h)
        case .timeout(let m, let h): APIErrorBody(error: "timeout", message: m, hint: h)
        case .workerFailed(let m, let h): APIErrorBody(error: "worker_failed", message: m, hint: h)
        case .payloadTooLarge(let m): APIErrorBody(error: "payload_too_large", message: m)
        }
    }

    public var description: String { body.message }
}
