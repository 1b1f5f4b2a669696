import Configuration
import ManagementService
import Testing

@Suite struct VMStateMachineTests {
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

    @Test func everyOperationHasAtLeastOneSourceState() {
        for operation in VMOperation.allCases {
            #expect(!VMStateMachine.allowedStates(for: operation).isEmpty, "\(operation)")
        }
        #expect(VMStateMachine.transientState(for: .start) == .starting)
        #expect(VMStateMachine.transientState(for: .stop) == .stopping)
        #expect(VMStateMachine.transientState(for: .restart) == .resetting)
    }
}
