/// Header updates (MS-VHDX §2.2.2.1): the first modification in a session gives the file new
/// FileWriteGuid/DataWriteGuid values and a LogGuid; a clean close clears the LogGuid.
extension VHDXDisk {
    func beginSession(_ state: inout State) throws {
        guard state.log == nil else { return }
        guard state.image.log.length > 0 else {
            throw VirtualDiskError(.unsupported, "VHDX file has no log region, so it cannot be modified safely")
        }
        let logGuid = GUID.random()
        var header = state.image.header
        header.fileWriteGuid = .random()
        header.dataWriteGuid = .random()
        header.logGuid = logGuid
        (state.image.headerIndex, state.image.header) = try Self.writeHeaders(
            header, current: state.image.header, index: state.image.headerIndex, file: file)
        state.log = VHDXLogWriter(region: state.image.log, guid: logGuid, sequence: 1)
    }

    /// Writes `header` to both copies, the non-current one first, each with the next sequence
    /// number and a sync after it, so one valid copy survives a crash at any point.
    /// - Returns: the index of the copy that is now current, and its contents.
    static func writeHeaders(_ header: VHDXHeader, current: VHDXHeader, index: Int, file: any DiskFile) throws -> (Int, VHDXHeader) {
        var header = header
        var index = index
        var sequence = current.sequenceNumber
        for _ in 0..<2 {
            sequence += 1
            header.sequenceNumber = sequence
            index = 1 - index
            try file.write(at: VHDXLayout.headerOffsets[index], header.encoded())
            try file.sync()
        }
        return (index, header)
    }
}
