/// A message queued for one (VP, SINT) slot, not yet written into the guest's message page.
struct QueuedMessage: Sendable, Equatable {
    var messageType: UInt32
    var payload: [UInt8]
}

/// A first-in first-out queue with amortised O(1) pop (the package has no Deque dependency).
struct MessageFIFO: Sendable {
    private var items: [QueuedMessage] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { head == items.count }
    var first: QueuedMessage? { isEmpty ? nil : items[head] }

    mutating func append(_ message: QueuedMessage) { items.append(message) }

    /// The queued messages, oldest first (saved state).
    var elements: ArraySlice<QueuedMessage> { items[head...] }

    mutating func removeFirst() -> QueuedMessage? {
        guard !isEmpty else { return nil }
        let message = items[head]
        head += 1
        // Compact once the consumed prefix dominates, so memory tracks what is still queued.
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return message
    }
}
