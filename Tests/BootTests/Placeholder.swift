import Testing

@Test func BootBuilds() {}
