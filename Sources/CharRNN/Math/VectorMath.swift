/// Elementwise activations over float buffers, written as branch-free scalar code that the compiler
/// vectorises. The exponential is the Cephes single-precision polynomial (within 2 ulp of expf over
/// the clamped range), so sigmoid and tanh agree with libm to about 1e-7 — far inside the 1e-5 Keras
/// parity budget — at a fraction of the cost of a libm call per element.
enum VectorMath {
    /// 1.5 · 2^23: adding it rounds a float to an integer held in the low mantissa bits.
    private static let roundingMagic: Float = 12_582_912

    @inline(__always)
    static func exp(_ x0: Float) -> Float {
        let x = min(max(x0, -87.336_54), 88.376_26)
        let t = x * 1.442_695_04 + roundingMagic  // n = round(x / ln 2), kept in t's low bits
        let n = t - roundingMagic
        let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
        var y: Float = 1.987_569_15e-4
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        y = y * r * r + r + 1
        let twoToN = Float(bitPattern: (t.bitPattern &- roundingMagic.bitPattern &+ 127) &<< 23)
        return y * twoToN
    }

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        // |x| ≥ 0.625: 1 − 2/(e^{2|x|} + 1); below, Cephes' odd polynomial avoids that cancellation.
        let a = abs(x)
        let large = 1 - 2 / (exp(2 * a) + 1)
        let z = x * x
        var p: Float = -5.704_988_727_45e-3
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        let small = x + x * z * p
        let signed = x < 0 ? -large : large
        return a < 0.625 ? small : signed
    }
}

extension Activation {
    /// Applies the activation to `count` floats in place.
    func apply(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .tanh: for i in 0..<n { p[i] = VectorMath.tanh(p[i]) }
        case .relu: for i in 0..<n { p[i] = max(p[i], 0) }
        case .linear: break
        }
    }
}

extension GateActivation {
    /// Applies the gate activation to `count` floats in place.
    func apply(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .sigmoid: for i in 0..<n { p[i] = VectorMath.sigmoid(p[i]) }
        case .hardSigmoidKeras2: for i in 0..<n { p[i] = min(max(0.2 * p[i] + 0.5, 0), 1) }
        case .hardSigmoidKeras3: for i in 0..<n { p[i] = min(max(p[i] / 6 + 0.5, 0), 1) }
        }
    }
}
