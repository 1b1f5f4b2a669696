import Foundation
import Testing

@testable import VirtualDisk

/// Crash consistency: the scenario is run once per write/flush/resize point with a fault
/// injected there; the file is then "power-cycled" three ways (only durable writes survive,
/// all survive, a seeded subset survives), reopened, and checked: it must open (log replay,
/// full validation), and every sector must hold data no older than the last completed flush.
@Suite struct CrashConsistencyTests {
    enum Step {
        case write(UInt64, [UInt8])
        case discard(UInt64, UInt64)
        case flush
        case close
    }

    static let sector = 512
    static let size: UInt64 = 4 << 20

    static let fullBlock = randomBytes(1 << 20, seed: 5)

    static func steps(differencing: Bool) -> [Step] {
        var steps: [Step] = [
            .write(0, randomBytes(4096, seed: 1)),
            .write(1_572_864, randomBytes(65536, seed: 2)),
            .flush,
            .write(0, randomBytes(4096, seed: 3)),
            .write(2 << 20 - 4096, randomBytes(8192, seed: 4)),  // crosses blocks 1 and 2
            .write(3 << 20, fullBlock),  // a whole block
            .flush,
            .write(3_145_828, randomBytes(700, seed: 6)),  // unaligned
        ]
        if !differencing { steps.append(.discard(1 << 20, 1 << 20)) }
        steps += [.write(512, randomBytes(1024, seed: 7)), .close]
        return steps
    }

    /// What each sector may contain after a crash.
    struct Model {
        var flushed: [UInt8]
        var current: [UInt8]
        /// Sectors touched since the last completed flush, with every version they may hold.
        var candidates: [Int: [[UInt8]]] = [:]

        init(initial: [UInt8]) {
            flushed = initial
            current = initial
        }

        mutating func note(offset: Int, bytes: [UInt8]) {
            let first = offset / sector
            let last = (offset + bytes.count - 1) / sector
            var next = current
            next.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            for s in first...last {
                let range = s * sector..<(s + 1) * sector
                candidates[s, default: [Array(flushed[range])]].append(Array(next[range]))
            }
            current = next
        }

        mutating func didFlush() {
            flushed = current
            candidates = [:]
        }

        func verify(_ disk: VHDXDisk, context: String) throws {
            let bytes = try disk.read(at: 0, count: current.count)
            // Compare with Foundation's memcmp-backed Data: debug-built element loops are slow.
            let chunk = 64 * sector
            for start in stride(from: 0, to: current.count, by: chunk) {
                let end = min(current.count, start + chunk)
                let hasCandidates = (start / sector..<end / sector).contains { candidates[$0] != nil }
                if !hasCandidates, Data(bytes[start..<end]) == Data(flushed[start..<end]) { continue }
                for s in start / sector..<end / sector {
                    let range = s * sector..<(s + 1) * sector
                    let actual = Data(bytes[range])
                    if let options = candidates[s] {
                        #expect(options.contains { Data($0) == actual }, "\(context): sector \(s) holds data never written there")
                    } else if actual != Data(flushed[range]) {
                        Issue.record("\(context): sector \(s) lost flushed data")
                    }
                }
            }
        }
    }

    /// Runs the scenario; returns the model as of the failure and whether the run completed.
    static func run(file: FaultFile, parent: VHDXDisk?, initial: [UInt8], differencing: Bool) -> (Model, Bool) {
        var model = Model(initial: initial)
        do {
            let disk = try VHDXDisk(file: file, readOnly: false, parent: parent, requireParent: false)
            for step in steps(differencing: differencing) {
                switch step {
                case .write(let offset, let bytes):
                    model.note(offset: Int(offset), bytes: bytes)
                    try disk.write(at: offset, bytes)
                case .discard(let offset, let length):
                    model.note(offset: Int(offset), bytes: [UInt8](repeating: 0, count: Int(length)))
                    try disk.discard(at: offset, length: length)
                case .flush:
                    try disk.flush()
                    model.didFlush()
                case .close:
                    try disk.close()
                    model.didFlush()
                }
            }
            return (model, true)
        } catch {
            return (model, false)
        }
    }

