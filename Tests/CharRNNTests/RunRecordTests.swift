@testable import CharRNN
import XCTest

/// metrics.jsonl (RunRecord, MetricsLog) and the chart drawn from it (LossChart).
final class RunRecordTests: XCTestCase {
    func testReportIntervalKeepsAtMostFiftyLinesPerEpoch() {
        let cases = [(1, 1), (50, 1), (51, 2), (100, 2), (101, 5), (250, 5), (251, 10), (446, 10), (100_000, 2000)]
        for (batches, interval) in cases {
            XCTAssertEqual(RunRecord.reportInterval(batchesPerEpoch: batches), interval, "\(batches) batches")
        }
        XCTAssertGreaterThan(RunRecord.reportInterval(batchesPerEpoch: Int.max), 0)
    }

    func testLineRoundTripsWithNullForNaN() throws {
        var p = TrainingProgress()
        p.step = 40
        p.batchesPerEpoch = 80
        p.seconds = 12.3456
        p.smoothedLoss = 1.23456789
        p.learningRate = 0.002
        p.charsPerSecond = 12345.67
        let text = RunRecord.line(kind: "train", p, bestCheckpoint: nil)
        XCTAssertTrue(text.hasSuffix("}\n"))
        XCTAssertTrue(text.contains("\"val_loss\": null") && text.contains("\"best_checkpoint\": null"), text)
        let row = try XCTUnwrap(MetricsLog.row(Array(text.dropLast().utf8)))
        XCTAssertEqual(row.kind, .train)
        XCTAssertEqual(row.step, 40)
        XCTAssertEqual(row.epoch, 0.5)
        XCTAssertEqual(row.seconds, 12.346)
        XCTAssertEqual(row.trainLoss, 1.234568)
        XCTAssertTrue(row.valLoss.isNaN && row.valAccuracy.isNaN)
        XCTAssertEqual(row.learningRate, 0.002)

        p.valLoss = 1.5
        p.valAccuracy = 0.25
        let validation = try XCTUnwrap(
            MetricsLog.row(Array(RunRecord.line(kind: "validation", p, bestCheckpoint: "a\"b").dropLast().utf8)))
        XCTAssertEqual(validation.bestCheckpoint, "a\"b")
        XCTAssertEqual(validation.valLoss, 1.5)
    }

    func testReadingSkipsTornAndForeignLinesAndLetsLaterRunsSupersede() {
        let log = """
            {"kind": "train", "step": 2, "train_loss": 4.0}
            {"kind": "train", "step": 4, "train_loss": 3.5}
            {"kind": "validation", "step": 4, "train_loss": 3.5, "val_loss": 3.6, "best_checkpoint": "epoch01-3.6000.safetensors"}
            not json
            {"kind": "other", "step": 5}
            {"kind": "train", "step": -1}
            [1, 2]
            {"kind": "train", "step": 6, "train_loss": 3.0}
            {"kind": "train", "step": 6, "train_loss": 2.9}
            {"kind": "train", "step": 8, "train_loss": 2.8}
            {"kind": "valid
            """
        let rows = MetricsLog.rows(Array(log.utf8))
        XCTAssertEqual(rows.map(\.step), [2, 4, 4, 6, 8])
        XCTAssertEqual(rows.map(\.kind), [.train, .train, .validation, .train, .train])
        XCTAssertEqual(rows[3].trainLoss, 2.9)  // the resumed run's line replaced the stale one
        XCTAssertTrue(rows[0].valLoss.isNaN)

        let run = LossChart.Run(label: "r", rows: rows)
        XCTAssertEqual(run.train.map(\.x), [2, 4, 6, 8])
        XCTAssertEqual(run.validation.map(\.y), [3.6])
        XCTAssertEqual(run.best?.name, "epoch01-3.6000.safetensors")
        XCTAssertTrue(MetricsLog.rows([]).isEmpty)
    }

    func testChartEscapesTextAndNamesItsParts() {
        var rows: [MetricsRow] = []
        for step in stride(from: 10, through: 300, by: 10) {
            var row = MetricsRow(kind: step % 100 == 0 ? .validation : .train, step: step)
            row.trainLoss = 4 - Double(step) / 100
            if row.kind == .validation { row.valLoss = 4.1 - Double(step) / 100 }
            rows.append(row)
        }
        let chart = LossChart(title: "a <b> & \"c\"", runs: [LossChart.Run(label: "x<y", rows: rows)])
        let svg = chart.svg()
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"))
        XCTAssertFalse(svg.contains("x<y"))
        for id in ["train-loss-0", "val-loss-0", "best-checkpoint-0", "x-label", "y-label", "title", "legend"] {
            XCTAssertTrue(svg.contains("id=\"\(id)\""), id)
        }
        XCTAssertEqual(svg.components(separatedBy: "<svg").count, 2)
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))

        let empty = LossChart(title: "nothing", runs: [LossChart.Run(label: "e", rows: [])]).svg()
        XCTAssertTrue(empty.contains("no data yet"))
        XCTAssertFalse(empty.contains("train-loss-0") || empty.contains("nan") || empty.contains("inf"))
    }

    func testTicksAreRoundAndInside() {
        XCTAssertEqual(LossChart.ticks(0, 315, count: 7, integers: true), [0, 50, 100, 150, 200, 250, 300])
        XCTAssertEqual(LossChart.ticks(0, 3, count: 7, integers: true), [0, 1, 2, 3])
        let y = LossChart.ticks(1.23, 4.17, count: 8, integers: false)
        XCTAssertEqual(y.first ?? 0, 1.5, accuracy: 1e-12)
        XCTAssertTrue(y.allSatisfy { $0 >= 1.23 && $0 <= 4.17 })
        XCTAssertEqual(LossChart.digits(for: y), 1)
        XCTAssertEqual(LossChart.stepLabel(25_000), "25k")
        XCTAssertEqual(LossChart.stepLabel(12_500), "12.5k")
        XCTAssertEqual(LossChart.ticks(1, 1, count: 5, integers: false), [1])
    }

    func testSettingsDifferencesNameOnlyWhatDiffers() {
        var a = TrainingOptions(), b = TrainingOptions()
        b.hidden = 256
        b.optimizer.learningRate = 0.01
        let d = RunSettings.differences([a, b, nil])
        XCTAssertEqual(d[0], ["hidden 128", "lr 0.002"])
        XCTAssertEqual(d[1], ["hidden 256", "lr 0.01"])
        XCTAssertEqual(d[2], [])
        a.seed = 1
        XCTAssertEqual(RunSettings.differences([a, nil]), [[], []])
    }
}
