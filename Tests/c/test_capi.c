/* Tests of every function of include/charrnn.h, including every error path.
 * Prints one line per failure and a final "N passed, M failed"; exits non-zero on any failure. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "charrnn.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s (last error: \"%s\")\n", __FILE__, __LINE__, #cond, charrnn_last_error()); \
        }                                                                                                              \
    } while (0)

/* A call that must fail with `expected` and leave a non-empty message. */
#define EXPECT_STATUS(expected, call)                                                                                  \
    do {                                                                                                               \
        charrnn_status st_ = (call);                                                                                   \
        if (st_ == (expected) && (st_ == CHARRNN_OK) == (charrnn_last_error()[0] == '\0')) {                           \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s returned %s, expected %s (last error: \"%s\")\n", __FILE__, __LINE__,      \
                    #call, charrnn_status_name(st_), charrnn_status_name(expected), charrnn_last_error());             \
        }                                                                                                              \
    } while (0)

#define OK(call) EXPECT_STATUS(CHARRNN_OK, call)

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

static const char *VOCAB = "\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char *CONFIG_LSTM = "{\"layers\":[{\"cell\":\"lstm\",\"units\":24},{\"cell\":\"gru\",\"units\":16}]}";

static charrnn_model *make_model(const char *config, uint64_t seed) {
    charrnn_model *m = NULL;
    if (charrnn_model_create(config, VOCAB, strlen(VOCAB), seed, &m) != CHARRNN_OK) {
        fprintf(stderr, "cannot create a model: %s\n", charrnn_last_error());
        exit(2);
    }
    return m;
}

/* ------------------------------------------------------------------------------------------------ */

static void test_version_and_status(void) {
    CHECK(strcmp(charrnn_version(), CHARRNN_VERSION_STRING) == 0);
    CHECK(charrnn_version_number() == CHARRNN_VERSION_NUMBER);
    CHECK(strcmp(charrnn_status_name(CHARRNN_OK), "OK") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_INVALID_ARGUMENT), "INVALID_ARGUMENT") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_IO), "IO") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_FORMAT), "FORMAT") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_UTF8), "UTF8") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_UNKNOWN_CHARACTER), "UNKNOWN_CHARACTER") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_BUFFER_TOO_SMALL), "BUFFER_TOO_SMALL") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_SHAPE), "SHAPE") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_NOT_FOUND), "NOT_FOUND") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_STATE), "STATE") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_CANCELLED), "CANCELLED") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_DIVERGED), "DIVERGED") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_CONFIG), "CONFIG") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_OUT_OF_MEMORY), "OUT_OF_MEMORY") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_INTERNAL), "INTERNAL") == 0);
    CHECK(strcmp(charrnn_status_name(CHARRNN_ERR_NOT_FINITE), "NOT_FINITE") == 0);
    CHECK(strcmp(charrnn_status_name((charrnn_status)15), "UNKNOWN") == 0);
    CHECK(strcmp(charrnn_status_name((charrnn_status)123456), "UNKNOWN") == 0);
    CHECK(charrnn_last_error() != NULL && charrnn_last_error()[0] == '\0');
    /* A failure sets the message; the infallible calls keep it; the next success clears it (the
     * default parameters come from a fallible call, charrnn_*_params_init). */
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_load(NULL, NULL));
    CHECK(strstr(charrnn_last_error(), "NULL") != NULL);
    (void)charrnn_status_name(CHARRNN_OK);
    (void)charrnn_version();
    charrnn_model_free(NULL);
    CHECK(charrnn_last_error()[0] != '\0');
    charrnn_sample_params sp = charrnn_default_sample_params();
    CHECK(charrnn_last_error()[0] == '\0');
    CHECK(sp.struct_size == sizeof sp);
    CHECK(sp.temperature == 1.0f && sp.top_k == 0 && sp.top_p == 1.0f && sp.greedy == 0 &&
          sp.seed == CHARRNN_SEED_CONTINUE);
    charrnn_train_params tp = charrnn_default_train_params();
    CHECK(tp.struct_size == sizeof tp);
    /* Every option starts unset: the library resolves it (the default, or a resumed checkpoint's value). */
    CHECK(tp.cell == CHARRNN_CELL_UNSET && tp.layers == CHARRNN_UNSET_U32 && tp.hidden == CHARRNN_UNSET_U32);
    CHECK(tp.objective == CHARRNN_OBJECTIVE_UNSET && tp.seq_length == CHARRNN_UNSET_U32 &&
          tp.batch_size == CHARRNN_UNSET_U32);
    CHECK(tp.optimizer == CHARRNN_OPTIMIZER_UNSET && isnan(tp.learning_rate) && isnan(tp.momentum) && tp.nesterov < 0);
    CHECK(isnan(tp.clip_value) && isnan(tp.clip_norm) && isnan(tp.lr_decay) && tp.epochs == CHARRNN_UNSET_U32);
    CHECK(tp.seed == CHARRNN_UNSET_U64 && tp.max_steps == CHARRNN_UNSET_U64 && isnan(tp.max_time) && tp.lowercase < 0);
    CHECK(isnan(tp.val_fraction) && tp.out_dir == NULL && tp.resume == NULL && tp.overwrite < 0);
}

static void test_create(void) {
    charrnn_model *m = NULL;
    OK(charrnn_model_create(CONFIG_LSTM, VOCAB, strlen(VOCAB), 7, &m));
    CHECK(m != NULL);
    CHECK(charrnn_last_error()[0] == '\0');
    charrnn_model *bad = NULL;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_create(NULL, VOCAB, strlen(VOCAB), 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_create(CONFIG_LSTM, VOCAB, strlen(VOCAB), 0, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_create(CONFIG_LSTM, NULL, 5, 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_create(CONFIG_LSTM, VOCAB, 0, 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_create(CONFIG_LSTM, VOCAB, SIZE_MAX, 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_OUT_OF_MEMORY, charrnn_model_create(CONFIG_LSTM, VOCAB, (size_t)1 << 40, 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_model_create(CONFIG_LSTM, "ab\xff", 3, 0, &bad));
    CHECK(strstr(charrnn_last_error(), "offset 2") != NULL);
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_model_create(CONFIG_LSTM, "a\xc3", 2, 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_model_create(CONFIG_LSTM, "\xed\xa0\x80", 3, 0, &bad)); /* surrogate */
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_create(CONFIG_LSTM, "abca", 4, 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_model_create("not json", VOCAB, strlen(VOCAB), 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_model_create("{}", VOCAB, strlen(VOCAB), 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_model_create("{\"layers\":[{\"cell\":\"lstm\",\"units\":0}]}", VOCAB,
                                                           strlen(VOCAB), 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_model_create("{\"layers\":[{\"cell\":\"tree\",\"units\":4}]}", VOCAB,
                                                           strlen(VOCAB), 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_CONFIG,
                  charrnn_model_create("{\"vocab_size\":3,\"layers\":[{\"cell\":\"gru\",\"units\":4}]}", VOCAB,
                                       strlen(VOCAB), 0, &bad));
    EXPECT_STATUS(CHARRNN_ERR_CONFIG,
                  charrnn_model_create("{\"layers\":[{\"cell\":\"rnn\",\"units\":4}],\"dropout\":1.5}", VOCAB,
                                       strlen(VOCAB), 0, &bad));
    EXPECT_STATUS(
        CHARRNN_ERR_OUT_OF_MEMORY,
        charrnn_model_create("{\"layers\":[{\"cell\":\"lstm\",\"units\":16384},{\"cell\":\"lstm\",\"units\":16384},"
                             "{\"cell\":\"lstm\",\"units\":16384}]}",
                             VOCAB, strlen(VOCAB), 0, &bad));
    CHECK(bad == NULL); /* outputs untouched on failure */
    /* Other architectures: embedding input, GRU without reset_after, a linear head, SimpleRNN. */
    charrnn_model *e = NULL;
    OK(charrnn_model_create("{\"input\":\"embedding\",\"embedding_dim\":8,\"layers\":[{\"cell\":\"gru\",\"units\":8,"
                            "\"reset_after\":false}],"
                            "\"head\":{\"activation\":\"linear\"}}",
                            "ab\xc3\xa9\xe2\x82\xac", 7, 1, &e));
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(e, &info));
    CHECK(info.vocab_size == 4 && info.num_layers == 1 && info.hidden_size == 8);
    charrnn_model_free(e);
    OK(charrnn_model_create("{\"layers\":[{\"cell\":\"rnn\",\"units\":5}]}", "xy", 2, 1, &e));
    charrnn_model_free(e);
    charrnn_model_free(m);
}

static void test_info_and_strings(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 1);
    charrnn_model_info info;
    memset(&info, 0xAB, sizeof info);
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    size_t V = strlen(VOCAB);
    CHECK(info.vocab_size == V && info.num_layers == 2 && info.hidden_size == 16);
    /* lstm: (V,96)+(24,96)+96; gru reset_after: (24,48)+(16,48)+(2,48); dense (16,V)+V */
    uint64_t expected = V * 96 + 24 * 96 + 96 + 24 * 48 + 16 * 48 + 2 * 48 + 16 * V + V;
    CHECK(info.parameter_count == expected);
    CHECK(info.state_size == 56 + 4 * (2 * 24 + 16));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_info(NULL, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_info(m, NULL));

    /* Vocabulary: query, too small, exact. */
    size_t needed = 0;
    OK(charrnn_model_get_vocab(m, NULL, 0, &needed));
    CHECK(needed == V + 1);
    char small[4] = {'x', 'x', 'x', 'x'};
    needed = 0;
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL, charrnn_model_get_vocab(m, small, sizeof small, &needed));
    CHECK(needed == V + 1);
    CHECK(strstr(charrnn_last_error(), "needs") != NULL);
    char *buf = malloc(needed);
    OK(charrnn_model_get_vocab(m, buf, needed, &needed));
    CHECK(strcmp(buf, VOCAB) == 0);
    OK(charrnn_model_get_vocab(m, buf, needed, NULL));
    free(buf);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_vocab(m, NULL, 0, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_vocab(m, NULL, 10, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_vocab(m, small, SIZE_MAX, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_vocab(NULL, NULL, 0, &needed));

    /* Config: round trip through create. */
    OK(charrnn_model_get_config(m, NULL, 0, &needed));
    char *config = malloc(needed);
    OK(charrnn_model_get_config(m, config, needed, &needed));
    CHECK(strlen(config) + 1 == needed);
    CHECK(strstr(config, "\"vocab_size\"") != NULL && strstr(config, "\"gru\"") != NULL);
    charrnn_model *again = NULL;
    OK(charrnn_model_create(config, VOCAB, V, 1, &again));
    charrnn_model_info info2;
    CHARRNN_INIT_SIZE(info2);
    OK(charrnn_model_get_info(again, &info2));
    CHECK(info2.parameter_count == info.parameter_count);
    charrnn_model_free(again);
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL, charrnn_model_get_config(m, config, 1, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_config(NULL, config, needed, &needed));
    free(config);

    /* Summary. */
    OK(charrnn_model_summary(m, NULL, 0, &needed));
    char *summary = malloc(needed);
    OK(charrnn_model_summary(m, summary, needed, NULL));
    CHECK(strstr(summary, "LSTM") != NULL && strstr(summary, "Total params") != NULL);
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL, charrnn_model_summary(m, summary, 3, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_summary(NULL, summary, needed, &needed));
    free(summary);

    /* A vocabulary holding U+0000 comes back in full. */
    charrnn_model *z = NULL;
    OK(charrnn_model_create("{\"layers\":[{\"cell\":\"rnn\",\"units\":3}]}", "a\0b", 3, 0, &z));
    char zb[8];
    OK(charrnn_model_get_vocab(z, zb, sizeof zb, &needed));
    CHECK(needed == 4 && zb[0] == 'a' && zb[1] == '\0' && zb[2] == 'b' && zb[3] == '\0');
    charrnn_model_free(z);
    charrnn_model_free(m);
}

static void test_tensors_and_weights(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 2);
    size_t count = 0;
    OK(charrnn_model_tensor_count(m, &count));
    CHECK(count == 8);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_tensor_count(NULL, &count));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_tensor_count(m, NULL));
    const char *names[] = {"rnn0.kernel", "rnn0.recurrent_kernel", "rnn0.bias", "rnn1.kernel", "rnn1.recurrent_kernel",
                           "rnn1.bias",   "dense.kernel",          "dense.bias"};
    size_t total = 0;
    for (size_t i = 0; i < count && i < 8; i++) {
        char name[64];
        size_t needed = 0, rank = 0;
        int64_t shape[4] = {0, 0, 0, 0};
        OK(charrnn_model_tensor_info(m, i, name, sizeof name, &needed, shape, &rank));
        CHECK(strcmp(name, names[i]) == 0);
        CHECK(needed == strlen(names[i]) + 1);
        CHECK(rank >= 1 && rank <= 2);
        size_t n = 1;
        for (size_t d = 0; d < rank; d++) n *= (size_t)shape[d];
        total += n;
    }
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    CHECK(total == info.parameter_count);
    {
        char name[4];
        size_t needed = 0, rank = 0;
        int64_t shape[4];
        EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL,
                      charrnn_model_tensor_info(m, 0, name, sizeof name, &needed, shape, &rank));
        CHECK(needed == strlen("rnn0.kernel") + 1);
        OK(charrnn_model_tensor_info(m, 0, NULL, 0, &needed, shape, &rank));
        CHECK(rank == 2 && shape[0] == (int64_t)strlen(VOCAB) && shape[1] == 96);
        EXPECT_STATUS(CHARRNN_ERR_NOT_FOUND, charrnn_model_tensor_info(m, 8, name, sizeof name, &needed, shape, &rank));
        EXPECT_STATUS(CHARRNN_ERR_NOT_FOUND,
                      charrnn_model_tensor_info(m, SIZE_MAX, name, sizeof name, &needed, shape, &rank));
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                      charrnn_model_tensor_info(NULL, 0, name, sizeof name, &needed, shape, &rank));
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_tensor_info(m, 0, NULL, 0, NULL, NULL, NULL));
    }

    /* get/set weights. */
    size_t needed = 0;
    OK(charrnn_model_get_weights(m, "rnn1", "bias", NULL, 0, &needed));
    CHECK(needed == 96);
    float bias[96], back[96];
    OK(charrnn_model_get_weights(m, "rnn1", "bias", bias, 96, &needed));
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL, charrnn_model_get_weights(m, "rnn1", "bias", bias, 95, &needed));
    CHECK(needed == 96);
    EXPECT_STATUS(CHARRNN_ERR_NOT_FOUND, charrnn_model_get_weights(m, "rnn9", "bias", bias, 96, &needed));
    CHECK(strstr(charrnn_last_error(), "rnn0.kernel") != NULL); /* names what exists */
    EXPECT_STATUS(CHARRNN_ERR_NOT_FOUND, charrnn_model_get_weights(m, "rnn1", "gamma", bias, 96, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_weights(m, NULL, "bias", bias, 96, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_weights(m, "rnn1", NULL, bias, 96, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_weights(NULL, "rnn1", "bias", bias, 96, &needed));
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_model_get_weights(m, "rnn\xff", "bias", bias, 96, &needed));
    for (int i = 0; i < 96; i++) bias[i] = (float)i * 0.25f;
    int64_t shape[2] = {2, 48};
    OK(charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, shape, 2));
    OK(charrnn_model_get_weights(m, "rnn1", "bias", back, 96, NULL));
    CHECK(memcmp(bias, back, sizeof bias) == 0);
    int64_t wrong[2] = {48, 2};
    EXPECT_STATUS(CHARRNN_ERR_SHAPE, charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, wrong, 2));
    CHECK(strstr(charrnn_last_error(), "[2, 48]") != NULL && strstr(charrnn_last_error(), "[48, 2]") != NULL);
    EXPECT_STATUS(CHARRNN_ERR_SHAPE, charrnn_model_set_weights(m, "rnn1", "bias", bias, 95, shape, 2));
    EXPECT_STATUS(CHARRNN_ERR_SHAPE, charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, shape, 1));
    EXPECT_STATUS(CHARRNN_ERR_SHAPE, charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, shape, 0));
    EXPECT_STATUS(CHARRNN_ERR_SHAPE, charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, shape, 5));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, shape, SIZE_MAX));
    int64_t negative[2] = {-2, -48};
    EXPECT_STATUS(CHARRNN_ERR_SHAPE, charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, negative, 2));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, NULL, 2));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_set_weights(m, "rnn1", "bias", NULL, 96, shape, 2));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_set_weights(m, "rnn1", "bias", bias, SIZE_MAX, shape, 2));
    EXPECT_STATUS(CHARRNN_ERR_NOT_FOUND, charrnn_model_set_weights(m, "rnn7", "bias", bias, 96, shape, 2));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_set_weights(NULL, "rnn1", "bias", bias, 96, shape, 2));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_set_weights(m, NULL, "bias", bias, 96, shape, 2));
    bias[5] = NAN;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_set_weights(m, "rnn1", "bias", bias, 96, shape, 2));
    OK(charrnn_model_get_weights(m, "rnn1", "bias", back, 96, NULL));
    CHECK(back[5] == 5 * 0.25f); /* unchanged by the refused call */
    charrnn_model_free(m);
}

