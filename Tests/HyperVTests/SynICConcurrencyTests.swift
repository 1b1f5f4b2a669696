import Dispatch
import Foundation
import GuestMemory
import Testing

@testable import HyperV

#if canImport(Glibc)
import Glibc
#endif

/// Thousands of messages from several host threads while a simulated guest consumes slots the
/// way Linux does (copy, cmpxchg type → NONE, EOM only when msg_pending): every message must
/// arrive exactly once, in order per (sender, VP, SINT).
@Suite struct SynICConcurrencyTests {
    /// Real threads: the Dispatch pool is as wide as the (two) cores, and spinning "vCPUs" on it
    /// would starve the posters.
    final class Threads: Sendable {
        private let finished = DispatchSemaphore(value: 0)
        private let started = Locked(0)

        func spawn(_ body: @escaping @Sendable () -> Void) {
            started.withLock { $0 += 1 }
            let finished = self.finished
            Thread {
                body()
                finished.signal()
            }.start()
        }

        /// Waits for every spawned thread; false on timeout.
        func join(seconds: Double) -> Bool {
            let deadline = DispatchTime.now() + seconds
            for _ in 0..<started.value where finished.wait(timeout: deadline) == .timedOut { return false }
            return true
        }
    }

    static let deadline = Duration.seconds(30)

    static let posters = 4
    static let messagesPerPoster = 1500
    static let sints: [UInt8] = [1, 2, 3]

    struct Received: Hashable, Sendable {
        var poster: UInt8
        var sequence: UInt32
        var sint: Int
    }

    static func target(_ i: Int) -> (vp: UInt32, sint: UInt8) { (UInt32(i % 2), sints[(i / 2) % 3]) }

