import Configuration
import Foundation
import SocketTransport
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A client of `hvd`'s REST API (openapi/hvd.yaml), over its Unix socket or its TCP listener
/// (TLS and a bearer token, `RemoteEndpoint`). Used by `hv` and tests.
///
/// ## Concurrency model
/// Stateless: every call opens its own connection, so one client is safe from any thread.
public struct HVClient: Sendable {
    /// The Unix socket, or the URL of the remote endpoint (for messages).
    public let socketPath: String
    /// Set when talking to hvd's TCP listener instead of its socket.
    public let remote: RemoteEndpoint?

    public init(socketPath: String) {
        self.socketPath = socketPath
        remote = nil
    }

    /// A client of hvd's TCP listener.
    public init(remote: RemoteEndpoint) {
        socketPath = remote.url
        self.remote = remote
    }

    /// `$HV_SOCKET`, else `/run/swifthv/hvd.sock` as root, else `$XDG_RUNTIME_DIR/swifthv/hvd.sock`,
    /// else `~/.local/share/swifthv/run/hvd.sock` (the defaults `hvd` uses).
    public static func defaultSocketPath() -> String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["HV_SOCKET"], !path.isEmpty { return path }
        if getuid() == 0 { return "/run/swifthv/hvd.sock" }
        if let xdg = env["XDG_RUNTIME_DIR"], !xdg.isEmpty { return xdg + "/swifthv/hvd.sock" }
        return NSHomeDirectory() + "/.local/share/swifthv/run/hvd.sock"
    }

    /// A response: status, head and body.
    public struct Response: Sendable {
        public var status: Int
        public var head: HTTPHead
        public var body: [UInt8]
    }

    private func connect() throws(HVClientError) -> any ByteStream {
        if let remote { return try remote.connect() }
        do {
            return try UnixSocket.connect(path: socketPath)
        } catch let error as SocketError {
            throw .unreachable(socketPath, error.description)
        } catch {
            throw .unreachable(socketPath, "\(error)")
        }
    }

    /// A request head; on the TCP listener it carries the bearer token. (An instance method, not
    /// static, so that no request can be built without the token.)
    private func head(_ method: String, _ path: String, extra: [(String, String)] = [], bodyCount: Int) -> HTTPHead {
        var headers: [(name: String, value: String)] = [("host", remote?.hostHeader ?? "hvd"), ("connection", "close")]
        if let remote { headers.append(("authorization", "Bearer \(remote.token)")) }
        if bodyCount > 0 || method == "POST" || method == "PATCH" {
            headers += [("content-type", "application/json"), ("content-length", "\(bodyCount)")]
        }
        headers += extra.map { (name: $0.0, value: $0.1) }
        return HTTPHead(startLine: [method, path, "HTTP/1.1"], headers: headers)
    }

    /// Sends one request and reads the whole response.
    public func send(_ method: String, _ path: String, body: [UInt8] = []) throws(HVClientError) -> Response {
        let socket = try connect()
        do {
            // hvd may answer (413) and close before reading a large body: read its answer anyway.
            var writeError: (any Error)?
            do { try socket.write(head(method, path, bodyCount: body.count).serialized() + body) } catch { writeError = error }
            let reader = BufferedReader(socket)
            guard let head = try? reader.readHTTPHead(), head.startLine.count >= 2, let status = Int(head.startLine[1]) else {
                throw HVClientError.protocolError("hvd closed the connection without an answer\(writeError.map { " (\($0))" } ?? "")")
            }
            let body = try reader.readHTTPBody(for: head, limit: 64 << 20)
            return Response(status: status, head: head, body: body)
        } catch let error as HVClientError {
            throw error
        } catch {
            throw .protocolError("\(error)")
        }
    }

    /// Sends a request with an optional JSON body and decodes a JSON answer (or throws the API error).
    public func call<Reply: Decodable>(_ method: String, _ path: String, json: (some Encodable)? = Optional<String>.none, as: Reply.Type) throws(HVClientError) -> Reply {
        var body: [UInt8] = []
        if let json {
            do { body = Array(try JSONEncoder().encode(json)) } catch { throw .protocolError("cannot encode the request: \(error)") }
        }
        let response = try send(method, path, body: body)
        try Self.check(response)
        do {
            return try JSONDecoder().decode(Reply.self, from: Data(response.body))
        } catch {
            throw .protocolError("unexpected answer from hvd: \(error)")
        }
    }

    static func check(_ response: Response) throws(HVClientError) {
        if response.status == 401 {
            throw .api(
                status: 401,
                APIErrorBody(
                    error: "unauthorized", message: "401: the token was refused; check --token-file",
                    hint: "hv sends the token in --token-file (or $HV_TOKEN_FILE); it must match hvd's --token-file"))
        }
        guard (200..<300).contains(response.status) else {
            let body = (try? JSONDecoder().decode(APIErrorBody.self, from: Data(response.body)))
                ?? APIErrorBody(error: "http_\(response.status)", message: String(decoding: response.body, as: UTF8.self))
            throw .api(status: response.status, body)
        }
    }

    /// A VM name or id as one path segment.
    public static func segment(_ vm: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return vm.addingPercentEncoding(withAllowedCharacters: allowed) ?? vm
    }

    // MARK: Resources

    public func host() throws(HVClientError) -> HostInfo { try call("GET", "/v1/host", as: HostInfo.self) }
    /// Applies every running VM's automatic stop action, as the host shuts down; answers once
    /// all are done (this can take the shutdown timeout, or a save's length).
    public func stopVMs(_ request: StopVMsRequest = .init()) throws(HVClientError) -> StopVMsResponse {
        try call("POST", "/v1/host/stop-vms", json: request, as: StopVMsResponse.self)
    }
    public func listVMs() throws(HVClientError) -> [VMInfo] { try call("GET", "/v1/vms", as: [VMInfo].self) }
    public func vm(_ vm: String) throws(HVClientError) -> VMInfo { try call("GET", "/v1/vms/\(Self.segment(vm))", as: VMInfo.self) }
    public func createVM(_ request: CreateVMRequest) throws(HVClientError) -> VMInfo {
        try call("POST", "/v1/vms", json: request, as: VMInfo.self)
    }
    public func updateVM(_ vm: String, _ request: UpdateVMRequest) throws(HVClientError) -> VMInfo {
        try call("PATCH", "/v1/vms/\(Self.segment(vm))", json: request, as: VMInfo.self)
    }
    public func deleteVM(_ vm: String) throws(HVClientError) {
        try Self.check(try send("DELETE", "/v1/vms/\(Self.segment(vm))"))
    }
    public func start(_ vm: String) throws(HVClientError) -> VMInfo { try action(vm, "start") }
    public func stop(_ vm: String, _ request: StopVMRequest = .init()) throws(HVClientError) -> VMInfo {
        try call("POST", "/v1/vms/\(Self.segment(vm))/stop", json: request, as: VMInfo.self)
    }
    public func turnOff(_ vm: String) throws(HVClientError) -> VMInfo { try action(vm, "turn-off") }
    public func restart(_ vm: String) throws(HVClientError) -> VMInfo { try action(vm, "restart") }
    /// Running → Paused (Suspend-VM).
    public func pause(_ vm: String) throws(HVClientError) -> VMInfo { try action(vm, "pause") }
    /// Paused → Running (Resume-VM).
    public func resume(_ vm: String) throws(HVClientError) -> VMInfo { try action(vm, "resume") }
    /// Running or Paused → Saving → Saved (Save-VM).
    public func save(_ vm: String) throws(HVClientError) -> VMInfo { try action(vm, "save") }
    /// Saved → Off (Remove-VMSavedState).
    public func discardSavedState(_ vm: String) throws(HVClientError) -> VMInfo { try action(vm, "discard-saved-state") }
    public func action(_ vm: String, _ name: String) throws(HVClientError) -> VMInfo {
        try call("POST", "/v1/vms/\(Self.segment(vm))/\(name)", as: VMInfo.self)
    }

    // MARK: Devices (only while the VM is Off; 409 otherwise)

    /// The VM's disks in LUN order (Get-VMHardDiskDrive).
    public func disks(_ vm: String) throws(HVClientError) -> [VMDiskInfo] {
        try call("GET", "/v1/vms/\(Self.segment(vm))/disks", as: [VMDiskInfo].self)
    }
    /// The disk at one LUN.
    public func disk(_ vm: String, lun: UInt8) throws(HVClientError) -> VMDiskInfo {
        try call("GET", "/v1/vms/\(Self.segment(vm))/disks/\(lun)", as: VMDiskInfo.self)
    }
    /// Attaches a disk (Add-VMHardDiskDrive); the answer carries the LUN it got.
    public func addDisk(_ vm: String, _ disk: DiskAttachment) throws(HVClientError) -> VMDiskInfo {
        try call("POST", "/v1/vms/\(Self.segment(vm))/disks", json: disk, as: VMDiskInfo.self)
    }
    /// Detaches the disk at `lun` (Remove-VMHardDiskDrive); the image file stays.
    public func removeDisk(_ vm: String, lun: UInt8) throws(HVClientError) {
        try Self.check(try send("DELETE", "/v1/vms/\(Self.segment(vm))/disks/\(lun)"))
    }
    /// The VM's network adapters in order (Get-VMNetworkAdapter).
    public func networkAdapters(_ vm: String) throws(HVClientError) -> [VMNetworkAdapterInfo] {
        try call("GET", "/v1/vms/\(Self.segment(vm))/network-adapters", as: [VMNetworkAdapterInfo].self)
    }
    /// One adapter, by index ("0") or MAC address.
    public func networkAdapter(_ vm: String, _ indexOrMAC: String) throws(HVClientError) -> VMNetworkAdapterInfo {
        try call("GET", "/v1/vms/\(Self.segment(vm))/network-adapters/\(Self.segment(indexOrMAC))", as: VMNetworkAdapterInfo.self)
    }
    /// Adds an adapter (Add-VMNetworkAdapter); the answer carries its index and MAC.
    public func addNetworkAdapter(_ vm: String, _ adapter: NetworkAdapterConfiguration) throws(HVClientError) -> VMNetworkAdapterInfo {
        try call("POST", "/v1/vms/\(Self.segment(vm))/network-adapters", json: adapter, as: VMNetworkAdapterInfo.self)
    }
    /// Removes an adapter, by index or MAC address.
    public func removeNetworkAdapter(_ vm: String, _ indexOrMAC: String) throws(HVClientError) {
        try Self.check(try send("DELETE", "/v1/vms/\(Self.segment(vm))/network-adapters/\(Self.segment(indexOrMAC))"))
    }

    /// The event log (one VM's, or all), oldest first.
    public func events(vm: String? = nil, after: Int64 = 0, limit: Int = 1000) throws(HVClientError) -> [VMEvent] {
        let base = vm.map { "/v1/vms/\(Self.segment($0))/events" } ?? "/v1/events"
        return try call("GET", "\(base)?after=\(after)&limit=\(limit)", as: [VMEvent].self)
    }

    /// Follows the server-sent event stream; `handler` returns false to stop.
    public func followEvents(vm: String? = nil, after: Int64 = 0, _ handler: (VMEvent) -> Bool) throws(HVClientError) {
        let base = vm.map { "/v1/vms/\(Self.segment($0))/events" } ?? "/v1/events"
        let socket = try connect()
        do {
            try socket.write(head("GET", "\(base)?follow=true&after=\(after)", extra: [("accept", "text/event-stream")], bodyCount: 0).serialized())
            let reader = BufferedReader(socket)
            guard let head = try reader.readHTTPHead(), let status = head.startLine.dropFirst().first.flatMap({ Int($0) }) else {
                throw HVClientError.protocolError("no answer")
            }
            if status != 200 {
                try Self.check(Response(status: status, head: head, body: try reader.readHTTPBody(for: head, limit: 1 << 20)))
            }
            while let block = try reader.readThrough(Array("\n\n".utf8), limit: 1 << 20) {
                let text = String(decoding: block, as: UTF8.self)
                for line in text.split(separator: "\n") where line.hasPrefix("data: ") {
                    if let event = try? JSONDecoder().decode(VMEvent.self, from: Data(line.dropFirst(6).utf8)), !handler(event) { return }
                }
            }
        } catch let error as HVClientError {
            throw error
        } catch {
            throw .protocolError("\(error)")
        }
    }

    /// Attaches to a running VM's serial console: a raw byte stream (guest output in, keys out).
    public func openConsole(_ vm: String) throws(HVClientError) -> ConsoleConnection {
        let socket = try connect()
        do {
            try socket.write(head("GET", "/v1/vms/\(Self.segment(vm))/console", extra: [("upgrade", "hv-console"), ("connection", "Upgrade")], bodyCount: 0).serialized())
            let reader = BufferedReader(socket)
            guard let head = try reader.readHTTPHead(), let status = head.startLine.dropFirst().first.flatMap({ Int($0) }) else {
                throw HVClientError.protocolError("no answer")
            }
            guard status == 101 else {
                try Self.check(Response(status: status, head: head, body: try reader.readHTTPBody(for: head, limit: 1 << 20)))
                throw HVClientError.protocolError("expected 101 Switching Protocols, got \(status)")
            }
            return ConsoleConnection(socket: socket, reader: reader)
        } catch let error as HVClientError {
            throw error
        } catch {
            throw .protocolError("\(error)")
        }
    }
}

