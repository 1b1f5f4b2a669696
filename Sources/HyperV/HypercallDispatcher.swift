import GuestMemory
import Logging

/// A rep hypercall's shape and per-element handler (TLFS §3.7.2). None is offered to guests yet
/// (the CPUID of guest-requirements §2 makes Linux 6.1 issue only HvPostMessage and
/// HvSignalEvent); the machinery is here, and tested, so adding one is a table entry.
struct RepHypercall: Sendable {
    enum Outcome: Sendable, Equatable {
        /// The element succeeded; these bytes (`outputElementSize` of them) go to the output list.
        case completed([UInt8])
        case failed(HvStatus)
    }

    /// Fixed header bytes before the variable header and the rep list.
    var headerSize: Int
    var inputElementSize: Int
    var outputElementSize: Int
    /// Handles element `index` given the header bytes (fixed + variable) and its input element.
    var handle: @Sendable (_ header: [UInt8], _ element: [UInt8], _ index: Int, _ vp: Int) -> Outcome
}

extension HyperVPartition {
    /// Runs the hypercall the guest trapped with (RCX = control, RDX = input GPA or fast input 1,
    /// R8 = output GPA or fast input 2) on `vp`'s thread.
    ///
    /// - Returns: the RAX value (`HypercallResult`: status | reps completed << 32). The VMM
    ///   writes it into RAX and changes no other register.
    public func handleHypercall(rcx: UInt64, rdx: UInt64, r8: UInt64, vp: Int) -> UInt64 {
        dispatch(control: HypercallControl(rawValue: rcx), rdx: rdx, r8: r8, vp: vp).rawValue
    }

    func dispatch(control: HypercallControl, rdx: UInt64, r8: UInt64, vp: Int) -> HypercallResult {
        guard (0..<configuration.vpCount).contains(vp) else { return HypercallResult(status: .invalidVPIndex) }
        // Without an enabled page there is no hypercall interface (hardware would #UD).
        guard isHypercallPageEnabled else { return HypercallResult(status: .accessDenied) }
        guard !control.hasReservedBits else { return HypercallResult(status: .invalidHypercallInput) }
        switch control.code {
        case .postMessage:
            guard isSimple(control) else { return HypercallResult(status: .invalidHypercallInput) }
            // A slow call only (KVM answers a fast one with INVALID_PARAMETER too).
            guard !control.isFast else { return HypercallResult(status: .invalidParameter) }
            return HypercallResult(status: postMessage(inputGPA: rdx, vp: vp))
        case .signalEvent:
            guard isSimple(control) else { return HypercallResult(status: .invalidHypercallInput) }
            let parameter: UInt64
            if control.isFast {
                parameter = rdx
            } else {
                switch readInput(at: rdx, count: 8) {
                case .success(let bytes): parameter = littleEndian(bytes, 0, as: UInt64.self)
                case .failure(let status): return HypercallResult(status: status.status)
                }
            }
            return HypercallResult(status: signalEvent(parameter: parameter, vp: vp))
        default:
            if let rep = repHypercalls[control.code.rawValue] {
                return dispatchRep(rep, control: control, inputGPA: rdx, outputGPA: r8, vp: vp)
            }
            if logOnce.first("hypercall-\(control.code.rawValue)") {
                logger.notice("Hyper-V: guest issued unimplemented \(control.code)")
            }
            return HypercallResult(status: .invalidHypercallCode)
        }
    }

    /// A simple (non-rep) call has no reps and no variable header.
    private func isSimple(_ control: HypercallControl) -> Bool {
        control.repCount == 0 && control.repStart == 0 && control.variableHeaderSize == 0
    }

    // MARK: HvPostMessage (0x005C)

    /// `struct hv_input_post_message { u32 connection_id; u32 reserved; u32 message_type;
    /// u32 payload_size; u64 payload[30]; }` = 256 bytes, copied out of guest RAM once.
    private func postMessage(inputGPA: UInt64, vp: Int) -> HvStatus {
        let input: [UInt8]
        switch readInput(at: inputGPA, count: 256) {
        case .success(let bytes): input = bytes
        case .failure(let error): return error.status
        }
        let connection = littleEndian(input, 0, as: UInt32.self)
        let messageType = littleEndian(input, 8, as: UInt32.self)
        let payloadSize = littleEndian(input, 12, as: UInt32.self)
        guard connection & ~HypercallLimits.connectionIDMask == 0 else { return .invalidHypercallInput }
        guard messageType != HvMessageType.none.rawValue, messageType & HvMessageType.hypervisorBit == 0,
            payloadSize <= UInt32(SynICLayout.maxPayloadSize)
        else { return .invalidParameter }
        let payload = Array(input[16..<16 + Int(payloadSize)])
        return messageHandler.postMessage(
            connectionID: connection, messageType: messageType, payload: payload, vp: UInt32(vp))
    }

