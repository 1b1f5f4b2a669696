import Testing
@testable import WorkerCLI

@Suite struct ConsoleEscapeTests {
    @Test func plainBytesAreForwarded() {
        var e = ConsoleEscape()
        #expect(e.feed(Array("ls\r".utf8)) == [.forward(Array("ls\r".utf8))])
    }

    @Test func commandsSplitTheStream() {
        var e = ConsoleEscape()
        #expect(e.feed([0x61, 0x1D, UInt8(ascii: "b"), UInt8(ascii: "o")]) == [.forward([0x61]), .sendBreak, .forward([UInt8(ascii: "o")])])
        #expect(e.feed([0x1D]) == [])
        #expect(e.feed([UInt8(ascii: "q")]) == [.kill])
        #expect(e.feed([0x1D, 0x1D]) == [.forward([0x1D])])
        #expect(e.feed([0x1D, UInt8(ascii: "x")]) == [.forward([0x1D, UInt8(ascii: "x")])])
        #expect(e.feed([0x1D, UInt8(ascii: "s")]) == [.gracefulShutdown])
        #expect(e.feed([0x1D, UInt8(ascii: "i")]) == [.status])
        #expect(e.feed([0x1D, UInt8(ascii: "p")]) == [.togglePause])
        #expect(e.feed([0x1D, UInt8(ascii: "v")]) == [.save])
    }
}
