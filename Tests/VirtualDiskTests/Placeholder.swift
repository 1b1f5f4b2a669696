import Testing

@Test func VirtualDiskBuilds() {}
