import Testing

@Test func ChipsetBuilds() {}
