import CharRNNKernels
#if canImport(Glibc)
import Glibc
#endif

/// How the next character is drawn from a distribution.
public struct SamplingParameters: Equatable, Sendable {
    /// > 0; probabilities are raised to 1/temperature and renormalised.
    public var temperature: Float
    /// Keep only the k most probable characters; 0 keeps all.
    public var topK: Int
    /// Keep the smallest set of most probable characters whose probability reaches topP, in (0, 1].
    public var topP: Float
    /// Always take the most probable character.
    public var greedy: Bool

    /// Sampling parameters; the defaults draw from the model's distribution unchanged.
    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, greedy: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.greedy = greedy
    }

    /// Checks the ranges, naming the bad value.
    /// - Throws: `CharRNNError.invalidArgument`.
    public func validate() throws {
        guard temperature.isFinite, temperature > 0 else {
            throw CharRNNError.invalidArgument("temperature must be a finite number > 0, got \(temperature)")
        }
        guard topK >= 0 else { throw CharRNNError.invalidArgument("top_k must be >= 0, got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw CharRNNError.invalidArgument("top_p must be in (0, 1], got \(topP)")
        }
    }
}

/// Draws indices from probability vectors with preallocated scratch space (no allocation per draw).
struct Sampler {
    private let adjusted: UnsafeMutablePointer<Float>
    private let order: UnsafeMutablePointer<Int32>
    let count: Int

    init(count: Int) {
        self.count = count
        adjusted = .allocate(capacity: count)
        adjusted.initialize(repeating: 0, count: count)
        order = .allocate(capacity: count)
        order.initialize(repeating: 0, count: count)
    }

    /// Orders `order` by `adjusted`, most probable first (ties by index), with an in-place heapsort:
    /// the standard library's sort may allocate scratch space, and this runs once per character.
    private func sortByProbability() {
        let n = count, a = adjusted
        for i in 0..<n { order[i] = Int32(i) }
        // "Greater" means later in the result, so a max-heap of it leaves the least probable at the end.
        func later(_ x: Int32, _ y: Int32) -> Bool {
            let px = a[Int(x)], py = a[Int(y)]
            return px < py || (px == py && x > y)
        }
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while 2 * root + 1 < end {
                var child = 2 * root + 1
                if child + 1 < end && later(order[child + 1], order[child]) { child += 1 }
                guard later(order[child], order[root]) else { return }
                (order[root], order[child]) = (order[child], order[root])
                root = child
            }
        }
        for start in stride(from: n / 2 - 1, through: 0, by: -1) { siftDown(start, n) }
        for end in stride(from: n - 1, to: 0, by: -1) {
            (order[0], order[end]) = (order[end], order[0])
            siftDown(0, end)
        }
    }

    func deallocate() {
        adjusted.deallocate()
        order.deallocate()
    }

    /// Draws from `probs` (count values summing to 1) after temperature, top-k and top-p.
    /// - Returns: the index and its probability under the adjusted distribution.
    func draw(from probs: UnsafePointer<Float>, _ p: SamplingParameters, rng: inout RandomGenerator) -> (Int, Float) {
        let n = count
        // Temperature in log space, shifted by the maximum for stability. A temperature so small that
        // 1/T overflows is the greedy limit.
        let invT = 1 / p.temperature
        func mostLikely() -> (Int, Float) {
            var best = 0
            for i in 1..<n where probs[i] > probs[best] { best = i }
            return (best, 1)
        }
        if p.greedy || !invT.isFinite { return mostLikely() }
        if p.temperature == 1 {
            adjusted.update(from: probs, count: n)  // the distribution as it is: no log/exp round trip
        } else {
            var maxLog = -Float.infinity
            for i in 0..<n {
                let l = probs[i] > 0 ? logf(probs[i]) * invT : -Float.infinity
                adjusted[i] = l
                if l > maxLog { maxLog = l }
            }
            // 1/T finite but so large that every log-probability below 0 became -inf (T = 1e-38 over a
            // flat distribution): the greedy limit too, rather than 0/0.
            if !maxLog.isFinite { return mostLikely() }
            var sum: Float = 0
            for i in 0..<n {
                let e = adjusted[i] == -Float.infinity ? 0 : crnn_expf(adjusted[i] - maxLog)
                adjusted[i] = e
                sum += e
            }
            for i in 0..<n { adjusted[i] /= sum }
        }

        if (p.topK > 0 && p.topK < n) || p.topP < 1 {
            sortByProbability()
            var keep = p.topK > 0 ? min(p.topK, n) : n
            if p.topP < 1 {
                var cumulative: Float = 0
                for rank in 0..<keep {
                    cumulative += adjusted[Int(order[rank])]
                    if cumulative >= p.topP { keep = rank + 1; break }
                }
            }
            var kept: Float = 0
            for rank in 0..<keep { kept += adjusted[Int(order[rank])] }
            for rank in keep..<n { adjusted[Int(order[rank])] = 0 }
            for rank in 0..<keep { adjusted[Int(order[rank])] /= kept }
        }

        let u = rng.nextUniform()
        var cumulative: Float = 0
        var lastNonZero = 0
        for i in 0..<n where adjusted[i] > 0 {
            cumulative += adjusted[i]
            lastNonZero = i
            if u < cumulative { return (i, adjusted[i]) }
        }
        return (lastNonZero, adjusted[lastNonZero])  // rounding left u above the total
    }
}
