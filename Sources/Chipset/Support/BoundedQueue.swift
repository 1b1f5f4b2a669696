/// A first-in first-out ring of at most `capacity` elements. Pushing onto a full queue fails
/// instead of growing: device buffers model fixed hardware FIFOs, and host input must never
/// allocate without bound.
struct BoundedQueue<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    /// - Parameter capacity: at least 1.
    init(capacity: Int) {
        storage = Array(repeating: nil, count: max(1, capacity))
    }

    var capacity: Int { storage.count }
    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == storage.count }
    var first: Element? { count == 0 ? nil : storage[head] }

    /// Appends `element`; returns false (and drops it) when the queue is full.
    @discardableResult
    mutating func push(_ element: Element) -> Bool {
        guard count < storage.count else { return false }
        storage[(head + count) % storage.count] = element
        count += 1
        return true
    }

    mutating func pop() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    mutating func removeAll() {
        while pop() != nil {}
    }

    /// True when any queued element satisfies `predicate`.
    func contains(where predicate: (Element) -> Bool) -> Bool {
        for i in 0..<count {
            if let element = storage[(head + i) % storage.count], predicate(element) { return true }
        }
        return false
    }
}

extension BoundedQueue {
    /// The queued elements, oldest first (saved state).
    var elements: [Element] {
        (0..<count).compactMap { storage[(head + $0) % storage.count] }
    }
}
