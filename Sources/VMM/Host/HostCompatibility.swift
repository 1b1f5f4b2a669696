import Foundation
import KVM

/// What the host's KVM can and cannot do for a guest, and how the VMM compensates: the CPUID
/// the guest sees and the guest kernel command-line additions. See ENVIRONMENT.md: on the
/// nested KVM-PVM development hosts guest ring 0 is emulated and some instructions cannot be.
public struct HostCompatibility: Sendable, Hashable, CustomStringConvertible {
    /// The kind of host.
    public enum Kind: String, Sendable, Hashable {
        /// Hardware virtualization (VMX/SVM): nothing to work around.
        case hardware
        /// Nested KVM-PVM (no vmx/svm in /proc/cpuinfo): hide CX16, add `noxsave` and `clearcpuid=`.
        case nestedPVM
    }

    /// How the profile is chosen.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Detect from /proc/cpuinfo.
        case auto
        /// No workarounds, whatever the host.
        case off
        /// Force the PVM workarounds.
        case pvm
    }

    public let kind: Kind

    public init(kind: Kind) { self.kind = kind }

    public var description: String { kind.rawValue }

    /// Feature numbers (`clearcpuid=`, word*32+bit) whose instructions the PVM emulator cannot
    /// execute in guest ring 0, from ENVIRONMENT.md: pclmulqdq, ssse3, fma, sse4.1, sse4.2, movbe,
    /// popcnt, aes, avx, f16c, rdrand, bmi1, avx2, bmi2, rdseed, adx, sha_ni; plus 308 (SMAP,
    /// which removes the clac/stac exits). ERMS (297) must stay: hiding it breaks the guest.
    public static let pvmClearedFeatures: [Int] = [
        129, 137, 140, 147, 148, 150, 151, 153, 156, 157, 158, 291, 293, 296, 306, 307, 317, 308,
    ]

    /// CPUID leaf 1 ECX bit 13: CMPXCHG16B, which the PVM emulator cannot execute.
    public static let cx16Bit: UInt32 = 1 << 13
    /// CPUID leaf 1 ECX bit 31: "running under a hypervisor" (guests look for Hyper-V only then).
    public static let hypervisorBit: UInt32 = 1 << 31

    /// The profile for a host whose /proc/cpuinfo is `cpuinfo`: PVM when no `flags` line
    /// names `vmx` or `svm`.
    public static func detect(cpuinfo: String) -> HostCompatibility {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" })
            if words.contains("vmx") || words.contains("svm") { return HostCompatibility(kind: .hardware) }
        }
        return HostCompatibility(kind: .nestedPVM)
    }

    /// The profile for `mode` on this host (reads /proc/cpuinfo for `.auto`; an unreadable
    /// file counts as hardware virtualization, which adds nothing).
    public static func resolve(_ mode: Mode = .auto, cpuinfoPath: String = "/proc/cpuinfo") -> HostCompatibility {
        switch mode {
        case .off: return HostCompatibility(kind: .hardware)
        case .pvm: return HostCompatibility(kind: .nestedPVM)
        case .auto:
            guard let text = try? String(contentsOfFile: cpuinfoPath, encoding: .utf8) else {
                return HostCompatibility(kind: .hardware)
            }
            return detect(cpuinfo: text)
        }
    }

    /// Guest kernel command-line words this host needs (empty on hardware virtualization).
    public var kernelCommandLineAdditions: [String] {
        switch kind {
        case .hardware: return []
        case .nestedPVM:
            return ["noxsave", "clearcpuid=" + Self.pvmClearedFeatures.map(String.init).joined(separator: ",")]
        }
    }

    /// The CPUID the guest should see, from `KVM_GET_SUPPORTED_CPUID`:
    /// - KVM's own leaves (0x40000000-0x4FFFFFFF, the "KVMKVMKVM" signature) are dropped on
    ///   every host: the guest must not find KVM (its `ptp_kvm` loops on `vmcall` on PVM), and the
    ///   Hyper-V leaves take that range (merge them in with `merging(_:into:)`);
    /// - leaf 1 keeps the hypervisor bit set;
    /// - on PVM, CX16 is hidden (KVM cannot emulate `lock cmpxchg16b`).
    public func guestCPUID(from supported: [CPUIDEntry]) -> [CPUIDEntry] {
        supported.compactMap { entry in
            if entry.function >= 0x4000_0000 && entry.function <= 0x4fff_ffff { return nil }
            var e = entry
            if e.function == 1 {
                e.ecx |= Self.hypervisorBit
                if kind == .nestedPVM { e.ecx &= ~Self.cx16Bit }
            }
            return e
        }
    }

    /// `base` with every leaf of `extra` added, replacing a leaf with the same function and index.
    public static func merging(_ extra: [CPUIDEntry], into base: [CPUIDEntry]) -> [CPUIDEntry] {
        let replaced = Set(extra.map { Key(function: $0.function, index: $0.index) })
        return base.filter { !replaced.contains(Key(function: $0.function, index: $0.index)) } + extra
    }

    private struct Key: Hashable {
        let function: UInt32
        let index: UInt32
    }
}
