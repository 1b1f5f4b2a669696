import ArgumentParser
import Configuration
import Foundation
import HVClient
import Testing

@testable import HVCommands

@Suite struct CommandTreeTests {
    /// Every command in the tree, with its path.
    static func allCommands(_ command: any ParsableCommand.Type, path: [String]) -> [(path: [String], type: any ParsableCommand.Type)] {
        var result: [(path: [String], type: any ParsableCommand.Type)] = [(path, command)]
        for sub in command.configuration.subcommands {
            result += allCommands(sub, path: path + [sub.configuration.commandName ?? "?"])
        }
        return result
    }

    /// Every command renders its help and says what it does (apple/container HelpCommandTests).
    @Test func everyCommandHasHelp() throws {
        let commands = Self.allCommands(HVCommand.self, path: ["hv"])
        #expect(commands.count >= 12)
        for entry in commands {
            #expect(!entry.type.configuration.abstract.isEmpty, "\(entry.path) has no abstract")
            let help = HVCommand.helpMessage(for: entry.type)
            #expect(help.contains("USAGE"), "\(entry.path)")
        }
        let vm = VMGroup.configuration.subcommands.compactMap { $0.configuration.commandName }
        for name in ["create", "list", "show", "start", "stop", "pause", "resume", "restart", "delete", "console", "events"] {
            #expect(vm.contains(name), "hv vm \(name) is missing")
        }
    }

    @Test func crossFlagChecks() throws {
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "stop", "--force", "--turn-off", "a"]) }
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "stop", "--turn-off", "--timeout", "5", "a"]) }
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "stop", "--timeout", "99999", "a"]) }
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "create", "a"]) }  // --kernel missing
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "set", "a"]) }  // nothing to change
        let stop = try #require(try HVCommand.parseAsRoot(["vm", "stop", "--force", "--timeout", "5", "a", "b"]) as? VMStop)
        #expect(stop.force && stop.timeout == 5 && stop.targets.vms == ["a", "b"])
    }

    @Test func relativeKernelPathsBecomeAbsolute() {
        #expect(VMCreate.absolute("/k") == "/k")
        #expect(VMCreate.absolute("k").hasPrefix("/"))
    }
}

@Suite struct OutputTests {
    @Test func tableAlignsColumns() {
        var table = Table(["NAME", "STATE"])
        table.rows = [["web", "Running"], ["database", "Off"]]
        #expect(table.render() == "NAME      STATE\nweb       Running\ndatabase  Off")
    }

    @Test func exitCodesFollowTheError() {
        #expect(HVClientError.api(status: 404, .init(error: "not_found", message: "")).exitCode == 3)
        #expect(HVClientError.api(status: 409, .init(error: "invalid_state", message: "")).exitCode == 4)
        #expect(HVClientError.api(status: 504, .init(error: "timeout", message: "")).exitCode == 6)
        #expect(HVClientError.api(status: 400, .init(error: "invalid_request", message: "")).exitCode == 1)
        #expect(HVClientError.unreachable("/x", "no").exitCode == 5)
        #expect(HVClientError.unreachable("/x", "no").description.contains("hint: start it with `hvd`"))
    }
}

@Suite struct ClientAgainstStubTests {
    static let vmJSON = """
        {"id":"11111111-2222-3333-4444-555555555555","name":"web","state":"Running","createdAt":"2026-01-01T00:00:00Z",
        "configuration":{"version":1,"name":"web","memoryMiB":256,"cpus":2,"boot":{"kernel":"/k","cmdline":"console=ttyS0"},
        "integrationServices":{"heartbeat":true,"shutdown":true,"timeSync":true,"keyValueExchange":true},"hyperV":true,
        "hostProfile":"automatic"},"automaticStartAction":"Nothing","automaticStopAction":"ShutDown","recoveryAction":"None",
        "workerPID":42}
        """

