// disk-bench: sequential 1 MiB and random 4 KiB reads/writes through the VirtualDisk
// backends (VHDX dynamic, VHDX fixed, raw), against the same operations on the file directly
// (pread/pwrite) and against `qemu-img bench` on the same images. Prints ratios.
//
//   swift run -c release disk-bench [--size-mib 256] [--ops 4096] [--dir /tmp]
//
// All I/O goes through the page cache (qemu-img bench runs with -t writeback to match).
// qemu-img bench has no random mode: its 4 KiB rows use a 1 MiB + 4 KiB stride instead.
import Foundation
import VirtualDisk

struct Options {
    var sizeMiB = 256
    var ops = 4096
    var dir = NSTemporaryDirectory()
    init() {
        var args = CommandLine.arguments.dropFirst()
        while let arg = args.popFirst() {
            switch arg {
            case "--size-mib": sizeMiB = Int(args.popFirst() ?? "") ?? sizeMiB
            case "--ops": ops = Int(args.popFirst() ?? "") ?? ops
            case "--dir": dir = args.popFirst() ?? dir
            default:
                print("usage: disk-bench [--size-mib N] [--ops N] [--dir PATH]")
                exit(2)
            }
        }
    }
}

struct Result {
    var name: String
    var seconds: Double
    var bytes: Int
    var ops: Int
    var mibPerSecond: Double { Double(bytes) / 1_048_576 / seconds }
    var opsPerSecond: Double { Double(ops) / seconds }
}

/// Anything the four access patterns can run against.
struct Target {
    var name: String
    var read: (UInt64, Int) throws -> Void
    var write: (UInt64, [UInt8]) throws -> Void
    var flush: () throws -> Void
}

func time(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func patterns(_ target: Target, size: Int, ops: Int) throws -> [String: Result] {
    let mib = 1 << 20
    let big = [UInt8](repeating: 0xA5, count: mib)
    let small = [UInt8](repeating: 0x5A, count: 4096)
    var generator = SystemRandomNumberGenerator()
    let offsets = (0..<ops).map { _ in UInt64(Int.random(in: 0..<(size / 4096), using: &generator) * 4096) }
    var results: [String: Result] = [:]
    let seqWrite = try time {
        for index in 0..<(size / mib) { try target.write(UInt64(index * mib), big) }
        try target.flush()
    }
    results["seq-write-1M"] = Result(name: "seq-write-1M", seconds: seqWrite, bytes: size, ops: size / mib)
    let seqRead = try time { for index in 0..<(size / mib) { try target.read(UInt64(index * mib), mib) } }
    results["seq-read-1M"] = Result(name: "seq-read-1M", seconds: seqRead, bytes: size, ops: size / mib)
    let randWrite = try time {
        for offset in offsets { try target.write(offset, small) }
        try target.flush()
    }
    results["rand-write-4K"] = Result(name: "rand-write-4K", seconds: randWrite, bytes: ops * 4096, ops: ops)
    let randRead = try time { for offset in offsets { try target.read(offset, 4096) } }
    results["rand-read-4K"] = Result(name: "rand-read-4K", seconds: randRead, bytes: ops * 4096, ops: ops)
    return results
}

/// Runs `qemu-img bench` and returns seconds, or nil when qemu-img is missing or fails.
func qemuBench(_ path: String, format: String, size: Int, ops: Int, pattern: String) -> Result? {
    let qemu = "/usr/bin/qemu-img"
    guard FileManager.default.isExecutableFile(atPath: qemu) else { return nil }
    let mib = 1 << 20
    var args = ["bench", "-f", format, "-t", "writeback", "-d", "1"]
    let bytes: Int
    let count: Int
    switch pattern {
    case "seq-write-1M", "seq-read-1M":
        count = size / mib
        bytes = size
        args += ["-c", "\(count)", "-s", "1M"]
    default:
        count = ops
        bytes = ops * 4096
        args += ["-c", "\(count)", "-s", "4K", "-S", "\(mib + 4096)"]
    }
    if pattern.contains("write") { args += ["-w", "--flush-interval=\(count)"] }
    args.append(path)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: qemu)
    process.arguments = args
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    let seconds = time {
        do {
            try process.run()
            process.waitUntilExit()
        } catch {}
    }
    guard process.terminationStatus == 0 else { return nil }
    return Result(name: pattern, seconds: seconds, bytes: bytes, ops: count)
}

