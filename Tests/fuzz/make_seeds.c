/* Writes fuzzer seeds: a few small valid models into argv[1] (for fuzz_model_load) and, when argv[2] is
 * given, small training checkpoints into argv[2] (for fuzz_resume), trained on fuzz_text.h's text with
 * the parameters fuzz_resume resumes with. */
#define _DEFAULT_SOURCE
#include "charrnn.h"
#include "fuzz_text.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The training parameters both make_seeds and fuzz_resume use (kept in step by hand). */
#include "fuzz_train_params.h"

int main(int argc, char **argv) {
    static const char *configs[] = {
        "{\"layers\":[{\"cell\":\"lstm\",\"units\":3}]}",
        "{\"layers\":[{\"cell\":\"gru\",\"units\":2},{\"cell\":\"rnn\",\"units\":2}]}",
        "{\"input\":\"embedding\",\"embedding_dim\":2,\"layers\":[{\"cell\":\"gru\",\"units\":2,\"reset_after\":false}]"
        ","
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
    if (argc < 3) return 0;
    char text[512];
    snprintf(text, sizeof text, "%s/.text-%d.txt", argv[2], (int)getpid());
    if (fuzz_write_text(text) != 0) {
        perror(text);
        return 1;
    }
    static const charrnn_cell cells[] = {CHARRNN_CELL_LSTM, CHARRNN_CELL_GRU, CHARRNN_CELL_RNN};
    for (int i = 0; i < 3; i++) {
        charrnn_train_params p = fuzz_train_params();
        char dir[512], from[1024], to[1024];
        snprintf(dir, sizeof dir, "%s/.run%d-%d", argv[2], i, (int)getpid());
        p.cell = cells[i];
        p.layers = (uint32_t)(1 + i % 2);
        p.embedding = i == 1 ? 2 : 0;
        p.max_steps = 5;
        p.eval_every = 5;
        p.out_dir = dir;
        if (charrnn_train(text, &p, NULL, NULL, NULL, NULL) != CHARRNN_OK) {
            fprintf(stderr, "make_seeds: training: %s\n", charrnn_last_error());
            return 1;
        }
        snprintf(from, sizeof from, "%s/latest.safetensors", dir);
        snprintf(to, sizeof to, "%s/checkpoint%d.safetensors", argv[2], i);
        if (rename(from, to) != 0) {
            perror(to);
            return 1;
        }
        /* The best-so-far copy is not needed. */
        DIR *d = opendir(dir);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
            unlink(from);
        }
        if (d) closedir(d);
        rmdir(dir);
    }
    unlink(text);
    return 0;
}
