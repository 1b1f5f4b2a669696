/// INQUIRY, the VPD pages Linux reads (BLIST_TRY_VPD_PAGES) and MODE SENSE.
extension SCSIDisk {
    /// Vendor and product as Hyper-V reports them; Linux's storvsc keys quirks on "Msft".
    static let vendor = Array("Msft    ".utf8)
    static let product = Array("Virtual Disk    ".utf8)
    static let revision = Array("1.0 ".utf8)
    /// VPD pages offered, in the order of page 0x00.
    static let vpdPages: [UInt8] = [0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2]

    func inquiry(_ cdb: BigEndianBytes, buffer: some SCSIDataBuffer) -> SCSIResult {
        let allocation = Int(cdb.u16(3))
        let evpd = cdb.u8(1) & 0x01 != 0
        let page = cdb.u8(2)
        guard evpd else {
            guard page == 0 else { return .checkCondition(.invalidFieldInCDB) }
            return respond(standardInquiry(), allocationLength: allocation, buffer: buffer)
        }
        guard let data = vpdPage(page) else { return .checkCondition(.invalidFieldInCDB) }
        return respond(data, allocationLength: allocation, buffer: buffer)
    }

    /// Standard INQUIRY data, 36 bytes: direct-access device, SPC-4, HiSup, CmdQue.
    func standardInquiry() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 36)
        b[0] = 0x00  // peripheral qualifier 0, direct-access block device
        b[2] = 0x06  // SPC-4: Linux then uses READ CAPACITY(16) and the VPD pages
        b[3] = 0x12  // HiSup, response data format 2
        b[4] = UInt8(b.count - 5)
        b[7] = 0x02  // CmdQue
        b.replaceSubrange(8..<16, with: Self.vendor)
        b.replaceSubrange(16..<32, with: Self.product)
        b.replaceSubrange(32..<36, with: Self.revision)
        return b
    }

    /// A VPD page, or `nil` for one not offered.
    func vpdPage(_ page: UInt8) -> [UInt8]? {
        let body: [UInt8]
        switch page {
        case 0x00:
            body = Self.vpdPages
        case 0x80:
            body = Array(serialNumber.utf8)
        case 0x83:
            // One designator: binary (code set 1), association LU, type NAA (3), 16 bytes.
            body = [0x01, 0x03, 0x00, UInt8(naaIdentifier.count)] + naaIdentifier
        case 0xB0:
            body = blockLimits()
        case 0xB1:
            var b = [UInt8](repeating: 0, count: 60)
            b[1] = 0x01  // medium rotation rate 1: non-rotating (Linux marks the queue nonrot)
            body = b
        case 0xB2:
            var b = [UInt8](repeating: 0, count: 4)
            if supportsUnmap { b[1] = 0x80 }  // LBPU: UNMAP supported
            b[2] = 0x02  // provisioning type: thin
            body = b
        default:
            return nil
        }
        var w = BigEndianWriter(size: 4 + body.count)
        w.put(UInt8(0x00), at: 0)
        w.put(page, at: 1)
        w.put(UInt16(body.count), at: 2)
        w.put(bytes: body, at: 4)
        return w.bytes
    }

    /// Block limits (SBC-3 §6.6.4): transfer lengths in logical blocks, UNMAP limits.
    private func blockLimits() -> [UInt8] {
        var w = BigEndianWriter(size: 0x3C)
        let maxBlocks = UInt32(clamping: UInt64(maxTransferBytes) / blockSize)
        let physicalBlocks = UInt16(clamping: max(1, disk.physicalSectorSize / disk.logicalSectorSize))
        w.put(physicalBlocks, at: 2)  // optimal transfer length granularity
        w.put(maxBlocks, at: 4)  // maximum transfer length
        w.put(maxBlocks, at: 8)  // optimal transfer length
        if supportsUnmap {
            w.put(UInt32(0xFFFF_FFFF), at: 16)  // maximum unmap LBA count
            w.put(UInt32(256), at: 20)  // maximum unmap block descriptor count
            let granularity = UInt32(clamping: max(1, UInt64(disk.blockSize) / blockSize))
            w.put(granularity, at: 24)  // optimal unmap granularity
        }
        return w.bytes
    }

    /// MODE SENSE(6/10): the caching page (0x08), the control page (0x0A) or all (0x3F); the
    /// device-specific byte carries WP for read-only disks. No block descriptors.
    func modeSense(_ cdb: BigEndianBytes, tenByte: Bool, buffer: some SCSIDataBuffer) -> SCSIResult {
        let pageCode = cdb.u8(2) & 0x3F
        let control = cdb.u8(2) >> 6
        let subpage = cdb.u8(3)
        guard subpage == 0 || subpage == 0xFF, control != 3 else { return .checkCondition(.invalidFieldInCDB) }
        // Changeable values (control 1): nothing is changeable, so the page comes back zeroed.
        let changeable = control == 1
        var pages: [UInt8] = []
        if pageCode == 0x08 || pageCode == 0x3F { pages += cachingPage(changeable: changeable) }
        if pageCode == 0x0A || pageCode == 0x3F { pages += controlPage(changeable: changeable) }
        guard !pages.isEmpty else { return .checkCondition(.invalidFieldInCDB) }
        let deviceSpecific: UInt8 = disk.isReadOnly ? 0x80 : 0x00
        let header: [UInt8]
        let allocation: Int
        if tenByte {
            var w = BigEndianWriter(size: 8)
            w.put(UInt16(6 + pages.count), at: 0)
            w.put(deviceSpecific, at: 3)
            header = w.bytes
            allocation = Int(cdb.u16(7))
        } else {
            header = [UInt8(3 + pages.count), 0, deviceSpecific, 0]
            allocation = Int(cdb.u8(4))
        }
        return respond(header + pages, allocationLength: allocation, buffer: buffer)
    }

    /// Caching page, 20 bytes: WCE set on writable disks so Linux sends SYNCHRONIZE CACHE for
    /// its flushes (which `VirtualDisk.flush` makes durable).
    private func cachingPage(changeable: Bool) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 20)
        b[0] = 0x08
        b[1] = 0x12
        if !changeable && !disk.isReadOnly { b[2] = 0x04 }
        return b
    }

    /// Control page, 12 bytes, all defaults.
    private func controlPage(changeable: Bool) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 12)
        b[0] = 0x0A
        b[1] = 0x0A
        return b
    }
}
