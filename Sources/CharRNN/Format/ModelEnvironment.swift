#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `$CHARRNN_MODEL`: the model `charrnn` and `charrnn-repl` use when none is given, before the bundled
/// one. It is named on purpose, so a file that does not exist is a mistake to report, never a reason
/// to fall back to another model.
public enum ModelEnvironment {
    public static let variable = "CHARRNN_MODEL"

    /// The path the variable names, or nil when it is unset or empty.
    /// - Throws: `CharRNNError.io` when it names nothing that exists.
    public static func path() throws -> String? {
        guard let value = getenv(variable).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        guard FileIO.exists(value) else { throw CharRNNError.io("\(variable) names \(value), which does not exist") }
        return value
    }
}
