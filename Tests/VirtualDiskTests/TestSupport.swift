import Foundation
import Synchronization
import Testing

@testable import VirtualDisk
import TestSupport

/// The shared seeded generator under the name these tests use.
typealias SeededGenerator = SplitMix64

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    var out = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        let value = generator.next()
        for byte in 0..<8 where index < count {
            out[index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte)))
            index += 1
        }
    }
    return out
}

/// A scratch directory removed when the value is dropped.
final class TemporaryDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "vdtest-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a command and returns (status, combined output).
@discardableResult
func run(_ arguments: [String]) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

enum QemuImg {
    static let path = "/usr/bin/qemu-img"
    static let available: Bool = {
        let ok = FileManager.default.isExecutableFile(atPath: path)
        if !ok { print("⚠️ SKIPPING qemu-img cross-validation: \(path) not found (apt-get install qemu-utils)") }
        return ok
    }()
}

/// An in-memory `DiskFile` that models durability and injects faults.
///
/// Reads see every completed write. `sync()` makes them durable. A fault can be armed at
/// operation number N (each write, setSize and sync is one operation): that operation and
/// every later one fail, as if the process died there. `crashImage` then returns what a
/// disk could hold after power loss: only durable state, everything, or a seeded subset of
/// the unsynced writes.
final class FaultFile: DiskFile {
    enum CrashMode: CaseIterable { case durableOnly, everything, tornSubset }
    struct Write { var offset: UInt64; var bytes: [UInt8]?; var newSize: UInt64? }
    struct State {
        var current: [UInt8]
        var durable: [UInt8]
        var unsynced: [Write] = []
        var operations = 0
        var failAt: Int?
        var dead = false
    }
    let state: Mutex<State>
    let identity: String
    let isReadOnly: Bool

    init(bytes: [UInt8] = [], failAt: Int? = nil, readOnly: Bool = false) {
        state = Mutex(State(current: bytes, durable: bytes, failAt: failAt))
        identity = "mem:\(UUID().uuidString)"
        isReadOnly = readOnly
    }

    var operations: Int { state.withLock { $0.operations } }
    var bytes: [UInt8] { state.withLock { $0.current } }

    private func step(_ state: inout State) throws {
        if state.dead { throw VirtualDiskError(.io, "injected: process already dead") }
        if let failAt = state.failAt, state.operations >= failAt {
            state.dead = true
            throw VirtualDiskError(.io, "injected fault at operation \(state.operations)")
        }
        state.operations += 1
    }

    static func apply(_ write: Write, to bytes: inout [UInt8]) {
        if let size = write.newSize {
            if Int(size) < bytes.count { bytes.removeSubrange(Int(size)...) } else { bytes += [UInt8](repeating: 0, count: Int(size) - bytes.count) }
        }
        if let data = write.bytes {
            let end = Int(write.offset) + data.count
            if end > bytes.count { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
            bytes.replaceSubrange(Int(write.offset)..<end, with: data)
        }
    }

    func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        state.withLock { state in
            guard offset < UInt64(state.current.count) else { return [] }
            let end = min(state.current.count, Int(offset) + count)
            return Array(state.current[Int(offset)..<end])
        }
    }

    func write(at offset: UInt64, _ bytes: ArraySlice<UInt8>) throws {
        try state.withLock { state in
            try step(&state)
            let write = Write(offset: offset, bytes: Array(bytes), newSize: nil)
            Self.apply(write, to: &state.current)
            state.unsynced.append(write)
        }
    }

    func size() throws -> UInt64 { state.withLock { UInt64($0.current.count) } }

    func setSize(_ size: UInt64) throws {
        try state.withLock { state in
            try step(&state)
            let write = Write(offset: 0, bytes: nil, newSize: size)
            Self.apply(write, to: &state.current)
            state.unsynced.append(write)
        }
    }

    func sync() throws {
        try state.withLock { state in
            try step(&state)
            state.durable = state.current
            state.unsynced = []
        }
    }

    func punchHole(at offset: UInt64, length: UInt64) throws -> Bool {
        try write(at: offset, [UInt8](repeating: 0, count: Int(length))[...])
        return true
    }

    func allocatedBytes() throws -> UInt64 { try size() }

    /// The bytes a disk might hold after a crash now.
    func crashImage(_ mode: CrashMode, seed: UInt64) -> [UInt8] {
        state.withLock { state in
            switch mode {
            case .durableOnly: return state.durable
            case .everything: return state.current
            case .tornSubset:
                var generator = SeededGenerator(seed: seed)
                var bytes = state.durable
                for write in state.unsynced {
                    switch generator.next() % 3 {
                    case 0: continue  // lost
                    case 1: Self.apply(write, to: &bytes)  // landed
                    default:
                        // Torn: only a prefix of its 512-byte sectors landed.
                        var torn = write
                        if let data = write.bytes, data.count > 512 {
                            let sectors = (data.count + 511) / 512
                            torn.bytes = Array(data.prefix(Int(generator.next() % UInt64(sectors)) * 512))
                        }
                        Self.apply(torn, to: &bytes)
                    }
                }
                return bytes
            }
        }
    }
}

/// Creates an empty VHDX in memory.
func makeMemoryVHDX(size: UInt64, type: VHDXType = .dynamic, blockSize: UInt32 = 1 << 20, sectorSize: UInt32 = 512, locator: VHDXParentLocator? = nil) throws -> FaultFile {
    let file = FaultFile()
    try VHDXDisk.format(
        file: file, options: VHDXCreateOptions(virtualSize: size, type: type, blockSize: blockSize, logicalSectorSize: sectorSize),
        locator: locator, progress: nil)
    return file
}
