/// The VMBus host's bookkeeping for a saved VM (G14: not the runtime types). The rings, the
/// GPADL'd buffers and the SynIC pages are guest RAM and are saved with it; this is what the
/// host knows about them.
///
/// Not saved: the INITIATE_CONTACT interrupt and monitor pages (the host never uses them: offers
/// carry no monitor id) and the devices' queues (drained before capture).
public struct VMBusHostSavedState: Codable, Sendable, Equatable {
    public struct ConnectionState: Codable, Sendable, Equatable {
        /// The negotiated `VMBusVersion` raw value.
        public var version: UInt32
        public var targetVP: UInt32
        public var sint: UInt8
    }

    public struct RangeState: Codable, Sendable, Equatable {
        public var byteCount: UInt32
        public var byteOffset: UInt32
        public var pfns: [UInt64]
    }

    public struct GPADLState: Codable, Sendable, Equatable {
        public var handle: UInt32
        public var relID: UInt32
        public var ranges: [RangeState]
    }

    /// A GPADL whose GPADL_BODY messages had not all arrived.
    public struct PendingGPADLState: Codable, Sendable, Equatable {
        public var handle: UInt32
        public var relID: UInt32
        public var rangeCount: Int
        public var bufferLength: Int
        public var bytes: [UInt8]
    }

    public enum Phase: String, Codable, Sendable, Equatable {
        case offered, open, rescinded
    }

    /// An open channel's ring: where it is and the host's private indices.
    public struct RingState: Codable, Sendable, Equatable {
        public var gpadl: UInt32
        /// OPENCHANNEL's `downstream_ringbuffer_pageoffset`: the first host → guest page.
        public var downstreamPageOffset: Int
        public var targetVP: UInt32
        /// The host's read index in the guest → host ring.
        public var readIndex: UInt32
        /// The host's write index in the host → guest ring.
        public var writeIndex: UInt32
        /// A send found the ring full: the guest's signal after reading must reach the device.
        public var waitingForSpace: Bool
        /// The host closed the endpoint on a corrupt ring; the guest has not closed it yet.
        public var faulted: Bool
    }

    public struct ChannelState: Codable, Sendable, Equatable {
        public var relID: UInt32
        /// The offer's class and instance GUIDs (wire bytes): checked against the device
        /// registered at this relid on restore.
        public var classID: [UInt8]
        public var instanceID: [UInt8]
        public var offeredToGuest: Bool
        public var phase: Phase
        /// Set when `phase` is open.
        public var ring: RingState?
    }

    public var connection: ConnectionState?
    public var offersRequested: Bool
    public var lastTargetVP: UInt32
    public var lastSINT: UInt8
    public var channels: [ChannelState]
    public var gpadls: [GPADLState]
    public var pendingGPADLs: [PendingGPADLState]
}
