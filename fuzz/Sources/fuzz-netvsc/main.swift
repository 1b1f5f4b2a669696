import FuzzDriver
import GuestMemory
import VMBus

/// Guest → host netvsc traffic from fuzz input, through the real VMBus rings: a VMBusHost with
/// a NetworkAdapter over 1 MiB of heap RAM (`FuzzHost`); each input gets zeroed RAM, a new
/// connection (unloaded at its end) and a guest that opened the channel, set up receive and send
/// buffers and brought RNDIS up (`FuzzGuest`), then the input's records
/// `[kind: u8][length: u8][body: length bytes]`. `kind & 7` is the operation, the upper bits its
/// options:
///
///   0  in-band NVSP message `body` (bit 3: completion requested)
///   1  RNDIS message `RNDISTemplates.build(body)` through send-buffer section
///      [0, 1, 2 (past the buffer), none][bits 3-4]; bit 5: control channel
///   2  the same message by GPA direct, starting at [0, 200, 4000, 4095][bits 3-4] in its first
///      page; bit 5: control channel; bit 6: its first half through section 0
///   3  hostile GPA-direct packet: range header `body[..<(kind >> 3)]`, NVSP message after it
///   4  completion: bit 3 set: transaction id and payload from `body`; clear: the held receive
///      transaction `body[0]` (bit 4: keep it held, so a second completion repeats it)
///   5  host frame for the guest, destination [MAC, broadcast, multicast, from body][bits 3-4],
///      length [body, 1514, 2004, 2005][bits 5-6]
///   6  [toggle whether the guest completes receive packets at once (held otherwise) (0),
///      toggle whether it reads the host → guest ring at all (1: a stalled guest fills it),
///      replace the receive buffer (2) or the send buffer (3) with a GPADL shaped by `body`:
///      `u32 byte_count, u32 byte_offset`, then one byte per page (page 0x10 + byte)][bits 3-4]
///   7  [tear down the receive buffer GPADL, the send buffer GPADL, close and reopen the
///      channel, packet of type `body[0]`][bits 3-4]
///
/// Any crash, trap, hang or sanitizer report is a bug: hostile guests only get error statuses.
let machine = FuzzHost(memory: GuestMemory.heapBacked(size: 1 << 20))

runFuzzer { bytes in
    let guest = FuzzGuest(machine)
    defer { guest.unload() }
    var i = 0
    while i + 2 <= bytes.count {
        let kind = bytes[i]
        let length = min(Int(bytes[i + 1]), bytes.count - i - 2)
        let body = Array(bytes[(i + 2)..<(i + 2 + length)])
        i += 2 + length
        let option = Int(kind >> 3) & 3
        switch kind & 7 {
        case 0:
            guest.send(.dataInband, completion: kind & 8 != 0, payload: body)
        case 1:
            let section = [0, 1, 2, UInt32.max][option]
            guest.sendRNDISSection(RNDISTemplates.build(body), section: section, channelType: UInt32(kind >> 5) & 1)
        case 2:
            let message = RNDISTemplates.build(body)
            guest.sendRNDISDirect(
                message, start: [0, 200, 4000, 4095][option], channelType: UInt32(kind >> 5) & 1,
                prefix: kind & 0x40 != 0 ? message.count / 2 : 0)
        case 3:
            let split = min(body.count, Int(kind >> 3))
            guest.send(.dataUsingGPADirect, header: Array(body[..<split]), payload: Array(body[split...]))
        case 4:
            if kind & 8 != 0 {
                let id = body.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
                guest.complete(id, payload: Array(body.dropFirst(8)))
            } else if !guest.held.isEmpty {
                let index = Int(body.first ?? 0) % guest.held.count
                guest.complete(guest.held[index])
                if kind & 0x10 == 0 { guest.held.remove(at: index) }
            }
            guest.settle()
        case 5:
            let destination = [FuzzGuest.mac, RNDISTemplates.broadcast, [0x33, 0x33, 0, 0, 0, 1], Array(body.prefix(6))][option]
            let size = [body.count, 1514, 2004, 2005][Int(kind >> 5) & 3]
            guest.backend.inject(RNDISTemplates.frame(destination, size: size))
            guest.settle()
        case 6:
            if option < 2 {
                if option == 0 { guest.autoComplete.toggle() } else { guest.reading.toggle() }
                guest.settle()
            } else {
                guest.replaceBuffer(receive: option == 2, shape: body)
            }
        default:
            switch option {
            case 0: guest.teardownGPADL(guest.receiveGPADL)
            case 1: guest.teardownGPADL(guest.sendGPADL)
            case 2: guest.reopen()
            default:
                let type = VMBusPacketType(rawValue: UInt16(body.first ?? 0))
                guest.send(type, payload: Array(body.dropFirst()))
            }
            guest.settle()
        }
    }
}
