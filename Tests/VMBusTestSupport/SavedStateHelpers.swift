import Foundation
import GuestMemory

// Helpers for saved-state tests (HyperV, VMBus, network adapter): what a save/restore cycle does
// to guest RAM and to the saved state itself.

/// A copy of `memory` (what saving and restoring guest RAM does), so the restored side cannot
/// lean on anything the old objects still hold.
public func copyOfRAM(_ memory: GuestMemory) throws -> GuestMemory {
    let copy = GuestMemory.heapBacked(size: memory.totalSize)
    try copy.write(memory.read(at: GuestPhysicalAddress(0), count: Int(memory.totalSize)), at: GuestPhysicalAddress(0))
    return copy
}

/// Saved state round trip through JSON, as the stack stores it.
public func roundTrip<T: Codable>(_ value: T) throws -> T {
    try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
}
