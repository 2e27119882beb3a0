@testable import CharRNN
import XCTest

/// Keras files given where a charrnn model belongs: told by their first bytes, named with the command
/// that converts them (issue 19).
final class KerasFileTests: XCTestCase {
    static let hdf5: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    func testKindsByContent() {
        XCTAssertEqual(KerasFile.kind(of: [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 30)), .zip)
        XCTAssertEqual(KerasFile.kind(of: Self.hdf5 + [UInt8](repeating: 0, count: 100)), .hdf5)
        // HDF5 after a user block: 512, 1024, 2048, ... bytes in
        for block in [512, 1024, 4096] {
            XCTAssertEqual(KerasFile.kind(of: [UInt8](repeating: 7, count: block) + Self.hdf5), .hdf5, "\(block)")
        }
        XCTAssertNil(KerasFile.kind(of: [UInt8](repeating: 7, count: 700) + Self.hdf5))  // not a user-block size
        XCTAssertNil(KerasFile.kind(of: []))
        XCTAssertNil(KerasFile.kind(of: Array(Self.hdf5.prefix(5))))
        // a charrnn model: its first 8 bytes are a header length
        XCTAssertNil(KerasFile.kind(of: ModelFile.encode(Fixtures.model(Fixtures.config(.gru)))))
    }

    func testLoadNamesTheFileAndTheCommand() throws {
        let folder = NSTemporaryDirectory() + "charrnn-keras-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (name, bytes, kind) in [
            ("model.h5", Self.hdf5 + [UInt8](repeating: 0, count: 64), "HDF5"),
            ("my model.keras", [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 64), "zip archive")
        ] {
            let path = folder + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            XCTAssertThrowsError(try Model.load(path)) { error in
                guard case CharRNNError.format(let message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains("\(path) is a Keras model ("), message)
                XCTAssertTrue(message.contains(kind), message)
                let out = KerasFile.shellQuoted(String(path.dropLast(name.hasSuffix(".h5") ? 3 : 6)) + ".safetensors")
                XCTAssertTrue(
                    message.contains(
                        "python -m charrnn.keras import \(KerasFile.shellQuoted(path)) --vocab-from TEXT -o \(out)"),
                    message)
            }
        }
    }

    func testSuggestedOutputAndQuoting() {
        XCTAssertEqual(KerasFile.suggestedOutput(for: "a/b.h5"), "a/b.safetensors")
        XCTAssertEqual(KerasFile.suggestedOutput(for: "m.KERAS"), "m.safetensors")
        XCTAssertEqual(KerasFile.suggestedOutput(for: "dir.v2/model"), "dir.v2/model.safetensors")
        XCTAssertEqual(KerasFile.suggestedOutput(for: "x.safetensors"), "x.safetensors.safetensors")
        XCTAssertEqual(KerasFile.shellQuoted("a/b-c_d.h5"), "a/b-c_d.h5")
        XCTAssertEqual(KerasFile.shellQuoted("it's a model"), "'it'\\''s a model'")
        XCTAssertEqual(KerasFile.shellQuoted(""), "''")
    }
}
