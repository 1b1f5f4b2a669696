/// Opening by path, with parent-chain resolution for differencing disks (MS-VHDX §2.6.2.6).
extension VHDXDisk {
    /// Longest parent chain followed before giving up.
    static let maxChainDepth = 64

    /// Opens a VHDX file; a differencing disk's parents are found through the parent locator
    /// (`relative_path`, then `absolute_win32_path`), opened read-only, and checked against
    /// `parent_linkage`.
    /// - Throws: ``VirtualDiskError``: `.parent` for a missing or changed parent or a loop.
    public static func open(path: String, readOnly: Bool) throws -> VHDXDisk {
        var seen: Set<String> = []
        return try open(path: path, readOnly: readOnly, seen: &seen, depth: 0)
    }

    static func open(path: String, readOnly: Bool, seen: inout Set<String>, depth: Int) throws -> VHDXDisk {
        guard depth < maxChainDepth else {
            throw VirtualDiskError(.parent, "parent chain of \(path) is deeper than \(maxChainDepth) disks")
        }
        let file = try PosixFile(path: path, readOnly: readOnly)
        guard !seen.contains(file.identity) else {
            throw VirtualDiskError(.parent, "parent chain loops: \(path) is its own ancestor")
        }
        seen.insert(file.identity)
        // Open without the parent first to learn whether one is needed and where it is.
        let probe = try VHDXDisk(file: file, readOnly: true, parent: nil, path: path, requireParent: false)
        guard probe.hasParent else {
            if readOnly { return probe }
            try probe.close()
            return try VHDXDisk(file: file, readOnly: false, path: path)
        }
        let locator = VHDXParentLocator(entries: probe.parentLocatorEntries)
        try probe.close()
        let parentPath = try resolveParent(locator, childPath: path)
        let parent = try open(path: parentPath, readOnly: true, seen: &seen, depth: depth + 1)
        let linkages = [locator["parent_linkage"], locator["parent_linkage2"]].compactMap { $0 }.map(normalizedGUID)
        guard linkages.contains(normalizedGUID("\(parent.dataWriteGuid)")) else {
            throw VirtualDiskError(
                .parent,
                "parent \(parentPath) has changed since \(path) was created (its DataWriteGuid {\(parent.dataWriteGuid)} is not the recorded parent_linkage \(locator["parent_linkage"] ?? "none")); the differencing disk is no longer valid")
        }
        return try VHDXDisk(file: file, readOnly: readOnly, parent: parent, path: path)
    }

    static func normalizedGUID(_ text: String) -> String {
        String(text.uppercased().filter { $0 != "{" && $0 != "}" })
    }

    /// Finds the parent file: `relative_path` against the child's directory, then
    /// `absolute_win32_path`. Backslashes become slashes; `.\` prefixes are dropped.
    static func resolveParent(_ locator: VHDXParentLocator, childPath: String) throws -> String {
        var candidates: [String] = []
        let base = PathUtilities.directory(of: childPath)
        for key in ["relative_path", "absolute_win32_path", "volume_path"] {
            guard let value = locator[key] else { continue }
            var posix = String(value.map { $0 == "\\" ? "/" : $0 })
            if posix.hasPrefix("//?/") { posix.removeFirst(4) }
            if posix.hasPrefix("./") { posix.removeFirst(2) }
            candidates.append(key == "relative_path" ? PathUtilities.resolve(posix, against: base) : posix)
        }
        guard !candidates.isEmpty else { throw VirtualDiskError.corrupt("parent locator of \(childPath) has no path") }
        for candidate in candidates where (try? PosixFile(path: candidate, readOnly: true)) != nil { return candidate }
        throw VirtualDiskError(.parent, "parent of \(childPath) not found (tried \(candidates.joined(separator: ", "))); restore it next to the child")
    }

    /// Where this differencing disk's parent was found (nil for other disks).
    public var parentPath: String? { (parent as? VHDXDisk)?.path }
}
