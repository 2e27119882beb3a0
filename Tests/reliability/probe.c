/* Drives libcharrnn's C ABI for the end-to-end reliability tests of issue 18 (test_strict_header.py,
 * test_special_files.py, test_not_finite.py, test_second_run.py, test_memory_budget.py).
 *
 * Every call it makes prints one line, which the tests parse (reliability_util.probe_lines):
 *   <label> status=<STATUS_NAME> ms=<milliseconds the call took> message=<charrnn_last_error()>
 * A crash, an abort or a hang in the library shows as a signal or a timeout of this process instead.
 *
 * Usage: probe [--headroom MiB] COMMAND ARGS...
 *   --headroom MiB      before the command, lower the soft RLIMIT_AS (ulimit -v) to what the process maps
 *                       now plus MiB: the limit then does not depend on the machine's baseline
 *   load PATH...        charrnn_model_load each path                        (label: load:<path>)
 *   train CORPUS RESUME OUT
 *                       charrnn_train with a tiny model for 3 steps; RESUME and OUT are paths or "-"
 *                       (label: train)
 *   not-finite MODEL    probabilities, sample, generate (counting characters passed to the callback) and
 *                       evaluate, with a float32 and an int8 session (labels: <precision>:<call>, and
 *                       generated:<precision> whose message is the number of characters delivered)
 *   evaluate MODEL TEXT charrnn_model_evaluate on TEXT (label: evaluate)
 *   save MODEL PATH     charrnn_model_save of MODEL to PATH (label: save)
 * MODEL is a file, or lstm:LAYERSxUNITS for a new LSTM of that size; it is loaded or created before the
 * limit is set.
 *   sizes MODEL         sizes and indexes a caller controls, each out of range (labels: see below)
 *   create JSON         charrnn_model_create with config JSON over a 60-character vocabulary (label: create)
 */
#define _GNU_SOURCE
#include "charrnn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* A result struct the library fills in: zeroed, then sized (struct_size, charrnn.h's conventions). */
#define INIT_RESULT(var) (memset(&(var), 0, sizeof(var)), CHARRNN_INIT_SIZE(var))

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double started;

static void report(const char *label, charrnn_status st) {
    const char *message = charrnn_last_error();
    printf("%s status=%s ms=%.1f message=", label, charrnn_status_name(st), now_ms() - started);
    for (const char *c = message; *c; c++) putchar(*c == '\n' ? ' ' : *c);
    putchar('\n');
    fflush(stdout);
}

/* Times the call and prints its line. */
#define CALL(label, call)                                                                                              \
    do {                                                                                                               \
        started = now_ms();                                                                                            \
        charrnn_status st_ = (call);                                                                                   \
        report(label, st_);                                                                                            \
    } while (0)

static size_t mapped_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1) exit(3);
    fclose(f);
    return pages * 4096ul;
}

static size_t headroom;

static void apply_limit(void) {
    if (!headroom) return;
    struct rlimit r;
    getrlimit(RLIMIT_AS, &r);
    r.rlim_cur = mapped_bytes() + headroom;
    if (setrlimit(RLIMIT_AS, &r) != 0) {
        perror("probe: setrlimit");
        exit(3);
    }
}

/* A model file, or "lstm:LAYERSxUNITS": a new LSTM of that size over a 60-character vocabulary. */
static charrnn_model *load_or_die(const char *path) {
    charrnn_model *m = NULL;
    int layers = 0, units = 0;
    if (sscanf(path, "lstm:%dx%d", &layers, &units) == 2 && layers > 0 && layers <= 64) {
        static const char *VOCAB = "\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        char config[4096];
        int n = snprintf(config, sizeof config, "{\"layers\":[");
        for (int i = 0; i < layers; i++)
            n += snprintf(config + n, sizeof config - (size_t)n, "%s{\"cell\":\"lstm\",\"units\":%d}", i ? "," : "",
                          units);
        snprintf(config + n, sizeof config - (size_t)n, "]}");
        if (charrnn_model_create(config, VOCAB, strlen(VOCAB), 1, &m) != CHARRNN_OK) {
            fprintf(stderr, "probe: cannot create %s: %s\n", path, charrnn_last_error());
            exit(3);
        }
        return m;
    }
    if (charrnn_model_load(path, &m) != CHARRNN_OK) {
        fprintf(stderr, "probe: cannot load %s: %s\n", path, charrnn_last_error());
        exit(3);
    }
    return m;
}

static int count_chars(uint32_t cp, const char *utf8, size_t len, float p, void *user) {
    (void)cp;
    (void)utf8;
    (void)len;
    (void)p;
    ++*(size_t *)user;
    return 0;
}

static int stop_after_three(uint32_t cp, const char *utf8, size_t len, float p, void *user) {
    (void)cp;
    (void)utf8;
    (void)len;
    (void)p;
    return ++*(size_t *)user >= 3;
}

