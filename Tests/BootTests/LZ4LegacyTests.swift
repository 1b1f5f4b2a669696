import Foundation
import Testing

@testable import Boot
import TestSupport

@Suite struct LZ4LegacyTests {
    func stream(_ blocks: [[UInt8]], trailer: UInt32? = nil) -> [UInt8] {
        var out: [UInt8] = [0x02, 0x21, 0x4C, 0x18]
        for b in blocks {
            out.appendLE(UInt32(b.count))
            out += b
        }
        if let trailer { out.appendLE(trailer) }
        return out
    }

    @Test func goldenBlockWithMatch() throws {
        // token 0x35: 3 literals "abc", match length 5+4 = 9 at offset 3; then 1 literal "d".
        let block: [UInt8] = [0x35, 0x61, 0x62, 0x63, 0x03, 0x00, 0x10, 0x64]
        let result = try LZ4Legacy.decode(stream([block], trailer: 13), outputLimit: 1 << 20)
        #expect(String(decoding: result.output, as: UTF8.self) == "abcabcabcabcd")
        #expect(result.trailer == 13)
    }

    @Test func overlappingMatchRepeatsLastByte() throws {
        // "a", then match offset 1 length 15+1+4 = 20 (extension byte 1), then literal "b".
        let block: [UInt8] = [0x1F, 0x61, 0x01, 0x00, 0x01, 0x10, 0x62]
        let result = try LZ4Legacy.decode(stream([block]), outputLimit: 1 << 20)
        #expect(result.output == [UInt8](repeating: 0x61, count: 21) + [0x62])
        #expect(result.trailer == nil)
    }

    @Test func longLiteralRunAndMultipleBlocks() throws {
        let data = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        let result = try LZ4Legacy.decode(Fixtures.lz4LiteralStream(data), outputLimit: 1 << 20)
        #expect(result.output == data)
        #expect(result.trailer == 20_000)
        let two = try LZ4Legacy.decode(stream([[0x30, 1, 2, 3], [0x20, 4, 5]]), outputLimit: 100)
        #expect(two.output == [1, 2, 3, 4, 5])
    }

    @Test func concatenatedFrameMagicIsSkipped() throws {
        var s = stream([[0x10, 7]])
        s.appendLE(LZ4Legacy.magic)
        s += [2, 0, 0, 0, 0x10, 8]
        #expect(try LZ4Legacy.decode(s, outputLimit: 100).output == [7, 8])
    }

    @Test func hostileInputs() {
        func fails(_ bytes: [UInt8], limit: Int = 1 << 20, _ check: (LZ4Error) -> Bool) {
            do {
                _ = try LZ4Legacy.decode(bytes, outputLimit: limit)
                Issue.record("expected failure")
            } catch { #expect(check(error), "unexpected \(error)") }
        }
        fails([0x04, 0x22, 0x4D, 0x18]) { $0 == .badMagic }  // the modern frame magic
        fails([]) { $0 == .badMagic }
        // Block length longer than the rest of the stream.
        fails(stream([]) + [0x10, 0, 0, 0, 0x30, 1, 2]) { if case .truncated = $0 { true } else { false } }
        // Absurd block length.
        fails(stream([]) + [0xFF, 0xFF, 0xFF, 0x7F, 0]) { $0 == .blockTooLarge(length: 0x7FFF_FFFF) }
        // Stream cut inside a block header (2 bytes left).
        fails(stream([[0x10, 1]]) + [5, 0]) { if case .truncated = $0 { true } else { false } }
        // Back-reference before the start of the block (offset 4 with 3 bytes out).
        fails(stream([[0x30, 1, 2, 3, 0x04, 0x00, 0x10, 9]])) { if case .corruptBlock = $0 { true } else { false } }
        // Offset 0.
        fails(stream([[0x10, 1, 0x00, 0x00, 0x10, 9]])) { if case .corruptBlock = $0 { true } else { false } }
        // Back-reference into the previous block: blocks are independent.
        fails(stream([[0x10, 1], [0x00, 0x01, 0x00, 0x10, 9]])) { if case .corruptBlock = $0 { true } else { false } }
        // Literals run past the block.
        fails(stream([[0x50, 1, 2]])) { if case .corruptBlock = $0 { true } else { false } }
        // Literal length extension never ends inside the block.
        fails(stream([[0xF0, 255, 255]])) { if case .corruptBlock = $0 { true } else { false } }
        // Block ends with a match (the last sequence must be literals only).
        fails(stream([[0x14, 1, 0x01, 0x00]])) { if case .corruptBlock = $0 { true } else { false } }
        // Output cap: 21 bytes of output with a limit of 10.
        fails(stream([[0x1F, 0x61, 0x01, 0x00, 0x01, 0x10, 0x62]]), limit: 10) { $0 == .outputLimitExceeded(limit: 10) }
        fails(Fixtures.lz4LiteralStream([UInt8](repeating: 1, count: 100)), limit: 99) {
            $0 == .outputLimitExceeded(limit: 99)
        }
    }

    @Test func seededRandomMutationsNeverCrash() {
        var rng = SplitMix64(seed: 0x4C5A_3400)
        let good = stream([[0x35, 0x61, 0x62, 0x63, 0x03, 0x00, 0x10, 0x64], [0x1F, 0x61, 0x01, 0x00, 0x01, 0x10, 0x62]])
        for _ in 0..<3000 {
            var s = good
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                s[Int.random(in: 0..<s.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { s = Array(s.prefix(Int.random(in: 0...s.count, using: &rng))) }
            if let r = try? LZ4Legacy.decode(s, outputLimit: 4096) { #expect(r.output.count <= 4096) }
        }
    }

    @Test(.enabled(if: HostTool.available("lz4"), "lz4 is not installed"))
    func roundTripWithHostLZ4LegacyCompressor() throws {
        let dir = try Fixtures.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Compressible but varied data, more than one 8 MiB block.
        var rng = SplitMix64(seed: 42)
        var data: [UInt8] = []
        let words = ["vmbus ", "storvsc ", "netvsc ", "hv_utils ", "\u{0}\u{0}\u{0}\u{0}"].map { Array($0.utf8) }
        while data.count < (8 << 20) + 70_000 {
            if rng.next() % 8 == 0 {
                data.append(UInt8(truncatingIfNeeded: rng.next()))
            } else {
                data += words[Int(rng.next() % UInt64(words.count))]
            }
        }
        let input = dir.appendingPathComponent("in")
        let output = dir.appendingPathComponent("in.lz4")
        try Data(data).write(to: input)
        let (status, log) = try HostTool.run("lz4", ["-l", "-9", "-f", "-q", input.path, output.path])
        #expect(status == 0, "lz4 -l failed: \(log)")
        var compressed = [UInt8](try Data(contentsOf: output))
        #expect(compressed.count < data.count / 2)
        compressed.appendLE(UInt32(data.count))  // as the kernel build does
        let result = try LZ4Legacy.decode(compressed, outputLimit: 16 << 20)
        #expect(result.output.count == data.count)
        #expect(result.output == data)
        #expect(result.trailer == UInt32(data.count))
    }
}