static void test_save_load(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 3);
    const char *path = tmp_path("model.safetensors");
    OK(charrnn_model_save(m, path));
    charrnn_model *loaded = NULL;
    OK(charrnn_model_load(path, &loaded));
    CHECK(loaded != NULL);
    float a[96], b[96];
    OK(charrnn_model_get_weights(m, "rnn1", "bias", a, 96, NULL));
    OK(charrnn_model_get_weights(loaded, "rnn1", "bias", b, 96, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    char c1[512], c2[512];
    OK(charrnn_model_get_config(m, c1, sizeof c1, NULL));
    OK(charrnn_model_get_config(loaded, c2, sizeof c2, NULL));
    CHECK(strcmp(c1, c2) == 0);
    charrnn_model_free(loaded);

    charrnn_model *bad = NULL;
    EXPECT_STATUS(CHARRNN_ERR_IO, charrnn_model_load(tmp_path("missing.safetensors"), &bad));
    EXPECT_STATUS(CHARRNN_ERR_IO, charrnn_model_load(tmpdir, &bad)); /* a folder */
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_load(NULL, &bad));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_load(path, NULL));
    write_file(tmp_path("garbage"), "hello world, not a model", 24);
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_model_load(tmp_path("garbage"), &bad));
    write_file(tmp_path("empty"), "", 0);
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_model_load(tmp_path("empty"), &bad));
    /* A truncated copy of a real model. */
    FILE *f = fopen(path, "rb");
    static unsigned char bytes[1 << 16];
    size_t n = f ? fread(bytes, 1, sizeof bytes, f) : 0;
    if (f) fclose(f);
    CHECK(n > 100);
    write_file(tmp_path("truncated"), bytes, n / 2);
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_model_load(tmp_path("truncated"), &bad));
    /* A tiny file whose config claims huge layers must not make the library allocate them. */
    const char *header =
        "{\"__metadata__\":{\"format\":\"charrnn\",\"format_version\":\"1\",\"vocab\":\"ab\","
        "\"config\":\"{\\\"vocab_size\\\":2,\\\"layers\\\":[{\\\"cell\\\":\\\"lstm\\\",\\\"units\\\":16384},"
        "{\\\"cell\\\":\\\"lstm\\\",\\\"units\\\":16384},{\\\"cell\\\":\\\"lstm\\\",\\\"units\\\":16384}]}\"}}";
    size_t hl = strlen(header);
    unsigned char crafted[1024];
    for (int i = 0; i < 8; i++) crafted[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(crafted + 8, header, hl);
    write_file(tmp_path("huge"), crafted, 8 + hl);
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_model_load(tmp_path("huge"), &bad));
    CHECK(bad == NULL);

    EXPECT_STATUS(CHARRNN_ERR_IO, charrnn_model_save(m, tmp_path("no/such/folder/model.safetensors")));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_save(NULL, path));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_save(m, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_save(m, ""));
    charrnn_model_free(m);
}

static void test_evaluate(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 4);
    const char *text = "To be, or not to be: that is the question.";
    charrnn_eval_result r;
    CHARRNN_INIT_SIZE(r);
    OK(charrnn_model_evaluate(m, text, strlen(text), 0, &r));
    CHECK(r.chars == strlen(text) - 1);
    CHECK(r.loss > 0 && isfinite(r.loss) && fabs(r.perplexity - exp(r.loss)) < 1e-6 * r.perplexity);
    CHECK(r.accuracy >= 0 && r.accuracy <= 1);
    const char *unknown = "To be \xc3\xa9 or 1 not";
    EXPECT_STATUS(CHARRNN_ERR_UNKNOWN_CHARACTER, charrnn_model_evaluate(m, unknown, strlen(unknown), 0, &r));
    CHECK(strstr(charrnn_last_error(), "U+00E9") != NULL);
    OK(charrnn_model_evaluate(m, unknown, strlen(unknown), CHARRNN_SKIP_UNKNOWN, &r));
    CHECK(r.chars == strlen("To be  or  not") - 1);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_evaluate(m, text, strlen(text), 2, &r));
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_model_evaluate(m, "abc\x80", 4, 0, &r));
    CHECK(strstr(charrnn_last_error(), "offset 3") != NULL);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_evaluate(m, "a", 1, 0, &r));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_evaluate(m, text, 0, 0, &r));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_evaluate(m, NULL, 5, 0, &r));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_evaluate(m, text, SIZE_MAX, 0, &r));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_evaluate(m, text, strlen(text), 0, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_evaluate(NULL, text, strlen(text), 0, &r));
    charrnn_model_free(m);
}

/* An interrupt callback that asks to stop on its `stop_at`-th call (0: never). */
typedef struct {
    int calls;
    int stop_at;
} interrupt_log;

static int interrupt_at(void *user) {
    interrupt_log *log = user;
    log->calls++;
    return log->stop_at && log->calls >= log->stop_at;
}

