import Testing

@Test func WorkerCLIBuilds() {}
