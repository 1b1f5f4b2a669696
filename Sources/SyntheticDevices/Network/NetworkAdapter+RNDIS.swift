import VMBus

// RNDIS control and data messages from the guest (rndis_filter.c's side, answered as a Hyper-V
// host does). Every field is read with bounds checks against the message's own msg_len.

extension NetworkAdapter {
    /// Processes the RNDIS messages in `bytes` (normally one; batched ones are accepted too).
    /// - Returns: false when a message was malformed (the rest is then skipped).
    func processRNDIS(_ bytes: [UInt8], state: inout AdapterState, frames: inout [[UInt8]]) -> Bool {
        let reader = WireReader(bytes)
        var offset = 0
        var count = 0
        while offset + RNDISLayout.headerSize <= bytes.count, count < Self.maxMessagesPerPacket {
            guard let type = try? reader.load(UInt32.self, at: offset),
                let length = try? reader.load(UInt32.self, at: offset + RNDISLayout.length),
                length >= UInt32(RNDISLayout.headerSize), Int(length) <= bytes.count - offset
            else {
                reject("RNDIS message length out of bounds at \(offset)", &state)
                return false
            }
            let message = WireReader(Array(bytes[offset..<(offset + Int(length))]))
            guard handleRNDISMessage(RNDISMessageType(rawValue: type), message, state: &state, frames: &frames) else {
                return false
            }
            offset += Int(length)
            count += 1
            // Batched messages are padded to the alignment; zero padding ends the batch.
            while offset < bytes.count, offset % 8 != 0 { offset += 1 }
            if offset + 4 <= bytes.count, (try? reader.load(UInt32.self, at: offset)) == 0 { break }
        }
        return count > 0
    }

