import Configuration
import Foundation
import Logging
import SocketTransport
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The HTTP/JSON adapter over the Unix socket and, optionally, a TCP listener (TLS, bearer
/// token): decodes a request, calls `VMService`, encodes the reply (openapi/hvd.yaml).
/// Connections are kept alive between requests (HTTP/1.1, up to `maximumRequestsPerConnection`,
/// idle at most `keepAliveIdleTimeout` seconds) unless the client sends `Connection: close`.
///
/// ## Concurrency model
/// An accept thread per listener and one thread per connection (at most `maximumConnections`
/// in all; more are answered 503). Blocking is fine here: operations may wait for a guest to
/// shut down. A TLS handshake runs on the connection's thread, never on the accept thread.
public final class APIServer: Sendable {
    public static let maximumConnections = 256
    let service: VMService
    let listener: UnixSocket
    /// The TCP listener, if hvd was started with `--listen`.
    public let remote: RemoteListener?
    let openAPIDocument: String
    private let active = Atomic<Int>(0)
    /// Seconds a client may take to send its request (and, on TLS, to finish the handshake).
    static let receiveTimeout = 30
    /// Seconds a kept-alive connection may sit idle before the next request: each holds a thread.
    static let keepAliveIdleTimeout = 5
    public static let maximumRequestsPerConnection = 1000

    /// Listens on `socketPath` (mode 0660), and on `remote` when given.
    public init(service: VMService, socketPath: String, openAPIDocument: String, remote: RemoteListener? = nil) throws {
        self.service = service
        self.openAPIDocument = openAPIDocument
        self.remote = remote
        listener = try UnixSocket.listen(path: socketPath, mode: 0o660)
    }

    /// Serves until `stop()`; blocks the calling thread (the TCP listener gets its own thread).
    public func run() {
        if let remote {
            let thread = Thread { [self] in serve(remote.socket, remote: remote) }
            thread.start()
        }
        serve(listener, remote: nil)
    }

    private func serve(_ listener: UnixSocket, remote: RemoteListener?) {
        while let connection = try? listener.accept() {
            if active.add(1, ordering: .relaxed).newValue > Self.maximumConnections {
                active.subtract(1, ordering: .relaxed)
                // On TLS the 503 would need a handshake first; closing is the honest answer.
                if remote?.tls == nil {
                    try? write(ServerConnection(connection), status: 503, json: APIErrorBody(error: "busy", message: "too many connections"))
                }
                continue
            }
            let thread = Thread { [self] in
                defer { active.subtract(1, ordering: .relaxed) }
                guard let remote else { return handle(connection, token: nil) }
                connection.setNoDelay()
                connection.setReceiveTimeout(seconds: Self.receiveTimeout)
                guard let tls = remote.tls else { return handle(connection, token: remote.token) }
                do {
                    handle(try TLSStream.accept(connection, context: tls), token: remote.token)
                } catch {
                    // Plain HTTP on the TLS port, a client that distrusts our certificate, a scan:
                    // nothing was served, so nothing but a debug line.
                    service.logger.debug("hvd: TLS handshake with a client failed: \(error)")
                    service.metrics.tlsHandshakeFailure()
                }
            }
            thread.start()
        }
    }

    public func stop() {
        listener.shutdown()
        remote?.socket.shutdown()
    }

    struct Request {
        var method: String
        var path: [String]
        var query: [String: String]
        var head: HTTPHead
        var body: [UInt8]
    }

    /// Serves a connection's requests; `token` is the bearer token each must carry (TCP), nil on
    /// the Unix socket, which file permissions guard.
    private func handle(_ stream: any ByteStream, token: BearerToken?) {
        let connection = ServerConnection(stream)
        let reader = BufferedReader(connection)
        var served = 0
        repeat {
            connection.keepAlive = false
            guard serveOne(connection, reader, token: token, first: served == 0) else { return }
            served += 1
        } while connection.keepAlive && served < Self.maximumRequestsPerConnection
    }

    /// Reads and answers one request; false when there was none (end of stream, idle timeout).
    private func serveOne(_ connection: ServerConnection, _ reader: BufferedReader, token: BearerToken?, first: Bool) -> Bool {
        connection.setReceiveTimeout(seconds: first ? Self.receiveTimeout : Self.keepAliveIdleTimeout)
        let request: Request
        do {
            let head: HTTPHead
            do {
                guard let next = try reader.readHTTPHead() else { return false }
                head = next
            } catch let error as SocketError where !first {
                // An idle kept-alive connection timed out or went away: nothing to answer.
                _ = error
                return false
            }
            connection.setReceiveTimeout(seconds: Self.receiveTimeout)
            guard head.startLine.count == 3, head.startLine[2].hasPrefix("HTTP/1.") else {
                try write(connection, status: 400, json: APIErrorBody(error: "invalid_request", message: "not an HTTP/1.x request"))
                return true
            }
            if let token, !token.accepts(authorization: head.header("authorization")) {
                // Nothing is decoded or routed: a refused request changes nothing and learns
                // nothing. The (bounded) body is read and dropped first, so that closing with
                // unread bytes does not reset the connection before the client reads the 401.
                _ = try? reader.readHTTPBody(for: head, limit: RequestValidation.maximumBody)
                refuse(connection, method: head.startLine[0])
                return true
            }
            let body = try reader.readHTTPBody(for: head, limit: RequestValidation.maximumBody)
            let target = head.startLine[1]
            let parts = target.split(separator: "?", maxSplits: 1)
            let path = (parts.first.map(String.init) ?? "/").split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
            var query: [String: String] = [:]
            if parts.count > 1 {
                for pair in parts[1].split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                        .map { String($0).removingPercentEncoding ?? String($0) }
                    guard let key = kv.first else { continue }
                    query[key] = kv.count > 1 ? kv[1] : ""
                }
            }
            request = Request(method: head.startLine[0], path: path, query: query, head: head, body: body)
            // Decided once the whole request is read; error answers below close.
            connection.keepAlive = ServerConnection.wantsKeepAlive(head)
        } catch FramingError.tooLarge(let limit) {
            try? write(connection, status: 413, json: ServiceError.payloadTooLarge("the request is larger than \(limit) bytes").body)
            return true
        } catch {
            try? write(connection, status: 400, json: APIErrorBody(error: "invalid_request", message: "\(error)"))
            return true
        }
        let status: Int
        do {
            status = try route(request, connection: connection)
        } catch let error as ServiceError {
            status = error.status
            try? write(connection, status: status, json: error.body)
        } catch {
            status = 500
            connection.keepAlive = false
            try? write(connection, status: 500, json: APIErrorBody(error: "internal", message: "\(error)"))
        }
        service.metrics.request(method: request.method, status: status)
        return true
    }

    /// 401 with `WWW-Authenticate: Bearer` (RFC 6750) and the usual JSON error.
    private func refuse(_ connection: ServerConnection, method: String) {
        let refusal = APIErrorBody(
            error: "unauthorized", message: "a valid bearer token is required (Authorization: Bearer TOKEN)",
            hint: "hv reads it from --token-file or HV_TOKEN_FILE")
        try? write(connection, status: 401, json: refusal, headers: [("www-authenticate", #"Bearer realm="hvd""#)])
        service.metrics.request(method: method, status: 401)
    }

    // MARK: Routing

    /// Answers one request; returns the status sent.
    private func route(_ r: Request, connection: ServerConnection) throws -> Int {
        let s = service
        func ok<T: Encodable>(_ value: T, _ status: Int = 200) throws -> Int {
            try write(connection, status: status, json: value)
            return status
        }
        func needs(_ method: String) throws(ServiceError) {
            guard r.method == method else { throw .invalidRequest("\(r.method) is not allowed here (use \(method))") }
        }
        switch r.path {
        case ["openapi.yaml"]:
            try needs("GET")
            try write(connection, status: 200, contentType: "application/yaml", body: Array(openAPIDocument.utf8))
            return 200
        case ["metrics"]:
            try needs("GET")
            try write(connection, status: 200, contentType: "text/plain; version=0.0.4", body: Array(s.metrics.render(vmsByState: s.vmsByState(), vcpuExits: s.vcpuExits()).utf8))
            return 200
        case ["v1", "host"]:
            try needs("GET")
            return try ok(s.hostInfo())
        case ["v1", "host", "stop-vms"]:
            try needs("POST")
            let body = r.body.isEmpty ? StopVMsRequest() : try RequestValidation.decode(StopVMsRequest.self, from: r.body)
            return try ok(s.stopVMsForHostShutdown(body))
        case ["v1", "vms"]:
            switch r.method {
            case "GET": return try ok(s.list())
            case "POST": return try ok(s.create(RequestValidation.decode(CreateVMRequest.self, from: r.body)), 201)
            default: throw ServiceError.invalidRequest("\(r.method) is not allowed on /v1/vms (GET or POST)")
            }
        case ["v1", "events"]:
            try needs("GET")
            return try events(r, vm: nil, connection: connection)
        case let p where p.count == 3 && p[0] == "v1" && p[1] == "vms":
            switch r.method {
            case "GET": return try ok(s.get(p[2]))
            case "PATCH": return try ok(s.update(p[2], RequestValidation.decode(UpdateVMRequest.self, from: r.body)))
            case "DELETE":
                try s.delete(p[2])
                try write(connection, status: 204, contentType: nil, body: [])
                return 204
            default: throw ServiceError.invalidRequest("\(r.method) is not allowed on a VM (GET, PATCH or DELETE)")
            }
        case let p where p.count == 4 && p[0] == "v1" && p[1] == "vms":
            let vm = p[2]
            switch p[3] {
            case "events":
                try needs("GET")
                return try events(r, vm: vm, connection: connection)
            case "console":
                try needs("GET")
                return try console(vm, r, connection: connection)
            case "disks":
                switch r.method {
                case "GET": return try ok(s.disks(vm))
                case "POST": return try ok(s.addDisk(vm, RequestValidation.decode(DiskAttachment.self, from: r.body)), 201)
                default: throw ServiceError.invalidRequest("\(r.method) is not allowed on a VM's disks (GET or POST)")
                }
            case "network-adapters":
                switch r.method {
                case "GET": return try ok(s.networkAdapters(vm))
                case "POST": return try ok(s.addNetworkAdapter(vm, RequestValidation.decode(NetworkAdapterConfiguration.self, from: r.body)), 201)
                default: throw ServiceError.invalidRequest("\(r.method) is not allowed on a VM's network adapters (GET or POST)")
                }
            default: break
            }
            try needs("POST")
            switch p[3] {
            case "start": return try ok(s.start(vm))
            case "stop":
                let body = r.body.isEmpty ? StopVMRequest() : try RequestValidation.decode(StopVMRequest.self, from: r.body)
                return try ok(s.stop(vm, body))
            case "turn-off": return try ok(s.turnOff(vm))
            case "restart": return try ok(s.restart(vm))
            case "pause": return try ok(s.pause(vm))
            case "resume": return try ok(s.resume(vm))
            case "save": return try ok(s.save(vm))
            case "discard-saved-state": return try ok(s.discardSavedState(vm))
            default:
                throw ServiceError.notFound(
                    "no action \"\(p[3])\" (start, stop, turn-off, restart, pause, resume, save, discard-saved-state)")
            }
        case let p where p.count == 5 && p[0] == "v1" && p[1] == "vms" && (p[3] == "disks" || p[3] == "network-adapters"):
            let disk = p[3] == "disks"
            switch r.method {
            case "GET": return disk ? try ok(s.disk(p[2], lun: p[4])) : try ok(s.networkAdapter(p[2], p[4]))
            case "DELETE":
                if disk { try s.removeDisk(p[2], lun: p[4]) } else { try s.removeNetworkAdapter(p[2], p[4]) }
                try write(connection, status: 204, contentType: nil, body: [])
                return 204
            default: throw ServiceError.invalidRequest("\(r.method) is not allowed on a device (GET or DELETE)")
            }
        default:
            throw ServiceError.notFound("no such resource: /\(r.path.joined(separator: "/"))")
        }
    }

    /// The event log as JSON, or as server-sent events (`?follow=true` or `Accept: text/event-stream`).
    private func events(_ r: Request, vm: String?, connection: ServerConnection) throws -> Int {
        let after = Int64(r.head.header("last-event-id") ?? r.query["after"] ?? "0") ?? 0
        let limit = min(max(Int(r.query["limit"] ?? "1000") ?? 1000, 1), 10000)
        let vmID = try vm.map { try service.record($0).id }
        let follow = r.query["follow"] == "true" || r.query["follow"] == "1" || (r.head.header("accept") ?? "").contains("text/event-stream")
        if !follow {
            try write(connection, status: 200, json: service.eventLog(vm: vmID, afterID: after, limit: limit))
            return 200
        }
        connection.keepAlive = false
        let subscription = service.events.subscribe()
        defer { service.events.unsubscribe(subscription) }
        try connection.write(
            HTTPHead(startLine: ["HTTP/1.1", "200", "OK"], headers: [("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("connection", "close")]).serialized())
        var lastID = after
        func send(_ event: VMEvent) throws {
            guard event.id > lastID, vmID == nil || event.vmID == vmID else { return }
            lastID = event.id
            let json = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
            try connection.write(Array("id: \(event.id)\nevent: \(event.kind)\ndata: \(json)\n\n".utf8))
        }
        for event in try service.eventLog(vm: vmID, afterID: after, limit: limit) { try send(event) }
        while true {
            let (event, closed) = subscription.next(timeoutSeconds: 15)
            if closed { return 200 }
            if let event { try send(event) } else { try connection.write(Array(": keep-alive\n\n".utf8)) }
        }
    }

    /// Upgrades the connection to a raw byte stream (`Upgrade: hv-console`): guest output to the
    /// client, client bytes to the guest's COM1.
    private func console(_ vm: String, _ r: Request, connection: ServerConnection) throws -> Int {
        connection.keepAlive = false
        let handle = try service.consoleWorker(vm)
        let (worker, reader) = try handle.attachConsole()
        try connection.write(
            HTTPHead(startLine: ["HTTP/1.1", "101", "Switching Protocols"], headers: [("upgrade", "hv-console"), ("connection", "Upgrade")]).serialized())
        connection.setReceiveTimeout(seconds: 0)
        let input = Thread {
            while let bytes = try? connection.read(), !bytes.isEmpty {
                guard (try? worker.writeFrame(ControlMessage(.consoleInput, data: Data(bytes)).encoded())) != nil else { break }
            }
            worker.shutdown()
        }
        input.start()
        while let frame = try? reader.readFrame(), let message = try? ControlMessage.decode(frame) {
            if message.kind == .consoleOutput, let data = message.data {
                guard (try? connection.write(Array(data))) != nil else { break }
            }
        }
        connection.shutdown()
        worker.shutdown()
        return 101
    }

    // MARK: Responses

    private static let reasons = [
        200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large",
        500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    ]

    private func write<T: Encodable>(_ connection: ServerConnection, status: Int, json: T, headers: [(name: String, value: String)] = []) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try write(connection, status: status, contentType: "application/json", body: Array(try encoder.encode(json)) + [0x0A], headers: headers)
    }

    private func write(_ connection: ServerConnection, status: Int, contentType: String?, body: [UInt8], headers extra: [(name: String, value: String)] = []) throws {
        let persistence = connection.keepAlive ? "keep-alive" : "close"
        var headers: [(name: String, value: String)] = [("content-length", "\(body.count)"), ("connection", persistence)]
        if let contentType { headers.append(("content-type", contentType)) }
        headers += extra
        let head = HTTPHead(startLine: ["HTTP/1.1", "\(status)", Self.reasons[status] ?? "Status"], headers: headers)
        try connection.write(head.serialized() + body)
    }
}
