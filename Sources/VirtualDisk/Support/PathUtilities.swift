#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Minimal POSIX path helpers (no Foundation in this target).
enum PathUtilities {
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        // SAFETY: getcwd writes at most buffer.count bytes including the NUL.
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Absolute, normalised (no `.`, `..` or empty components) form of `path`.
    static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
        var parts: [Substring] = []
        for part in full.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Path of `target` relative to directory `base`.
    static func relativePath(from base: String, to target: String) -> String {
        let from = absolute(base).split(separator: "/")
        let to = absolute(target).split(separator: "/")
        var common = 0
        while common < from.count, common < to.count - 1, from[common] == to[common] { common += 1 }
        let ups = [String](repeating: "..", count: from.count - common)
        let rest = to[common...].map(String.init)
        return (ups + rest).joined(separator: "/")
    }

    /// Resolves `path` (possibly relative) against directory `base`.
    static func resolve(_ path: String, against base: String) -> String {
        path.hasPrefix("/") ? absolute(path) : absolute(base + "/" + path)
    }
}
