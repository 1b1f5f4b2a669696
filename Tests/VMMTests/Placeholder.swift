import Testing

@Test func VMMBuilds() {}