/* Long calls ask their interrupt callback between chunks; stopping changes nothing. */
static void test_interrupts(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 4);
    char text[4001];
    for (size_t i = 0; i < sizeof text - 1; i++) text[i] = "To be, or not "[i % 14];
    text[sizeof text - 1] = '\0';
    size_t len = strlen(text);

    charrnn_eval_result plain, asked;
    CHARRNN_INIT_SIZE(plain);
    CHARRNN_INIT_SIZE(asked);
    OK(charrnn_model_evaluate(m, text, len, 0, &plain));
    interrupt_log log = {0, 0};
    OK(charrnn_model_evaluate_interruptible(m, text, len, 0, interrupt_at, &log, &asked));
    CHECK(log.calls >= (int)(len / 256) && asked.loss == plain.loss && asked.chars == plain.chars);
    OK(charrnn_model_evaluate_interruptible(m, text, len, 0, NULL, NULL, &asked));
    CHECK(asked.loss == plain.loss);
    log = (interrupt_log){0, 3};
    EXPECT_STATUS(CHARRNN_ERR_CANCELLED,
                  charrnn_model_evaluate_interruptible(m, text, len, 0, interrupt_at, &log, &asked));
    CHECK(log.calls == 3);

    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    unsigned char *before = malloc(info.state_size), *after = malloc(info.state_size);
    charrnn_session *s = NULL;
    OK(charrnn_session_new(m, &s));
    OK(charrnn_session_feed(s, "To", 2, 0, NULL, NULL));
    OK(charrnn_session_get_state(s, before, info.state_size, NULL));
    size_t fed = 0;
    log = (interrupt_log){0, 2};
    EXPECT_STATUS(CHARRNN_ERR_CANCELLED,
                  charrnn_session_feed_interruptible(s, text, len, 0, interrupt_at, &log, &fed, NULL));
    OK(charrnn_session_get_state(s, after, info.state_size, NULL));
    CHECK(memcmp(before, after, info.state_size) == 0 && fed == 0);
    log = (interrupt_log){0, 0};
    OK(charrnn_session_feed_interruptible(s, text, len, 0, interrupt_at, &log, &fed, NULL));
    CHECK(fed == len && log.calls > 0);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_session_feed_interruptible(NULL, text, len, 0, NULL, NULL, NULL, NULL));
    charrnn_session_free(s);
    free(before);
    free(after);
    charrnn_model_free(m);
}

/* Weights so large that float32 overflows: an error, never NaN probabilities or a character drawn
 * from them. */
static void test_not_finite(void) {
    /* LSTM logits overflow to infinity (a GRU's saturated update gate would keep h at zero). */
    charrnn_model *m = make_model("{\"layers\":[{\"cell\":\"lstm\",\"units\":8}]}", 4);
    size_t count = 0;
    OK(charrnn_model_tensor_count(m, &count));
    for (size_t i = 0; i < count; i++) {
        char name[128];
        int64_t shape[4];
        size_t rank = 0, n = 1;
        OK(charrnn_model_tensor_info(m, i, name, sizeof name, NULL, shape, &rank));
        for (size_t d = 0; d < rank; d++) n *= (size_t)shape[d];
        float *values = malloc(n * sizeof *values);
        for (size_t k = 0; k < n; k++) values[k] = 3e38f;
        char *dot = strchr(name, '.');
        *dot = '\0';
        OK(charrnn_model_set_weights(m, name, dot + 1, values, n, shape, rank));
        free(values);
    }
    charrnn_session *s = NULL;
    OK(charrnn_session_new(m, &s));
    OK(charrnn_session_feed(s, "To", 2, 0, NULL, NULL));
    float probs[64];
    uint32_t cp = 0;
    EXPECT_STATUS(CHARRNN_ERR_NOT_FINITE, charrnn_session_probabilities(s, probs, 64, NULL));
    CHECK(strstr(charrnn_last_error(), "overflow") != NULL);
    EXPECT_STATUS(CHARRNN_ERR_NOT_FINITE, charrnn_session_sample(s, NULL, &cp, NULL));
    EXPECT_STATUS(CHARRNN_ERR_NOT_FINITE, charrnn_session_generate(s, 5, NULL, NULL, NULL, NULL));
    charrnn_eval_result r;
    CHARRNN_INIT_SIZE(r);
    EXPECT_STATUS(CHARRNN_ERR_NOT_FINITE, charrnn_model_evaluate(m, "To be, or not", 13, 0, &r));
    charrnn_session_free(s);
    charrnn_model_free(m);
}

/* Generation into a string through the callback. */
typedef struct {
    char text[4096];
    size_t len;
    size_t calls;
    size_t stop_after;
    int bad_probability;
} gen_buffer;

static int collect(uint32_t codepoint, const char *utf8, size_t utf8_len, float probability, void *user) {
    gen_buffer *g = user;
    if (!(probability > 0 && probability <= 1)) g->bad_probability = 1;
    if (codepoint < 0x80 && (utf8_len != 1 || (unsigned char)utf8[0] != codepoint)) g->bad_probability = 1;
    if (g->len + utf8_len < sizeof g->text) {
        memcpy(g->text + g->len, utf8, utf8_len);
        g->len += utf8_len;
        g->text[g->len] = '\0';
    }
    g->calls++;
    return g->stop_after && g->calls >= g->stop_after;
}

static void test_sessions(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 5);
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    charrnn_session *s = NULL;
    OK(charrnn_session_new(m, &s));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_new(NULL, &s));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_new(m, NULL));

    float *probs = malloc(sizeof(float) * info.vocab_size);
    size_t needed = 0;
    EXPECT_STATUS(CHARRNN_ERR_STATE, charrnn_session_probabilities(s, probs, info.vocab_size, &needed));
    EXPECT_STATUS(CHARRNN_ERR_STATE, charrnn_session_sample(s, NULL, NULL, NULL));
    EXPECT_STATUS(CHARRNN_ERR_STATE, charrnn_session_generate(s, 5, NULL, NULL, NULL, NULL));

    size_t fed = 99, skipped = 99;
    OK(charrnn_session_feed(s, "ROMEO:", 6, 0, &fed, &skipped));
    CHECK(fed == 6 && skipped == 0);
    OK(charrnn_session_feed(s, NULL, 0, 0, &fed, &skipped)); /* empty text: nothing happens */
    CHECK(fed == 0);
    OK(charrnn_session_feed(s, "", 0, 0, NULL, NULL));

    /* The whole text is checked first: a refused feed leaves the state unchanged. */
    size_t state_size = (size_t)info.state_size;
    unsigned char *before = malloc(state_size), *after = malloc(state_size);
    OK(charrnn_session_get_state(s, before, state_size, &needed));
    CHECK(needed == state_size);
    EXPECT_STATUS(CHARRNN_ERR_UNKNOWN_CHARACTER, charrnn_session_feed(s, "abc#def", 7, 0, &fed, &skipped));
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_session_feed(s, "abc\xc0\xaf", 5, 0, &fed, &skipped));
    CHECK(strstr(charrnn_last_error(), "offset 3") != NULL);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_feed(s, "abc", 3, 4, &fed, &skipped));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_feed(s, NULL, 3, 0, &fed, &skipped));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_feed(s, "abc", SIZE_MAX, 0, &fed, &skipped));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_feed(NULL, "abc", 3, 0, &fed, &skipped));
    OK(charrnn_session_get_state(s, after, state_size, NULL));
    CHECK(memcmp(before, after, state_size) == 0);
    OK(charrnn_session_feed(s, "a#b\xe2\x82\xac#", 7, CHARRNN_SKIP_UNKNOWN, &fed, &skipped));
    CHECK(fed == 2 && skipped == 3);
    if (fed != 2 || skipped != 3) fprintf(stderr, "fed %zu skipped %zu\n", fed, skipped);

    /* Probabilities. */
    OK(charrnn_session_probabilities(s, NULL, 0, &needed));
    CHECK(needed == info.vocab_size);
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL, charrnn_session_probabilities(s, probs, info.vocab_size - 1, &needed));
    OK(charrnn_session_probabilities(s, probs, info.vocab_size, &needed));
    double sum = 0;
    for (uint32_t i = 0; i < info.vocab_size; i++) sum += probs[i];
    CHECK(fabs(sum - 1) < 1e-4);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_probabilities(NULL, probs, info.vocab_size, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_probabilities(s, NULL, 5, &needed));

    /* Sampling. */
    uint32_t cp = 0;
    float p = 0;
    OK(charrnn_session_sample(s, NULL, &cp, &p));
    CHECK(cp != 0 && strchr(VOCAB, (int)cp) != NULL && p > 0 && p <= 1);
    OK(charrnn_session_sample(s, NULL, NULL, NULL));
    charrnn_sample_params sp = charrnn_default_sample_params();
    sp.greedy = 1;
    OK(charrnn_session_probabilities(s, probs, info.vocab_size, NULL));
    uint32_t best = 0;
    for (uint32_t i = 1; i < info.vocab_size; i++)
        if (probs[i] > probs[best]) best = i;
    OK(charrnn_session_sample(s, &sp, &cp, &p));
    CHECK(cp == (unsigned char)VOCAB[best] && p == 1.0f);
    sp = charrnn_default_sample_params();
    sp.temperature = 0;
    OK(charrnn_session_get_state(s, before, state_size, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample(s, &sp, &cp, &p));
    sp.temperature = NAN;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample(s, &sp, &cp, &p));
    sp = charrnn_default_sample_params();
    sp.top_p = 0;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample(s, &sp, &cp, &p));
    sp.top_p = 1.5f;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample(s, &sp, &cp, &p));
    sp = charrnn_default_sample_params();
    sp.top_k = -1;
    sp.seed = 5; /* refused parameters do not reseed */
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample(s, &sp, &cp, &p));
    OK(charrnn_session_get_state(s, after, state_size, NULL));
    CHECK(memcmp(before, after, state_size) == 0);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample(NULL, NULL, &cp, &p));
    sp = charrnn_default_sample_params();
    sp.top_k = 1;
    OK(charrnn_session_sample(s, &sp, &cp, &p));
    CHECK(p == 1.0f);
    sp.top_k = 0;
    sp.top_p = 0.5f;
    sp.temperature = 0.7f;
    OK(charrnn_session_sample(s, &sp, &cp, &p));

    /* Generation: seeds make it reproducible; the callback can stop it. */
    sp = charrnn_default_sample_params();
    sp.seed = 1234;
    OK(charrnn_session_get_state(s, before, state_size, NULL));
    gen_buffer g1, g2;
    memset(&g1, 0, sizeof g1);
    memset(&g2, 0, sizeof g2);
    size_t generated = 0;
    OK(charrnn_session_generate(s, 100, &sp, collect, &g1, &generated));
    CHECK(generated == 100 && g1.calls == 100 && !g1.bad_probability);
    OK(charrnn_session_set_state(s, before, state_size));
    OK(charrnn_session_generate(s, 100, &sp, collect, &g2, &generated));
    CHECK(strcmp(g1.text, g2.text) == 0);
    /* Restoring a state also restores the generator. */
    sp.seed = CHARRNN_SEED_CONTINUE;
    OK(charrnn_session_get_state(s, before, state_size, NULL));
    memset(&g1, 0, sizeof g1);
    memset(&g2, 0, sizeof g2);
    OK(charrnn_session_generate(s, 50, &sp, collect, &g1, NULL));
    OK(charrnn_session_set_state(s, before, state_size));
    OK(charrnn_session_generate(s, 50, &sp, collect, &g2, NULL));
    CHECK(strcmp(g1.text, g2.text) == 0);
    /* charrnn_session_seed is the same as a seed in the params. */
    memset(&g1, 0, sizeof g1);
    memset(&g2, 0, sizeof g2);
    OK(charrnn_session_set_state(s, before, state_size));
    OK(charrnn_session_seed(s, 77));
    OK(charrnn_session_generate(s, 30, NULL, collect, &g1, NULL));
    OK(charrnn_session_set_state(s, before, state_size));
    sp.seed = 77;
    OK(charrnn_session_generate(s, 30, &sp, collect, &g2, NULL));
    CHECK(strcmp(g1.text, g2.text) == 0);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_seed(NULL, 1));
    memset(&g1, 0, sizeof g1);
    g1.stop_after = 7;
    OK(charrnn_session_generate(s, 100, NULL, collect, &g1, &generated));
    CHECK(generated == 7 && g1.calls == 7);
    OK(charrnn_session_generate(s, 10, NULL, NULL, NULL, &generated));
    CHECK(generated == 10);
    OK(charrnn_session_generate(s, 0, NULL, collect, &g1, &generated));
    CHECK(generated == 0);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_generate(s, SIZE_MAX, NULL, NULL, NULL, &generated));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_session_generate(s, (size_t)1 << 50, NULL, NULL, NULL, &generated));
    sp = charrnn_default_sample_params();
    sp.temperature = -1;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_generate(s, 5, &sp, NULL, NULL, &generated));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_generate(NULL, 5, NULL, NULL, NULL, &generated));

    /* States: query, too small, wrong size, corrupt, another model's. */
    OK(charrnn_session_get_state(s, NULL, 0, &needed));
    CHECK(needed == state_size);
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL, charrnn_session_get_state(s, before, state_size - 1, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_get_state(NULL, before, state_size, &needed));
    OK(charrnn_session_get_state(s, before, state_size, NULL));
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_session_set_state(s, before, state_size - 1));
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_session_set_state(s, NULL, 0));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_set_state(s, NULL, state_size));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_set_state(s, before, SIZE_MAX));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_set_state(NULL, before, state_size));
    memcpy(after, before, state_size);
    after[0] = 'X';
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_session_set_state(s, after, state_size));
    memcpy(after, before, state_size);
    after[8] ^= 1; /* the model fingerprint */
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_session_set_state(s, after, state_size));
    memcpy(after, before, state_size);
    memset(after + state_size - 4, 0xFF, 4); /* a NaN in the state */
    EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_session_set_state(s, after, state_size));
    charrnn_model *other = make_model(CONFIG_LSTM, 99);
    charrnn_model *other_arch = make_model(
        "{\"layers\":[{\"cell\":\"lstm\",\"units\":24},{\"cell\":\"gru\",\"units\":16,\"reset_after\":false}]}", 5);
    charrnn_session *s2 = NULL, *s3 = NULL;
    OK(charrnn_session_new(other, &s2));
    OK(charrnn_session_set_state(s2, before, state_size)); /* same architecture and vocabulary: accepted */
    OK(charrnn_session_new(other_arch, &s3));
    charrnn_model_info info3;
    CHARRNN_INIT_SIZE(info3);
    OK(charrnn_model_get_info(other_arch, &info3));
    if (info3.state_size == state_size)
        EXPECT_STATUS(CHARRNN_ERR_FORMAT, charrnn_session_set_state(s3, before, state_size));
    charrnn_session_free(s2);
    charrnn_session_free(s3);
    charrnn_model_free(other);
    charrnn_model_free(other_arch);

    /* Reset forgets the input; the session outlives a freed model. */
    OK(charrnn_session_reset(s));
    EXPECT_STATUS(CHARRNN_ERR_STATE, charrnn_session_probabilities(s, probs, info.vocab_size, &needed));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_reset(NULL));
    charrnn_model_free(m);
    OK(charrnn_session_feed(s, "Hello", 5, 0, NULL, NULL));
    OK(charrnn_session_generate(s, 20, NULL, NULL, NULL, NULL));
    charrnn_session_free(s);
    charrnn_session_free(NULL);
    charrnn_model_free(NULL);
    free(probs);
    free(before);
    free(after);
}

