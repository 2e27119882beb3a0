/* The training text shared by make_seeds (which trains the resume seeds on it) and fuzz_resume (which
 * resumes on it): a checkpoint only continues exactly on the text it was trained on. */
#ifndef FUZZ_TEXT_H
#define FUZZ_TEXT_H

#include <stdio.h>

static const char fuzz_text[] =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\n";

/* Writes the text to `path`; 0 on success. */
static int fuzz_write_text(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(fuzz_text, 1, sizeof fuzz_text - 1, f);
    return (fclose(f) == 0 && n == sizeof fuzz_text - 1) ? 0 : -1;
}

#endif
