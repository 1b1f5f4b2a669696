import Testing

@Test func HyperVBuilds() {}
