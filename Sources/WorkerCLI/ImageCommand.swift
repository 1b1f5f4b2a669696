import ArgumentParser

// Placeholder: replaced by the image work.
public struct ImageCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "image", abstract: "Not implemented yet.")
    public init() {}
    public func run() throws { throw ValidationError("'image' is not implemented yet") }
}
