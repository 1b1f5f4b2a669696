import Testing
import VMBus
import VMBusTestSupport

// Golden bytes, annotated per field, from the layouts in the protocol doc §8.2 / Linux hyperv.h.

@Suite struct ProtocolGoldenTests {
    @Test func guidUsesMicrosoftLayout() throws {
        let scsi = try #require(GUID("ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"))
        #expect(scsi.wireBytes == hex("d9 63 61 ba a1 04 29 4d b6 05 72 e2 ff b1 dc 7f"))
        #expect(scsi.description == "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f")
        #expect(GUID("not-a-guid") == nil)
        #expect(GUID("ba6163d9-04a1-4d29-b605-72e2ffb1dcZZ") == nil)
    }

    @Test func initiateContactV53() throws {
        let golden = hex(
            """
            0e 00 00 00 00 00 00 00
            03 00 05 00
            01 00 00 00
            02 00 00 00 00 00 00 00
            00 10 00 00 00 00 00 00
            00 20 00 00 00 00 00 00
            """)  // type 14, pad | version 5.3 | target_vcpu 1 | msg_sint 2 | monitor pages
        let message = InitiateContact(
            versionRequested: .win10_v5_3, targetVCPU: 1, interruptPageOrSINT: 2, monitorPage1: 0x1000,
            monitorPage2: 0x2000)
        #expect(message.encode() == golden)
        let decoded = try InitiateContact.decode(golden)
        #expect(decoded == message)
        #expect(decoded.messageSINT == 2)
        #expect(throws: WireError.self) { try InitiateContact.decode(Array(golden.prefix(39))) }
    }

    @Test func versionResponse() throws {
        let golden = hex("0f 00 00 00 00 00 00 00  01 00 00 00  01 00 00 00")  // supported=1, state 0, msg_conn_id 1
        #expect(VersionResponse(versionSupported: true, messageConnectionID: 1).encode() == golden)
        #expect(try VersionResponse.decode(golden) == VersionResponse(versionSupported: true, messageConnectionID: 1))
    }

    @Test func offerChannelLayout() throws {
        let type = try #require(GUID("0e0b6031-5213-4934-818b-38d90ced39db"))
        let instance = try #require(GUID("b6650ff7-33bc-4840-8048-e0676786f393"))
        let offer = OfferChannel(
            interfaceType: type, interfaceInstance: instance, channelFlags: [.enumerateDeviceInterface, .namedPipeMode],
            userDefined: [4, 0, 0, 0], subChannelIndex: 0, childRelID: 7, monitorID: 0xFF, monitorAllocated: false,
            isDedicatedInterrupt: true, connectionID: 0x2007)
        let bytes = offer.encode()
        #expect(bytes.count == 196)
        #expect(Array(bytes[0..<4]) == hex("01 00 00 00"))
        #expect(Array(bytes[8..<24]) == guidBytes("0e0b6031-5213-4934-818b-38d90ced39db"))
        #expect(Array(bytes[24..<40]) == guidBytes("b6650ff7-33bc-4840-8048-e0676786f393"))
        #expect(Array(bytes[56..<58]) == hex("11 00"))  // chn_flags
        #expect(Array(bytes[60..<64]) == hex("04 00 00 00"))  // user_def pipe_mode
        #expect(Array(bytes[184..<188]) == hex("07 00 00 00"))  // child_relid
        #expect(bytes[188] == 0xFF)  // monitorid
        #expect(bytes[189] == 0)  // monitor_allocated
        #expect(Array(bytes[190..<192]) == hex("01 00"))  // is_dedicated_interrupt
        #expect(Array(bytes[192..<196]) == hex("07 20 00 00"))  // connection_id
        #expect(try OfferChannel.decode(bytes) == offer)
    }