/* Several threads generating from one model at once produce what each produces alone. */
#define THREADS 4
typedef struct {
    const charrnn_model *model;
    uint64_t seed;
    gen_buffer out;
    charrnn_status status;
} thread_job;

static void *generate_job(void *arg) {
    thread_job *job = arg;
    charrnn_session *s = NULL;
    job->status = charrnn_session_new(job->model, &s);
    if (job->status != CHARRNN_OK) return NULL;
    charrnn_sample_params sp = charrnn_default_sample_params();
    sp.seed = job->seed;
    sp.temperature = 0.9f;
    job->status = charrnn_session_feed(s, "First Citizen:\n", 15, 0, NULL, NULL);
    if (job->status == CHARRNN_OK) job->status = charrnn_session_generate(s, 300, &sp, collect, &job->out, NULL);
    charrnn_session_free(s);
    return NULL;
}

/* int8 sessions: refused precisions, then distributions close to float32's (LSTM and GRU layers). */
static void test_int8_sessions(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 9);
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    charrnn_session *exact = NULL, *quantized = NULL, *never = NULL;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_new_with_precision(m, (charrnn_precision)7, &never));
    CHECK(never == NULL && strstr(charrnn_last_error(), "precision 7") != NULL);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_session_new_with_precision(NULL, CHARRNN_PRECISION_INT8, &never));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_new_with_precision(m, CHARRNN_PRECISION_INT8, NULL));
    OK(charrnn_session_new_with_precision(m, CHARRNN_PRECISION_FLOAT32, &exact));
    OK(charrnn_session_new_with_precision(m, CHARRNN_PRECISION_INT8, &quantized));
    OK(charrnn_session_feed(exact, "ROMEO: what", 11, 0, NULL, NULL));
    OK(charrnn_session_feed(quantized, "ROMEO: what", 11, 0, NULL, NULL));
    float *p = malloc(sizeof(float) * info.vocab_size), *q = malloc(sizeof(float) * info.vocab_size);
    OK(charrnn_session_probabilities(exact, p, info.vocab_size, NULL));
    OK(charrnn_session_probabilities(quantized, q, info.vocab_size, NULL));
    float worst = 0, sum = 0;
    for (size_t i = 0; i < info.vocab_size; i++) {
        float d = p[i] > q[i] ? p[i] - q[i] : q[i] - p[i];
        worst = d > worst ? d : worst;
        sum += q[i];
    }
    CHECK(worst > 0 && worst < 0.05f);
    CHECK(sum > 0.9999f && sum < 1.0001f);
    OK(charrnn_session_generate(quantized, 50, NULL, NULL, NULL, NULL));
    free(p);
    free(q);
    charrnn_session_free(exact);
    charrnn_session_free(quantized);
    charrnn_model_free(m);
}

static void test_threads(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 11);
    thread_job alone[THREADS], together[THREADS];
    memset(alone, 0, sizeof alone);
    memset(together, 0, sizeof together);
    for (int i = 0; i < THREADS; i++) {
        alone[i].model = together[i].model = m;
        alone[i].seed = together[i].seed = (uint64_t)i * 7 + 1;
        generate_job(&alone[i]);
    }
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&threads[i], NULL, generate_job, &together[i]) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        CHECK(alone[i].status == CHARRNN_OK && together[i].status == CHARRNN_OK);
        CHECK(alone[i].out.calls == 300 && together[i].out.calls == 300);
        CHECK(strcmp(alone[i].out.text, together[i].out.text) == 0);
    }
    CHECK(strcmp(alone[0].out.text, alone[1].out.text) != 0);
    charrnn_model_free(m);
}

/* Thread-local errors: a failure on one thread does not show on another. */
static void *fail_on_thread(void *arg) {
    (void)arg;
    charrnn_model *m = NULL;
    charrnn_status st = charrnn_model_load(NULL, &m);
    return (void *)(intptr_t)(st == CHARRNN_ERR_INVALID_ARGUMENT && charrnn_last_error()[0] != '\0');
}

static void test_thread_local_errors(void) {
    size_t count;
    charrnn_model *m = make_model(CONFIG_LSTM, 1);
    OK(charrnn_model_tensor_count(m, &count));
    pthread_t t;
    void *ok = NULL;
    CHECK(pthread_create(&t, NULL, fail_on_thread, NULL) == 0);
    pthread_join(t, &ok);
    CHECK(ok != NULL);
    CHECK(charrnn_last_error()[0] == '\0');
    charrnn_model_free(m);
}

/* ------------------------------------------------------------------------------------------------ */

typedef struct {
    size_t steps, validations, checkpoints, cancel_at;
    float lowest_val_loss; /* of the validations reported; 0 before the first */
    int bad;
    char last_checkpoint[512];
} train_log;

static int on_progress(const charrnn_progress *p, void *user) {
    train_log *log = user;
    switch (p->kind) {
    case CHARRNN_PROGRESS_STEP:
        log->steps++;
        if (!(p->step >= 1 && p->step <= p->total_steps && isfinite(p->train_loss) && p->epoch >= 1)) log->bad = 1;
        break;
    case CHARRNN_PROGRESS_VALIDATION:
        log->validations++;
        if (!isfinite(p->val_loss)) log->bad = 1;
        if (log->validations == 1 || p->val_loss < log->lowest_val_loss) log->lowest_val_loss = p->val_loss;
        break;
    case CHARRNN_PROGRESS_CHECKPOINT:
        log->checkpoints++;
        if (!p->checkpoint)
            log->bad = 1;
        else
            snprintf(log->last_checkpoint, sizeof log->last_checkpoint, "%s", p->checkpoint);
        break;
    default: log->bad = 1;
    }
    return log->cancel_at && p->kind == CHARRNN_PROGRESS_STEP && p->step >= log->cancel_at;
}

static charrnn_train_params small_params(void) {
    charrnn_train_params p = charrnn_default_train_params();
    p.layers = 1;
    p.hidden = 16;
    p.seq_length = 16;
    p.batch_size = 4;
    p.epochs = 1;
    p.max_steps = 6;
    p.eval_every = 3;
    p.val_fraction = 0.1f;
    return p;
}

