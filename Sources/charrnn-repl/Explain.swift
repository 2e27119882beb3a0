#if canImport(Glibc)
import Glibc
#endif
import CharRNN
import CommandLineSupport

extension REPL {
    /// `:explain FILE`: the page `charrnn explain` writes, for the conversation since the last reset (the
    /// user's lines, their newlines and the answers), traced from a zero state as the session read it.
    func explain(_ path: String) {
        guard !path.isEmpty else {
            out.note(":explain needs a file name, e.g. :explain chat.html")
            return
        }
        guard !transcript.isEmpty else {
            out.note("nothing to explain yet: type a line first (after :reset or :load the conversation starts anew)")
            return
        }
        do {
            let modelName = modelPath.split(separator: "/").last.map(String.init) ?? modelPath
            let page = try ExplainPage(title: "the conversation", modelName: modelName)
                .render(model: model, indices: transcript, interrupt: { SignalFlag.isSet })
            try FileIO.writeAtomically(page.bytes, to: path)
            var message = "wrote \(path): the conversation's \(page.characters) characters"
            if page.result.count > 0 {
                message += ", \(formatFixed(page.result.meanLoss / log(2.0), digits: 2)) bits/char"
            }
            if page.stateCharacters < page.characters {
                message += "; cell states for the first \(page.stateCharacters)"
            }
            info(message)
        } catch {
            _ = SignalFlag.take()
            out.note("cannot explain: \(error)")
        }
    }
}
