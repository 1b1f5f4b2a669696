import Configuration
import Foundation
import GRDB

/// A VM as the inventory stores it.
public struct VMRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var state: VMState
    public var stateReason: String?
    public var createdAt: Date
    public var configuration: VMConfiguration
    public var automaticStartAction: AutomaticStartAction
    public var automaticStopAction: AutomaticStopAction
    public var recoveryAction: RecoveryAction
    public var workerPID: Int32?
    /// The VM's Off or Saved state is the work of the host stop (`POST /v1/host/stop-vms`): it
    /// was running when the host went down, so `StartIfRunning` starts it when `hvd` next
    /// starts. Any state change clears it.
    public var stoppedByHost: Bool

    public init(
        id: String, name: String, state: VMState, stateReason: String?, createdAt: Date, configuration: VMConfiguration,
        automaticStartAction: AutomaticStartAction, automaticStopAction: AutomaticStopAction, recoveryAction: RecoveryAction,
        workerPID: Int32?, stoppedByHost: Bool = false
    ) {
        self.id = id
        self.name = name
        self.state = state
        self.stateReason = stateReason
        self.createdAt = createdAt
        self.configuration = configuration
        self.automaticStartAction = automaticStartAction
        self.automaticStopAction = automaticStopAction
        self.recoveryAction = recoveryAction
        self.workerPID = workerPID
        self.stoppedByHost = stoppedByHost
    }

    public var info: VMInfo {
        VMInfo(
            id: id, name: name, state: state, stateReason: stateReason, createdAt: Timestamps.format(createdAt),
            configuration: configuration, automaticStartAction: automaticStartAction, automaticStopAction: automaticStopAction,
            recoveryAction: recoveryAction, workerPID: workerPID)
    }
}

enum Timestamps {
    static func format(_ date: Date) -> String { date.formatted(.iso8601) }
}

/// The durable inventory: VMs and the event log, in SQLite (`inventory.sqlite` in the state
/// directory). WAL mode and one transaction per change, so killing `hvd` at any moment leaves
/// either the old or the new row, never half of one. The schema is built by numbered migrations.
///
/// ## Concurrency model
/// GRDB's `DatabasePool` serializes writers and lets readers run in parallel; every method is
/// synchronous and safe from any thread.
public final class Inventory: Sendable {
    private let pool: DatabasePool
    public let path: String