static void test_train(void) {
    char corpus[512];
    snprintf(corpus, sizeof corpus, "%s", tmp_path("corpus.txt"));
    {
        FILE *f = fopen(corpus, "w");
        for (int i = 0; i < 60; i++) fprintf(f, "To be, or not to be, that is the question: %d\n", i % 10);
        fclose(f);
    }
    char out_dir[512];
    snprintf(out_dir, sizeof out_dir, "%s", tmp_path("run"));
    charrnn_train_params p = small_params();
    p.out_dir = out_dir;
    train_log log;
    memset(&log, 0, sizeof log);
    charrnn_model *m = NULL;
    charrnn_train_result r;
    CHARRNN_INIT_SIZE(r);
    OK(charrnn_train(corpus, &p, on_progress, &log, &m, &r));
    CHECK(m != NULL && log.steps == 6 && log.validations >= 2 && log.checkpoints >= 2 && !log.bad);
    CHECK(r.steps == 6 && r.epochs == 1 && isfinite(r.train_loss) && isfinite(r.val_loss) && r.val_perplexity > 1);
    CHECK(r.val_accuracy >= 0 && r.val_accuracy <= 1 && r.chars_per_s > 0 && r.seconds >= 0);
    CHECK(r.best_val_loss == log.lowest_val_loss && r.best_val_loss <= r.val_loss);
    char latest[600];
    snprintf(latest, sizeof latest, "%s/latest.safetensors", out_dir);
    struct stat st;
    CHECK(stat(latest, &st) == 0);
    charrnn_model *loaded = NULL;
    OK(charrnn_model_load(latest, &loaded));
    charrnn_session *s = NULL;
    OK(charrnn_session_new(m, &s));
    OK(charrnn_session_feed(s, "To be", 5, 0, NULL, NULL));
    OK(charrnn_session_generate(s, 20, NULL, NULL, NULL, NULL));
    charrnn_session_free(s);
    charrnn_model_free(loaded);
    charrnn_model_free(m);

    /* Resume from the checkpoint for 3 more steps. */
    p.max_steps = 9;
    p.resume = latest;
    p.out_dir = NULL;
    memset(&log, 0, sizeof log);
    m = NULL;
    OK(charrnn_train(corpus, &p, on_progress, &log, &m, &r));
    CHECK(m != NULL && log.steps == 3 && r.steps == 9);
    charrnn_model_free(m);
    p.resume = NULL;

    /* A new run into the first run's folder is refused before training: its checkpoint is the first
     * run's only exact resume point. */
    p = small_params();
    p.out_dir = out_dir;
    EXPECT_STATUS(CHARRNN_ERR_IO, charrnn_train(corpus, &p, NULL, NULL, NULL, NULL));
    CHECK(strstr(charrnn_last_error(), "another run's checkpoints") != NULL);

    /* Cancel from the callback: a checkpoint is written and the model so far returned. */
    char cancel_dir[512];
    snprintf(cancel_dir, sizeof cancel_dir, "%s", tmp_path("cancelled-run"));
    p = small_params();
    p.out_dir = cancel_dir;
    memset(&log, 0, sizeof log);
    log.cancel_at = 2;
    m = NULL;
    EXPECT_STATUS(CHARRNN_ERR_CANCELLED, charrnn_train(corpus, &p, on_progress, &log, &m, &r));
    CHECK(m != NULL && r.steps == 2 && log.checkpoints >= 1);
    charrnn_model_free(m);

    /* No callback, no outputs, window objective, GRU, other optimizers and schedules. */
    p = small_params();
    p.cell = CHARRNN_CELL_GRU;
    p.objective = CHARRNN_OBJECTIVE_WINDOW;
    p.optimizer = CHARRNN_OPTIMIZER_RMSPROP;
    p.lr_decay = 0.5f;
    p.lr_decay_every = 2;
    p.embedding = 8;
    OK(charrnn_train(corpus, &p, NULL, NULL, NULL, NULL));
    p = small_params();
    p.cell = CHARRNN_CELL_RNN;
    p.optimizer = CHARRNN_OPTIMIZER_SGD;
    p.lr_decay = 0.9f;
    p.lr_decay_after = 0; /* char-rnn's: once per epoch, from the first */
    p.clip_value = 1;
    p.lowercase = 1;
    p.max_steps = 2;
    OK(charrnn_train(corpus, &p, NULL, NULL, NULL, NULL));
    p.optimizer = CHARRNN_OPTIMIZER_ADAGRAD;
    p.reduce_charset = 1;
    OK(charrnn_train(corpus, &p, NULL, NULL, NULL, NULL));

    /* Errors. */
    m = NULL;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_train(NULL, &p, NULL, NULL, &m, NULL));
    EXPECT_STATUS(CHARRNN_ERR_IO, charrnn_train(tmp_path("nothing.txt"), &p, NULL, NULL, &m, NULL));
    write_file(tmp_path("bad.txt"),
               "abc\xfe"
               "def",
               7);
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_train(tmp_path("bad.txt"), &p, NULL, NULL, &m, NULL));
    CHECK(strstr(charrnn_last_error(), "offset 3") != NULL);
    write_file(tmp_path("one.txt"), "a", 1);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_train(tmp_path("one.txt"), &p, NULL, NULL, &m, NULL));
    p = small_params();
    memcpy(&p.cell, &(int){7}, sizeof(int)); /* an out-of-range enum value from C */
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    memcpy(&p.optimizer, &(int){-2}, sizeof(int)); /* -1 is CHARRNN_OPTIMIZER_UNSET */
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    memcpy(&p.objective, &(int){2}, sizeof(int));
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.learning_rate = 0;
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.layers = 0;
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.dropout = 1;
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.val_fraction = 1.5f; /* NaN is "not given" */
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.max_steps = UINT64_MAX - 1; /* UINT64_MAX is CHARRNN_UNSET_U64 */
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.lr_decay = 2;
    p.lr_decay_every = 1;
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.lr_decay = 0.5f; /* without lr_decay_every or lr_decay_after: which schedule is not said */
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    CHECK(strstr(charrnn_last_error(), "lr_decay_every") != NULL);
    p = small_params();
    p.clip_norm = -1;
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.max_time = INFINITY;
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.hidden = 16384;
    p.layers = 8;
    p.batch_size = 1000;
    p.seq_length = 1000;
    EXPECT_STATUS(CHARRNN_ERR_OUT_OF_MEMORY, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.resume = tmp_path("missing.safetensors");
    EXPECT_STATUS(CHARRNN_ERR_IO, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p.resume = latest;
    write_file(tmp_path("other.txt"), "completely different text with % and @ signs\n", 46);
    EXPECT_STATUS(CHARRNN_ERR_UNKNOWN_CHARACTER, charrnn_train(tmp_path("other.txt"), &p, NULL, NULL, &m, NULL));
    p = small_params();
    p.out_dir = "";
    EXPECT_STATUS(CHARRNN_ERR_CONFIG, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    p.out_dir = "/proc/charrnn-cannot-create";
    EXPECT_STATUS(CHARRNN_ERR_IO, charrnn_train(corpus, &p, NULL, NULL, &m, NULL));
    CHECK(m == NULL);
    /* Defaults (NULL params) with a tiny time budget. */
    charrnn_train_params d = charrnn_default_train_params();
    d.max_time = 0.001;
    d.hidden = 8;
    d.layers = 1;
    d.batch_size = 2;
    OK(charrnn_train(corpus, &d, NULL, NULL, &m, NULL));
    charrnn_model_free(m);
}

/* ------------------------------------------------------------------------------------------------ */
/* struct_size: programs built against an older or a newer header than the library's. Each struct is
 * passed in a block of exactly the size such a program has (so valgrind, in check-memory, sees any read
 * or write past it), followed where it matters by guard bytes that must stay untouched. */

/* The sizes in 0.2.0, the first version with struct_size (x86-64): fixed forever. The library refuses a
 * smaller struct_size; an older program's struct is this small. */
#define SAMPLE_PARAMS_V1 32u
#define TRAIN_PARAMS_V1 152u
#define MODEL_INFO_V1 32u
#define EVAL_RESULT_V1 40u
#define PROGRESS_V1 72u
#define TRAIN_RESULT_V1 56u
#define MAX_STRUCT 1024u /* the largest struct_size the library accepts */
#define TAIL 24u /* what a newer program's struct has past the library's */
#define GUARD 16u
#define GUARD_BYTE 0xA5

/* The fields of 0.2.0 keep their places, and later versions only grow. */
static void test_struct_layouts(void) {
    CHECK(offsetof(charrnn_sample_params, struct_size) == 0 && offsetof(charrnn_train_params, struct_size) == 0);
    CHECK(offsetof(charrnn_model_info, struct_size) == 0 && offsetof(charrnn_eval_result, struct_size) == 0);
    CHECK(offsetof(charrnn_progress, struct_size) == 0 && offsetof(charrnn_train_result, struct_size) == 0);
    CHECK(offsetof(charrnn_sample_params, seed) + 8 == SAMPLE_PARAMS_V1);
    CHECK(offsetof(charrnn_train_params, resume) + sizeof(char *) == TRAIN_PARAMS_V1);
    CHECK(offsetof(charrnn_model_info, state_size) + 8 == MODEL_INFO_V1);
    CHECK(offsetof(charrnn_eval_result, chars) + 8 == EVAL_RESULT_V1);
    CHECK(offsetof(charrnn_progress, checkpoint) + sizeof(char *) == PROGRESS_V1);
    CHECK(offsetof(charrnn_train_result, seconds) + 8 == TRAIN_RESULT_V1);
    CHECK(sizeof(charrnn_sample_params) >= SAMPLE_PARAMS_V1 && sizeof(charrnn_train_params) >= TRAIN_PARAMS_V1);
    CHECK(sizeof(charrnn_model_info) >= MODEL_INFO_V1 && sizeof(charrnn_eval_result) >= EVAL_RESULT_V1);
    CHECK(sizeof(charrnn_progress) >= PROGRESS_V1 && sizeof(charrnn_train_result) >= TRAIN_RESULT_V1);
}

/* A block of `size` bytes (then GUARD guard bytes) holding the first `size` bytes of `src` (`src_size`
 * bytes; zeros past it, or `tail` at the byte after it), with struct_size = `struct_size`. */
static unsigned char *caller_struct(const void *src, size_t src_size, size_t size, uint32_t struct_size, int tail) {
    unsigned char *b = malloc(size + GUARD);
    if (!b) {
        perror("malloc");
        exit(2);
    }
    memset(b, 0, size);
    memcpy(b, src, src_size < size ? src_size : size);
    if (tail && size > src_size) b[src_size + 1] = (unsigned char)tail;
    memset(b + size, GUARD_BYTE, GUARD);
    memcpy(b, &struct_size, sizeof struct_size);
    return b;
}

static int bytes_are(const unsigned char *p, size_t n, unsigned char value) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != value) return 0;
    return 1;
}

static uint32_t struct_size_of(const unsigned char *b) {
    uint32_t size;
    memcpy(&size, b, sizeof size);
    return size;
}

/* struct_size values no program can have: never set, below the first version, absurdly large. */
static const uint32_t bad_sizes[] = {0, 4, SAMPLE_PARAMS_V1 - 1, MAX_STRUCT + 1, 0xDEADBEEFu};
#define NBAD (sizeof bad_sizes / sizeof bad_sizes[0])

static void generate_with(charrnn_model *m, const void *params, gen_buffer *out, charrnn_status *status) {
    charrnn_session *s = NULL;
    memset(out, 0, sizeof *out);
    if (charrnn_session_new(m, &s) != CHARRNN_OK) {
        *status = CHARRNN_ERR_INTERNAL;
        return;
    }
    charrnn_session_feed(s, "ROMEO", 5, 0, NULL, NULL);
    *status = charrnn_session_generate(s, 40, (const charrnn_sample_params *)params, collect, out, NULL);
    charrnn_session_free(s);
}

