import WorkerCLI

await WorkerCommand.main()
