/// How a model's text is normalised before its characters are looked up: stored in the model's
/// configuration, so every way text goes in (feeding, evaluation, training, the programs and the bindings)
/// reads it the way the model was trained to.
public enum TextNormalization: String, Codable, Sendable, CaseIterable {
    /// The text as it is.
    case none
    /// Lowercased, as Python's `str.lower` does for characters with a one-character lowercase.
    case lowercase
    /// The 36-character reduction of one tutorial: lowercase, keep a–z and `,.?! \n:;-'`, and turn every
    /// other character into a space.
    case reduceCharset = "reduce_charset"

    /// The normalisation the training text options ask for (`reduceCharset` implies lowercasing).
    public init(lowercase: Bool, reduceCharset: Bool) {
        self = reduceCharset ? .reduceCharset : lowercase ? .lowercase : .none
    }

    /// The normalised text.
    public func apply(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        self == .none ? scalars : scalars.map(apply)
    }

    /// One character normalised.
    public func apply(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        switch self {
        case .none: return scalar
        case .lowercase: return TextNormalization.lower(scalar)
        case .reduceCharset:
            let lower = TextNormalization.lower(scalar)
            return TextNormalization.reducedCharset.contains(lower) ? lower : " "
        }
    }

    /// The characters kept by `reduceCharset`: a–z and `,.?! \n:;-'`.
    static let reducedCharset: Set<Unicode.Scalar> =
        Set("abcdefghijklmnopqrstuvwxyz,.?! \n:;-'".unicodeScalars)

    /// A scalar's lowercase when it is one scalar (as `str.lower` maps it), else the scalar.
    private static func lower(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let lower = scalar.properties.lowercaseMapping.unicodeScalars
        guard lower.count == 1, let only = lower.first else { return scalar }
        return only
    }
}
