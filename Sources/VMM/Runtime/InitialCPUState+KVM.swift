import Boot
import KVM

extension SegmentRegister {
    init(_ s: InitialCPUState.Segment) {
        self.init(
            base: s.base, limit: s.limit, selector: s.selector, type: s.type, present: s.present, dpl: s.dpl,
            db: s.db, s: s.s, l: s.l, g: s.g)
    }
}

extension InitialCPUState {
    /// The loader's state applied over `reset` (KVM's reset state, which keeps TR and LDT valid).
    func specialRegisters(over reset: SpecialRegisters) -> SpecialRegisters {
        var s = reset
        s.cs = SegmentRegister(code)
        let d = SegmentRegister(data)
        s.ds = d
        s.es = d
        s.fs = d
        s.gs = d
        s.ss = d
        s.gdt = DescriptorTable(base: gdtBase, limit: gdtLimit)
        s.idt = DescriptorTable(base: idtBase, limit: idtLimit)
        s.cr0 = cr0
        s.cr3 = cr3
        s.cr4 = cr4
        s.efer = efer
        return s
    }

    var generalRegisters: GeneralRegisters {
        var r = GeneralRegisters()
        r.rip = rip
        r.rsp = rsp
        r.rsi = rsi
        r.rflags = rflags
        return r
    }
}
