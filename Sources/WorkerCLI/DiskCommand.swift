import ArgumentParser

// Placeholder: replaced by the disk work.
public struct DiskCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "disk", abstract: "Not implemented yet.")
    public init() {}
    public func run() throws { throw ValidationError("'disk' is not implemented yet") }
}
