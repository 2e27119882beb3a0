@testable import CharRNN
import XCTest

/// What a hostile file or caller can hand the core: headers that lie about their data, JSON that parsers
/// read differently, memory limits, numbers that overflow, and long calls that must stop when asked.
final class HostileInputTests: XCTestCase {
    // MARK: strict JSON

    func expectJSONError(_ text: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try StrictJSON.parse(text), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error) lacks \(fragment)", file: file, line: line)
        }
    }

    func testStrictJSONReadsWhatFoundationReads() throws {
        let value = try StrictJSON.parse(
            #" {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\ud83d\ude00\n\"", "c": {}} "#)
        XCTAssertEqual(value["a"], .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        XCTAssertEqual(value["b"], .string("xé😀\n\""))
        XCTAssertEqual(value["c"], .object([]))
        if case .array(let a)? = value["a"] { XCTAssertEqual(a[0].exactInt, 1) } else { XCTFail("no array") }
    }

    func testStrictJSONRefusesWhatParsersDisagreeOn() {
        expectJSONError(#"{"a": 1, "a": 2}"#, "duplicate key \"a\"")
        expectJSONError(#"{"x": {"a": 1, "b": 2, "a": 3}}"#, "duplicate key")
        expectJSONError(#"{"a": 1e400}"#, "out of range")
        expectJSONError(#"{"a": -1e999}"#, "out of range")
        expectJSONError(#"{"a": 01}"#, "may not start with 0")
        expectJSONError(#"{"a": 1} x"#, "after the JSON value")
        expectJSONError(#"{"a": "\ud800"}"#, "lone surrogate")
        expectJSONError("{\"a\": \"\u{01}\"}", "control character")
        expectJSONError(String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "nested deeper")
        XCTAssertThrowsError(try StrictJSON.parse([0x22, 0xC0, 0x80, 0x22])) {
            XCTAssertTrue("\($0)".contains("invalid UTF-8"))
        }
        XCTAssertThrowsError(
            try StrictJSON.parse("[" + Array(repeating: "0", count: 50).joined(separator: ",") + "]", maxValues: 20)
        ) {
            XCTAssertTrue("\($0)".contains("more values"))
        }
    }

    func testConfigJSONNamesAnOutOfRangeNumber() {
        XCTAssertThrowsError(try ModelConfig.fromJSON(#"{"vocab_size": 1e400, "layers": []}"#)) { error in
            XCTAssertTrue("\(error)".contains("out of range"), "\(error)")
        }
        XCTAssertThrowsError(try ModelConfig.fromJSON(#"{"vocab_size": 5, "vocab_size": 6, "layers": []}"#)) { error in
            XCTAssertTrue("\(error)".contains("duplicate key"), "\(error)")
        }
    }

    // MARK: safetensors headers

    /// A file of `entries` (name, byte range) over `data` bytes of zeros, with a model's metadata.
    func file(_ entries: [(String, Int, Int, [Int])], data: Int, metadata: String = "") -> [UInt8] {
        var json = "{" + (metadata.isEmpty ? "" : "\"__metadata__\":\(metadata),")
        json +=
            entries.map { "\"\($0.0)\":{\"dtype\":\"F32\",\"shape\":\($0.3),\"data_offsets\":[\($0.1),\($0.2)]}" }
            .joined(separator: ",") + "}"
        var w = ByteWriter()
        w.append(UInt64(json.utf8.count))
        w.append(Array(json.utf8))
        w.append([UInt8](repeating: 0, count: data))
        return w.bytes
    }

    func expectIndexError(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try SafeTensors.Index($0) }, file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error) lacks \(fragment)", file: file, line: line)
        }
    }

    func testEveryByteBelongsToExactlyOneTensor() throws {
        let ok = file([("a", 0, 8, [2]), ("b", 8, 16, [2])], data: 16)
        let index = try ok.withUnsafeBytes { try SafeTensors.Index($0) }
        XCTAssertEqual(index.entries.map(\.name), ["a", "b"])
        expectIndexError(file([("a", 0, 8, [2]), ("b", 0, 8, [2])], data: 8), "overlaps")  // aliased
        expectIndexError(file([("a", 0, 8, [2]), ("b", 4, 12, [2])], data: 12), "overlaps")
        expectIndexError(file([("a", 0, 8, [2]), ("b", 12, 20, [2])], data: 20), "belong to no tensor")  // a gap
        expectIndexError(file([("a", 0, 8, [2])], data: 12), "after the last tensor")  // trailing bytes
        expectIndexError(file([("a", 4, 12, [2])], data: 12), "belong to no tensor")  // leading bytes
        expectIndexError(file([("a", 0, 8, [2]), ("a", 8, 16, [2])], data: 16), "duplicate key \"a\"")
        var unknownField = file([("a", 0, 8, [2])], data: 8)
        unknownField = Array(
            String(decoding: unknownField[8...], as: UTF8.self)
                .replacingOccurrences(of: "\"dtype\"", with: "\"extra\":1,\"dtype\"").utf8)
        var w = ByteWriter()
        w.append(UInt64(unknownField.count - 8))
        w.append(unknownField)
        expectIndexError(w.bytes, "unknown field \"extra\"")
    }

    func testAMillionEmptyEntriesCostLittle() {
        // 8 MB of header: refused by the value budget, before a tree of a million entries is built.
        let entries = (0..<150_000).map { ("t\($0)", 0, 0, [0]) }
        let bytes = file(entries, data: 0)
        let start = Date()
        expectIndexError(bytes, "more values")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testACheckpointHoldsOnlyItsOwnExtras() throws {
        let model = Fixtures.model(Fixtures.config(.lstm))
        let (tensors, metadata) = try SafeTensors.decode(ModelFile.encode(model))
        var training = metadata
        training["training"] = "{}"
        let slot = SafeTensors.Tensor(
            shape: [model.parameterCount], values: .init(repeating: 0, count: model.parameterCount))
        var good = tensors
        good["optimizer.slot0"] = slot
        good["optimizer.slot1"] = slot
        good["training.carried_state"] = SafeTensors.Tensor(shape: [20], values: .init(repeating: 0, count: 20))
        XCTAssertEqual(
            try ModelFile.decode(SafeTensors.encode(tensors: good, metadata: training)).extras.tensors.count, 3)

        func expectRefused(
            _ change: (inout [String: SafeTensors.Tensor]) -> Void, _ fragment: String,
            metadata: [String: String]? = nil,
            line: UInt = #line
        ) {
            var t = good
            change(&t)
            XCTAssertThrowsError(
                try ModelFile.decode(SafeTensors.encode(tensors: t, metadata: metadata ?? training)), line: line
            ) {
                XCTAssertTrue("\($0)".contains(fragment), "\($0) lacks \(fragment)", line: line)
            }
        }
        expectRefused({ _ in }, "a model file holds only", metadata: metadata)  // extras without a training state
        expectRefused(
            {
                $0["optimizer.slot1"] = nil; $0["optimizer.slot2"] = slot
            }, "optimizer.slot1 is missing")
        expectRefused({ $0["optimizer.slot9"] = slot }, "unexpected tensor optimizer.slot9")
        expectRefused({ $0["optimizer.slot01"] = slot }, "unexpected tensor optimizer.slot01")
        expectRefused({ $0["optimizer.slot0"] = SafeTensors.Tensor(shape: [3], values: [0, 0, 0]) }, "the model needs")
        expectRefused(
            { $0["training.carried_state"] = SafeTensors.Tensor(shape: [7], values: .init(repeating: 0, count: 7)) },
            "whole number of states")
    }

    // MARK: memory

    func testCgroupLimitsAreRead() throws {
        let root = NSTemporaryDirectory() + "charrnn-cgroup-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        func write(_ path: String, _ text: String) throws {
            try FileManager.default.createDirectory(
                atPath: (root + path as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: true, encoding: .utf8)
        }
        // v2: the tightest of the group and its ancestors.
        try write("/proc-cgroup-v2", "0::/a/b\n")
        try write("/a/b/memory.max", "max\n")
        try write("/a/b/memory.current", "100\n")
        try write("/a/memory.max", "1000\n")
        try write("/a/memory.current", "400\n")
        XCTAssertEqual(MemoryBudget.cgroupRemaining(root: root, membership: root + "/proc-cgroup-v2"), 600)
        // v1, with the group mounted as the hierarchy's root (as in a container).
        try write("/proc-cgroup-v1", "4:memory:/docker/xyz\n3:cpu:/\n")
        try write("/memory/memory.limit_in_bytes", "5000\n")
        try write("/memory/memory.usage_in_bytes", "1500\n")
        XCTAssertEqual(MemoryBudget.cgroupRemaining(root: root, membership: root + "/proc-cgroup-v1"), 3500)
        try write("/memory/memory.limit_in_bytes", "9223372036854771712\n")  // v1's "unlimited"
        XCTAssertNil(MemoryBudget.cgroupRemaining(root: root, membership: root + "/proc-cgroup-v1"))
        XCTAssertNil(MemoryBudget.cgroupRemaining(root: root, membership: root + "/missing"))
    }

    func testTooLargeAModelIsRefusedBeforeAllocating() {
        var config = Fixtures.config(.lstm, layers: 8, units: 16_000)
        config.vocabSize = 9
        XCTAssertThrowsError(try Model(config: config, vocabulary: Fixtures.vocabulary(), seed: 1)) { error in
            guard case CharRNNError.outOfMemory(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("parameters"), message)
        }
    }

    // MARK: numbers that overflow

    func testOverflowingWeightsGiveAnErrorNotNaNs() throws {
        // With every weight 3e38, LSTM and SimpleRNN logits overflow to infinity; a GRU's update gate
        // saturates at 1 and keeps h at zero, so its distribution stays finite (and must be reported).
        for (name, config, overflows) in [
            ("lstm", Fixtures.config(.lstm), true), ("rnn", Fixtures.config(.rnn), true),
            ("gru", Fixtures.config(.gru), false)
        ] {
            let model = Fixtures.model(config)
            for i in 0..<model.parameterCount { model.parameters[i] = 3e38 }
            model.weightsDidChange()
            let session = Session(model: model)
            try session.feed("ab")
            guard overflows else {
                let p = try session.probabilities()
                XCTAssertTrue(p.allSatisfy(\.isFinite), name)
                XCTAssertEqual(Double(p.reduce(0, +)), 1, accuracy: 1e-5, name)
                continue
            }
            XCTAssertThrowsError(try session.probabilities(), name) { error in
                guard case CharRNNError.notFinite = error else { return XCTFail("\(name): \(error)") }
            }
            XCTAssertThrowsError(try session.sample(), name)
            XCTAssertThrowsError(try session.generate(count: 5), name)
            XCTAssertThrowsError(try model.evaluate(Array("abcabc".unicodeScalars)), name) { error in
                guard case CharRNNError.notFinite = error else { return XCTFail("\(name): \(error)") }
            }
            XCTAssertThrowsError(try model.evaluateStepwise(Array("abcabc".unicodeScalars), precision: .int8), name)
            XCTAssertThrowsError(try model.probabilities(Array("abc".unicodeScalars)), name)
        }
    }

    // MARK: interrupting long calls

    func testAnInterruptedFeedLeavesTheStateAsItWas() throws {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2))
        let session = Session(model: model, seed: 3)
        try session.feed("abc")
        let before = session.stateBytes()
        let text = Array(String(repeating: "abcdefg ", count: 200).unicodeScalars)
        var asked = 0
        XCTAssertThrowsError(
            try session.feed(
                text,
                interrupt: {
                    asked += 1; return asked == 3
                })
        ) { error in
            guard case CharRNNError.cancelled = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(asked, 3)
        XCTAssertEqual(session.stateBytes(), before)
        // Not interrupted: the same bits as feeding without asking.
        let other = Session(model: model, seed: 3)
        try other.feed("abc")
        try session.feed(text, interrupt: { false })
        try other.feed(text)
        XCTAssertEqual(session.stateBytes(), other.stateBytes())
    }

    func testAnInterruptedEvaluationStops() throws {
        let model = Fixtures.model(Fixtures.config(.gru))
        let text = Array(String(repeating: "abcdefg ", count: 200).unicodeScalars)
        var asked = 0
        XCTAssertThrowsError(
            try model.evaluate(
                text,
                interrupt: {
                    asked += 1; return asked == 2
                })
        ) { error in
            guard case CharRNNError.cancelled = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try model.evaluate(text, interrupt: { false }).lossSum, try model.evaluate(text).lossSum)
    }

    // MARK: files that are not files

    func testSpecialFilesAreRefusedWithoutBlocking() throws {
        let folder = NSTemporaryDirectory() + "charrnn-special-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertEqual(mkfifo("\(folder)/fifo", 0o600), 0)
        symlink("\(folder)/loop-b", "\(folder)/loop-a")
        symlink("\(folder)/loop-a", "\(folder)/loop-b")
        for (path, fragment) in [
            ("\(folder)/fifo", "named pipe"), (folder, "a folder"), ("/dev/zero", "character device"),
            ("\(folder)/loop-a", "loop of symbolic links"), ("\(folder)/missing", "No such file")
        ] {
            XCTAssertThrowsError(try FileIO.read(path)) { error in
                guard case CharRNNError.io(let message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(fragment) && message.contains(path), message)
            }
            XCTAssertThrowsError(try Model.load(path))
        }
    }
}
