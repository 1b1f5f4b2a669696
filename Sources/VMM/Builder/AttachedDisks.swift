import Configuration
import Synchronization
import SyntheticDevices
import VirtualDisk

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The VM's disk images, opened and locked, one `SCSIDisk` per LUN.
///
/// Each image is locked with `flock(2)` on a descriptor of its own (shared for read-only
/// attachments, exclusive otherwise) for as long as the VM lives, so two workers cannot write
/// the same image; the lock goes with the process.
///
/// ## Concurrency model
/// Immutable after `open`; the disks are `Sendable`.
public struct AttachedDisks: Sendable {
    /// LUN → disk.
    public let disks: [UInt8: SCSIDisk]
    /// LUN → the image's lock.
    let locks: [UInt8: ImageLock]

    /// Opens every disk of `configuration` (relative paths against the working directory).
    /// - Throws: `VMBuildError.step` naming the image that is missing, unreadable, corrupt or
    ///   in use by another VM.
    public static func open(_ configuration: VMConfiguration) throws(VMBuildError) -> AttachedDisks {
        var disks: [UInt8: SCSIDisk] = [:]
        var locks: [UInt8: ImageLock] = [:]
        let luns = configuration.assignedLUNs()
        for (attachment, lun) in zip(configuration.disks, luns) {
            guard let lun else {
                throw .step("attach \(attachment.path)", AttachError("no free LUN is left on the SCSI controller"))
            }
            let (disk, lock) = try openImage(attachment, lun: lun)
            locks[lun] = lock
            disks[lun] = disk
        }
        return AttachedDisks(disks: disks, locks: locks)
    }

    /// Locks and opens one image for `lun` (at start, or hot-added).
    /// - Throws: `VMBuildError.step` naming the image and why.
    static func openImage(_ attachment: DiskAttachment, lun: UInt8) throws(VMBuildError) -> (SCSIDisk, ImageLock) {
        let what = "attach disk \(attachment.path) (LUN \(lun))"
        let lock: ImageLock
        do { lock = try ImageLock(path: attachment.path, exclusive: !attachment.readOnly) } catch { throw .step(what, error) }
        let disk: any VirtualDisk
        do { disk = try VirtualDisks.open(path: attachment.path, readOnly: attachment.readOnly) } catch {
            lock.release()
            throw .step(what, AttachError("\(error)"))
        }
        return (SCSIDisk(disk: disk, path: attachment.path, identity: Self.identity(of: lock.identity, lun: lun)), lock)
    }

    /// Flushes and closes every image and drops the locks (after the guest stopped; a restart
    /// in the same process opens them again).
    public func close() {
        for disk in disks.values { try? disk.disk.close() }
        for lock in locks.values { lock.release() }
    }

    /// 16 bytes naming a disk: FNV-1a of the image's device and inode, and the LUN; stable
    /// while the file exists, so the guest's /dev/disk/by-id names stay put across boots.
    static func identity(of file: String, lun: UInt8) -> [UInt8] {
        var bytes: [UInt8] = []
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for round in 0..<2 {
            for byte in Array(file.utf8) + [lun, UInt8(round)] { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            bytes += (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * $0)) }
        }
        return bytes
    }
}

/// A reason to refuse a disk, as text.
struct AttachError: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// An advisory `flock(2)` on an image, held until `release()` or deinit.
final class ImageLock: Sendable {
    /// The locked descriptor; nil once released.
    private let descriptor: Mutex<Int32?>
    /// "device:inode" of the locked file.
    let identity: String

    init(path: String, exclusive: Bool) throws(AttachError) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AttachError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var rc: Int32
        repeat { rc = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) } while rc != 0 && errno == EINTR
        guard rc == 0 else {
            let error = errno
            Glibc.close(fd)
            if error == EWOULDBLOCK {
                throw AttachError("\(path) is in use by another VM or tool (locked); stop it or attach the disk read-only in both")
            }
            throw AttachError("cannot lock \(path): \(String(cString: strerror(error)))")
        }
        var st = stat()
        identity = fstat(fd, &st) == 0 ? "\(st.st_dev):\(st.st_ino)" : path
        descriptor = Mutex(fd)
    }

    /// Closes the descriptor, dropping the lock; later calls do nothing.
    func release() {
        guard let fd = descriptor.withLock({ fd in defer { fd = nil }; return fd }) else { return }
        Glibc.close(fd)
    }

    deinit { release() }
}
