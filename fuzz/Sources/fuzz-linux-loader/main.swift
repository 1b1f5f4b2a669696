import FuzzDriver
import Boot
import GuestMemory

/// A kernel image from fuzz input (ELF vmlinux or bzImage with an LZ4/gzip/... payload), loaded
/// into 64 MiB of heap guest RAM. Corrupt images must be refused with an error.
let memory = GuestMemory.heapBacked(size: 64 << 20)

runFuzzer { bytes in
    _ = try? LinuxLoader.load(kernel: .bytes(bytes), cmdline: "console=ttyS0", into: memory)
}
