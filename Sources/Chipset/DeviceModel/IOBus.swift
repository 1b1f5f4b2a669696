import Logging
import Synchronization

/// Why a device could not be registered on a bus.
public enum BusError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyRange(base: UInt64)
    case overlap(name: String, base: UInt64, existing: String)
    public var description: String {
        switch self {
        case .emptyRange(let b): "device range at 0x\(String(b, radix: 16)) is empty or wraps"
        case .overlap(let n, let b, let e): "device \(n) at 0x\(String(b, radix: 16)) overlaps \(e)"
        }
    }
}

/// A set of non-overlapping address ranges, each owned by one device, with the bus policy for
/// accesses that hit no device: reads return all-ones, writes are ignored, each address is logged
/// once (a guest probing hardware must not flood the log).
///
/// ## Concurrency model
/// Registration happens while the VM is built (and for hot-plug) under a `Mutex`; dispatch takes
/// a snapshot of the table under the same lock, then calls the device outside it.
public final class AddressBus<Device: Sendable>: Sendable {
    public struct Entry: Sendable {
        public let base: UInt64
        public let length: UInt64
        public let device: Device
        public let name: String
        var last: UInt64 { base + (length - 1) }
    }

    private struct State {
        var entries: [Entry] = []  // sorted by base
        var loggedMisses: Set<UInt64> = []
    }

    private let state = Mutex(State())
    private let busName: String
    private let logger: Logger

    public init(name: String, logger: Logger = Logger(label: "swifthv.bus")) {
        self.busName = name
        self.logger = logger
    }

    public func register(_ device: Device, name: String, base: UInt64, length: UInt64) throws(BusError) {
        guard length > 0, base.addingReportingOverflow(length - 1).overflow == false else {
            throw .emptyRange(base: base)
        }
        let entry = Entry(base: base, length: length, device: device, name: name)
        let clash: String? = state.withLock { s in
            if let other = s.entries.first(where: { $0.base <= entry.last && entry.base <= $0.last }) {
                return other.name
            }
            s.entries.append(entry)
            s.entries.sort { $0.base < $1.base }
            return nil
        }
        if let clash { throw .overlap(name: name, base: base, existing: clash) }
    }

    /// Removes every range registered under `name` (hot-unplug).
    public func unregister(name: String) {
        state.withLock { $0.entries.removeAll { $0.name == name } }
    }

    /// The device covering `address`, with the offset of `address` inside its range.
    public func lookup(_ address: UInt64) -> (entry: Entry, offset: UInt64)? {
        state.withLock { s in
            // Binary search: the last entry whose base <= address.
            var lo = 0
            var hi = s.entries.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if s.entries[mid].base <= address { lo = mid + 1 } else { hi = mid }
            }
            guard lo > 0 else { return nil }
            let e = s.entries[lo - 1]
            return address <= e.last ? (e, address - e.base) : nil
        }
    }

    /// How many distinct unclaimed addresses are remembered for log de-duplication. A guest
    /// sweeping the MMIO space must not grow the set without bound; past the cap, misses
    /// are no longer logged.
    static var maxLoggedMisses: Int { 4096 }

    /// Logs an access to an unclaimed address, once per address.
    public func noteMiss(_ address: UInt64, write: Bool, width: AccessWidth, value: UInt64 = 0) {
        let (first, capped): (Bool, Bool) = state.withLock { s in
            guard s.loggedMisses.count < Self.maxLoggedMisses else { return (false, false) }
            let inserted = s.loggedMisses.insert(address).inserted
            return (inserted, s.loggedMisses.count == Self.maxLoggedMisses)
        }
        if capped { logger.debug("\(busName): \(Self.maxLoggedMisses) unclaimed addresses seen; no longer logging misses") }
        guard first else { return }
        let hex = "0x" + String(address, radix: 16)
        if write {
            logger.debug("\(busName): write of \(width.rawValue) bytes (0x\(String(value, radix: 16))) to unclaimed \(hex) ignored")
        } else {
            logger.debug("\(busName): read of \(width.rawValue) bytes from unclaimed \(hex) returns all-ones")
        }
    }

    /// Distinct unclaimed addresses remembered so far (bounded by `maxLoggedMisses`).
    var loggedMissCount: Int { state.withLock { $0.loggedMisses.count } }

    /// Registered ranges, for diagnostics.
    public var entries: [Entry] { state.withLock { $0.entries } }
}

/// The x86 port-I/O space.
public typealias PortIOBus = AddressBus<any PortIODevice>
/// The MMIO space outside RAM.
public typealias MMIOBus = AddressBus<any MMIODevice>

extension AddressBus where Device == any PortIODevice {
    public func register(_ device: any PortIODevice, at base: IOPort, count: UInt16) throws(BusError) {
        try register(device, name: device.name, base: UInt64(base.rawValue), length: UInt64(count))
    }

    public func read(_ port: IOPort, width: AccessWidth) -> UInt64 {
        guard let (entry, offset) = lookup(UInt64(port.rawValue)) else {
            noteMiss(UInt64(port.rawValue), write: false, width: width)
            return width.allOnes
        }
        return width.truncate(entry.device.ioRead(offset: UInt16(offset), width: width))
    }

    public func write(_ port: IOPort, width: AccessWidth, value: UInt64) {
        guard let (entry, offset) = lookup(UInt64(port.rawValue)) else {
            noteMiss(UInt64(port.rawValue), write: true, width: width, value: value)
            return
        }
        entry.device.ioWrite(offset: UInt16(offset), width: width, value: width.truncate(value))
    }
}

extension AddressBus where Device == any MMIODevice {
    public func register(_ device: any MMIODevice, at base: UInt64, length: UInt64) throws(BusError) {
        try register(device, name: device.name, base: base, length: length)
    }

    public func read(_ address: UInt64, width: AccessWidth) -> UInt64 {
        guard let (entry, offset) = lookup(address) else {
            noteMiss(address, write: false, width: width)
            return width.allOnes
        }
        return width.truncate(entry.device.mmioRead(offset: offset, width: width))
    }

    public func write(_ address: UInt64, width: AccessWidth, value: UInt64) {
        guard let (entry, offset) = lookup(address) else {
            noteMiss(address, write: true, width: width, value: value)
            return
        }
        entry.device.mmioWrite(offset: offset, width: width, value: width.truncate(value))
    }
}