    @Test func openChannelAndResult() throws {
        var golden = hex(
            """
            05 00 00 00 00 00 00 00
            03 00 00 00  03 00 00 00  10 1e 0e 00  00 00 00 00  04 00 00 00
            """)  // relid 3, openid 3, gpadl 0xE1E10, target_vp 0, downstream offset 4
        golden += [UInt8](repeating: 0, count: 120)
        let open = try OpenChannel.decode(golden)
        #expect(open.childRelID == 3 && open.openID == 3 && open.ringBufferGPADL == 0xE1E10)
        #expect(open.targetVP == 0 && open.downstreamRingBufferPageOffset == 4)
        #expect(open.encode() == golden)
        let result = hex("06 00 00 00 00 00 00 00  03 00 00 00  03 00 00 00  00 00 00 00")
        #expect(OpenChannelResult(childRelID: 3, openID: 3, status: .success).encode() == result)
    }

    @Test func gpadlMessages() throws {
        let header = hex(
            """
            08 00 00 00 00 00 00 00
            02 00 00 00  10 1e 0e 00  18 00  01 00
            00 20 00 00  00 00 00 00
            00 01 00 00 00 00 00 00
            """)  // relid 2, gpadl, range_buflen 24, rangecount 1 | byte_count 8192, offset 0 | pfn 0x100
        let decoded = try GPADLHeader.decode(header)
        #expect(decoded.childRelID == 2 && decoded.gpadl == 0xE1E10)
        #expect(decoded.rangeBufferLength == 24 && decoded.rangeCount == 1)
        #expect(decoded.rangeBytes.count == 16)
        #expect(decoded.encode() == header)

        let body = hex("09 00 00 00 00 00 00 00  00 00 00 00  10 1e 0e 00  01 01 00 00 00 00 00 00")
        let bodyDecoded = try GPADLBody.decode(body)
        #expect(bodyDecoded.messageNumber == 0 && bodyDecoded.gpadl == 0xE1E10)
        #expect(bodyDecoded.rangeBytes == hex("01 01 00 00 00 00 00 00"))
        #expect(bodyDecoded.encode() == body)

        #expect(
            GPADLCreated(childRelID: 2, gpadl: 0xE1E10, status: .success).encode()
                == hex("0a 00 00 00 00 00 00 00  02 00 00 00  10 1e 0e 00  00 00 00 00"))
        #expect(
            try GPADLTeardown.decode(hex("0b 00 00 00 00 00 00 00  02 00 00 00  10 1e 0e 00"))
                == GPADLTeardown(childRelID: 2, gpadl: 0xE1E10))
        #expect(GPADLTorndown(gpadl: 0xE1E10).encode() == hex("0c 00 00 00 00 00 00 00  10 1e 0e 00"))
    }

    @Test func smallMessages() throws {
        #expect(RequestOffers().encode() == hex("03 00 00 00 00 00 00 00"))
        #expect(AllOffersDelivered().encode() == hex("04 00 00 00 00 00 00 00"))
        #expect(Unload().encode() == hex("10 00 00 00 00 00 00 00"))
        #expect(UnloadResponse().encode() == hex("11 00 00 00 00 00 00 00"))
        #expect(RescindChannelOffer(childRelID: 5).encode() == hex("02 00 00 00 00 00 00 00  05 00 00 00"))
        #expect(try RelIDReleased.decode(hex("0d 00 00 00 00 00 00 00  05 00 00 00")).childRelID == 5)
        #expect(try CloseChannel.decode(hex("07 00 00 00 00 00 00 00  05 00 00 00")).childRelID == 5)
        #expect(
            try ModifyChannel.decode(hex("16 00 00 00 00 00 00 00  05 00 00 00  01 00 00 00"))
                == ModifyChannel(childRelID: 5, targetVP: 1))
        #expect(
            ModifyChannelResponse(childRelID: 5, status: .success).encode()
                == hex("18 00 00 00 00 00 00 00  05 00 00 00  00 00 00 00"))
        let tl = TLConnectRequest(guestEndpointID: .zero, hostServiceID: try #require(GUID("0e0b6031-5213-4934-818b-38d90ced39db")))
        #expect(try TLConnectRequest.decode(tl.encode()) == tl)
        #expect(try vmbusMessageType(of: hex("2a 00 00 00")) == VMBusMessageType(rawValue: 42))
        #expect(throws: WireError.self) { try vmbusMessageType(of: [1, 2]) }
    }

    @Test func packetDescriptorAndRanges() throws {
        // GPA direct: type 9, offset8 5 (40 bytes), len8 6, flags 1, trans 0x1122 | reserved, rangecount 1 |
        // byte_count 0x1800, byte_offset 0x800 | pfn 0x123 | payload 8 bytes
        let packet = hex(
            """
            09 00 05 00 06 00 01 00  22 11 00 00 00 00 00 00
            00 00 00 00  01 00 00 00
            00 18 00 00  00 08 00 00
            23 01 00 00 00 00 00 00
            aa bb cc dd ee ff 00 11
            """)
        #expect(throws: WireError.self) {
            // byte_offset 0x800 + 0x1800 needs 2 PFNs, only 1 present before the payload offset.
            _ = try VMBusPacket(descriptor: PacketDescriptor.decode(WireReader(packet)), bytes: packet).gpaDirectRanges()
        }
        var fixed = packet
        fixed[4] = 7  // len8 7
        fixed[2] = 6  // offset8 6
        fixed.insert(contentsOf: hex("24 01 00 00 00 00 00 00"), at: 40)
        let descriptor = try PacketDescriptor.decode(WireReader(fixed))
        #expect(descriptor.type == .dataUsingGPADirect && descriptor.transactionID == 0x1122)
        let parsed = VMBusPacket(descriptor: descriptor, bytes: fixed)
        #expect(parsed.completionRequested)
        #expect(try parsed.gpaDirectRanges() == [GPARange(byteCount: 0x1800, byteOffset: 0x800, pfns: [0x123, 0x124])])
        #expect(Array(parsed.payload) == hex("aa bb cc dd ee ff 00 11"))

        // offset8 beyond len8 and offset8 inside the descriptor are refused.
        #expect(throws: WireError.self) { try PacketDescriptor.decode(WireReader(hex("06 00 03 00 02 00 00 00 00 00 00 00 00 00 00 00"))) }
        #expect(throws: WireError.self) { try PacketDescriptor.decode(WireReader(hex("06 00 01 00 02 00 00 00 00 00 00 00 00 00 00 00"))) }
    }

    @Test func transferPagePacket() throws {
        let header = TransferPageHeader(
            transferPageSetID: 0xCAFE, senderOwnsSet: false, ranges: [.init(byteCount: 100, byteOffset: 0x2000)])
        var w = WireWriter(size: header.encodedSize)
        PacketDescriptor(type: .dataUsingTransferPages, offset8: 4, len8: 4, flags: 1, transactionID: 9).encode(into: &w)
        header.encode(into: &w)
        #expect(
            w.bytes
                == hex(
                    """
                    07 00 04 00 04 00 01 00  09 00 00 00 00 00 00 00
                    fe ca 00 00  01 00 00 00
                    64 00 00 00  00 20 00 00
                    """))
        let packet = VMBusPacket(descriptor: try PacketDescriptor.decode(WireReader(w.bytes)), bytes: w.bytes)
        #expect(try packet.transferPageHeader() == header)
        // range_cnt claiming more ranges than fit before offset8*8 is refused.
        var bad = w.bytes
        bad[20] = 2
        #expect(throws: WireError.self) {
            try VMBusPacket(descriptor: PacketDescriptor.decode(WireReader(bad)), bytes: bad).transferPageHeader()
        }
    }

    @Test func packetLayoutPadsAndRefusesOversize() throws {
        let bytes = try #require(VMBusPacket.layout(type: .dataInband, flags: 0, transactionID: 5, payload: [1, 2, 3]))
        #expect(bytes == hex("06 00 02 00 03 00 00 00  05 00 00 00 00 00 00 00  01 02 03 00 00 00 00 00"))
        #expect(VMBusPacket.layout(type: .dataInband, flags: 0, transactionID: 0, payload: [UInt8](repeating: 0, count: 600_000)) == nil)
    }
}