static void not_finite(charrnn_model *m, charrnn_precision precision, const char *name) {
    char label[64];
    charrnn_session *s = NULL;
    snprintf(label, sizeof label, "%s:session", name);
    CALL(label, charrnn_session_new_with_precision(m, precision, &s));
    if (!s) return;
    snprintf(label, sizeof label, "%s:feed", name);
    CALL(label, charrnn_session_feed(s, "RO", 2, CHARRNN_SKIP_UNKNOWN, NULL, NULL));
    float probs[4096];
    size_t needed = 0;
    snprintf(label, sizeof label, "%s:probabilities", name);
    CALL(label, charrnn_session_probabilities(s, probs, sizeof probs / sizeof probs[0], &needed));
    uint32_t cp = 0;
    snprintf(label, sizeof label, "%s:sample", name);
    CALL(label, charrnn_session_sample(s, NULL, &cp, NULL));
    size_t delivered = 0, generated = 0;
    snprintf(label, sizeof label, "%s:generate", name);
    CALL(label, charrnn_session_generate(s, 5, NULL, count_chars, &delivered, &generated));
    printf("generated:%s status=OK ms=0 message=%zu\n", name, delivered + generated);
    charrnn_session_free(s);
}

static void sizes(charrnn_model *m) {
    charrnn_model_info info;
    INIT_RESULT(info);
    if (charrnn_model_get_info(m, &info) != CHARRNN_OK) exit(3);
    charrnn_session *s = NULL;
    if (charrnn_session_new(m, &s) != CHARRNN_OK) exit(3);
    charrnn_session_feed(s, "RO", 2, CHARRNN_SKIP_UNKNOWN, NULL, NULL);
    unsigned char *state = calloc(1, info.state_size + 16);
    size_t needed = 0;
    CALL("get_state:capacity=SIZE_MAX,buf=NULL", charrnn_session_get_state(s, NULL, SIZE_MAX, &needed));
    CALL("get_state:capacity=state_size-1", charrnn_session_get_state(s, state, info.state_size - 1, &needed));
    CALL("get_state:exact", charrnn_session_get_state(s, state, info.state_size, &needed));
    CALL("set_state:len=SIZE_MAX", charrnn_session_set_state(s, state, SIZE_MAX));
    CALL("set_state:len=2^40", charrnn_session_set_state(s, state, (size_t)1 << 40));
    CALL("set_state:len=state_size+1", charrnn_session_set_state(s, state, info.state_size + 1));
    CALL("set_state:len=0", charrnn_session_set_state(s, state, 0));
    size_t n = 0;
    CALL("tensor_count", charrnn_model_tensor_count(m, &n));
    char name[256];
    int64_t shape[4];
    size_t rank = 0, name_needed = 0;
    CALL("tensor_info:index=count", charrnn_model_tensor_info(m, n, name, sizeof name, &name_needed, shape, &rank));
    CALL("tensor_info:index=SIZE_MAX",
         charrnn_model_tensor_info(m, SIZE_MAX, name, sizeof name, &name_needed, shape, &rank));
    CALL("tensor_info:name_capacity=SIZE_MAX,name=NULL",
         charrnn_model_tensor_info(m, 0, NULL, SIZE_MAX, &name_needed, shape, &rank));
    float one = 0;
    int64_t huge[4] = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    int64_t overflow[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    int64_t negative[2] = {-1, -1};
    CALL("set_weights:shape=INT64_MAX",
         charrnn_model_set_weights((charrnn_model *)m, "dense", "bias", &one, 1, huge, 1));
    CALL("set_weights:shape-product-overflows",
         charrnn_model_set_weights((charrnn_model *)m, "dense", "kernel", &one, 0, overflow, 4));
    CALL("set_weights:shape=-1",
         charrnn_model_set_weights((charrnn_model *)m, "dense", "kernel", &one, 1, negative, 2));
    CALL("set_weights:rank=SIZE_MAX",
         charrnn_model_set_weights((charrnn_model *)m, "dense", "bias", &one, 1, huge, SIZE_MAX));
    CALL("set_weights:count=SIZE_MAX",
         charrnn_model_set_weights((charrnn_model *)m, "dense", "bias", &one, SIZE_MAX, huge, 1));
    CALL("get_weights:capacity=SIZE_MAX,data=NULL",
         charrnn_model_get_weights(m, "dense", "bias", NULL, SIZE_MAX, &needed));
    CALL("get_weights:capacity=1", charrnn_model_get_weights(m, "dense", "bias", &one, 1, &needed));
    size_t got = 0, calls = 0;
    CALL("generate:n=SIZE_MAX", charrnn_session_generate(s, SIZE_MAX, NULL, count_chars, &calls, &got));
    CALL("generate:n=2^32+1", charrnn_session_generate(s, ((size_t)1 << 32) + 1, NULL, count_chars, &calls, &got));
    calls = 0;
    CALL("generate:n=2^32,stopped-after-3",
         charrnn_session_generate(s, (size_t)1 << 32, NULL, stop_after_three, &calls, &got));
    printf("generated status=OK ms=0 message=%zu\n", got);
    CALL("feed:len=SIZE_MAX", charrnn_session_feed(s, "RO", SIZE_MAX, 0, NULL, NULL));
    CALL("feed:len=2^31+1", charrnn_session_feed(s, "RO", ((size_t)1 << 31) + 1, 0, NULL, NULL));
    charrnn_eval_result r;
    INIT_RESULT(r);
    CALL("evaluate:len=SIZE_MAX", charrnn_model_evaluate(m, "RO", SIZE_MAX, 0, &r));
    float probs[1];
    CALL("probabilities:capacity=1", charrnn_session_probabilities(s, probs, 1, &needed));
    CALL("probabilities:capacity=SIZE_MAX,probs=NULL", charrnn_session_probabilities(s, NULL, SIZE_MAX, &needed));
    char vocab[1];
    CALL("get_vocab:capacity=1", charrnn_model_get_vocab(m, vocab, 1, &needed));
    free(state);
    charrnn_session_free(s);
}

int main(int argc, char **argv) {
    int a = 1;
    if (a + 1 < argc && strcmp(argv[a], "--headroom") == 0) {
        headroom = (size_t)strtoull(argv[a + 1], NULL, 10) << 20;
        a += 2;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: probe [--headroom MiB] COMMAND ARGS...\n");
        return 2;
    }
    const char *command = argv[a++];
    if (strcmp(command, "load") == 0) {
        apply_limit();
        for (; a < argc; a++) {
            char label[4200];
            charrnn_model *m = NULL;
            snprintf(label, sizeof label, "load:%s", argv[a]);
            CALL(label, charrnn_model_load(argv[a], &m));
            charrnn_model_free(m);
        }
    } else if (strcmp(command, "train") == 0 && argc - a == 3) {
        charrnn_train_params p = charrnn_default_train_params();
        p.layers = 1;
        p.hidden = 16;
        p.batch_size = 10;
        p.seq_length = 20;
        p.seed = 3;
        p.max_steps = 3;
        p.resume = strcmp(argv[a + 1], "-") ? argv[a + 1] : NULL;
        p.out_dir = strcmp(argv[a + 2], "-") ? argv[a + 2] : NULL;
        charrnn_model *m = NULL;
        apply_limit();
        CALL("train", charrnn_train(argv[a], &p, NULL, NULL, &m, NULL));
        charrnn_model_free(m);
    } else if (strcmp(command, "not-finite") == 0 && argc - a == 1) {
        charrnn_model *m = load_or_die(argv[a]);
        apply_limit();
        not_finite(m, CHARRNN_PRECISION_FLOAT32, "float32");
        not_finite(m, CHARRNN_PRECISION_INT8, "int8");
        charrnn_eval_result r;
        INIT_RESULT(r);
        const char *text = "ROMEO: What light through yonder window breaks?";
        CALL("evaluate", charrnn_model_evaluate(m, text, strlen(text), CHARRNN_SKIP_UNKNOWN, &r));
        charrnn_model_free(m);
    } else if (strcmp(command, "evaluate") == 0 && argc - a == 2) {
        charrnn_model *m = load_or_die(argv[a]);
        charrnn_eval_result r;
        INIT_RESULT(r);
        apply_limit();
        CALL("evaluate", charrnn_model_evaluate(m, argv[a + 1], strlen(argv[a + 1]), CHARRNN_SKIP_UNKNOWN, &r));
        charrnn_model_free(m);
    } else if (strcmp(command, "save") == 0 && argc - a == 2) {
        charrnn_model *m = load_or_die(argv[a]);
        apply_limit();
        CALL("save", charrnn_model_save(m, argv[a + 1]));
        charrnn_model_free(m);
    } else if (strcmp(command, "create") == 0 && argc - a == 1) {
        static const char *VOCAB = "\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        charrnn_model *m = NULL;
        apply_limit();
        CALL("create", charrnn_model_create(argv[a], VOCAB, strlen(VOCAB), 1, &m));
        charrnn_model_free(m);
    } else if (strcmp(command, "sizes") == 0 && argc - a == 1) {
        charrnn_model *m = load_or_die(argv[a]);
        apply_limit();
        sizes(m);
        charrnn_model_free(m);
    } else {
        fprintf(stderr, "probe: unknown command or wrong arguments: %s\n", command);
        return 2;
    }
    return 0;
}
