/* A C program that depends on the charrnn static library product and includes its header.
 *
 * usage: cconsumer MODEL
 * Prints the library's and the header's versions, then generates as the Swift program does (same
 * seed, prime and temperature). */
#include "charrnn.h"

#include <stdio.h>
#include <string.h>

static int print_char(uint32_t codepoint, const char *utf8, size_t utf8_len, float probability, void *user) {
    (void)codepoint;
    (void)probability;
    (void)user;
    fwrite(utf8, 1, utf8_len, stdout);
    return 0;
}

static int fail(const char *what, charrnn_status status) {
    fprintf(stderr, "cconsumer: %s: %s: %s\n", what, charrnn_status_name(status), charrnn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: cconsumer MODEL\n");
        return 2;
    }
    printf("version: %s\nheader version: %s\n", charrnn_version(), CHARRNN_VERSION_STRING);
    printf("version number: %u %u\n", (unsigned)charrnn_version_number(), (unsigned)CHARRNN_VERSION_NUMBER);

    charrnn_model *model = NULL;
    charrnn_session *session = NULL;
    charrnn_status status = charrnn_model_load(argv[1], &model);
    if (status != CHARRNN_OK) return fail("cannot load the model", status);
    if ((status = charrnn_session_new(model, &session)) != CHARRNN_OK) return fail("cannot make a session", status);
    charrnn_model_free(model); /* the session keeps it alive */
    if ((status = charrnn_session_seed(session, 1)) != CHARRNN_OK) return fail("cannot seed", status);
    const char *prime = "ROMEO:\n";
    status = charrnn_session_feed(session, prime, strlen(prime), 0, NULL, NULL);
    if (status != CHARRNN_OK) return fail("cannot feed the prime", status);

    charrnn_sample_params params = charrnn_default_sample_params();
    params.temperature = 0.8f;
    size_t generated = 0;
    printf("generated: ");
    status = charrnn_session_generate(session, 40, &params, print_char, NULL, &generated);
    printf("\n");
    if (status != CHARRNN_OK) return fail("cannot generate", status);
    printf("count: %zu\n", generated);
    charrnn_session_free(session);
    return 0;
}