static void test_sample_params_versions(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 21);
    charrnn_sample_params p = charrnn_default_sample_params();
    p.temperature = 0.7f;
    p.top_k = 5;
    p.seed = 11;
    gen_buffer expected, got;
    charrnn_status st;
    generate_with(m, &p, &expected, &st);
    CHECK(st == CHARRNN_OK && expected.len == 40);
    gen_buffer defaults;
    generate_with(m, NULL, &defaults, &st);
    CHECK(st == CHARRNN_OK);

    /* An older program: its fields are read, nothing past them. */
    unsigned char *old = caller_struct(&p, sizeof p, SAMPLE_PARAMS_V1, SAMPLE_PARAMS_V1, 0);
    generate_with(m, old, &got, &st);
    CHECK(st == CHARRNN_OK && got.len == expected.len && memcmp(got.text, expected.text, got.len) == 0);
    charrnn_session *s = NULL;
    OK(charrnn_session_new(m, &s));
    OK(charrnn_session_feed(s, "ROMEO", 5, 0, NULL, NULL));
    uint32_t cp = 0;
    OK(charrnn_session_sample(s, (const charrnn_sample_params *)old, &cp, NULL));
    CHECK(cp == (unsigned char)expected.text[0]);
    free(old);

    /* A newer program: zero bytes past the library's struct are what its new fields mean by default. */
    unsigned char *newer = caller_struct(&p, sizeof p, sizeof p + TAIL, (uint32_t)(sizeof p + TAIL), 0);
    generate_with(m, newer, &got, &st);
    CHECK(st == CHARRNN_OK && got.len == expected.len && memcmp(got.text, expected.text, got.len) == 0);
    free(newer);
    /* ...and a field the library does not have, set, is refused, naming the sizes. */
    newer = caller_struct(&p, sizeof p, sizeof p + TAIL, (uint32_t)(sizeof p + TAIL), 1);
    generate_with(m, newer, &got, &st);
    CHECK(st == CHARRNN_ERR_INVALID_ARGUMENT && got.calls == 0);
    {
        char want[64];
        snprintf(want, sizeof want, "struct_size is %u bytes", (unsigned)(sizeof p + TAIL));
        CHECK(strstr(charrnn_last_error(), want) != NULL);
        snprintf(want, sizeof want, "the first %u", (unsigned)sizeof p);
        CHECK(strstr(charrnn_last_error(), want) != NULL);
    }
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_session_sample(s, (const charrnn_sample_params *)newer, &cp, NULL));
    free(newer);

    /* Sizes no program has. */
    for (size_t i = 0; i < NBAD; i++) {
        unsigned char *bad = caller_struct(&p, sizeof p, sizeof p, bad_sizes[i], 0);
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                      charrnn_session_sample(s, (const charrnn_sample_params *)bad, &cp, NULL));
        CHECK(strstr(charrnn_last_error(), "charrnn_default_sample_params()") != NULL);
        if (bad_sizes[i] == 0) CHECK(strstr(charrnn_last_error(), "not set") != NULL);
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                      charrnn_session_generate(s, 3, (const charrnn_sample_params *)bad, NULL, NULL, NULL));
        free(bad);
    }
    charrnn_session_free(s);

    /* charrnn_sample_params_init: defaults for the fields the library knows, zeros past them, the
     * caller's size; an older program's block is written no further than its size. */
    unsigned char *b = caller_struct(&p, 0, sizeof p + TAIL, 0, 0);
    memset(b, GUARD_BYTE, sizeof p + TAIL);
    OK(charrnn_sample_params_init((charrnn_sample_params *)b, sizeof p + TAIL));
    charrnn_sample_params d = charrnn_default_sample_params(), back;
    memcpy(&back, b, sizeof back);
    CHECK(back.struct_size == sizeof p + TAIL && back.temperature == d.temperature && back.top_k == d.top_k);
    CHECK(back.top_p == d.top_p && back.greedy == d.greedy && back.seed == d.seed);
    CHECK(bytes_are(b + sizeof p, TAIL, 0) && bytes_are(b + sizeof p + TAIL, GUARD, GUARD_BYTE));
    free(b);
    b = caller_struct(&p, 0, SAMPLE_PARAMS_V1, 0, 0);
    OK(charrnn_sample_params_init((charrnn_sample_params *)b, SAMPLE_PARAMS_V1));
    CHECK(struct_size_of(b) == SAMPLE_PARAMS_V1 && bytes_are(b + SAMPLE_PARAMS_V1, GUARD, GUARD_BYTE));
    generate_with(m, b, &got, &st);
    CHECK(st == CHARRNN_OK && got.len == defaults.len && memcmp(got.text, defaults.text, got.len) == 0);
    memset(b, GUARD_BYTE, SAMPLE_PARAMS_V1);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_sample_params_init((charrnn_sample_params *)b, SAMPLE_PARAMS_V1 - 1));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_sample_params_init((charrnn_sample_params *)b, 0));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_sample_params_init((charrnn_sample_params *)b, MAX_STRUCT + 1));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_sample_params_init((charrnn_sample_params *)b, SIZE_MAX));
    CHECK(bytes_are(b, SAMPLE_PARAMS_V1 + GUARD, GUARD_BYTE)); /* refused: untouched */
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_sample_params_init(NULL, sizeof p));
    free(b);
    charrnn_model_free(m);
}

/* What a newer header would declare: charrnn_model_info with a field added at the end. */
typedef struct {
    uint32_t struct_size;
    uint32_t vocab_size;
    uint32_t num_layers;
    uint32_t hidden_size;
    uint64_t parameter_count;
    uint64_t state_size;
    uint64_t added_later;
} model_info_next;

static void test_result_versions(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 22);
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    CHECK(info.struct_size == sizeof info);

    /* An older program: the library writes its size and no further. */
    unsigned char *old = caller_struct(&info, 0, MODEL_INFO_V1, MODEL_INFO_V1, 0);
    OK(charrnn_model_get_info(m, (charrnn_model_info *)old));
    CHECK(struct_size_of(old) == MODEL_INFO_V1 && memcmp(old + 4, (unsigned char *)&info + 4, MODEL_INFO_V1 - 4) == 0);
    CHECK(bytes_are(old + MODEL_INFO_V1, GUARD, GUARD_BYTE));
    free(old);

    /* A newer program: the library writes what it has, says so in struct_size, leaves the rest. */
    model_info_next next;
    memset(&next, GUARD_BYTE, sizeof next);
    CHARRNN_INIT_SIZE(next);
    OK(charrnn_model_get_info(m, (charrnn_model_info *)&next));
    CHECK(next.struct_size == sizeof(charrnn_model_info) && next.vocab_size == info.vocab_size);
    CHECK(next.state_size == info.state_size && next.parameter_count == info.parameter_count);
    CHECK(CHARRNN_HAS_FIELD(&next, model_info_next, state_size) &&
          !CHARRNN_HAS_FIELD(&next, model_info_next, added_later));
    CHECK(bytes_are((unsigned char *)&next.added_later, sizeof next.added_later, GUARD_BYTE));

    /* Sizes no program has: refused, nothing written. */
    for (size_t i = 0; i < NBAD; i++) {
        unsigned char *bad = caller_struct(&info, 0, sizeof info, bad_sizes[i], 0);
        memset(bad + 4, GUARD_BYTE, sizeof info - 4);
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_info(m, (charrnn_model_info *)bad));
        CHECK(strstr(charrnn_last_error(), "CHARRNN_INIT_SIZE") != NULL);
        CHECK(struct_size_of(bad) == bad_sizes[i] && bytes_are(bad + 4, sizeof info - 4 + GUARD, GUARD_BYTE));
        free(bad);
    }

    /* The same for an evaluation's result. */
    const char *text = "To be, or not to be, that is the question.";
    charrnn_eval_result r;
    CHARRNN_INIT_SIZE(r);
    OK(charrnn_model_evaluate(m, text, strlen(text), 0, &r));
    CHECK(r.struct_size == sizeof r && r.chars == strlen(text) - 1);
    old = caller_struct(&r, 0, EVAL_RESULT_V1, EVAL_RESULT_V1, 0);
    OK(charrnn_model_evaluate(m, text, strlen(text), 0, (charrnn_eval_result *)old));
    CHECK(struct_size_of(old) == EVAL_RESULT_V1 && memcmp(old + 8, (unsigned char *)&r + 8, EVAL_RESULT_V1 - 8) == 0);
    CHECK(bytes_are(old + EVAL_RESULT_V1, GUARD, GUARD_BYTE));
    free(old);
    unsigned char *newer = caller_struct(&r, 0, sizeof r + TAIL, (uint32_t)(sizeof r + TAIL), 0);
    memset(newer + 4, GUARD_BYTE, sizeof r + TAIL - 4);
    OK(charrnn_model_evaluate_interruptible(m, text, strlen(text), 0, NULL, NULL, (charrnn_eval_result *)newer));
    CHECK(struct_size_of(newer) == sizeof r && memcmp(newer + 8, (unsigned char *)&r + 8, sizeof r - 8) == 0);
    CHECK(bytes_are(newer + sizeof r, TAIL + GUARD, GUARD_BYTE));
    free(newer);
    for (size_t i = 0; i < NBAD; i++) {
        unsigned char *bad = caller_struct(&r, 0, sizeof r, bad_sizes[i], 0);
        memset(bad + 4, GUARD_BYTE, sizeof r - 4);
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                      charrnn_model_evaluate(m, text, strlen(text), 0, (charrnn_eval_result *)bad));
        CHECK(struct_size_of(bad) == bad_sizes[i] && bytes_are(bad + 4, sizeof r - 4 + GUARD, GUARD_BYTE));
        free(bad);
    }
    charrnn_model_free(m);
}

/* What a newer header would declare: charrnn_progress with a field added at the end. */
typedef struct {
    uint32_t struct_size;
    charrnn_progress_kind kind;
    uint64_t step, total_steps;
    uint32_t epoch;
    float train_loss, val_loss, val_accuracy;
    double chars_per_s, seconds;
    float learning_rate;
    const char *checkpoint;
    double added_later;
} progress_next;

typedef struct {
    size_t calls, bad;
    int blas_threads; /* OpenBLAS's thread count in the last callback, or -1 */
} version_log;

static int (*blas_get_threads)(void);
static void (*blas_set_threads)(int);

/* The progress a callback is given carries the library's struct_size: a callback built against a newer
 * header sees that its later fields are missing. */
static int on_progress_versions(const charrnn_progress *p, void *user) {
    version_log *log = user;
    log->calls++;
    if (p->struct_size != sizeof(charrnn_progress) || p->struct_size < PROGRESS_V1) log->bad++;
    if (!CHARRNN_HAS_FIELD(p, charrnn_progress, checkpoint)) log->bad++;
    const progress_next *next = (const progress_next *)(const void *)p;
    if (!CHARRNN_HAS_FIELD(next, progress_next, learning_rate) || CHARRNN_HAS_FIELD(next, progress_next, added_later))
        log->bad++;
    if (blas_get_threads) log->blas_threads = blas_get_threads();
    return 0;
}

