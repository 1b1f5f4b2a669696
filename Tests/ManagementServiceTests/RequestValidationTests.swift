import Configuration
import Foundation
import ManagementService
import Testing

@Suite struct RequestValidationTests {
    func decodeError(_ json: String) -> ServiceError? {
        do {
            _ = try RequestValidation.decode(CreateVMRequest.self, from: Array(json.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test func malformedJSONAndWrongShapes() {
        #expect(decodeError("{") == .invalidRequest("the body is not valid JSON", hint: "send a JSON object with Content-Type: application/json"))
        #expect(decodeError("[1]") == .invalidRequest("the body must be a JSON object"))
        #expect(decodeError(#"{"boot":{"kernel":"/k"}}"#)?.body.message == "missing field name")
        #expect(decodeError(#"{"name":1,"boot":{"kernel":"/k"}}"#)?.body.message.hasPrefix("field name has the wrong type") == true)
        #expect(decodeError(#"{"name":"a","memoryMiB":-5,"boot":{"kernel":"/k"}}"#)?.status == 400)
    }

    @Test func unknownFieldsAreNamed() {
        #expect(decodeError(#"{"name":"a","memry":5,"boot":{"kernel":"/k"}}"#)?.body.message == "unknown field memry")
        #expect(decodeError(#"{"name":"a","boot":{"kernel":"/k","initrd2":"/i"}}"#)?.body.message == "unknown field boot.initrd2")
        #expect(decodeError(#"{"name":"a","notes":null,"boot":{"kernel":"/k"}}"#) == nil, "null for an optional field is fine")
    }

    @Test func pathsMustStayInsideAllowedDirectories() throws {
        let scratch = try ScratchDirectory()
        let allowed = scratch.path + "/images"
        try FileManager.default.createDirectory(atPath: allowed, withIntermediateDirectories: true)
        let kernel = allowed + "/vmlinux"
        try Data("k".utf8).write(to: URL(fileURLWithPath: kernel))
        try FileManager.default.createSymbolicLink(atPath: allowed + "/escape", withDestinationPath: "/etc/passwd")
        func check(_ path: String) -> ServiceError? {
            do {
                try RequestValidation.validate(VMConfiguration(name: "a", boot: BootSource(kernel: path)), allowedDirectories: [allowed])
                return nil
            } catch {
                return error
            }
        }
        #expect(check(kernel) == nil)
        #expect(check("/etc/passwd")?.body.message.contains("outside the directories") == true)
        #expect(check(allowed + "/../../../etc/passwd")?.body.message.contains("outside") == true)
        #expect(check(allowed + "/escape")?.body.message.contains("outside") == true, "a symlink out of the directory")
        #expect(check("relative/vmlinux")?.body.message.contains("not an absolute path") == true)
        #expect(check(allowed + "/missing")?.body.message.contains("not a readable file") == true)
        #expect(check(allowed)?.body.message.contains("not a readable file") == true, "a directory is not a kernel")
    }

    @Test func impossibleSizesAndNames() throws {
        let scratch = try ScratchDirectory()
        let kernel = scratch.path + "/vmlinux"
        try Data("k".utf8).write(to: URL(fileURLWithPath: kernel))
        func check(_ c: VMConfiguration) -> String? {
            do {
                try RequestValidation.validate(c, allowedDirectories: [scratch.path])
                return nil
            } catch {
                return error.body.message
            }
        }
        #expect(check(VMConfiguration(name: "a", memoryMiB: 1, boot: BootSource(kernel: kernel)))?.hasPrefix("memoryMiB") == true)
        #expect(check(VMConfiguration(name: "a", memoryMiB: UInt64.max, boot: BootSource(kernel: kernel)))?.hasPrefix("memoryMiB") == true)
        #expect(check(VMConfiguration(name: "a", cpus: 0, boot: BootSource(kernel: kernel)))?.hasPrefix("cpus") == true)
        #expect(check(VMConfiguration(name: "", boot: BootSource(kernel: kernel)))?.hasPrefix("name") == true)
        #expect(check(VMConfiguration(name: "a/b", boot: BootSource(kernel: kernel)))?.hasPrefix("name") == true)
        #expect(check(VMConfiguration(name: UUID().uuidString, boot: BootSource(kernel: kernel)))?.contains("look like a VM id") == true)
    }
}
