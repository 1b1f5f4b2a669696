import HVCommands

// `hv`: the commands live in HVCommands (testable); this is only the entry point.
HVCommand.main()