/// An attached console: `read()` returns guest output (empty at the end), `write` sends keys.
///
/// ## Concurrency model
/// The socket is `Sendable`; bytes that arrived with the 101 answer wait in a `Mutex` until the
/// first `read()`. One thread reads, any thread may write or close.
public final class ConsoleConnection: Sendable {
    public let socket: any ByteStream
    private let pending: Mutex<[UInt8]>
    init(socket: any ByteStream, reader: BufferedReader) {
        self.socket = socket
        pending = Mutex(reader.takeBuffered())
    }
    public func read() throws -> [UInt8] {
        let early = pending.withLock { p in
            defer { p = [] }
            return p
        }
        if !early.isEmpty { return early }
        return try socket.read()
    }
    public func write(_ bytes: [UInt8]) throws { try socket.write(bytes) }
    public func close() { socket.shutdown() }
}

/// Why a call failed.
public enum HVClientError: Error, CustomStringConvertible, Equatable {
    /// `hvd` answered with an error.
    case api(status: Int, APIErrorBody)
    /// Nothing listens on the socket.
    case unreachable(String, String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .api(_, let body): body.message + (body.hint.map { "\nhint: \($0)" } ?? "")
        case .unreachable(let path, let why) where path.hasPrefix("https://") || path.hasPrefix("http://"):
            "cannot reach hvd at \(path) (\(why))\nhint: check --host (or HV_HOST); for a certificate no public CA signed, pass it with --ca-certificate (or HV_CA_CERTIFICATE)"
        case .unreachable(let path, let why):
            "cannot reach hvd at \(path) (\(why))\nhint: start it with `hvd`, or point hv at it with --socket or HV_SOCKET"
        case .protocolError(let what): "unexpected answer from hvd: \(what)"
        }
    }
}
