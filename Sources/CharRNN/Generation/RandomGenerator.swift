#if canImport(Glibc)
import Glibc
#endif

/// xoshiro256** seeded through SplitMix64: fast, reproducible on every platform, and its whole state
/// is four words, so checkpoints and session states can store it.
public struct RandomGenerator: RandomNumberGenerator, Equatable, Sendable {
    var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose state is derived from `seed`: the same seed gives the same sequence everywhere.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    init(state words: [UInt64]) {
        state = (words[0], words[1], words[2], words[3])
        if words.allSatisfy({ $0 == 0 }) { self = RandomGenerator(seed: 0) }  // all-zero is a fixed point
    }

    var words: [UInt64] { [state.0, state.1, state.2, state.3] }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 bits, exactly representable as Float.
    @inline(__always)
    mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [low, high).
    @inline(__always)
    mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextUniform() }

    /// A standard normal sample (Box–Muller).
    mutating func nextNormal() -> Double {
        let u1 = Double(next() >> 11) * 0x1p-53 + 0x1p-54  // (0, 1): log is finite
        let u2 = Double(next() >> 11) * 0x1p-53
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Whether two generators are in the same state (will produce the same sequence).
    public static func == (a: RandomGenerator, b: RandomGenerator) -> Bool { a.words == b.words }
}
