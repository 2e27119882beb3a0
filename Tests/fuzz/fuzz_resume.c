/* libFuzzer harness: charrnn_train resuming from arbitrary bytes as a checkpoint (written to a temporary
 * file), on the text the seed checkpoints were trained on. Any status is fine; a crash, a trap or a
 * sanitizer report is a bug. The run is capped (a few steps, a few milliseconds) and writes no
 * checkpoints: out_dir stays NULL, so a mutated "bestCheckpoint" can never make the library delete a file. */
#include "charrnn.h"
#include "fuzz_text.h"
#include "fuzz_train_params.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int stop_after_steps(const charrnn_progress *progress, void *user_data) {
    int *calls = user_data;
    (void)progress;
    return ++*calls > 16; /* non-zero: cancel */
}

static char path[64], text[64];
static void remove_files(void) { /* libFuzzer ends its runs with exit() */
    unlink(path);
    unlink(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        atexit(remove_files);
        snprintf(path, sizeof path, "/tmp/charrnn-fuzz-resume-%d.safetensors", (int)getpid());
        snprintf(text, sizeof text, "/tmp/charrnn-fuzz-resume-%d.txt", (int)getpid());
        if (fuzz_write_text(text) != 0) abort();
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    charrnn_train_params p = fuzz_train_params();
    p.max_time = 0.05;
    p.resume = path;
    int calls = 0;
    charrnn_model *m = NULL;
    charrnn_train_result r;
    CHARRNN_INIT_SIZE(r);
    charrnn_status st = charrnn_train(text, &p, stop_after_steps, &calls, &m, &r);
    if (m) {
        charrnn_session *s = NULL;
        if (charrnn_session_new(m, &s) == CHARRNN_OK) {
            charrnn_session_feed(s, "First", 5, CHARRNN_SKIP_UNKNOWN, NULL, NULL);
            charrnn_session_generate(s, 4, NULL, NULL, NULL, NULL);
            charrnn_session_free(s);
        }
        charrnn_model_free(m);
    }
    (void)st;
    return 0;
}
