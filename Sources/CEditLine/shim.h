// libedit's readline-compatible API (line editing and history) for the REPL.
#include <stdio.h>
#include <editline/readline.h>
