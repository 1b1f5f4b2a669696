import Testing

@testable import Chipset

@Suite struct MiscPortTests {
    @Test func postCodeRemembersLastWrite() {
        let post = PostCodePort()
        #expect(post.inb(0) == 0xFF)
        post.outb(0, 0x42)
        #expect(post.lastCode == 0x42)
        #expect(post.inb(0) == 0x42)
        post.ioWrite(offset: 0, width: .dword, value: 0x1234_5678)
        #expect(post.lastCode == 0x78)
        #expect(post.ioRead(offset: 0, width: .word) == 0xFF78)
    }

    @Test func port61TogglesRefreshAndFollowsGate() {
        let port = SystemControlPortB()
        let a = port.inb(0)
        let b = port.inb(0)
        #expect((a ^ b) & 0x10 == 0x10)
        #expect(a & 0x20 == 0)
        port.outb(0, 0x03)
        #expect(port.inb(0) & 0x23 == 0x23)
        #expect(port.inb(0) & 0xC0 == 0)  // no NMI sources
    }

    @Test func port92FastReset() {
        let platform = RecordingPlatformControl()
        let port = SystemControlPortA(platform: platform)
        #expect(port.inb(0) == 0x02)
        port.outb(0, 0x02)
        #expect(platform.requests.isEmpty)
        port.outb(0, 0x03)
        #expect(platform.requests == [.reset])
        #expect(port.inb(0) == 0x02)
    }

    @Test func silentPortsReadTheirValueAtEveryWidth() {
        let delay = SilentPorts(name: "delay")
        delay.outb(0, 0x12)
        #expect(delay.ioRead(offset: 0, width: .byte) == 0xFF)
        #expect(delay.ioRead(offset: 0, width: .qword) == UInt64.max)
        let zero = SilentPorts(name: "zero", readValue: 0)
        #expect(zero.ioRead(offset: 0, width: .dword) == 0)
        let pattern = SilentPorts(name: "p", readValue: 0x5A)
        #expect(pattern.ioRead(offset: 0, width: .dword) == 0x5A5A_5A5A)
    }
}
