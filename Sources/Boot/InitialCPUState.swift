/// The register state the boot vCPU starts in, as a loader computes it. The VMM turns it into
/// `kvm_regs`/`kvm_sregs`; Boot itself knows nothing of KVM.
public struct InitialCPUState: Sendable, Hashable {
    /// A flat segment as loaded into a segment register (64-bit code or data).
    public struct Segment: Sendable, Hashable {
        public var base: UInt64
        public var limit: UInt32
        public var selector: UInt16
        /// Descriptor type field (e.g. 0xB execute/read accessed code, 0x3 read/write accessed data).
        public var type: UInt8
        public var present: Bool
        public var dpl: UInt8
        /// 1 for code/data segments (S bit).
        public var s: Bool
        /// Long mode (code segments).
        public var l: Bool
        /// Default operand size 32-bit.
        public var db: Bool
        /// 4 KiB granularity.
        public var g: Bool
        public init(
            base: UInt64, limit: UInt32, selector: UInt16, type: UInt8, present: Bool = true, dpl: UInt8 = 0,
            s: Bool = true, l: Bool, db: Bool, g: Bool = true
        ) {
            self.base = base
            self.limit = limit
            self.selector = selector
            self.type = type
            self.present = present
            self.dpl = dpl
            self.s = s
            self.l = l
            self.db = db
            self.g = g
        }
    }

    public var rip: UInt64
    public var rsp: UInt64
    /// Linux's 64-bit entry takes the `boot_params` address in RSI.
    public var rsi: UInt64
    public var rflags: UInt64 = 0x2
    public var cr0: UInt64
    public var cr3: UInt64
    public var cr4: UInt64
    public var efer: UInt64
    public var gdtBase: UInt64
    public var gdtLimit: UInt16
    public var idtBase: UInt64 = 0
    public var idtLimit: UInt16 = 0
    public var code: Segment
    public var data: Segment

    public init(
        rip: UInt64, rsp: UInt64, rsi: UInt64, cr0: UInt64, cr3: UInt64, cr4: UInt64, efer: UInt64,
        gdtBase: UInt64, gdtLimit: UInt16, code: Segment, data: Segment
    ) {
        self.rip = rip
        self.rsp = rsp
        self.rsi = rsi
        self.cr0 = cr0
        self.cr3 = cr3
        self.cr4 = cr4
        self.efer = efer
        self.gdtBase = gdtBase
        self.gdtLimit = gdtLimit
        self.code = code
        self.data = data
    }
}
