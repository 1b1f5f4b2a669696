import Configuration
import Foundation
import SocketTransport
import Testing

/// The control channel's frames and the API's HTTP heads are hostile input: bounded, never a crash.
@Suite struct WireFormatTests {
    /// A connected socket pair through a scratch listener.
    func pair() throws -> (UnixSocket, UnixSocket, ScratchDirectory) {
        let scratch = try ScratchDirectory()
        let listener = try UnixSocket.listen(path: scratch.path + "/s.sock")
        let client = try UnixSocket.connect(path: scratch.path + "/s.sock")
        return (client, try listener.accept(), scratch)
    }

    @Test func controlMessagesRoundTripThroughFrames() throws {
        let (a, b, _) = try pair()
        let message = ControlMessage(.consoleOutput, data: Data([0, 1, 2, 255]))
        try a.writeFrame(message.encoded())
        try a.writeFrame(ControlMessage(.status, status: WorkerStatus(pid: 7, vmName: "v", phase: "running", uptimeSeconds: 1, gracefulShutdownAvailable: true)).encoded())
        let reader = BufferedReader(b)
        #expect(try ControlMessage.decode(try #require(try reader.readFrame())) == message)
        #expect(try ControlMessage.decode(try #require(try reader.readFrame())).status?.pid == 7)
        a.shutdown()
        #expect(try reader.readFrame() == nil, "a clean end of stream")
    }

    @Test func oversizedAndTruncatedFramesAreRefused() throws {
        #expect(throws: FramingError.tooLarge(limit: Frame.maximumPayload)) { _ = try Frame.payloadLength([0xFF, 0xFF, 0xFF, 0xFF]) }
        #expect(throws: FramingError.tooLarge(limit: Frame.maximumPayload)) { _ = try Frame.encode([UInt8](repeating: 0, count: Frame.maximumPayload + 1)) }
        let (a, b, _) = try pair()
        try a.write([0, 0, 0, 10, 1, 2, 3])
        a.shutdown()
        #expect(throws: FramingError.truncated) { _ = try BufferedReader(b).readFrame() }
    }

    @Test func unknownKindsFromNewerPeersDecode() throws {
        let json = #"{"version":2,"kind":"teleport","future":true}"#
        let message = try ControlMessage.decode(Array(json.utf8))
        #expect(message.kind.rawValue == "teleport")
        #expect(message.version == 2)
    }

    @Test func olderWorkersStatusAndRefusalsDecode() throws {
        // A worker that predates pause: no `paused`, no `vcpuExits`, and new kinds refused.
        let status = #"{"version":1,"kind":"status","status":{"pid":9,"vmName":"v","phase":"running","uptimeSeconds":2,"gracefulShutdownAvailable":false}}"#
        let decoded = try #require(try ControlMessage.decode(Array(status.utf8)).status)
        #expect(decoded.paused == nil && decoded.vcpuExits == nil)
        let refusal = ControlMessage(.error, error: "unknown request pause")
        #expect(refusal.isUnknownRequest)
        #expect(!ControlMessage(.error, error: "cannot pause: the VM is stopping").isUnknownRequest)
        #expect(!ControlMessage(.ok).isUnknownRequest)
        let current = WorkerStatus(pid: 1, vmName: "v", phase: "paused", uptimeSeconds: 0, gracefulShutdownAvailable: true, paused: true, vcpuExits: [5, 7])
        let roundTrip = try ControlMessage.decode(ControlMessage(.status, status: current).encoded())
        #expect(roundTrip.status == current)
    }

    @Test func httpHeadsAreBounded() throws {
        let head = try HTTPHead.parse(Array("GET /v1/vms HTTP/1.1\r\nHost: x\r\nX-A:  b \r\n\r\n".utf8))
        #expect(head.startLine == ["GET", "/v1/vms", "HTTP/1.1"])
        #expect(head.header("x-a") == "b")
        #expect(throws: FramingError.self) { _ = try HTTPHead.parse(Array("GET\r\n\r\n".utf8)) }
        #expect(throws: FramingError.self) { _ = try HTTPHead.parse(Array("GET / HTTP/1.1\r\nno colon\r\n\r\n".utf8)) }
        let many = (0..<100).map { "H\($0): v\r\n" }.joined()
        #expect(throws: FramingError.self) { _ = try HTTPHead.parse(Array("GET / HTTP/1.1\r\n\(many)\r\n".utf8)) }
        let (a, b, _) = try pair()
        try a.write(Array("GET / HTTP/1.1\r\nX: ".utf8) + [UInt8](repeating: 0x41, count: 20_000))
        #expect(throws: FramingError.tooLarge(limit: HTTPHead.maximumHeadSize)) { _ = try BufferedReader(b).readHTTPHead() }
        let chunked = try HTTPHead.parse(Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        #expect(throws: FramingError.self) { _ = try BufferedReader(b).readHTTPBody(for: chunked, limit: 10) }
    }
}