    private func handleRNDISMessage(
        _ type: RNDISMessageType, _ message: WireReader, state: inout AdapterState, frames: inout [[UInt8]]
    ) -> Bool {
        let field = { (offset: Int) -> UInt32? in try? message.load(UInt32.self, at: offset) }
        switch type {
        case .packet:
            guard let frame = frame(in: message, state: &state) else { return false }
            if state.rndisInitialized {
                frames.append(frame)
            } else {
                state.statistics.txDrops += 1
            }
            return true
        case .initialize:
            guard let requestID = field(RNDISLayout.requestID) else { return malformed("INITIALIZE", &state) }
            state.rndisInitialized = true
            // The guest's hv_netvsc probe got this far (rndis_filter_device_add); hot-add tests
            // look for this line, as the guest logs nothing at info level for a new adapter.
            logger.info("netvsc \(macAddress.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")): the guest initialized RNDIS")
            var w = WireWriter(size: RNDISLayout.initializeCompleteSize)
            header(&w, type.completion, RNDISLayout.initializeCompleteSize)
            w.store(requestID, at: 8)
            w.store(RNDISStatus.success.rawValue, at: 12)
            w.store(UInt32(1), at: 16)  // major_ver
            w.store(UInt32(0), at: 20)  // minor_ver
            w.store(UInt32(1), at: 24)  // dev_flags: RNDIS_DF_CONNECTIONLESS
            w.store(UInt32(0), at: 28)  // medium: RNDIS_MEDIUM_802_3
            w.store(UInt32(1), at: 32)  // max_pkt_per_msg: no batching, no cp_partial
            w.store(UInt32(0x4000), at: 36)  // max_xfer_size
            w.store(UInt32(3), at: 40)  // pkt_alignment_factor: 8 bytes
            sendControl(w.bytes, state: &state)
        case .query:
            guard let requestID = field(RNDISLayout.requestID), let oid = field(RNDISLayout.requestOID) else {
                return malformed("QUERY", &state)
            }
            let answer = query(RNDISOID(rawValue: oid), state: state)
            let info = answer ?? []
            let size = RNDISLayout.queryCompleteSize + info.count
            var w = WireWriter(size: size)
            header(&w, type.completion, size)
            w.store(requestID, at: 8)
            w.store((answer == nil ? RNDISStatus.notSupported : .success).rawValue, at: 12)
            w.store(UInt32(info.count), at: 16)
            w.store(UInt32(info.isEmpty ? 0 : 16), at: 20)  // info_buf_offset, from req_id
            w.store(bytes: info, at: RNDISLayout.queryCompleteSize)
            sendControl(w.bytes, state: &state)
        case .set:
            guard let requestID = field(RNDISLayout.requestID), let oid = field(RNDISLayout.requestOID),
                let infoLength = field(RNDISLayout.requestInfoLength),
                let infoOffset = field(RNDISLayout.requestInfoOffset)
            else { return malformed("SET", &state) }
            // info_buf_offset counts from req_id (byte 8).
            let start = 8 + Int(infoOffset)
            let info: [UInt8]? =
                infoOffset <= UInt32(message.count) ? try? message.slice(at: start, count: Int(infoLength)) : nil
            guard let info else { return malformed("SET info buffer", &state) }
            let status = set(RNDISOID(rawValue: oid), info, state: &state)
            sendControl(simpleCompletion(type.completion, requestID, status), state: &state)
        case .keepalive:
            guard let requestID = field(RNDISLayout.requestID) else { return malformed("KEEPALIVE", &state) }
            sendControl(simpleCompletion(type.completion, requestID, .success), state: &state)
        case .reset:
            var w = WireWriter(size: RNDISLayout.resetCompleteSize)
            header(&w, type.completion, RNDISLayout.resetCompleteSize)
            w.store(RNDISStatus.success.rawValue, at: 8)
            w.store(UInt32(0), at: 12)  // addressing_reset
            sendControl(w.bytes, state: &state)
        case .halt:
            state.rndisInitialized = false
            state.packetFilter = 0
        default:
            return malformed("RNDIS message type 0x\(String(type.rawValue, radix: 16))", &state)
        }
        return true
    }

    /// The Ethernet frame of an RNDIS_PACKET, after checking data and per-packet-info bounds.
    private func frame(in message: WireReader, state: inout AdapterState) -> [UInt8]? {
        let field = { (offset: Int) -> UInt32? in try? message.load(UInt32.self, at: offset) }
        guard message.count >= RNDISLayout.packetHeaderSize, let dataOffset = field(RNDISLayout.packetDataOffset),
            let dataLength = field(RNDISLayout.packetDataLength), let ppiOffset = field(RNDISLayout.packetPPIOffset),
            let ppiLength = field(RNDISLayout.packetPPILength)
        else {
            malformed("short RNDIS_PACKET", &state)
            return nil
        }
        // Offsets count from the byte after the 8-byte header.
        let body = message.count - RNDISLayout.headerSize
        guard dataOffset >= UInt32(RNDISLayout.packetBodySize), dataOffset <= UInt32(body),
            dataLength >= 14, dataLength <= UInt32(body) - dataOffset
        else {
            malformed("RNDIS_PACKET data \(dataOffset)+\(dataLength) outside \(body) bytes", &state)
            return nil
        }
        if ppiLength > 0 {
            guard ppiOffset >= UInt32(RNDISLayout.packetBodySize), ppiOffset <= UInt32(body),
                ppiLength <= UInt32(body) - ppiOffset,
                perPacketInfoIsWellFormed(message, from: RNDISLayout.headerSize + Int(ppiOffset), length: Int(ppiLength))
            else {
                malformed("RNDIS_PACKET per-packet info \(ppiOffset)+\(ppiLength) malformed", &state)
                return nil
            }
        }
        return try? message.slice(at: RNDISLayout.headerSize + Int(dataOffset), count: Int(dataLength))
    }

    /// Walks the per-packet info elements `{ u32 size; u32 type; u32 ppi_offset; }` (checksum,
    /// VLAN, LSO, hash): no offloads are advertised, so their contents are ignored, but they must
    /// stay inside their area.
    private func perPacketInfoIsWellFormed(_ message: WireReader, from start: Int, length: Int) -> Bool {
        var offset = 0
        var elements = 0
        while offset < length {
            guard elements < 32, length - offset >= 12, let size = try? message.load(UInt32.self, at: start + offset),
                let dataOffset = try? message.load(UInt32.self, at: start + offset + 8),
                size >= 12, Int(size) <= length - offset, dataOffset <= size
            else { return false }
            offset += Int(size)
            elements += 1
        }
        return true
    }

    /// The information buffer for a QUERY, or `nil` for "not supported".
    private func query(_ oid: RNDISOID, state: AdapterState) -> [UInt8]? {
        func u32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        switch oid {
        case .permanentAddress, .currentAddress: return macAddress
        case .maximumFrameSize: return u32(UInt32(Self.mtu))
        case .maximumTotalSize: return u32(UInt32(Self.mtu + 14))
        case .linkSpeed: return u32(Self.linkSpeed)
        case .mediaConnectStatus: return u32(0)  // NdisMediaStateConnected
        case .currentPacketFilter: return u32(state.packetFilter)
        case .maximumListSize: return u32(32)
        case .offloadHardwareCapabilities:
            // An all-zero NDIS_OFFLOAD (revision 1, 112 bytes): no checksum, LSO or RSC offloads.
            var w = WireWriter(size: NDISOffload.size60)
            w.store(NDISOffload.objectType, at: 0)
            w.store(NDISOffload.revision1, at: 1)
            w.store(UInt16(NDISOffload.size60), at: 2)
            return w.bytes
        default:
            // RSS capabilities (so no subchannels), friendly name and the rest.
            return nil
        }
    }

    /// Applies a SET; returns its status.
    private func set(_ oid: RNDISOID, _ info: [UInt8], state: inout AdapterState) -> RNDISStatus {
        switch oid {
        case .currentPacketFilter:
            guard let filter = try? WireReader(info).load(UInt32.self, at: 0) else { return .invalidData }
            state.packetFilter = filter
            return .success
        case .offloadParameters:
            // Linux disables or leaves unchanged every offload it saw none of; nothing to apply.
            return .success
        case .multicastList:
            // Multicast frames pass by the ALL_MULTICAST filter bit; the list needs no state.
            return info.count % 6 == 0 ? .success : .invalidData
        default:
            return .notSupported
        }
    }

    /// The RNDIS_PACKET header for a received frame (no per-packet info).
    func rndisPacketHeader(frameLength: Int) -> [UInt8] {
        var w = WireWriter(size: RNDISLayout.packetHeaderSize)
        header(&w, .packet, RNDISLayout.packetHeaderSize + frameLength)
        w.store(UInt32(RNDISLayout.packetBodySize), at: RNDISLayout.packetDataOffset)
        w.store(UInt32(frameLength), at: RNDISLayout.packetDataLength)
        return w.bytes
    }

    private func simpleCompletion(_ type: RNDISMessageType, _ requestID: UInt32, _ status: RNDISStatus) -> [UInt8] {
        var w = WireWriter(size: RNDISLayout.simpleCompleteSize)
        header(&w, type, RNDISLayout.simpleCompleteSize)
        w.store(requestID, at: 8)
        w.store(status.rawValue, at: 12)
        return w.bytes
    }

    private func header(_ w: inout WireWriter, _ type: RNDISMessageType, _ length: Int) {
        w.store(type.rawValue, at: RNDISLayout.type)
        w.store(UInt32(length), at: RNDISLayout.length)
    }

    @discardableResult
    private func malformed(_ what: String, _ state: inout AdapterState) -> Bool {
        reject("malformed \(what)", &state)
        return false
    }
}