    static func payload(poster: Int, sequence: Int) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(poster)]
        for b in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: sequence >> (8 * b))) }
        // Vary the size across the whole range, with a checkable pattern.
        bytes += (0..<(sequence % 236)).map { UInt8(truncatingIfNeeded: $0 &+ sequence) }
        return bytes
    }

    /// Decodes a consumed slot and checks its header and payload pattern.
    static func decode(_ slot: [UInt8], sint: Int) -> Received? {
        guard slot[0] == 1, slot[1] == 0, slot[2] == 0, slot[3] == 0 else { return nil }
        let size = Int(slot[4])
        guard size >= 5, size <= 240 else { return nil }
        let payload = Array(slot[16..<16 + size])
        let sequence = (0..<4).reduce(UInt32(0)) { $0 | UInt32(payload[1 + $1]) << (8 * UInt32($1)) }
        guard payload == Self.payload(poster: Int(payload[0]), sequence: Int(sequence)) else { return nil }
        return Received(poster: payload[0], sequence: sequence, sint: sint)
    }

    func makeFixture(onKick: (@Sendable (UInt32) -> Void)? = nil) throws -> Fixture {
        let f = try Fixture(vpCount: 2, maxQueued: 100_000, onKick: onKick)
        for vp in 0..<2 {
            f.enableSynIC(vp: vp)
            for sint in Self.sints where sint != 2 {
                #expect(f.partition.writeMSR(SyntheticMSR.sint0.rawValue + UInt32(sint), value: 0x50 + UInt64(sint), vp: vp))
            }
        }
        return f
    }

    /// Expected count per VP.
    var expectedPerVP: [Int] {
        var counts = [0, 0]
        for _ in 0..<Self.posters { for i in 0..<Self.messagesPerPoster { counts[Int(Self.target(i).vp)] += 1 } }
        return counts
    }

    func startPosters(_ synic: SynIC, threads: Threads) {
        for poster in 0..<Self.posters {
            threads.spawn {
                for i in 0..<Self.messagesPerPoster {
                    let (vp, sint) = Self.target(i)
                    synic.postMessage(vp: vp, sint: sint, messageType: 1, payload: Self.payload(poster: poster, sequence: i))
                }
            }
        }
    }

    /// Checks exactly-once and per-(poster, SINT) order for one VP's received list.
    func check(_ received: [Received], vp: Int) {
        #expect(received.count == expectedPerVP[vp], "VP \(vp) got \(received.count) of \(expectedPerVP[vp])")
        #expect(Set(received).count == received.count, "VP \(vp): duplicates")
        var last: [Int: UInt32] = [:]
        for r in received {
            #expect(Self.target(Int(r.sequence)).vp == UInt32(vp) && Int(Self.target(Int(r.sequence)).sint) == r.sint)
            let key = Int(r.poster) * 16 + r.sint
            if let previous = last[key] { #expect(r.sequence > previous, "out of order on VP \(vp) SINT \(r.sint)") }
            last[key] = r.sequence
        }
    }

    /// R7 model: each VP's thread alternates "outside KVM_RUN" (deliverPending) and "guest runs"
    /// (consume slots, EOM); kicks just note that work arrived.
    @Test func vpThreadsDeliverAndConsumeEveryMessageOnceInOrder() throws {
        let f = try makeFixture()
        let threads = Threads()
        let results = Locked<[[Received]]>([[], []])
        let corrupt = Locked(0)
        let expected = expectedPerVP
        let end = ContinuousClock.now + Self.deadline
        for vp in 0..<2 {
            threads.spawn {
                var received: [Received] = []
                while received.count < expected[vp] && ContinuousClock.now < end {
                    f.synic.deliverPending(vp: vp)
                    var progressed = false
                    for sint in Self.sints {
                        while let slot = try? f.guestConsume(vp: vp, sint: Int(sint)) {
                            if let r = Self.decode(slot, sint: Int(sint)) { received.append(r) } else { corrupt.withLock { $0 += 1 } }
                            progressed = true
                        }
                    }
                    if !progressed { sched_yield() }
                }
                results.withLock { $0[vp] = received }
            }
        }
        startPosters(f.synic, threads: threads)
        #expect(threads.join(seconds: 60))
        #expect(corrupt.value == 0)
        for vp in 0..<2 { check(results.value[vp], vp: vp) }
        #expect(f.synic.queuedMessageCount(vp: 0) == 0 && f.synic.queuedMessageCount(vp: 1) == 0)
        // One interrupt per delivered message.
        #expect(f.sink.count == expected.reduce(0, +))
    }

    /// Stress beyond R7: a host thread delivers while a different "guest" thread frees slots
    /// concurrently, so the busy check races the guest's cmpxchg. The host delivers only when
    /// kicked (no polling that would hide a lost wake-up); the guest's EOM delivers inline. The
    /// atomic msg_pending OR must neither lose a wake-up nor overwrite an occupied slot.
    @Test func concurrentGuestFreeingNeverLosesOrDuplicates() throws {
        let kicked = DispatchSemaphore(value: 0)
        let f = try makeFixture(onKick: { _ in kicked.signal() })
        let host = Threads()
        let results = Locked<[[Received]]>([[], []])
        let corrupt = Locked(0)
        let done = Locked(false)
        let expected = expectedPerVP
        let end = ContinuousClock.now + Self.deadline
        host.spawn {
            while !done.value {
                kicked.wait()
                f.synic.deliverPending(vp: 0)
                f.synic.deliverPending(vp: 1)
            }
        }
        let guests = Threads()
        for vp in 0..<2 {
            guests.spawn {
                var received: [Received] = []
                while received.count < expected[vp] && ContinuousClock.now < end {
                    var progressed = false
                    for sint in Self.sints {
                        if let slot = try? f.guestConsume(vp: vp, sint: Int(sint)) {
                            if let r = Self.decode(slot, sint: Int(sint)) { received.append(r) } else { corrupt.withLock { $0 += 1 } }
                            progressed = true
                        }
                    }
                    if !progressed { sched_yield() }
                }
                results.withLock { $0[vp] = received }
            }
        }
        startPosters(f.synic, threads: guests)
        #expect(guests.join(seconds: 60))
        done.withLock { $0 = true }
        kicked.signal()
        #expect(host.join(seconds: 10))
        #expect(corrupt.value == 0)
        for vp in 0..<2 { check(results.value[vp], vp: vp) }
    }
}
