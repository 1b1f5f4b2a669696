import FuzzDriver
import GuestMemory
import HyperV
import VMBus

/// Guest → host VMBus traffic from fuzz input: a sequence of records
/// `[kind: u8][connection: u8][length: u8][payload: length bytes]`, each an HvPostMessage or an
/// HvSignalEvent, against a fresh host over 1 MiB of heap guest RAM. Any crash, trap or
/// sanitizer report is a bug: hostile guests must only get error statuses.
struct DiscardingPort: SynICMessagePort {
    func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {}
    func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32) {}
}

let memory = GuestMemory.heapBacked(size: 1 << 20)

runFuzzer { bytes in
    let host = VMBusHost(memory: memory, port: DiscardingPort(), configuration: VMBusHostConfiguration(vpCount: 2))
    var i = 0
    while i + 3 <= bytes.count {
        let kind = bytes[i]
        let connection: UInt32 = [1, 4, VMBusHost.channelConnectionIDBase + 1, UInt32(bytes[i + 1])][Int(bytes[i + 1] & 3)]
        let length = min(Int(bytes[i + 2]), bytes.count - i - 3)
        let payload = Array(bytes[(i + 3)..<(i + 3 + length)])
        i += 3 + length
        if kind & 1 == 0 {
            _ = host.postMessage(connectionID: connection, messageType: 1, payload: payload, vp: UInt32(kind >> 7))
        } else {
            _ = host.signalEvent(connectionID: connection, flagNumber: UInt16(kind >> 1), vp: 0)
        }
    }
    host.waitForIdle()
}
