#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CEditLine
import CharRNN
import CommandLineSupport

/// One line of input, without its newline.
enum InputLine {
    case text([Unicode.Scalar])
    /// The line was not valid UTF-8; the message says where.
    case invalidUTF8(String)
    /// Ctrl-C at the prompt: the line is dropped.
    case interrupted
    /// Ctrl-D or end of input.
    case end
}

protocol LineReader {
    mutating func read(prompt: String) -> InputLine
    mutating func remember(_ line: String)
    /// Shows `text` where typed input is echoed (nothing for a pipe), never in redirected output.
    func echo(_ text: String)
}

/// Plain lines from a pipe or file: raw bytes through getline (any length), strictly decoded.
struct PipeReader: LineReader {
    private var buffer: UnsafeMutablePointer<CChar>? = nil
    private var capacity = 0

    mutating func read(prompt: String) -> InputLine {
        let n = getline(&buffer, &capacity, stdin)
        guard n >= 0, let buffer else { return .end }
        var count = n
        buffer.withMemoryRebound(to: UInt8.self, capacity: n) { bytes in
            if count > 0 && bytes[count - 1] == 0x0A { count -= 1 }
            if count > 0 && bytes[count - 1] == 0x0D { count -= 1 }
        }
        return buffer.withMemoryRebound(to: UInt8.self, capacity: n) { bytes in
            do {
                return .text(try UTF8Text.decode(bytes, count: count))
            } catch {
                return .invalidUTF8("\(error)")
            }
        }
    }

    mutating func remember(_ line: String) {}

    func echo(_ text: String) {}
}

/// Line editing and history through libedit's readline API.
///
/// libedit reads keys through `rl_getc_function`, which here is `EditLineReader.getCharacter`: it reads
/// bytes from the terminal, decodes UTF-8 itself (noting invalid input), and turns Ctrl-C (a SIGINT that
/// interrupts the read) into the end of a line that the REPL then discards.
struct EditLineReader: LineReader {
    /// Set by getCharacter when Ctrl-C arrived during the current line.
    nonisolated(unsafe) static var interrupted = false
    /// Set by getCharacter when the current line held invalid UTF-8.
    nonisolated(unsafe) static var invalidInput = false

    init() {
        // UTF-8 for libedit's wide-character line buffer, whatever the environment says.
        setlocale(LC_CTYPE, "")
        if let codeset = nl_langinfo(nl_item(CODESET)), String(cString: codeset) != "UTF-8" {
            if setlocale(LC_CTYPE, "C.UTF-8") == nil { _ = setlocale(LC_CTYPE, "en_US.UTF-8") }
        }
        rl_catch_signals = 0
        rl_getc_function = { _ in EditLineReader.getCharacter() }
        let output = isatty(STDOUT_FILENO) != 0 ? STDOUT_FILENO : STDERR_FILENO
        if output == STDERR_FILENO { rl_outstream = stderr }  // keep the prompt on the terminal
        // libedit edits only with its output on a terminal and echo on (else the kernel edits the line).
        var mode = termios()
        holdsKeys = isatty(output) != 0 && tcgetattr(STDIN_FILENO, &mode) == 0 && mode.c_lflag & tcflag_t(ECHO) != 0
        rl_initialize()
        if holdsKeys { TypeAhead.hold() }
    }

    /// Whether the terminal is held between lines (TypeAhead): only where libedit edits the line.
    let holdsKeys: Bool

    mutating func read(prompt: String) -> InputLine {
        EditLineReader.interrupted = false
        EditLineReader.invalidInput = false
        _ = SignalFlag.take()
        let line = readline(prompt)
        if holdsKeys { TypeAhead.hold() }  // before the answer: keys pressed meanwhile wait for the next prompt
        guard let raw = line else {
            if EditLineReader.interrupted || SignalFlag.take() { return .interrupted }
            return .end
        }
        defer { free(raw) }
        if EditLineReader.interrupted || SignalFlag.take() { return .interrupted }
        if EditLineReader.invalidInput {
            return .invalidUTF8("the line held bytes that are not valid UTF-8")
        }
        let length = strlen(raw)
        return raw.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            do { return .text(try UTF8Text.decode(bytes, count: length)) } catch { return .invalidUTF8("\(error)") }
        }
    }

    mutating func remember(_ line: String) {
        guard !line.isEmpty, line.utf8.count < 4096 else { return }
        add_history(line)
    }

    func echo(_ text: String) { EditLineReader.echo(text) }

    /// Writes to the terminal libedit echoes to: stdout when it is one, else stderr (rl_outstream, see
    /// init), so that a redirected stdout gets the answers only.
    static func echo(_ text: String) {
        StandardOutput.flush()
        let descriptor = isatty(STDOUT_FILENO) != 0 ? STDOUT_FILENO : STDERR_FILENO
        _ = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
    }

    /// One byte from the terminal; nil when Ctrl-C interrupted the wait, -1 at end of input.
    private static func readByte() -> Int32? {
        var byte: UInt8 = 0
        while true {
            // poll() returns EINTR on a signal even under SA_RESTART (SignalFlag.install), where read() would
            // simply resume.
            var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, -1) < 0 {
                if errno == EINTR && SignalFlag.isSet { return nil }
                if errno == EINTR { continue }
                return -1
            }
            let n = Glibc.read(STDIN_FILENO, &byte, 1)
            if n == 1 { return Int32(byte) }
            if n == 0 { return -1 }
            if errno == EINTR {
                if SignalFlag.isSet { return nil }
                continue
            }
            return -1
        }
    }

    /// libedit's character source: a Unicode scalar value, or -1 at end of input.
    static func getCharacter() -> Int32 {
        func interruptedLine() -> Int32 {
            interrupted = true
            _ = SignalFlag.take()
            echo("^C")
            return 0x0A  // ends the line; the REPL drops it
        }
        guard let first = readByte() else { return interruptedLine() }
        if first < 0x80 { return first }  // ASCII, or -1 at the end
        let length: Int
        var value: UInt32
        switch first {
        case 0xC2...0xDF: length = 2; value = UInt32(first) & 0x1F
        case 0xE0...0xEF: length = 3; value = UInt32(first) & 0x0F
        case 0xF0...0xF4: length = 4; value = UInt32(first) & 0x07
        default:
            invalidInput = true
            return 0xFFFD
        }
        for _ in 1..<length {
            guard let next = readByte() else { return interruptedLine() }
            guard next >= 0, next & 0xC0 == 0x80 else {
                invalidInput = true
                return 0xFFFD
            }
            value = value << 6 | (UInt32(next) & 0x3F)
        }
        let minimum: UInt32 = length == 2 ? 0x80 : (length == 3 ? 0x800 : 0x10000)
        if value < minimum || value > 0x10FFFF || (0xD800...0xDFFF).contains(value) {
            invalidInput = true
            return 0xFFFD
        }
        return Int32(value)
    }
}
