/* Loads a model, primes it, and generates text, printing the next-character distribution after the
 * prime and the probability of every generated character.
 *
 * usage: generate [MODEL] [PRIME] [N]
 *   MODEL defaults to models/default.safetensors, PRIME to "ROMEO:\n", N to 200. */
#include "charrnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, charrnn_status st) {
    fprintf(stderr, "generate: %s: %s: %s\n", what, charrnn_status_name(st), charrnn_last_error());
    return 1;
}

typedef struct {
    double probability_sum;
    size_t count;
} stats;

static int print_char(uint32_t codepoint, const char *utf8, size_t utf8_len, float probability, void *user) {
    stats *s = user;
    (void)codepoint;
    fwrite(utf8, 1, utf8_len, stdout);
    s->probability_sum += probability;
    s->count++;
    return 0; /* keep going */
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "models/default.safetensors";
    const char *prime = argc > 2 ? argv[2] : "ROMEO:\n";
    size_t n = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 200;

    charrnn_model *model = NULL;
    charrnn_status st = charrnn_model_load(path, &model);
    if (st != CHARRNN_OK) return fail("cannot load the model", st);

    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info); /* structs the library fills carry their size (see charrnn.h, Conventions) */
    charrnn_model_get_info(model, &info);
    printf("model %s: %u characters, %u layers, %llu parameters (libcharrnn %s)\n", path, info.vocab_size,
           info.num_layers, (unsigned long long)info.parameter_count, charrnn_version());

    charrnn_session *session = NULL;
    if ((st = charrnn_session_new(model, &session)) != CHARRNN_OK) return fail("cannot create a session", st);

    size_t skipped = 0;
    st = charrnn_session_feed(session, prime, strlen(prime), CHARRNN_SKIP_UNKNOWN, NULL, &skipped);
    if (st != CHARRNN_OK) return fail("cannot feed the prime", st);
    if (skipped) fprintf(stderr, "generate: %zu characters of the prime are not in the vocabulary\n", skipped);

    /* The distribution after the prime: the five most probable next characters. */
    size_t vocab_len = 0;
    charrnn_session_probabilities(session, NULL, 0, &vocab_len);
    float *probs = malloc(vocab_len * sizeof *probs);
    if (!probs || charrnn_session_probabilities(session, probs, vocab_len, NULL) != CHARRNN_OK) {
        free(probs);
        return fail("cannot read the distribution", CHARRNN_ERR_INTERNAL);
    }
    /* The vocabulary, to name the characters: UTF-8, one character per index. */
    size_t vocab_size = 0;
    charrnn_model_get_vocab(model, NULL, 0, &vocab_size);
    char *vocab = malloc(vocab_size);
    if (!vocab || charrnn_model_get_vocab(model, vocab, vocab_size, NULL) != CHARRNN_OK)
        return fail("cannot read the vocabulary", CHARRNN_ERR_INTERNAL);
    charrnn_model_free(model); /* the session keeps the model alive */
    printf("after the prime, the most probable next characters:\n");
    for (int k = 0; k < 5 && (size_t)k < vocab_len; k++) {
        size_t best = 0;
        for (size_t i = 1; i < vocab_len; i++)
            if (probs[i] > probs[best]) best = i;
        /* Find character `best` in the UTF-8 vocabulary. */
        size_t at = 0, index = 0;
        while (index < best && at < vocab_size - 1) {
            at++;
            while (at < vocab_size - 1 && ((unsigned char)vocab[at] & 0xC0) == 0x80) at++;
            index++;
        }
        size_t end = at + 1;
        while (end < vocab_size - 1 && ((unsigned char)vocab[end] & 0xC0) == 0x80) end++;
        if (vocab[at] == '\n')
            printf("  '\\n'  p = %.4f\n", probs[best]);
        else
            printf("  '%.*s'  p = %.4f\n", (int)(end - at), vocab + at, probs[best]);
        probs[best] = -1;
    }
    free(probs);
    free(vocab);

    charrnn_sample_params params = charrnn_default_sample_params();
    params.temperature = 0.8f;
    params.seed = 42;
    stats s = {0, 0};
    printf("---\n%s", prime);
    st = charrnn_session_generate(session, n, &params, print_char, &s, NULL);
    printf("\n---\n");
    if (st != CHARRNN_OK) return fail("generation failed", st);
    printf("generated %zu characters, mean probability %.3f\n", s.count,
           s.count ? s.probability_sum / (double)s.count : 0.0);
    charrnn_session_free(session);
    return 0;
}
