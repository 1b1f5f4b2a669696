import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Acceptance of the synthetic network adapter: the unmodified test kernel's hv_netvsc drives
/// the host's netvsc device on a TAP interface the test creates. The kernel configures its
/// address itself (CONFIG_IP_PNP), answers pings, and sends its log over netconsole to a UDP
/// listener on the host. Needs /dev/net/tun and CAP_NET_ADMIN (to create the TAP) and raw
/// sockets (ICMP); skips loudly without them.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct NetworkGuestTests {
    @Test(.enabled(if: GuestEnvironment.canRun && HostNetwork.canRun))
    func netvscConfiguresPingsAndCarriesNetconsole() throws {
        let subnet = Int.random(in: 100...250)
        let host = "192.168.\(subnet).1", guest = "192.168.\(subnet).2"
        let tap = "hvnt\(Int.random(in: 1000...9999))"
        let mac = String(format: "00:15:5d:%02x:%02x:%02x", subnet, Int.random(in: 0...255), Int.random(in: 0...255))
        let netconsolePort = UInt16.random(in: 20000...60000)
        try HostNetwork.createTAP(tap, address: "\(host)/24")
        defer { HostNetwork.deleteTAP(tap) }
        let hostMAC = try String(contentsOfFile: "/sys/class/net/\(tap)/address", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let listener = try UDPListener(port: netconsolePort)
        defer { listener.close() }

        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-network-test.log").path
        let cmdline =
            TestKernelBootTests.cmdline + " ip=\(guest)::\(host):255.255.255.0::eth0:off"
            + " netconsole=6665@\(guest)/eth0,\(netconsolePort)@\(host)/\(hostMAC)"
        let worker = try WorkerProcess(
            arguments: [
                "run", "--kernel", GuestEnvironment.kernel ?? "", "--initrd", GuestEnvironment.initramfs ?? "",
                "--memory", "256", "--cpus", "1", "--cmdline", cmdline, "--nic", "tap=\(tap),mac=\(mac)",
            ], logPath: logPath)

        let configured = worker.waitFor("IP-Config: Complete", timeout: 420)
        #expect(configured, "the guest did not configure eth0; log in \(logPath)")
        guard configured, worker.waitFor("Run /init as init process", timeout: 120) else {
            worker.signal(SIGKILL)
            _ = worker.waitForExit(timeout: 10)
            return
        }
        let log = worker.text
        #expect(log.contains("hv_vmbus: registering driver hv_netvsc"))
        #expect(log.contains("device=eth0, hwaddr=\(mac), ipaddr=\(guest)"), "eth0 is not hv_netvsc with \(mac)")
        for line in log.split(whereSeparator: \.isNewline) where line.contains("hv_netvsc") || line.contains("netvsc") {
            let lower = line.lowercased()
            #expect(!lower.contains("error") && !lower.contains("fail") && !lower.contains("unable"), "guest: \(line)")
        }

        // ICMP echo through TAP → netvsc → guest and back.
        var roundTrips: [Double] = []
        for sequence in 0..<10 {
            let start = Date()
            if try ICMPEcho.ping(guest, sequence: UInt16(sequence)) { roundTrips.append(Date().timeIntervalSince(start) * 1000) }
        }
        #expect(roundTrips.count >= 6, "only \(roundTrips.count) of 10 echo replies from \(guest)")
        if let low = roundTrips.min(), let high = roundTrips.max() {
            let mean = roundTrips.reduce(0, +) / Double(roundTrips.count)
            print("NetworkGuestTests: ping \(guest): \(roundTrips.count)/10 replies, RTT min/avg/max "
                + String(format: "%.2f/%.2f/%.2f ms", low, mean, high))
        }

        // netconsole: the guest's printk lines arrive over UDP; a SysRq help request typed at the
        // serial console (BREAK, then 'h') is printed, and so sent, after the boot messages.
        Thread.sleep(forTimeInterval: 1)
        worker.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        worker.type([UInt8(ascii: "h")])
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !listener.text.contains("sysrq: HELP") { Thread.sleep(forTimeInterval: 0.5) }
        #expect(listener.text.contains("sysrq: HELP"), "no SysRq help over netconsole; got \(listener.text.suffix(300))")

        // The host's status report lists the adapter with traffic.
        worker.signal(SIGUSR1)
        #expect(worker.waitFor("nic0: mac \(mac), tap \(tap), link up", timeout: 10), "no adapter line in the status report")

        worker.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        worker.type([UInt8(ascii: "o")])
        let status = worker.waitForExit(timeout: 180)
        #expect(status == 0, "worker status \(String(describing: status)) after SysRq power-off; log in \(logPath)")
    }
}