static void test_train_versions(void) {
    char corpus[512];
    snprintf(corpus, sizeof corpus, "%s", tmp_path("versions.txt"));
    {
        FILE *f = fopen(corpus, "w");
        for (int i = 0; i < 60; i++) fprintf(f, "Now is the winter of our discontent %d\n", i % 10);
        fclose(f);
    }
    /* OpenBLAS, reached through libcharrnn's own dependency: its thread count is process-wide. */
    void *get = dlsym(RTLD_DEFAULT, "openblas_get_num_threads"), *set = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (get && set) {
        memcpy(&blas_get_threads, &get, sizeof get);
        memcpy(&blas_set_threads, &set, sizeof set);
    }
    int threads_before = -1;
    if (blas_get_threads && blas_set_threads) {
        blas_set_threads(3);
        threads_before = blas_get_threads();
    }

    charrnn_train_params p = small_params();
    p.max_steps = 3;
    p.eval_every = 0;
    version_log log = {0, 0, -1};
    charrnn_train_result r;
    CHARRNN_INIT_SIZE(r);
    OK(charrnn_train(corpus, &p, on_progress_versions, &log, NULL, &r));
    CHECK(log.calls >= 3 && log.bad == 0 && r.struct_size == sizeof r && r.steps == 3);
    /* OpenBLAS runs single-threaded only while a batch runs on the worker pool: the callbacks, called
     * between batches, and the program after see the count it set. */
    if (threads_before > 1) {
        CHECK(log.blas_threads == threads_before);
        CHECK(blas_get_threads() == threads_before);
    }

    /* An older program's parameters and result: its fields are read and written, nothing past them. */
    unsigned char *old = caller_struct(&p, sizeof p, TRAIN_PARAMS_V1, TRAIN_PARAMS_V1, 0);
    unsigned char *old_result = caller_struct(&r, 0, TRAIN_RESULT_V1, TRAIN_RESULT_V1, 0);
    memset(&log, 0, sizeof log);
    OK(charrnn_train(corpus, (const charrnn_train_params *)old, on_progress_versions, &log, NULL,
                     (charrnn_train_result *)old_result));
    charrnn_train_result got;
    memcpy(&got, old_result, TRAIN_RESULT_V1);
    CHECK(log.calls >= 3 && log.bad == 0 && got.struct_size == TRAIN_RESULT_V1 && got.steps == 3 && got.epochs == 1);
    CHECK(bytes_are(old + TRAIN_PARAMS_V1, GUARD, GUARD_BYTE) &&
          bytes_are(old_result + TRAIN_RESULT_V1, GUARD, GUARD_BYTE));
    free(old);
    free(old_result);

    /* A newer program: zeros past the library's parameters are accepted; its larger result is written
     * as far as the library's and struct_size says so. */
    unsigned char *newer = caller_struct(&p, sizeof p, sizeof p + TAIL, (uint32_t)(sizeof p + TAIL), 0);
    unsigned char *newer_result = caller_struct(&r, 0, sizeof r + TAIL, (uint32_t)(sizeof r + TAIL), 0);
    memset(newer_result + 4, GUARD_BYTE, sizeof r + TAIL - 4);
    OK(charrnn_train(corpus, (const charrnn_train_params *)newer, NULL, NULL, NULL,
                     (charrnn_train_result *)newer_result));
    memcpy(&got, newer_result, sizeof got);
    CHECK(got.struct_size == sizeof r && got.steps == 3 &&
          bytes_are(newer_result + sizeof r, TAIL + GUARD, GUARD_BYTE));
    free(newer);
    /* ...a set field the library does not have is refused before anything starts. */
    newer = caller_struct(&p, sizeof p, sizeof p + TAIL, (uint32_t)(sizeof p + TAIL), 7);
    memset(&log, 0, sizeof log);
    charrnn_model *m = NULL;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_train(corpus, (const charrnn_train_params *)newer, on_progress_versions, &log, &m, NULL));
    CHECK(log.calls == 0 && m == NULL && strstr(charrnn_last_error(), "is not zero") != NULL);
    free(newer);
    free(newer_result);

    /* Sizes no program has, in the parameters or the result: refused before training starts. */
    for (size_t i = 0; i < NBAD; i++) {
        unsigned char *bad = caller_struct(&p, sizeof p, sizeof p, bad_sizes[i], 0);
        memset(&log, 0, sizeof log);
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                      charrnn_train(corpus, (const charrnn_train_params *)bad, on_progress_versions, &log, &m, NULL));
        CHECK(log.calls == 0 && m == NULL && strstr(charrnn_last_error(), "charrnn_default_train_params()") != NULL);
        free(bad);
        bad = caller_struct(&r, 0, sizeof r, bad_sizes[i], 0);
        memset(bad + 4, GUARD_BYTE, sizeof r - 4);
        EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                      charrnn_train(corpus, &p, on_progress_versions, &log, &m, (charrnn_train_result *)bad));
        CHECK(log.calls == 0 && m == NULL && bytes_are(bad + 4, sizeof r - 4 + GUARD, GUARD_BYTE));
        free(bad);
    }

    /* charrnn_train_params_init, as charrnn_sample_params_init. */
    unsigned char *b = caller_struct(&p, 0, sizeof p + TAIL, 0, 0);
    memset(b, GUARD_BYTE, sizeof p + TAIL);
    OK(charrnn_train_params_init((charrnn_train_params *)b, sizeof p + TAIL));
    charrnn_train_params d = charrnn_default_train_params();
    CHECK(struct_size_of(b) == sizeof p + TAIL && bytes_are(b + sizeof p, TAIL, 0) &&
          bytes_are(b + sizeof p + TAIL, GUARD, GUARD_BYTE));
    {
        charrnn_train_params back;
        memcpy(&back, b, sizeof back);
        CHECK(back.layers == d.layers && back.hidden == d.hidden && back.seed == d.seed && back.resume == NULL);
    }
    free(b);
    b = caller_struct(&p, 0, TRAIN_PARAMS_V1, 0, 0);
    OK(charrnn_train_params_init((charrnn_train_params *)b, TRAIN_PARAMS_V1));
    CHECK(struct_size_of(b) == TRAIN_PARAMS_V1 && bytes_are(b + TRAIN_PARAMS_V1, GUARD, GUARD_BYTE));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_train_params_init((charrnn_train_params *)b, TRAIN_PARAMS_V1 - 1));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_train_params_init(NULL, sizeof p));
    free(b);
}

/* charrnn_model_trace and charrnn_model_get_layer_info: sizes, layout, agreement with a session fed
 * one character at a time and with charrnn_model_evaluate, and every error path. */
#define TRACE_INFO_V1 64u /* sizeof(charrnn_trace_info) in the version that introduced it */
#define LAYER_INFO_V1 16u

static void test_trace(void) {
    charrnn_model *m = make_model(CONFIG_LSTM, 11); /* LSTM 24, then GRU 16 */
    CHECK(offsetof(charrnn_trace_info, accuracy) + 8 == TRACE_INFO_V1 && sizeof(charrnn_trace_info) >= TRACE_INFO_V1);
    CHECK(offsetof(charrnn_layer_info, state_offset) + 4 == LAYER_INFO_V1 &&
          sizeof(charrnn_layer_info) >= LAYER_INFO_V1);

    /* Layers. */
    charrnn_layer_info li;
    CHARRNN_INIT_SIZE(li);
    OK(charrnn_model_get_layer_info(m, 0, &li));
    CHECK(li.cell == CHARRNN_CELL_LSTM && li.units == 24 && li.state_offset == 0 && li.struct_size == sizeof li);
    CHARRNN_INIT_SIZE(li);
    OK(charrnn_model_get_layer_info(m, 1, &li));
    CHECK(li.cell == CHARRNN_CELL_GRU && li.units == 16 && li.state_offset == 48);
    EXPECT_STATUS(CHARRNN_ERR_NOT_FOUND, charrnn_model_get_layer_info(m, 2, &li));
    EXPECT_STATUS(CHARRNN_ERR_NOT_FOUND, charrnn_model_get_layer_info(m, SIZE_MAX, &li));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_layer_info(NULL, 0, &li));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_layer_info(m, 0, NULL));
    li.struct_size = 0;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_model_get_layer_info(m, 0, &li));

    /* A size query. */
    const char *text = "To be, or not to be: that is the question.";
    size_t len = strlen(text), n = len, width = 2 * 24 + 16;
    charrnn_trace_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    CHECK(info.struct_size == sizeof info && info.chars == n && info.skipped == 0 && info.num_layers == 2);
    CHECK(info.vocab_size == strlen(VOCAB) && info.state_width == width);
    CHECK(info.probs_needed == n * info.vocab_size && info.states_needed == n * width);
    CHECK(isnan(info.loss) && isnan(info.accuracy));
    size_t V = info.vocab_size;

    /* The trace, against a session fed one character at a time (h and c are the last floats of its state). */
    float *probs = malloc(n * V * sizeof *probs), *states = malloc(n * width * sizeof *states);
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_trace(m, text, len, 0, NULL, NULL, probs, n * V, states, n * width, &info));
    charrnn_eval_result r;
    CHARRNN_INIT_SIZE(r);
    OK(charrnn_model_evaluate(m, text, len, 0, &r));
    CHECK(fabs(info.loss - r.loss) < 1e-9 && fabs(info.accuracy - r.accuracy) < 1e-12);
    charrnn_model_info mi;
    CHARRNN_INIT_SIZE(mi);
    OK(charrnn_model_get_info(m, &mi));
    unsigned char *state = malloc(mi.state_size);
    charrnn_session *s = NULL;
    OK(charrnn_session_new(m, &s));
    float *row = malloc(V * sizeof *row);
    double worst_p = 0, worst_h = 0, sum_error = 0;
    for (size_t t = 0; t < n; t++) {
        OK(charrnn_session_feed(s, text + t, 1, 0, NULL, NULL));
        OK(charrnn_session_probabilities(s, row, V, NULL));
        double sum = 0;
        for (size_t j = 0; j < V; j++) {
            sum += probs[t * V + j];
            worst_p = fmax(worst_p, fabs(probs[t * V + j] - row[j]));
        }
        sum_error = fmax(sum_error, fabs(sum - 1));
        OK(charrnn_session_get_state(s, state, mi.state_size, NULL));
        const unsigned char *floats = state + mi.state_size - width * sizeof(float);
        for (size_t k = 0; k < width; k++) {
            float v;
            memcpy(&v, floats + k * sizeof v, sizeof v);
            /* The state buffer is h0, c0, h1 per character; the trace holds each as an (n, U) block. */
            float traced = k < 24   ? states[t * 24 + k]
                           : k < 48 ? states[n * 24 + t * 24 + (k - 24)]
                                    : states[n * 48 + t * 16 + (k - 48)];
            worst_h = fmax(worst_h, fabs(traced - v));
        }
    }
    /* Two paths (batched products against vector-matrix products) sum in other orders: rounding only. */
    CHECK(worst_p < 1e-5 && worst_h < 1e-5 && sum_error < 1e-5);
    charrnn_session_free(s);

    /* Only one of the buffers; and the other must not be touched. */
    float *again = malloc(n * V * sizeof *again);
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_trace(m, text, len, 0, NULL, NULL, again, n * V, NULL, 0, &info));
    CHECK(memcmp(again, probs, n * V * sizeof *again) == 0);
    float *states2 = malloc(n * width * sizeof *states2);
    OK(charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, states2, n * width, &info));
    CHECK(memcmp(states2, states, n * width * sizeof *states2) == 0);

    /* Sizes: too small fails with the sizes reported; NULL with a capacity is refused. */
    memset(&info, 0, sizeof info);
    CHARRNN_INIT_SIZE(info);
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, probs, n * V - 1, states, n * width, &info));
    CHECK(info.probs_needed == n * V && info.states_needed == n * width && info.chars == n);
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, probs, n * V, states, 1, &info));
    EXPECT_STATUS(CHARRNN_ERR_BUFFER_TOO_SMALL,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, states, 0, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 5, NULL, 0, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, NULL, SIZE_MAX, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, probs, SIZE_MAX, NULL, 0, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, NULL, 0, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(NULL, text, len, 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, NULL, 3, 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, SIZE_MAX, 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, 0, 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, len, 4, NULL, NULL, NULL, 0, NULL, 0, &info));

    /* Text: invalid UTF-8, unknown characters (refused, or skipped and counted), one character. */
    EXPECT_STATUS(CHARRNN_ERR_UTF8, charrnn_model_trace(m, "ab\xff", 3, 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    CHECK(strstr(charrnn_last_error(), "offset 2") != NULL);
    const char *unknown = "To be \xc3\xa9 or 1 not";
    EXPECT_STATUS(CHARRNN_ERR_UNKNOWN_CHARACTER,
                  charrnn_model_trace(m, unknown, strlen(unknown), 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_trace(m, unknown, strlen(unknown), CHARRNN_SKIP_UNKNOWN, NULL, NULL, probs, n * V, NULL, 0,
                           &info));
    CHECK(info.chars == strlen("To be  or  not") && info.skipped == 2);
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, "\xc3\xa9", 2, CHARRNN_SKIP_UNKNOWN, NULL, NULL, NULL, 0, NULL, 0, &info));
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_trace(m, "T", 1, 0, NULL, NULL, probs, V, states, width, &info));
    CHECK(info.chars == 1 && isnan(info.loss) && isnan(info.accuracy));
    double worst_first = 0; /* other product shapes than the longer text's: rounding only */
    for (size_t j = 0; j < V; j++) worst_first = fmax(worst_first, fabs(probs[j] - again[j]));
    CHECK(worst_first < 1e-6);

    /* Results a caller's struct_size limits: an older (too small) size is refused, a newer one gets ours. */
    unsigned char big[TRACE_INFO_V1 + 64];
    memset(big, 0xA5, sizeof big);
    uint32_t size = (uint32_t)sizeof big;
    memcpy(big, &size, sizeof size);
    OK(charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, NULL, 0, (charrnn_trace_info *)(void *)big));
    memcpy(&size, big, sizeof size);
    CHECK(size == sizeof(charrnn_trace_info) && bytes_are(big + size, sizeof big - size, 0xA5));
    info.struct_size = TRACE_INFO_V1 - 8;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, NULL, 0, &info));
    info.struct_size = 0;
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT,
                  charrnn_model_trace(m, text, len, 0, NULL, NULL, NULL, 0, NULL, 0, &info));

    /* Interrupted: cancelled, info untouched. */
    char longtext[2001];
    for (size_t i = 0; i < sizeof longtext - 1; i++) longtext[i] = "To be, or not "[i % 14];
    longtext[sizeof longtext - 1] = '\0';
    size_t ln = strlen(longtext);
    float *lp = malloc(ln * V * sizeof *lp);
    interrupt_log log = {0, 3};
    CHARRNN_INIT_SIZE(info);
    info.chars = 12345;
    EXPECT_STATUS(CHARRNN_ERR_CANCELLED,
                  charrnn_model_trace(m, longtext, ln, 0, interrupt_at, &log, lp, ln * V, NULL, 0, &info));
    CHECK(log.calls == 3 && info.chars == 12345);
    log = (interrupt_log){0, 0};
    OK(charrnn_model_trace(m, longtext, ln, 0, interrupt_at, &log, lp, ln * V, NULL, 0, &info));
    CHECK(log.calls >= (int)(ln / 256) && info.chars == ln);
    free(lp);

    free(probs);
    free(states);
    free(again);
    free(states2);
    free(state);
    free(row);
    charrnn_model_free(m);

    /* Overflowing weights: NOT_FINITE, as evaluation. */
    charrnn_model *huge = make_model("{\"layers\":[{\"cell\":\"lstm\",\"units\":8}]}", 4);
    size_t count = 0;
    OK(charrnn_model_tensor_count(huge, &count));
    for (size_t i = 0; i < count; i++) {
        char name[128];
        int64_t shape[4];
        size_t rank = 0, k = 1;
        OK(charrnn_model_tensor_info(huge, i, name, sizeof name, NULL, shape, &rank));
        for (size_t d = 0; d < rank; d++) k *= (size_t)shape[d];
        float *values = malloc(k * sizeof *values);
        for (size_t j = 0; j < k; j++) values[j] = 3e38f;
        *strchr(name, '.') = '\0';
        OK(charrnn_model_set_weights(huge, name, name + strlen(name) + 1, values, k, shape, rank));
        free(values);
    }
    float hp[4 * 64];
    CHARRNN_INIT_SIZE(info);
    EXPECT_STATUS(CHARRNN_ERR_NOT_FINITE,
                  charrnn_model_trace(huge, "To b", 4, 0, NULL, NULL, hp, sizeof hp / sizeof *hp, NULL, 0, &info));
    charrnn_model_free(huge);
}

