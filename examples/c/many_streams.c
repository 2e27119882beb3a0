/* Generates many texts at once from one model: N sessions, each with its own seed, stepped together by
 * charrnn_session_sample_many (each layer's products computed once for all of them), until each has
 * written a line (a newline right after the prime does not count). Text i is what one session seeded with i would write alone.
 *
 * usage: many_streams [MODEL] [PRIME] [N]
 *   MODEL defaults to models/default.safetensors, PRIME to "ROMEO:", N to 16. */
#include "charrnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 200

static int fail(const char *what, charrnn_status st) {
    fprintf(stderr, "many_streams: %s: %s: %s\n", what, charrnn_status_name(st), charrnn_last_error());
    return 1;
}

/* Appends a code point to `out` as UTF-8. */
static size_t put_utf8(uint32_t c, char *out) {
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "models/default.safetensors";
    const char *prime = argc > 2 ? argv[2] : "ROMEO:";
    size_t n = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 16;
    if (n == 0 || n > 4096) {
        fprintf(stderr, "many_streams: N must be 1 to 4096\n");
        return 1;
    }

    charrnn_model *model = NULL;
    charrnn_status st = charrnn_model_load(path, &model);
    if (st != CHARRNN_OK) return fail("cannot load the model", st);

    charrnn_session **sessions = calloc(n, sizeof *sessions), **active = calloc(n, sizeof *active);
    size_t *which = calloc(n, sizeof *which), *lengths = calloc(n, sizeof *lengths);
    char *texts = calloc(n, MAX_LINE * 4 + 1);
    uint32_t *drawn = calloc(n, sizeof *drawn);
    if (!sessions || !active || !which || !lengths || !texts || !drawn)
        return fail("out of memory", CHARRNN_ERR_OUT_OF_MEMORY);
    for (size_t i = 0; i < n; i++) {
        if ((st = charrnn_session_new(model, &sessions[i])) != CHARRNN_OK) return fail("cannot create a session", st);
        charrnn_session_seed(sessions[i], i);
        st = charrnn_session_feed(sessions[i], prime, strlen(prime), CHARRNN_SKIP_UNKNOWN, NULL, NULL);
        if (st != CHARRNN_OK) return fail("cannot feed the prime", st);
    }

    /* Every session still writing its line steps in each call; one that wrote its newline leaves. */
    size_t count = n;
    for (size_t i = 0; i < n; i++) {
        active[i] = sessions[i];
        which[i] = i;
    }
    for (size_t step = 0; step < MAX_LINE && count > 0; step++) {
        if ((st = charrnn_session_sample_many(active, count, NULL, drawn, NULL)) != CHARRNN_OK)
            return fail("cannot sample", st);
        size_t kept = 0;
        for (size_t k = 0; k < count; k++) {
            size_t i = which[k];
            lengths[i] += put_utf8(drawn[k], texts + i * (MAX_LINE * 4 + 1) + lengths[i]);
            if (drawn[k] != '\n' || lengths[i] == 1) { /* a newline right after the prime starts the line */
                active[kept] = active[k];
                which[kept] = i;
                kept++;
            }
        }
        count = kept;
    }
    for (size_t i = 0; i < n; i++) {
        char *text = texts + i * (MAX_LINE * 4 + 1);
        printf("%2zu %s%s%s", i, prime, text, lengths[i] && text[lengths[i] - 1] == '\n' ? "" : "\n");
        charrnn_session_free(sessions[i]);
    }
    free(sessions);
    free(active);
    free(which);
    free(lengths);
    free(texts);
    free(drawn);
    charrnn_model_free(model);
    return 0;
}
