/* Memory soak of libcharrnn (issue 8), run by test_memory.py.
 *
 * 1. One model shared by THREADS threads, each generating CHARS characters in chunks from its own
 *    session (with a state save/restore and a probabilities read between chunks). The resident set size
 *    (VmRSS) is read once every thread has finished a warm-up chunk and again once every thread has
 *    finished (threads still alive at both points, so their stacks and malloc arenas count both times).
 * 2. Sessions created, fed, saved and freed LOOPS times; models loaded and freed; loads of a corrupt file
 *    refused: VmRSS after a tenth of the iterations and at the end.
 *
 * Fails (exit 1) when any phase grows by more than BOUND_KB. Prints one line per phase:
 *   phase=<name> start_kb=<n> end_kb=<n> growth_kb=<n> work=<n>
 * Usage: soak [chars-per-thread] [loops] [bound-kb] [scratch-folder]
 */
#define _POSIX_C_SOURCE 200809L
#include "charrnn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define CHUNK 2000

static const char *CONFIG = "{\"layers\":[{\"cell\":\"lstm\",\"units\":32}]}";
static const char *VOCAB = "\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static charrnn_model *model;
static size_t chars_per_thread;
static pthread_barrier_t warm, done, leave;
static int failed;

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        charrnn_status st_ = (call);                                                                                   \
        if (st_ != CHARRNN_OK) {                                                                                       \
            fprintf(stderr, "soak: %s failed: %s: %s\n", #call, charrnn_status_name(st_), charrnn_last_error());       \
            failed = 1;                                                                                                \
        }                                                                                                              \
    } while (0)

static int count_chars(uint32_t cp, const char *utf8, size_t len, float p, void *user) {
    (void)cp;
    (void)utf8;
    (void)len;
    (void)p;
    ++*(size_t *)user;
    return 0;
}

static void *generate(void *arg) {
    size_t id = (size_t)arg, total = 0;
    charrnn_session *s = NULL;
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    CHECK(charrnn_model_get_info(model, &info));
    void *state = malloc(info.state_size);
    float probs[128];
    charrnn_sample_params params = charrnn_default_sample_params();
    params.temperature = 0.9f;
    params.top_k = (int32_t)(id % 2 ? 10 : 0);
    CHECK(charrnn_session_new(model, &s));
    CHECK(charrnn_session_seed(s, 1000 + id));
    CHECK(charrnn_session_feed(s, "ROMEO:\n", 7, 0, NULL, NULL));
    for (int warmup = 1; total < chars_per_thread || warmup; warmup = 0) {
        size_t n = 0;
        CHECK(charrnn_session_generate(s, CHUNK, &params, count_chars, &n, NULL));
        total += n;
        CHECK(charrnn_session_get_state(s, state, info.state_size, NULL));
        CHECK(charrnn_session_set_state(s, state, info.state_size));
        CHECK(charrnn_session_probabilities(s, probs, sizeof probs / sizeof probs[0], NULL));
        if (warmup) pthread_barrier_wait(&warm);
    }
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&leave);
    charrnn_session_free(s);
    free(state);
    return (void *)total;
}

static void report(const char *phase, long start, long end, size_t work, long bound) {
    printf("phase=%s start_kb=%ld end_kb=%ld growth_kb=%ld work=%zu\n", phase, start, end, end - start, work);
    fflush(stdout);
    if (end - start > bound) {
        fprintf(stderr, "soak: %s: VmRSS grew by %ld kB (bound %ld kB)\n", phase, end - start, bound);
        failed = 1;
    }
}

static void session_loop(int from, int to) {
    for (int i = from; i < to; i++) {
        charrnn_session *s = NULL;
        char buf[8];
        CHECK(charrnn_session_new(model, &s));
        CHECK(charrnn_session_feed(s, "To be, or not", 13, 0, NULL, NULL));
        CHECK(charrnn_session_generate(s, 3, NULL, NULL, NULL, NULL));
        CHECK(charrnn_model_get_vocab(model, buf, sizeof buf, NULL) == CHARRNN_ERR_BUFFER_TOO_SMALL
                  ? CHARRNN_OK
                  : CHARRNN_ERR_INTERNAL);
        /* A failing call (unknown character) leaves an error message behind each time. */
        if (charrnn_session_feed(s, "\xe2\x82\xac", 3, 0, NULL, NULL) != CHARRNN_ERR_UNKNOWN_CHARACTER) failed = 1;
        charrnn_session_free(s);
    }
}

static void load_loop(const char *good, const char *bad, int from, int to) {
    for (int i = from; i < to; i++) {
        charrnn_model *m = NULL;
        CHECK(charrnn_model_load(good, &m));
        charrnn_model_free(m);
        m = NULL;
        if (charrnn_model_load(bad, &m) == CHARRNN_OK || m != NULL) failed = 1;
    }
}

int main(int argc, char **argv) {
    chars_per_thread = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    int loops = argc > 2 ? atoi(argv[2]) : 10000;
    long bound = argc > 3 ? atol(argv[3]) : 2048;
    const char *scratch = argc > 4 ? argv[4] : "/tmp";

    CHECK(charrnn_model_create(CONFIG, VOCAB, strlen(VOCAB), 11, &model));
    if (failed) return 1;

    /* 1. Generation from THREADS threads on one model. */
    pthread_t threads[THREADS];
    pthread_barrier_init(&warm, NULL, THREADS + 1);
    pthread_barrier_init(&done, NULL, THREADS + 1);
    pthread_barrier_init(&leave, NULL, THREADS + 1);
    for (size_t i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, generate, (void *)i);
    pthread_barrier_wait(&warm);
    long start = rss_kb();
    pthread_barrier_wait(&done);
    long end = rss_kb();
    pthread_barrier_wait(&leave);
    size_t generated = 0;
    for (size_t i = 0; i < THREADS; i++) {
        void *n;
        pthread_join(threads[i], &n);
        generated += (size_t)n;
    }
    report("generate", start, end, generated, bound);

    /* 2. Sessions created and freed. */
    session_loop(0, loops / 10);
    start = rss_kb();
    session_loop(loops / 10, loops);
    report("sessions", start, rss_kb(), (size_t)loops, bound);

    /* 3. Models loaded and freed; a corrupt file refused. */
    char good[1024], bad[1024];
    snprintf(good, sizeof good, "%s/soak-model.safetensors", scratch);
    snprintf(bad, sizeof bad, "%s/soak-bad.safetensors", scratch);
    CHECK(charrnn_model_save(model, good));
    FILE *f = fopen(bad, "wb");
    if (!f) return 1;
    fwrite("\x10\0\0\0\0\0\0\0{\"a\":1}         ", 1, 24, f);
    fclose(f);
    int model_loops = loops / 10;
    load_loop(good, bad, 0, model_loops / 10);
    start = rss_kb();
    load_loop(good, bad, model_loops / 10, model_loops);
    report("loads", start, rss_kb(), (size_t)model_loops, bound);

    charrnn_model_free(model);
    if (failed) fprintf(stderr, "soak: FAILED\n");
    return failed;
}