    @Test func decodesAnswersAndErrors() throws {
        let stub = try StubServer(routes: [
            "GET /v1/vms": (200, "[\(Self.vmJSON)]"),
            "GET /v1/vms/web": (200, Self.vmJSON),
            "POST /v1/vms/web/start": (409, #"{"error":"invalid_state","message":"cannot start web: it is Running","hint":"it is already running"}"#),
        ])
        let client = HVClient(socketPath: stub.path)
        let vms = try client.listVMs()
        #expect(vms.map(\.name) == ["web"])
        #expect(vms.first?.configuration.memoryMiB == 256)
        #expect(try client.vm("web").workerPID == 42)
        do {
            _ = try client.start("web")
            Issue.record("a 409 was not an error")
        } catch {
            #expect(error.exitCode == 4)
            #expect(error.description == "cannot start web: it is Running\nhint: it is already running")
        }
        #expect(throws: HVClientError.self) { _ = try client.vm("other") }
    }

    @Test func commandsMapErrorsToExitCodes() throws {
        let stub = try StubServer(routes: ["GET /v1/vms/web": (200, Self.vmJSON)])
        var show = try #require(try HVCommand.parseAsRoot(["vm", "show", "--socket", stub.path, "web"]) as? VMShow)
        try show.run()
        show = try #require(try HVCommand.parseAsRoot(["vm", "show", "--socket", stub.path, "missing"]) as? VMShow)
        #expect(throws: ExitCode(3)) { try show.run() }
        let list = try #require(try HVCommand.parseAsRoot(["vm", "list", "--socket", "/tmp/no-hvd-here.sock"]) as? VMList)
        #expect(throws: ExitCode(5)) { try list.run() }
    }

    @Test func pauseAndResumePostTheirActions() throws {
        let paused = Self.vmJSON.replacingOccurrences(of: #""state":"Running""#, with: #""state":"Paused""#)
        let stub = try StubServer(routes: [
            "POST /v1/vms/web/pause": (200, paused),
            "POST /v1/vms/web/resume": (200, Self.vmJSON),
            "POST /v1/vms/old/pause": (501, #"{"error":"not_supported","message":"its worker predates pause and resume"}"#),
        ])
        let client = HVClient(socketPath: stub.path)
        #expect(try client.pause("web").state == .paused)
        #expect(try client.resume("web").state == .running)
        let pause = try #require(try HVCommand.parseAsRoot(["vm", "pause", "--socket", stub.path, "web"]) as? VMPause)
        try pause.run()
        let resume = try #require(try HVCommand.parseAsRoot(["vm", "resume", "--socket", stub.path, "web"]) as? VMResume)
        try resume.run()
        let old = try #require(try HVCommand.parseAsRoot(["vm", "pause", "--socket", stub.path, "old"]) as? VMPause)
        #expect(throws: ExitCode(1)) { try old.run() }
    }

    @Test func hostStopVMsPrintsEachOutcome() throws {
        let outcomes = """
            {"vms":[{"id":"1","name":"db","automaticStopAction":"Save","actionApplied":"ShutDown","state":"Off",
            "reason":"could not be saved (hot-plug); shut down by the guest"},
            {"id":"2","name":"web","automaticStopAction":"Save","actionApplied":"Save","state":"Saved","reason":"saved"}]}
            """
        let stub = try StubServer(routes: ["POST /v1/host/stop-vms": (200, outcomes)])
        let response = try HVClient(socketPath: stub.path).stopVMs(StopVMsRequest(timeoutSeconds: 5))
        #expect(response.vms.map(\.actionApplied) == [.shutDown, .save])
        #expect(
            HostStopVMs.table(response.vms).render() == """
                NAME  STOP ACTION  APPLIED   STATE  REASON
                db    Save         ShutDown  Off    could not be saved (hot-plug); shut down by the guest
                web   Save         Save      Saved  saved
                """)
        let command = try #require(try HVCommand.parseAsRoot(["host", "stop-vms", "--socket", stub.path, "--timeout", "5"]) as? HostStopVMs)
        try command.run()
        let running = #"{"vms":[{"id":"1","name":"db","automaticStopAction":"TurnOff","actionApplied":"TurnOff","state":"Running","reason":"could not be turned off: x"}]}"#
        let failing = try StubServer(routes: ["POST /v1/host/stop-vms": (200, running)])
        let stuck = try #require(try HVCommand.parseAsRoot(["host", "stop-vms", "--socket", failing.path]) as? HostStopVMs)
        #expect(throws: ExitCode(1)) { try stuck.run() }
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["host", "stop-vms", "--timeout", "-1"]) }
        // `hv host` alone still shows the host.
        #expect(try HVCommand.parseAsRoot(["host"]) is HostShow)
        #expect(try HVCommand.parseAsRoot(["host", "--json"]) is HostShow)
        let set = try #require(try HVCommand.parseAsRoot(["vm", "set", "a", "--stop-action", "Save", "--start-action", "StartIfRunning"]) as? VMSet)
        #expect(set.stopAction == "Save" && set.startAction == "StartIfRunning")
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "set", "a", "--stop-action", "Hibernate"]) }
        let create = try #require(try HVCommand.parseAsRoot(["vm", "create", "a", "--kernel", "/k", "--stop-action", "TurnOff"]) as? VMCreate)
        #expect(try create.request().automaticStopAction == .turnOff)
    }

    @Test func namesArePercentEncodedAsOnePathSegment() {
        #expect(HVClient.segment("my vm") == "my%20vm")
        #expect(HVClient.segment("a?b#c%d") == "a%3Fb%23c%25d")
    }
}

@Suite struct ConsoleDetachTests {
    @Test func escapeSequences() {
        var escape = ConsoleDetach()
        #expect(escape.feed(Array("ls\r".utf8)) == (Array("ls\r".utf8), false))
        #expect(escape.feed([0x1D, 0x1D]) == ([0x1D], false), "Ctrl-] Ctrl-] sends one Ctrl-]")
        #expect(escape.feed([0x1D, UInt8(ascii: "x")]) == ([0x1D, UInt8(ascii: "x")], false))
        #expect(escape.feed([UInt8(ascii: "a"), 0x1D]) == ([UInt8(ascii: "a")], false), "armed across reads")
        #expect(escape.feed([UInt8(ascii: "q"), UInt8(ascii: "z")]) == ([], true), "Ctrl-] q detaches, the rest is dropped")
    }
}