    /// Opens (creating and migrating) the inventory at `path`.
    public init(path: String) throws {
        self.path = path
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// The schema, one migration per change; never edit a shipped migration, add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: vm and event") { db in
            try db.create(table: "vm") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique(onConflict: .abort).collate(.nocase)
                t.column("state", .text).notNull()
                t.column("stateReason", .text)
                t.column("createdAt", .double).notNull()
                t.column("configuration", .text).notNull()
                t.column("automaticStartAction", .text).notNull()
                t.column("automaticStopAction", .text).notNull()
                t.column("recoveryAction", .text).notNull()
                t.column("workerPID", .integer)
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .double).notNull()
                t.column("vmID", .text).indexed()
                t.column("vmName", .text)
                t.column("kind", .text).notNull()
                t.column("state", .text)
                t.column("message", .text).notNull()
            }
        }
        migrator.registerMigration("v2: vm.stoppedByHost") { db in
            try db.alter(table: "vm") { t in t.add(column: "stoppedByHost", .boolean).notNull().defaults(to: false) }
        }
        return migrator
    }

    /// The names of the migrations applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        let migrator = Self.migrator
        return try pool.read { db -> [String] in try migrator.appliedMigrations(db) }
    }

    private static func record(_ row: Row) throws -> VMRecord {
        let json: String = row["configuration"]
        let configuration = try JSONDecoder().decode(VMConfiguration.self, from: Data(json.utf8))
        let pid: Int64? = row["workerPID"]
        let id: String = row["id"]
        let name: String = row["name"]
        let state: String = row["state"]
        let reason: String? = row["stateReason"]
        let created: Double = row["createdAt"]
        let start: String = row["automaticStartAction"]
        let stop: String = row["automaticStopAction"]
        let recovery: String = row["recoveryAction"]
        let stoppedByHost: Bool = row["stoppedByHost"]
        return VMRecord(
            id: id, name: name, state: VMState(rawValue: state), stateReason: reason,
            createdAt: Date(timeIntervalSince1970: created), configuration: configuration,
            automaticStartAction: AutomaticStartAction(rawValue: start) ?? .nothing,
            automaticStopAction: AutomaticStopAction(rawValue: stop) ?? .shutDown,
            recoveryAction: RecoveryAction(rawValue: recovery) ?? .none,
            workerPID: pid.flatMap { Int32(exactly: $0) }, stoppedByHost: stoppedByHost)
    }

    private static func arguments(_ vm: VMRecord) throws -> StatementArguments {
        let json = String(decoding: try JSONEncoder().encode(vm.configuration), as: UTF8.self)
        return [
            vm.id, vm.name, vm.state.rawValue, vm.stateReason, vm.createdAt.timeIntervalSince1970, json,
            vm.automaticStartAction.rawValue, vm.automaticStopAction.rawValue, vm.recoveryAction.rawValue,
            vm.workerPID.map { Int64($0) },
        ]
    }

    public func allVMs() throws -> [VMRecord] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM vm ORDER BY createdAt, name").map(Self.record) }
    }

    public func vm(id: String) throws -> VMRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM vm WHERE id = ?", arguments: [id]).map(Self.record) }
    }

    /// A VM by id, or else by name (case-insensitive).
    public func vm(idOrName: String) throws -> VMRecord? {
        try pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM vm WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
                arguments: [idOrName, idOrName, idOrName]
            ).map(Self.record)
        }
    }

    /// An event to append with a row change: its kind ("created", "deviceAdded", ...) and message.
    public typealias EventNote = (kind: String, message: String)

    /// Inserts a new VM and its "created" event in one transaction.
    /// - Throws: `InventoryError.duplicateName` when the name is taken.
    public func insert(_ vm: VMRecord, event: String) throws -> VMEvent {
        let events = try insert(vm, events: [("created", event)])
        guard let first = events.first else { throw InventoryError.noEvent }
        return first
    }

    /// Inserts a new VM and its events (the "created" one first, then one per device), in one
    /// transaction.
    /// - Throws: `InventoryError.duplicateName` when the name is taken.
    public func insert(_ vm: VMRecord, events: [EventNote]) throws -> [VMEvent] {
        do {
            return try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO vm (id, name, state, stateReason, createdAt, configuration, automaticStartAction,
                        automaticStopAction, recoveryAction, workerPID) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: try Self.arguments(vm))
                return try events.map { note in try Self.appendEvent(db, vm: vm, kind: note.kind, message: note.message) }
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw InventoryError.duplicateName(vm.name)
        }
    }

    /// Replaces a VM's row (same id) and appends an event, in one transaction.
    public func update(_ vm: VMRecord, kind: String, event: String) throws -> VMEvent {
        let events = try update(vm, events: [(kind, event)])
        guard let first = events.first else { throw InventoryError.noEvent }
        return first
    }

    /// Replaces a VM's row (same id) and appends its events, in one transaction.
    public func update(_ vm: VMRecord, events: [EventNote]) throws -> [VMEvent] {
        do {
            return try pool.write { db in
                var arguments = try Self.arguments(vm)
                arguments += [vm.id]
                try db.execute(
                    sql: """
                        UPDATE vm SET id = ?, name = ?, state = ?, stateReason = ?, createdAt = ?, configuration = ?,
                        automaticStartAction = ?, automaticStopAction = ?, recoveryAction = ?, workerPID = ? WHERE id = ?
                        """, arguments: arguments)
                return try events.map { note in try Self.appendEvent(db, vm: vm, kind: note.kind, message: note.message) }
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw InventoryError.duplicateName(vm.name)
        }
    }

    /// Moves a VM to `state` only if it is in one of `from` (nil: any state); returns the new
    /// record and its event, or nil when the VM was not in an expected state (or is gone).
    /// Clears `stoppedByHost`: the state is no longer the host stop's.
    public func transition(
        id: String, from: Set<VMState>?, to state: VMState, reason: String?, workerPID: Int32??, message: String
    ) throws -> (VMRecord, VMEvent)? {
        try pool.write { db in
            guard var vm = try Row.fetchOne(db, sql: "SELECT * FROM vm WHERE id = ?", arguments: [id]).map(Self.record) else {
                return nil
            }
            if let from, !from.contains(vm.state) { return nil }
            vm.state = state
            vm.stateReason = reason
            vm.stoppedByHost = false
            if let workerPID { vm.workerPID = workerPID }
            try db.execute(
                sql: "UPDATE vm SET state = ?, stateReason = ?, workerPID = ?, stoppedByHost = 0 WHERE id = ?",
                arguments: [state.rawValue, reason, vm.workerPID.map { Int64($0) }, id])
            let event = try Self.appendEvent(db, vm: vm, kind: "state", message: message)
            return (vm, event)
        }
    }

    /// Sets or clears `stoppedByHost` and logs `message` (kind "hostStop"), in one transaction.
    /// Setting it needs the VM to be Off or Saved; returns nil when it is not (or is gone).
    public func markStoppedByHost(id: String, _ stopped: Bool, message: String) throws -> (VMRecord, VMEvent)? {
        try pool.write { db in
            guard var vm = try Row.fetchOne(db, sql: "SELECT * FROM vm WHERE id = ?", arguments: [id]).map(Self.record) else {
                return nil
            }
            if stopped && vm.state != .off && vm.state != .saved { return nil }
            vm.stoppedByHost = stopped
            try db.execute(sql: "UPDATE vm SET stoppedByHost = ? WHERE id = ?", arguments: [stopped, id])
            return (vm, try Self.appendEvent(db, vm: vm, kind: "hostStop", message: message))
        }
    }

    /// Deletes a VM and logs it, in one transaction.
    public func delete(_ vm: VMRecord) throws -> VMEvent {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM vm WHERE id = ?", arguments: [vm.id])
            return try Self.appendEvent(db, vm: vm, kind: "deleted", message: "deleted \(vm.name)")
        }
    }

    /// Appends an event not tied to a row change.
    public func log(vm: VMRecord?, kind: String, message: String) throws -> VMEvent {
        try pool.write { db in try Self.appendEvent(db, vm: vm, kind: kind, message: message) }
    }

    private static func appendEvent(_ db: Database, vm: VMRecord?, kind: String, message: String) throws -> VMEvent {
        let now = Date()
        try db.execute(
            sql: "INSERT INTO event (time, vmID, vmName, kind, state, message) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [now.timeIntervalSince1970, vm?.id, vm?.name, kind, vm?.state.rawValue, message])
        return VMEvent(
            id: db.lastInsertedRowID, time: Timestamps.format(now), vmID: vm?.id, vmName: vm?.name, kind: kind, state: vm?.state,
            message: message)
    }

    /// Events after `afterID`, oldest first, optionally for one VM, at most `limit`.
    public func events(vmID: String? = nil, afterID: Int64 = 0, limit: Int = 1000) throws -> [VMEvent] {
        try pool.read { db in
            let rows: [Row]
            if let vmID {
                rows = try Row.fetchAll(
                    db, sql: "SELECT * FROM event WHERE vmID = ? AND id > ? ORDER BY id DESC LIMIT ?", arguments: [vmID, afterID, limit])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM event WHERE id > ? ORDER BY id DESC LIMIT ?", arguments: [afterID, limit])
            }
            return rows.reversed().map { row -> VMEvent in
                let state: String? = row["state"]
                let id: Int64 = row["id"]
                let time: Double = row["time"]
                let vmID: String? = row["vmID"]
                let vmName: String? = row["vmName"]
                let kind: String = row["kind"]
                let message: String = row["message"]
                return VMEvent(
                    id: id, time: Timestamps.format(Date(timeIntervalSince1970: time)), vmID: vmID, vmName: vmName, kind: kind,
                    state: state.map { VMState(rawValue: $0) }, message: message)
            }
        }
    }

    /// SQLite's own consistency check ("ok" when the file is sound).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }
}

/// Inventory failures the API maps to 4xx.
public enum InventoryError: Error, Equatable, CustomStringConvertible {
    case duplicateName(String)
    /// A change was asked to log no event (a programming error; the change is rolled back).
    case noEvent
    public var description: String {
        switch self {
        case .duplicateName(let name): "a VM named \"\(name)\" already exists"
        case .noEvent: "a change without an event"
        }
    }
}