func main() throws {
    let options = Options()
    let size = options.sizeMiB << 20
    let dir = options.dir + "/disk-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    print("disk-bench: \(options.sizeMiB) MiB images, \(options.ops) random 4 KiB ops, in \(dir)")

    var rows: [(String, [String: Result], [String: Result])] = []
    // Direct file baseline.
    let directPath = dir + "/direct.raw"
    let direct = try RawDisk.create(path: directPath, size: UInt64(size))
    try direct.close()
    let file = try PosixFile(path: directPath, readOnly: false)
    let directResults = try patterns(
        Target(name: "file", read: { _ = try file.read(at: $0, count: $1) }, write: { try file.write(at: $0, $1[...]) }, flush: { try file.sync() }),
        size: size, ops: options.ops)

    let backends: [(String, String, () throws -> any VirtualDisk)] = [
        ("raw", "raw", { try RawDisk.create(path: dir + "/b.raw", size: UInt64(size)) }),
        ("vhdx-dynamic", "vhdx", { try VHDXDisk.create(path: dir + "/b-dyn.vhdx", options: VHDXCreateOptions(virtualSize: UInt64(size))) }),
        ("vhdx-fixed", "vhdx", { try VHDXDisk.create(path: dir + "/b-fix.vhdx", options: VHDXCreateOptions(virtualSize: UInt64(size), type: .fixed)) }),
    ]
    for (name, format, make) in backends {
        let disk = try make()
        let results = try patterns(
            Target(name: name, read: { _ = try disk.read(at: $0, count: $1) }, write: { try disk.write(at: $0, $1) }, flush: { try disk.flush() }),
            size: size, ops: options.ops)
        let path = (disk as? VHDXDisk)?.path ?? (disk as? RawDisk)?.path ?? ""
        try disk.close()
        // qemu-img on a fresh image of the same kind, so its writes allocate as ours did.
        let qemuPath = dir + "/q-" + name + "." + format
        var qemu: [String: Result] = [:]
        let create: [String] =
            format == "raw"
            ? ["create", "-f", "raw", qemuPath, "\(size)"]
            : ["create", "-f", "vhdx", "-o", "subformat=\(name == "vhdx-fixed" ? "fixed" : "dynamic"),block_size=32M", qemuPath, "\(size)"]
        let creator = Process()
        creator.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
        creator.arguments = create
        creator.standardOutput = FileHandle.nullDevice
        if (try? creator.run()) != nil {
            creator.waitUntilExit()
            for pattern in ["seq-write-1M", "seq-read-1M", "rand-write-4K", "rand-read-4K"] {
                qemu[pattern] = qemuBench(qemuPath, format: format, size: size, ops: options.ops, pattern: pattern)
            }
        }
        _ = path
        rows.append((name, results, qemu))
    }

    print("")
    let header = "backend        pattern          ours MiB/s   ops/s     file MiB/s  ours/file   qemu MiB/s  ours/qemu"
    print(header)
    print(String(repeating: "-", count: header.count))
    func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
    func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
    for (name, results, qemu) in rows {
        for pattern in ["seq-write-1M", "seq-read-1M", "rand-write-4K", "rand-read-4K"] {
            guard let ours = results[pattern], let base = directResults[pattern] else { continue }
            let q = qemu[pattern]
            print(
                pad(name, 15) + pad(pattern, 17) + pad(fmt(ours.mibPerSecond), 13) + pad(String(Int(ours.opsPerSecond)), 10)
                    + pad(fmt(base.mibPerSecond), 12) + pad(fmt(ours.mibPerSecond / base.mibPerSecond), 12)
                    + pad(q.map { fmt($0.mibPerSecond) } ?? "n/a", 13) + (q.map { fmt(ours.mibPerSecond / $0.mibPerSecond) } ?? "n/a"))
        }
    }
    print("\nqemu-img bench timings include process start-up; its 4K rows are strided, not random.")
}

do {
    try main()
} catch {
    print("disk-bench failed: \(error)")
    exit(1)
}
