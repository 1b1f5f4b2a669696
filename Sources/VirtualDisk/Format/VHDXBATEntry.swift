/// MS-VHDX §2.5.1 BAT entry: 64 bits, State in bits 0–2, reserved bits 3–19,
/// FileOffsetMB in bits 20–63 (the block's file offset in MiB).
struct VHDXBATEntry: Equatable {
    /// Payload and sector-bitmap block states (§2.5.1.1, §2.5.1.2); an open set.
    struct State: RawRepresentable, Hashable, CustomStringConvertible {
        let rawValue: UInt8
        init(rawValue: UInt8) { self.rawValue = rawValue & 7 }
        static let notPresent = State(rawValue: 0)
        static let undefined = State(rawValue: 1)
        static let zero = State(rawValue: 2)
        static let unmapped = State(rawValue: 3)
        /// QEMU's header names 5 "UNMAPPED_v095" (a pre-release spec value); read it as unmapped.
        static let unmappedV095 = State(rawValue: 5)
        static let fullyPresent = State(rawValue: 6)
        static let partiallyPresent = State(rawValue: 7)
        /// Sector bitmap blocks use 6 for present.
        static let bitmapPresent = State(rawValue: 6)
        var description: String { "\(rawValue)" }
    }

    var state: State
    var fileOffsetMB: UInt64

    init(state: State, fileOffsetMB: UInt64) {
        self.state = state
        self.fileOffsetMB = fileOffsetMB & ((1 << 44) - 1)
    }

    init(rawValue: UInt64) {
        state = State(rawValue: UInt8(rawValue & 7))
        fileOffsetMB = rawValue >> 20
    }

    var rawValue: UInt64 { UInt64(state.rawValue) | fileOffsetMB << 20 }
    var fileOffset: UInt64 { fileOffsetMB << 20 }
}
