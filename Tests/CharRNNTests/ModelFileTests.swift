@testable import CharRNN
import XCTest

final class ModelFileTests: XCTestCase {
    var folder: String!

    override func setUp() {
        folder = NSTemporaryDirectory() + "charrnn-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func testRoundTripIsBitExact() throws {
        for (name, config) in Fixtures.allConfigs {
            let model = Fixtures.model(config)
            let path = "\(folder!)/m.safetensors"
            try model.save(to: path)
            let loaded = try Model.load(path)
            XCTAssertEqual(loaded.config, model.config, name)
            XCTAssertEqual(loaded.vocabulary, model.vocabulary, name)
            XCTAssertTrue(loaded.parameters.array.map(\.bitPattern) == model.parameters.array.map(\.bitPattern), name)
        }
    }

    func testHeaderIsPlainSafetensors() throws {
        let bytes = ModelFile.encode(Fixtures.model(Fixtures.config(.lstm)))
        let length = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(length % 8, 0)
        let header = String(decoding: bytes[8..<(8 + Int(length))], as: UTF8.self)
        let json = try JSONSerialization.jsonObject(with: Data(header.utf8)) as! [String: Any]
        let metadata = json["__metadata__"] as! [String: String]
        XCTAssertEqual(metadata["format"], "charrnn")
        XCTAssertEqual(metadata["format_version"], "1")
        XCTAssertNotNil(metadata["config"])
        XCTAssertEqual(metadata["vocab"], "abcdefg\n ")
        XCTAssertEqual((json["rnn0.kernel"] as! [String: Any])["dtype"] as? String, "F32")
    }

    func expectFormatError(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelFile.decode(bytes), file: file, line: line) { error in
            guard case CharRNNError.format(let message) = error else {
                return XCTFail("expected a format error, got \(error)", file: file, line: line)
            }
            XCTAssertTrue(message.contains(fragment), "\(message) lacks \(fragment)", file: file, line: line)
        }
    }

    func header(_ json: String, data: Int = 0) -> [UInt8] {
        var w = ByteWriter()
        w.append(UInt64(json.utf8.count))
        w.append(Array(json.utf8))
        w.append([UInt8](repeating: 0, count: data))
        return w.bytes
    }

    func testTruncatedAnywhereIsRefused() throws {
        let bytes = ModelFile.encode(Fixtures.model(Fixtures.config(.gru)))
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            XCTAssertThrowsError(try ModelFile.decode(Array(bytes[0..<cut])), "cut at \(cut)")
        }
    }

    func testLyingHeadersAreRefused() {
        expectFormatError([1, 2, 3], "too short")
        var huge = ByteWriter()
        huge.append(UInt64.max)
        expectFormatError(huge.bytes, "exceeds the file")
        expectFormatError(header("not json"), "invalid safetensors header")
        expectFormatError(
            header(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#, data: 8), "outside the data")
        expectFormatError(header(#"{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: 4), "dtype F16")
        expectFormatError(
            header(#"{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: 8), "too large"
        )
        expectFormatError(header(#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8), "needs 12 bytes")
        expectFormatError(
            header(
                #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                data: 12), "overlaps")
        expectFormatError(header(#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#), "not a size")
        expectFormatError(header(#"{"__metadata__":{"format":"other"}}"#), "not a charrnn model")
    }

    func testConfigAndTensorsMustAgree() throws {
        let model = Fixtures.model(Fixtures.config(.lstm))
        let (tensors, metadata) = try SafeTensors.decode(ModelFile.encode(model))
        var missing = tensors
        missing["rnn0.bias"] = nil
        expectFormatError(SafeTensors.encode(tensors: missing, metadata: metadata), "rnn0.bias is missing")
        var reshaped = tensors
        reshaped["dense.bias"] = SafeTensors.Tensor(shape: [3, 3], values: reshaped["dense.bias"]!.values)
        expectFormatError(SafeTensors.encode(tensors: reshaped, metadata: metadata), "the config needs [9]")
        var nan = tensors
        nan["dense.bias"]!.values[0] = .nan
        expectFormatError(SafeTensors.encode(tensors: nan, metadata: metadata), "non-finite")
        var duplicateVocab = metadata
        duplicateVocab["vocab"] = "abcdefgaa"
        expectFormatError(SafeTensors.encode(tensors: tensors, metadata: duplicateVocab), "twice")
        var shortVocab = metadata
        shortVocab["vocab"] = "abc"
        expectFormatError(SafeTensors.encode(tensors: tensors, metadata: shortVocab), "vocab_size 9")
        var badConfig = metadata
        badConfig["config"] = #"{"vocab_size":9,"layers":[{"cell":"lstm","units":0}]}"#
        expectFormatError(SafeTensors.encode(tensors: tensors, metadata: badConfig), "units")
        var extra = tensors
        extra["rogue"] = SafeTensors.Tensor(shape: [1], values: [0])
        expectFormatError(SafeTensors.encode(tensors: extra, metadata: metadata), "unexpected tensor rogue")
    }

    func testAtomicWriteLeavesTheOldFileWhenTheFolderIsGone() throws {
        let model = Fixtures.model(Fixtures.config(.rnn))
        XCTAssertThrowsError(try model.save(to: "\(folder!)/missing/m.safetensors")) { error in
            guard case CharRNNError.io = error else { return XCTFail("\(error)") }
        }
        let path = "\(folder!)/m.safetensors"
        try model.save(to: path)
        try model.save(to: path)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }
}
