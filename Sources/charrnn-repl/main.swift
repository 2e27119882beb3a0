// charrnn-repl: chat-style, stateful generation that shows each character's probability.
REPLCommand.main()
