import SocketTransport

/// Sends raw bytes to a socket and returns the answer's text (for garbage-input tests).
enum SocketTransportProbe {
    static func send(_ path: String, _ text: String) throws -> String {
        let socket = try UnixSocket.connect(path: path)
        try socket.write(Array(text.utf8))
        var answer: [UInt8] = []
        while true {
            let chunk = try socket.read()
            if chunk.isEmpty { break }
            answer += chunk
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
