import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Runs libFuzzer (`LLVMFuzzerRunDriver`, from libclang_rt.fuzzer_no_main) with this process's
/// arguments and `body` as the fuzz target. Inputs are copied into an array first.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

nonisolated(unsafe) private var target: (([UInt8]) -> Void)?

public func runFuzzer(_ body: @escaping ([UInt8]) -> Void) -> Never {
    // Rejected hostile input is logged by design; at fuzzing speed that is only noise.
    LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
    target = body
    var argc = CommandLine.argc
    var argv = Optional(CommandLine.unsafeArgv)
    let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        target?(bytes)
        return 0
    }
    exit(status)
}