    func exercise(differencing: Bool) throws {
        // A child owns (and closes) its parent, so each opening gets its own parent instance.
        var parentBytes: [UInt8]?
        func parent() throws -> VHDXDisk? {
            guard let parentBytes else { return nil }
            return try VHDXDisk(file: FaultFile(bytes: parentBytes, readOnly: true), readOnly: true)
        }
        var initial = [UInt8](repeating: 0, count: Int(Self.size))
        var base: [UInt8]
        if differencing {
            let parentFile = try makeMemoryVHDX(size: Self.size)
            let writable = try VHDXDisk(file: parentFile, readOnly: false)
            initial = randomBytes(Int(Self.size), seed: 99)
            try writable.write(at: 0, initial)
            try writable.close()
            parentBytes = parentFile.bytes
            base = try makeMemoryVHDX(size: Self.size, locator: VHDXParentLocator(entries: [("parent_linkage", "{0}")])).bytes
        } else {
            base = try makeMemoryVHDX(size: Self.size).bytes
        }
        // Count the fault points with a clean run.
        let clean = FaultFile(bytes: base)
        let (_, completed) = Self.run(file: clean, parent: try parent(), initial: initial, differencing: differencing)
        #expect(completed)
        let points = clean.operations
        #expect(points > 20)
        for failAt in 0..<points {
            let file = FaultFile(bytes: base, failAt: failAt)
            let (model, finished) = Self.run(file: file, parent: try parent(), initial: initial, differencing: differencing)
            #expect(!finished, "fault at \(failAt) was not hit")
            for mode in FaultFile.CrashMode.allCases {
                let image = file.crashImage(mode, seed: UInt64(failAt))
                let context = "differencing=\(differencing) fault=\(failAt) mode=\(mode)"
                // Read-only open replays in memory and must agree with the model.
                if mode == .tornSubset {
                    let readOnly = try VHDXDisk(file: FaultFile(bytes: image, readOnly: true), readOnly: true, parent: try parent(), requireParent: false)
                    try model.verify(readOnly, context: context + " (read-only)")
                }
                // Writable open replays into the file; the disk must then keep working.
                let recovered = FaultFile(bytes: image)
                let disk = try VHDXDisk(file: recovered, readOnly: false, parent: try parent(), requireParent: false)
                try model.verify(disk, context: context)
                guard mode == .tornSubset else { continue }
                try disk.write(at: 2 << 20, [UInt8](repeating: 0xEE, count: 4096))
                try disk.close()
                let again = try VHDXDisk(file: FaultFile(bytes: recovered.bytes, readOnly: true), readOnly: true, parent: try parent(), requireParent: false)
                #expect(try again.read(at: 2 << 20, count: 4096) == [UInt8](repeating: 0xEE, count: 4096), "\(context)")
            }
        }
    }

    @Test func dynamicDiskSurvivesCrashAtEveryPoint() throws { try exercise(differencing: false) }

    @Test func differencingDiskSurvivesCrashAtEveryPoint() throws { try exercise(differencing: true) }

    /// Hundreds of metadata updates in one session wrap the 1 MiB log several times; a crash
    /// image taken at the end (nothing flushed in place since the last update) must replay.
    @Test func logWrapsAroundAndStillReplays() throws {
        let parentBytes = try makeMemoryVHDX(size: Self.size).bytes
        let childBase = try makeMemoryVHDX(size: Self.size, locator: VHDXParentLocator(entries: [("parent_linkage", "{0}")]))
        let file = FaultFile(bytes: childBase.bytes)
        let disk = try VHDXDisk(file: file, readOnly: false, parent: try VHDXDisk(file: FaultFile(bytes: parentBytes, readOnly: true), readOnly: true))
        // Every other sector of block 0: each write sets new bitmap bits, so each is one log entry.
        for index in 0..<300 { try disk.write(at: UInt64(index * 1024), [UInt8](repeating: UInt8(index % 251 + 1), count: 512)) }
        let logHead = disk.state.withLock { $0.log?.head ?? 0 }
        #expect(logHead < 1 << 20)
        #expect(disk.state.withLock { $0.log?.sequence ?? 0 } > 256)  // more entries than fit: it wrapped
        for mode in [FaultFile.CrashMode.durableOnly, .everything] {
            let image = file.crashImage(mode, seed: 1)
            let reopened = try VHDXDisk(
                file: FaultFile(bytes: image), readOnly: false, parent: try VHDXDisk(file: FaultFile(bytes: parentBytes, readOnly: true), readOnly: true))
            for index in 0..<300 {
                #expect(try reopened.read(at: UInt64(index * 1024), count: 512) == [UInt8](repeating: UInt8(index % 251 + 1), count: 512))
                #expect(try reopened.read(at: UInt64(index * 1024 + 512), count: 512) == [UInt8](repeating: 0, count: 512))
            }
            try reopened.close()
        }
    }

    @Test func resizeSurvivesCrashAtEveryPoint() throws {
        let base = try makeMemoryVHDX(size: 2 << 20).bytes
        let clean = FaultFile(bytes: base)
        let cleanDisk = try VHDXDisk(file: clean, readOnly: false)
        try cleanDisk.write(at: 0, [1, 2, 3, 4] + [UInt8](repeating: 0, count: 508))
        try cleanDisk.flush()
        try cleanDisk.resize(to: 64 << 20)
        try cleanDisk.close()
        for failAt in 0..<clean.operations {
            let file = FaultFile(bytes: base, failAt: failAt)
            var flushedWrite = false
            do {
                let disk = try VHDXDisk(file: file, readOnly: false)
                try disk.write(at: 0, [1, 2, 3, 4] + [UInt8](repeating: 0, count: 508))
                try disk.flush()
                flushedWrite = true
                try disk.resize(to: 64 << 20)
                try disk.close()
            } catch {}
            for mode in FaultFile.CrashMode.allCases {
                let disk = try VHDXDisk(file: FaultFile(bytes: file.crashImage(mode, seed: UInt64(failAt))), readOnly: false)
                #expect(disk.virtualSize == 2 << 20 || disk.virtualSize == 64 << 20, "fault \(failAt) \(mode)")
                if flushedWrite { #expect(try disk.read(at: 0, count: 4) == [1, 2, 3, 4], "fault \(failAt) \(mode)") }
                try disk.write(at: disk.virtualSize - 512, [UInt8](repeating: 1, count: 512))
                try disk.close()
            }
        }
    }
}