/// Host-side network plumbing for the test: TAP creation with `ip`, and the capability checks.
enum HostNetwork {
    static var skipReason: String? {
        if access("/dev/net/tun", R_OK | W_OK) != 0 { return "/dev/net/tun is missing or not accessible" }
        guard FileManager.default.isExecutableFile(atPath: ip) else { return "\(ip) (iproute2) is not installed" }
        let probe = "hvprobe\(getpid() % 10000)"
        guard run([ip, "tuntap", "add", "dev", probe, "mode", "tap"]) == 0 else {
            return "cannot create a TAP interface (needs CAP_NET_ADMIN: run as root)"
        }
        _ = run([ip, "link", "del", probe])
        let raw = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMP))
        guard raw >= 0 else { return "cannot open a raw ICMP socket (needs CAP_NET_RAW)" }
        Glibc.close(raw)
        return nil
    }

    static var canRun: Bool {
        if let reason = skipReason {
            print("NetworkGuestTests SKIPPED: \(reason)")
            return false
        }
        return true
    }

    static let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"

    @discardableResult
    static func run(_ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    struct CommandFailed: Error, CustomStringConvertible {
        let command: String
        var description: String { "command failed: \(command)" }
    }

    static func createTAP(_ name: String, address: String) throws {
        for command in [
            [ip, "tuntap", "add", "dev", name, "mode", "tap"], [ip, "addr", "add", address, "dev", name],
            [ip, "link", "set", name, "up"],
        ] where run(command) != 0 {
            deleteTAP(name)
            throw CommandFailed(command: command.joined(separator: " "))
        }
    }

    static func deleteTAP(_ name: String) { run([ip, "link", "del", name]) }
}

func socketAddress(_ address: String, port: UInt16) -> sockaddr_in {
    var result = sockaddr_in()
    result.sin_family = sa_family_t(AF_INET)
    result.sin_port = port.bigEndian
    _ = inet_pton(AF_INET, address, &result.sin_addr)
    return result
}

func setReceiveTimeout(_ fd: Int32, seconds: Int) {
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
}

/// Collects UDP datagrams (netconsole lines) on a port, on a background thread.
final class UDPListener: Sendable {
    let fd: Int32
    private let received = Mutex<[UInt8]>([])
    private let closed = Atomic<Bool>(false)

    struct BindFailed: Error {}

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = socketAddress("0.0.0.0", port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw BindFailed() }
        setReceiveTimeout(fd, seconds: 1)
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 2048)
            while !closed.load(ordering: .acquiring) {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count > 0 { received.withLock { $0 += buffer[0..<count] } }
            }
        }
        thread.start()
    }

    var text: String { received.withLock { String(decoding: $0, as: UTF8.self) } }

    func close() {
        closed.store(true, ordering: .releasing)
        Thread.sleep(forTimeInterval: 1.2)
        Glibc.close(fd)
    }
}

/// One ICMP echo over a raw socket (no ping binary needed).
enum ICMPEcho {
    struct SocketFailed: Error {}

    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// Sends an echo request and waits up to 3 s for its reply.
    static func ping(_ destination: String, sequence: UInt16) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMP))
        guard fd >= 0 else { throw SocketFailed() }
        defer { Glibc.close(fd) }
        setReceiveTimeout(fd, seconds: 3)
        let identifier = UInt16(truncatingIfNeeded: getpid())
        var packet: [UInt8] = [8, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xFF), UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        packet += Array("swifthv netvsc echo".utf8)
        let sum = checksum(packet)
        packet[2] = UInt8(sum >> 8)
        packet[3] = UInt8(sum & 0xFF)
        var address = socketAddress(destination, port: 0)
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard sent == packet.count else { return false }
        let deadline = Date().addingTimeInterval(3)
        var buffer = [UInt8](repeating: 0, count: 1500)
        while Date() < deadline {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return false }
            let headerLength = Int(buffer[0] & 0x0F) * 4
            guard count >= headerLength + 8 else { continue }
            let reply = buffer[headerLength..<count]
            let start = reply.startIndex
            if reply[start] == 0, reply[start + 4] == UInt8(identifier >> 8), reply[start + 5] == UInt8(identifier & 0xFF),
                reply[start + 6] == UInt8(sequence >> 8), reply[start + 7] == UInt8(sequence & 0xFF)
            {
                return true
            }
        }
        return false
    }
}