/* Window mode: each distribution from the last N characters run from a zero state (the Keras loop). */
/* Sessions sampled together give what each gives alone: characters, probabilities and states, bit for
 * bit, with their own parameters and seeds; what cannot step together is refused and changes nothing. */
static void test_sample_many(void) {
    enum { N = 6, STEPS = 20 };
    charrnn_model *m = make_model("{\"layers\":[{\"cell\":\"lstm\",\"units\":70},{\"cell\":\"gru\",\"units\":40}]}", 4);
    charrnn_model *other = make_model("{\"layers\":[{\"cell\":\"lstm\",\"units\":8}]}", 4);
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    charrnn_session *together[N], *alone[N];
    charrnn_sample_params params[N];
    const charrnn_sample_params *param_pointers[N];
    const char *prompts[N] = {"ROMEO: ", "a", "and the", "\n", "QUEEN", "to be"};
    for (int s = 0; s < N; s++) {
        OK(charrnn_session_new(m, &together[s]));
        OK(charrnn_session_new(m, &alone[s]));
        OK(charrnn_session_feed(together[s], prompts[s], strlen(prompts[s]), 0, NULL, NULL));
        OK(charrnn_session_feed(alone[s], prompts[s], strlen(prompts[s]), 0, NULL, NULL));
        params[s] = charrnn_default_sample_params();
        params[s].temperature = 0.5f + 0.3f * (float)s;
        params[s].top_k = s == 2 ? 3 : 0;
        params[s].greedy = s == 4;
        params[s].seed = (uint64_t)(100 + s);
        param_pointers[s] = &params[s];
    }
    param_pointers[5] = NULL; /* the defaults */
    for (int t = 0; t < STEPS; t++) {
        uint32_t codepoints[N];
        float probabilities[N];
        OK(charrnn_session_sample_many(together, N, param_pointers, codepoints, probabilities));
        for (int s = 0; s < N; s++) {
            uint32_t c = 0;
            float p = 0;
            OK(charrnn_session_sample(alone[s], param_pointers[s], &c, &p));
            CHECK(c == codepoints[s]);
            CHECK(memcmp(&p, &probabilities[s], sizeof p) == 0);
        }
        if (t == 0)
            for (int s = 0; s < N; s++) params[s].seed = CHARRNN_SEED_CONTINUE; /* seeded once */
    }
    unsigned char *a = malloc(info.state_size), *b = malloc(info.state_size);
    for (int s = 0; s < N; s++) {
        size_t needed = 0;
        OK(charrnn_session_get_state(together[s], a, info.state_size, &needed));
        OK(charrnn_session_get_state(alone[s], b, info.state_size, &needed));
        CHECK(memcmp(a, b, info.state_size) == 0);
    }
    OK(charrnn_session_sample_many(together, N, NULL, NULL, NULL)); /* NULL params and outputs */

    /* Refusals: nothing changes. */
    charrnn_session *foreign = NULL, *idle = NULL;
    OK(charrnn_session_new(other, &foreign));
    OK(charrnn_session_feed(foreign, "a", 1, 0, NULL, NULL));
    OK(charrnn_session_new(m, &idle));
    size_t needed = 0;
    OK(charrnn_session_get_state(together[0], a, info.state_size, &needed));
    charrnn_session *twice[2] = {together[0], together[0]}, *mixed[2] = {together[0], foreign};
    charrnn_session *with_null[2] = {together[0], NULL}, *with_idle[2] = {together[0], idle};
    charrnn_sample_params bad = charrnn_default_sample_params();
    bad.temperature = -1;
    const charrnn_sample_params *bad_pointers[2] = {NULL, &bad};
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample_many(NULL, 2, NULL, NULL, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample_many(together, 0, NULL, NULL, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample_many(twice, 2, NULL, NULL, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample_many(mixed, 2, NULL, NULL, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample_many(with_null, 2, NULL, NULL, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_sample_many(together, 2, bad_pointers, NULL, NULL));
    EXPECT_STATUS(CHARRNN_ERR_STATE, charrnn_session_sample_many(with_idle, 2, NULL, NULL, NULL));
    OK(charrnn_session_get_state(together[0], b, info.state_size, &needed));
    CHECK(memcmp(a, b, info.state_size) == 0);

    free(a);
    free(b);
    charrnn_session_free(foreign);
    charrnn_session_free(idle);
    for (int s = 0; s < N; s++) {
        charrnn_session_free(together[s]);
        charrnn_session_free(alone[s]);
    }
    charrnn_model_free(other);
    charrnn_model_free(m);
}

static void test_window(void) {
    charrnn_model *m = make_model("{\"layers\":[{\"cell\":\"lstm\",\"units\":12}],\"window\":5}", 3);
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    OK(charrnn_model_get_info(m, &info));
    charrnn_session *s = NULL, *fresh = NULL;
    OK(charrnn_session_new(m, &s));
    uint32_t window = 99;
    OK(charrnn_session_get_window(s, &window));
    CHECK(window == 5); /* the model's */
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_get_window(s, NULL));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_get_window(NULL, &window));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_set_window(NULL, 3));
    EXPECT_STATUS(CHARRNN_ERR_INVALID_ARGUMENT, charrnn_session_set_window(s, UINT32_MAX));
    OK(charrnn_session_get_window(s, &window));
    CHECK(window == 5); /* a refused value changes nothing */

    float *a = malloc(sizeof(float) * info.vocab_size), *b = malloc(sizeof(float) * info.vocab_size);
    size_t needed = 0;
    OK(charrnn_session_feed(s, "ROMEO: ", 7, 0, NULL, NULL));
    OK(charrnn_session_feed(s, "and", 3, 0, NULL, NULL));
    OK(charrnn_session_probabilities(s, a, info.vocab_size, &needed));
    OK(charrnn_session_new(m, &fresh));
    OK(charrnn_session_set_window(fresh, 0));
    OK(charrnn_session_feed(fresh, ": and", 5, 0, NULL, NULL)); /* the last 5 characters, from zero */
    OK(charrnn_session_probabilities(fresh, b, info.vocab_size, &needed));
    CHECK(memcmp(a, b, sizeof(float) * info.vocab_size) == 0);

    /* The state of a windowed session is its window: setting one is refused. */
    unsigned char state[4096];
    size_t state_size = 0;
    OK(charrnn_session_get_state(fresh, state, sizeof state, &state_size));
    EXPECT_STATUS(CHARRNN_ERR_STATE, charrnn_session_set_state(s, state, state_size));
    OK(charrnn_session_set_window(s, 0));
    OK(charrnn_session_set_state(s, state, state_size));
    free(a);
    free(b);
    charrnn_session_free(s);
    charrnn_session_free(fresh);
    charrnn_model_free(m);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/charrnn-ctest-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }

    test_version_and_status();
    test_create();
    test_info_and_strings();
    test_tensors_and_weights();
    test_save_load();
    test_evaluate();
    test_interrupts();
    test_not_finite();
    test_sessions();
    test_int8_sessions();
    test_threads();
    test_thread_local_errors();
    test_train();
    test_struct_layouts();
    test_sample_params_versions();
    test_result_versions();
    test_train_versions();
    test_trace();
    test_window();
    test_sample_many();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
