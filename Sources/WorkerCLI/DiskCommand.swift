import ArgumentParser

// Placeholder: replaced by the disk work.
public struct DiskCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "disk", abstract: "Not implemented yet.")
    public init() {}
    public func run() async throws { throw ValidationError("'disk' is not implemented yet") }
}
