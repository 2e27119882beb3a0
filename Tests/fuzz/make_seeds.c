/* Writes a few small valid models into the folder argv[1]: seeds for the fuzzer. */
#include "charrnn.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    static const char *configs[] = {
        "{\"layers\":[{\"cell\":\"lstm\",\"units\":3}]}",
        "{\"layers\":[{\"cell\":\"gru\",\"units\":2},{\"cell\":\"rnn\",\"units\":2}]}",
        "{\"input\":\"embedding\",\"embedding_dim\":2,\"layers\":[{\"cell\":\"gru\",\"units\":2,\"reset_after\":false}],"
        "\"head\":{\"activation\":\"linear\",\"use_bias\":false}}",
    };
    if (argc < 2) return 2;
    for (int i = 0; i < 3; i++) {
        charrnn_model *m = NULL;
        char path[512];
        snprintf(path, sizeof path, "%s/seed%d.safetensors", argv[1], i);
        if (charrnn_model_create(configs[i], "ab\n", 3, (uint64_t)i, &m) != CHARRNN_OK ||
            charrnn_model_save(m, path) != CHARRNN_OK) {
            fprintf(stderr, "make_seeds: %s\n", charrnn_last_error());
            return 1;
        }
        charrnn_model_free(m);
    }
    return 0;
}
