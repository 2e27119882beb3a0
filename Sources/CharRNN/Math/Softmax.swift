#if canImport(Glibc)
import Glibc
#endif

/// In-place softmax of `n` logits, shifted by their maximum for stability.
@inline(__always)
func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    var maxValue = -Float.infinity
    for i in 0..<n where x[i] > maxValue { maxValue = x[i] }
    var sum: Float = 0
    for i in 0..<n {
        let e = expf(x[i] - maxValue)
        x[i] = e
        sum += e
    }
    let inv = 1 / sum
    for i in 0..<n { x[i] *= inv }
}
