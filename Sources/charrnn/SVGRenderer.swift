import ArgumentParser
import CharRNN
import CommandLineSupport
#if canImport(Glibc)
import Glibc
#endif

/// SVG to PNG with a program that is installed: rsvg-convert (librsvg), or a headless Chromium taking a
/// screenshot of the SVG opened from disk. The program runs in its own process group with its output in
/// a log (shown only when it fails), and is killed when it takes longer than `timeout` seconds.
enum SVGRenderer {
    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case auto
        case rsvgConvert = "rsvg-convert"
        case chromium
    }

    static let chromiumNames = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"]
    static let timeout = 90.0

    /// The PNG image of `svg` at `width` × `height` pixels.
    /// - Throws: `CharRNNError.io` naming what to install when no renderer is found, or what the renderer said.
    static func png(_ svg: [UInt8], width: Int, height: Int, using kind: Kind) throws -> [UInt8] {
        let rsvg = kind == .chromium ? nil : findProgram("rsvg-convert")
        let chromium = kind == .rsvgConvert || rsvg != nil ? nil : chromiumNames.lazy.compactMap(findProgram).first
        guard rsvg != nil || chromium != nil else {
            let wanted =
                kind == .auto
                ? "rsvg-convert or a Chromium browser (chromium, google-chrome)"
                : kind == .chromium
                    ? "a Chromium browser (chromium, chromium-browser or google-chrome)" : "rsvg-convert"
            throw CharRNNError.io(
                "cannot write a PNG: \(wanted) is not installed (on Debian or Ubuntu: "
                    + "sudo apt-get install \(kind == .chromium ? "chromium" : "librsvg2-bin")"
                    + "\(kind == .auto ? " or chromium" : "")); or write an SVG (--out FILE.svg)")
        }
        let folder = try temporaryFolder()
        defer { removeTree(folder) }
        let svgPath = "\(folder)/chart.svg", pngPath = "\(folder)/chart.png"
        try FileIO.writeAtomically(svg, to: svgPath)
        let program: String, arguments: [String]
        if let rsvg {
            program = rsvg
            arguments = [
                "--width", "\(width)", "--height", "\(height)", "--background-color", "white",
                "--format", "png", "--output", pngPath, svgPath
            ]
        } else {
            program = chromium ?? "chromium"
            // --no-sandbox: Chromium refuses to run as root without it; the page is our own file.
            arguments = [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
                "--user-data-dir=\(folder)/profile", "--force-device-scale-factor=1",
                "--default-background-color=ffffffff",
                "--window-size=\(width),\(height)", "--screenshot=\(pngPath)", "file://\(svgPath)"
            ]
        }
        let log = "\(folder)/renderer.log"
        let ending = try runQuietly(program, arguments, log: log)
        let name = program.split(separator: "/").last.map(String.init) ?? program
        let image = (try? FileIO.read(pngPath)) ?? []
        guard ending == "exit status 0", image.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
            let said = String(decoding: ((try? FileIO.read(log)) ?? []).suffix(1500), as: UTF8.self)
            throw CharRNNError.io("\(name) did not render the chart (\(ending))\(said.isEmpty ? "" : ":\n\(said)")")
        }
        return image
    }

    /// The executable `name` on $PATH, if any.
    static func findProgram(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// A new private folder under $TMPDIR (or /tmp).
    static func temporaryFolder() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/charrnn-plot-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard let made else {
            throw CharRNNError.io("cannot create a temporary folder in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// Removes a folder and everything in it, without following links.
    static func removeTree(_ path: String, depth: Int = 0) {
        if depth < 32, let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let child = "\(path)/\(name)"
                var st = stat()
                if lstat(child, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                    removeTree(child, depth: depth + 1)
                } else {
                    unlink(child)
                }
            }
            closedir(dir)
        }
        rmdir(path)
    }

    /// Runs `program` with stdin from /dev/null and stdout and stderr into `log`, in a process group of
    /// its own (a browser starts helpers), and waits; the group is killed after `timeout` seconds.
    /// Returns how it ended ("exit status N", "killed by signal N", "timed out").
    static func runQuietly(_ program: String, _ arguments: [String], log: String) throws -> String {
        let pid: pid_t
        do {
            // A process group of its own: a browser starts helpers, all killed at a timeout.
            pid = try Spawn.start(program, arguments, newProcessGroup: true) { actions in
                [
                    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
                    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600),
                    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO)
                ]
            }
        } catch {
            let detail = error.step == "posix_spawn" ? "" : "\(error.step): "
            throw CharRNNError.io("cannot start \(program): \(detail)\(String(cString: strerror(error.code)))")
        }

        let start = ProgressDisplay.now()
        var timedOut = false
        while true {
            // WNOWAIT: the child stays a zombie, so its process group cannot be reused before it is killed.
            var info = siginfo_t()
            let r = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if r == 0 && info.si_signo == SIGCHLD { break }
            if r < 0 && errno != EINTR { break }
            if ProgressDisplay.now() - start > timeout {
                timedOut = true
                break
            }
            usleep(20_000)
        }
        // Helpers the browser left behind in its group, or the whole group when it took too long.
        kill(-pid, SIGKILL)
        let ending = try Subprocess.wait(for: pid)
        return timedOut ? "timed out after \(Int(timeout)) s" : ending.description
    }
}
