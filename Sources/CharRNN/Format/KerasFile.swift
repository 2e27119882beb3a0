#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keras model files, told apart from charrnn's by their first bytes. The library cannot read them (they
/// hold no vocabulary, and their weights are HDF5); what it can do is say what the file is and which
/// command converts it, instead of failing on a safetensors header that is not one.
package enum KerasFile {
    /// The two containers Keras writes.
    package enum Kind: Equatable, Sendable {
        /// HDF5: the legacy `model.save("x.h5")` of Keras 1, 2 and 3 and tf.keras.
        case hdf5
        /// A zip archive: Keras 3's `.keras` (config.json, metadata.json, model.weights.h5).
        case zip

        package var description: String {
            switch self {
            case .hdf5: return "HDF5, a .h5 file"
            case .zip: return "a zip archive, a .keras file"
            }
        }
    }

    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]  // \x89HDF\r\n\x1a\n
    static let zipSignature: [UInt8] = [0x50, 0x4B, 0x03, 0x04]  // PK\x03\x04

    /// What `bytes` (a whole file) are: a zip archive, or HDF5 at its start or after a user block (HDF5
    /// looks for its signature at 0, 512, 1024, 2048, ...); nil for anything else. A safetensors file
    /// cannot be mistaken for either: its first 8 bytes are a header length, and these would be one
    /// of petabytes.
    package static func kind(of bytes: [UInt8]) -> Kind? {
        kind { offset, count in
            offset + count <= bytes.count ? Array(bytes[offset..<offset + count]) : nil
        }
    }

    /// What the file at `path` is, reading only the signatures' places; nil when it is neither or cannot
    /// be read.
    package static func kind(atPath path: String) -> Kind? {
        guard let fd = try? FileIO.openRegularFile(path) else { return nil }
        defer { close(fd) }
        return kind { offset, count in
            var buffer = [UInt8](repeating: 0, count: count)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? buffer : nil
        }
    }

    /// `read(offset, count)` gives `count` bytes at `offset`, or nil past the end.
    private static func kind(read: (Int, Int) -> [UInt8]?) -> Kind? {
        if let head = read(0, zipSignature.count), head == zipSignature { return .zip }
        var offset = 0
        while let candidate = read(offset, hdf5Signature.count) {
            if candidate == hdf5Signature { return .hdf5 }
            offset = offset == 0 ? 512 : offset * 2
            guard offset <= FileIO.maxFileSize else { break }
        }
        return nil
    }

    /// The error for a Keras file given where a charrnn model belongs: what it is and the command that
    /// converts it, with the file's name filled in.
    package static func notACharRNNModel(_ path: String, _ kind: Kind) -> String {
        let output = shellQuoted(suggestedOutput(for: path))
        return "\(path) is a Keras model (\(kind.description)), not a charrnn model; Keras files hold "
            + "no vocabulary, so it must be imported with its characters: "
            + "python -m charrnn.keras import \(shellQuoted(path)) --vocab-from TEXT -o \(output) "
            + "(TEXT: the text it was trained on; or --vocab with its characters in order), "
            + "or: charrnn import \(shellQuoted(path)) --vocab-from TEXT -o \(output)"
    }

    /// Where an imported model goes by default: the Keras file's name with .safetensors for its extension.
    package static func suggestedOutput(for path: String) -> String {
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        var stem = path
        if let dot = path[slash...].lastIndex(of: "."), dot > slash,
            [".h5", ".hdf5", ".hdf", ".keras"].contains(path[dot...].lowercased())
        {
            stem = String(path[..<dot])
        }
        let output = stem + ".safetensors"
        return output == path ? stem + ".charrnn.safetensors" : output
    }

    /// `s` as one word for a POSIX shell: unchanged when that is safe, else in single quotes.
    package static func shellQuoted(_ s: String) -> String {
        let safe =
            !s.isEmpty
            && s.unicodeScalars.allSatisfy { c in
                (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
                    || "/._-+,:=@%".unicodeScalars.contains(c)
            }
        return safe ? s : "'" + s.map { $0 == "'" ? "'\\''" : String($0) }.joined() + "'"
    }
}
