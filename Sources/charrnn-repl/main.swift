// charrnn-repl: chat-style, stateful generation that shows each character's probability.
import CommandLineSupport

ProgramMain.run(REPLCommand.self, program: "charrnn-repl")
