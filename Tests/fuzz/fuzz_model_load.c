/* libFuzzer harness: charrnn_model_load on arbitrary bytes (written to a temporary file). Any status
 * is fine; a crash, a trap, an abort in malloc or a sanitizer report is a bug. A model that loads is
 * also run through a session, so the decoder's checks are exercised end to end. */
#include "charrnn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];
static void remove_file(void) { unlink(path); } /* libFuzzer ends its runs with exit() */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/charrnn-fuzz-%d.safetensors", (int)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    charrnn_model *m = NULL;
    if (charrnn_model_load(path, &m) == CHARRNN_OK) {
        charrnn_session *s = NULL;
        if (charrnn_session_new(m, &s) == CHARRNN_OK) {
            char vocab[16];
            size_t needed = 0;
            if (charrnn_model_get_vocab(m, vocab, sizeof vocab, &needed) == CHARRNN_OK && needed > 1)
                charrnn_session_feed(s, vocab, needed - 1, CHARRNN_SKIP_UNKNOWN, NULL, NULL);
            charrnn_session_generate(s, 4, NULL, NULL, NULL, NULL);
            charrnn_session_free(s);
        }
        charrnn_model_free(m);
    }
    return 0;
}
