import Configuration
import ManagementService
import Testing

@Suite struct VMStateMachineTests {
    @Test func saveAndDiscardSavedState() throws {
        try VMStateMachine.check(.save, vm: "v", state: .running)
        try VMStateMachine.check(.save, vm: "v", state: .paused)
        #expect(throws: ServiceError.self) { try VMStateMachine.check(.save, vm: "v", state: .off) }
        #expect(throws: ServiceError.self) { try VMStateMachine.check(.save, vm: "v", state: .saved) }
        try VMStateMachine.check(.discardSavedState, vm: "v", state: .saved)
        #expect(throws: ServiceError.self) { try VMStateMachine.check(.discardSavedState, vm: "v", state: .off) }
        try VMStateMachine.check(.turnOff, vm: "v", state: .saved)
        #expect(VMStateMachine.transientState(for: .save) == .saving)
        do {
            try VMStateMachine.check(.update, vm: "v", state: .saved)
            Issue.record("an update of a Saved VM was allowed")
        } catch {
            #expect((error.body.hint ?? "").contains("discard"), "\(error.body)")
        }
    }

    @Test func startOnlyFromOffOrSaved() throws {
        try VMStateMachine.check(.start, vm: "a", state: .off)
        try VMStateMachine.check(.start, vm: "a", state: .saved)
        for state in [VMState.running, .starting, .stopping, .paused, .saving, .resetting] {
            #expect(throws: ServiceError.self) { try VMStateMachine.check(.start, vm: "a", state: state) }
        }
    }

    @Test func refusalNamesStateNeedAndHint() {
        do {
            try VMStateMachine.check(.delete, vm: "web", state: .running)
            Issue.record("delete of a running VM was allowed")
        } catch {
            #expect(error.status == 409)
            #expect(error.body.error == "invalid_state")
            #expect(error.body.message == "cannot delete web: it is Running (delete needs Off or Saved)")
            #expect(error.body.hint?.contains("hv vm stop") == true)
        }
    }

    @Test func turnOffInterruptsEveryActiveState() throws {
        for state in [VMState.running, .starting, .stopping, .paused, .resetting] {
            try VMStateMachine.check(.turnOff, vm: "a", state: state)
        }
        #expect(throws: ServiceError.self) { try VMStateMachine.check(.turnOff, vm: "a", state: .off) }
    }

    @Test func pauseAndResumeAlternate() throws {
        try VMStateMachine.check(.pause, vm: "a", state: .running)
        try VMStateMachine.check(.resume, vm: "a", state: .paused)
        for state in VMState.all where state != .running {
            #expect(throws: ServiceError.self) { try VMStateMachine.check(.pause, vm: "a", state: state) }
        }
        for state in VMState.all where state != .paused {
            #expect(throws: ServiceError.self) { try VMStateMachine.check(.resume, vm: "a", state: state) }
        }
        // Stop of a paused VM reaches VMService, which turns it off only with force.
        try VMStateMachine.check(.stop, vm: "a", state: .paused)
        #expect(throws: ServiceError.self) { try VMStateMachine.check(.restart, vm: "a", state: .paused) }
        #expect(throws: ServiceError.self) { try VMStateMachine.check(.start, vm: "a", state: .paused) }
    }

    @Test func everyOperationHasAtLeastOneSourceState() {
        for operation in VMOperation.allCases {
            #expect(!VMStateMachine.allowedStates(for: operation).isEmpty, "\(operation)")
        }
        #expect(VMStateMachine.transientState(for: .start) == .starting)
        #expect(VMStateMachine.transientState(for: .stop) == .stopping)
        #expect(VMStateMachine.transientState(for: .restart) == .resetting)
    }
}
