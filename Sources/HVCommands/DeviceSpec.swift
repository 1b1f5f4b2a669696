import ArgumentParser
import Configuration
import Foundation

/// The compact device forms `hv vm create` takes, as `hv-worker run` does:
/// `--disk PATH[,ro][,lun=N]` and `--nic tap=NAME[,mac=M]`.
enum DeviceSpec {
    /// Parses `PATH[,ro][,lun=N]`. Options are read from the right, so a path that itself
    /// contains a comma still works when it does not end in something that looks like an option.
    /// A relative path is made absolute against the current directory.
    static func disk(_ text: String) throws(ValidationError) -> DiskAttachment {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var readOnly = false
        var lun: UInt8?
        while parts.count > 1, let last = parts.last {
            if last == "ro" || last == "readonly" {
                readOnly = true
            } else if last.hasPrefix("lun=") {
                guard let value = UInt8(last.dropFirst(4)), value <= DiskAttachment.maximumLUN else {
                    throw ValidationError("--disk \(text): lun must be a number within 0...\(DiskAttachment.maximumLUN)")
                }
                lun = value
            } else {
                break
            }
            parts.removeLast()
        }
        let path = parts.joined(separator: ",")
        guard !path.isEmpty else { throw ValidationError("--disk \(text): give the image path first, like --disk disk.vhdx,ro,lun=1") }
        return DiskAttachment(path: VMCreate.absolute(path), lun: lun, readOnly: readOnly)
    }

    /// Parses `tap=NAME[,mac=M]` (a bare `NAME` is the TAP too).
    static func nic(_ text: String) throws(ValidationError) -> NetworkAdapterConfiguration {
        var tap: String?
        var mac: String?
        for (index, part) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            if part.hasPrefix("tap=") {
                tap = String(part.dropFirst(4))
            } else if part.hasPrefix("mac=") {
                mac = String(part.dropFirst(4))
            } else if index == 0 && !part.contains("=") {
                tap = String(part)
            } else {
                throw ValidationError("--nic \(text): unknown part \"\(part)\" (use tap=NAME[,mac=xx:xx:xx:xx:xx:xx])")
            }
        }
        guard let tap, !tap.isEmpty else { throw ValidationError("--nic \(text): a TAP name is required, like --nic tap=tap0") }
        if let mac, MACAddress(mac) == nil {
            throw ValidationError("--nic \(text): \"\(mac)\" is not a MAC address like 00:15:5d:01:02:03")
        }
        return NetworkAdapterConfiguration(tap: tap, macAddress: mac)
    }
}
