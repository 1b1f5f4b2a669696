/// The guest's receive buffer cut into equal sections, with the set of sections lent to the guest
/// (sent in a transfer-page packet and not yet completed).
struct ReceiveBuffer: Sendable {
    /// Marks our transfer-page transaction ids, so a completion names a section unambiguously.
    static let transactionTag: UInt64 = 0x4E45_5400_0000_0000
    static let maxSections = 1 << 16

    let buffer: GuestBuffer
    let sectionSize: Int
    let sectionCount: Int
    private var free: [UInt32]
    private var lent: [Bool]

    init?(buffer: GuestBuffer, sectionSize: Int) {
        let count = min(buffer.size / sectionSize, Self.maxSections)
        guard count > 0 else { return nil }
        self.buffer = buffer
        self.sectionSize = sectionSize
        sectionCount = count
        free = (0..<UInt32(count)).reversed()
        lent = [Bool](repeating: false, count: count)
    }

    var freeCount: Int { free.count }

    /// Takes a free section.
    mutating func take() -> UInt32? {
        guard let section = free.popLast() else { return nil }
        lent[Int(section)] = true
        return section
    }

    /// Returns a section that was taken but never sent.
    mutating func giveBack(_ section: UInt32) {
        lent[Int(section)] = false
        free.append(section)
    }

    /// Frees the section a guest completion names.
    /// - Returns: false when the id names no lent section (hostile or duplicate completion).
    mutating func complete(transactionID: UInt64) -> Bool {
        guard transactionID & 0xFFFF_FFFF_0000_0000 == Self.transactionTag else { return false }
        let section = Int(transactionID & 0xFFFF_FFFF)
        guard section < sectionCount, lent[section] else { return false }
        giveBack(UInt32(section))
        return true
    }

    /// The sections lent to the guest now, ascending (saved state).
    var lentSections: [UInt32] { lent.indices.filter { lent[$0] }.map { UInt32($0) } }

    /// Marks `section` lent again (restore).
    /// - Returns: false when it is out of range or already lent.
    mutating func markLent(_ section: UInt32) -> Bool {
        guard Int(section) < sectionCount, !lent[Int(section)], let index = free.firstIndex(of: section) else { return false }
        free.remove(at: index)
        lent[Int(section)] = true
        return true
    }

    static func transactionID(section: UInt32) -> UInt64 { transactionTag | UInt64(section) }
}
