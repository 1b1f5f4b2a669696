import Testing

@Test func VMBusBuilds() {}
