import ArgumentParser

// Placeholder: replaced by the image work.
public struct ImageCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "image", abstract: "Not implemented yet.")
    public init() {}
    public func run() async throws { throw ValidationError("'image' is not implemented yet") }
}