    // MARK: HvSignalEvent (0x005D)

    /// `union { u32 connection_id (id:24); u16 flag_number; u16 reserved; }` in RDX (fast) or
    /// at the input GPA (slow).
    private func signalEvent(parameter: UInt64, vp: Int) -> HvStatus {
        // Bits 31:24 (connection id reserved) and 63:48 must be zero, as KVM checks.
        guard parameter & 0xFFFF_0000_FF00_0000 == 0 else { return .invalidHypercallInput }
        let connection = UInt32(truncatingIfNeeded: parameter)
        let flag = UInt16(truncatingIfNeeded: parameter >> 32)
        return messageHandler.signalEvent(connectionID: connection, flagNumber: flag, vp: UInt32(vp))
    }

    // MARK: Rep calls

    private func dispatchRep(
        _ rep: RepHypercall, control: HypercallControl, inputGPA: UInt64, outputGPA: UInt64, vp: Int
    ) -> HypercallResult {
        // Register (fast) rep input needs XMM input, which we do not offer.
        guard !control.isFast, control.repCount > 0, control.repStart < control.repCount else {
            return HypercallResult(status: .invalidHypercallInput)
        }
        let headerSize = rep.headerSize + control.variableHeaderSize
        let inputSize = headerSize + control.repCount * rep.inputElementSize
        let outputSize = control.repCount * rep.outputElementSize
        let input: [UInt8]
        switch readInput(at: inputGPA, count: inputSize) {
        case .success(let bytes): input = bytes
        case .failure(let error): return HypercallResult(status: error.status)
        }
        if outputSize > 0, let status = checkBlock(at: outputGPA, count: outputSize) {
            return HypercallResult(status: status, repsCompleted: control.repStart)
        }
        let header = Array(input[0..<headerSize])
        for index in control.repStart..<control.repCount {
            let start = headerSize + index * rep.inputElementSize
            let element = Array(input[start..<start + rep.inputElementSize])
            switch rep.handle(header, element, index, vp) {
            case .failed(let status):
                return HypercallResult(status: status, repsCompleted: index)
            case .completed(let output):
                guard output.count == rep.outputElementSize else {
                    return HypercallResult(status: .invalidParameter, repsCompleted: index)
                }
                if rep.outputElementSize > 0 {
                    let at = GuestPhysicalAddress(outputGPA + UInt64(index * rep.outputElementSize))
                    guard (try? memory.write(output, at: at)) != nil else {
                        return HypercallResult(status: .accessDenied, repsCompleted: index)
                    }
                }
            }
        }
        return HypercallResult(status: .success, repsCompleted: control.repCount)
    }

    // MARK: Guest parameter blocks

    struct InputError: Error { var status: HvStatus }

    /// Checks a parameter block: 8-byte aligned, within one page (TLFS §3.7: INVALID_ALIGNMENT
    /// otherwise) and in RAM (ACCESS_DENIED: Linux then fails at once instead of retrying).
    private func checkBlock(at gpa: UInt64, count: Int) -> HvStatus? {
        guard gpa % 8 == 0, count <= SynICLayout.pageSize, Int(gpa & 0xFFF) + count <= SynICLayout.pageSize else {
            return .invalidAlignment
        }
        guard memory.isValid(GuestPhysicalAddress(gpa), count: UInt64(count)) else { return .accessDenied }
        return nil
    }

    /// Copies a checked input block out of guest RAM once.
    private func readInput(at gpa: UInt64, count: Int) -> Result<[UInt8], InputError> {
        if let status = checkBlock(at: gpa, count: count) { return .failure(InputError(status: status)) }
        guard let bytes = try? memory.read(at: GuestPhysicalAddress(gpa), count: count) else {
            return .failure(InputError(status: .accessDenied))
        }
        return .success(bytes)
    }
}

/// Field limits of the hypercall inputs.
enum HypercallLimits {
    /// `union hv_connection_id { u32 id:24; u32 reserved:8; }`.
    static let connectionIDMask: UInt32 = 0x00FF_FFFF
}

/// Little-endian integer at `offset` of a copied-out block whose size the caller checked.
func littleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as _: T.Type) -> T {
    var value: T = 0
    for i in 0..<MemoryLayout<T>.size where offset + i < bytes.count {
        value |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i)
    }
    return value
}
