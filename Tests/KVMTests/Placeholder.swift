import Testing

@Test func KVMBuilds() {}
