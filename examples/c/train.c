/* Trains a small model on a text file with a progress line, then saves it.
 *
 * usage: train CORPUS OUTPUT [MAX_STEPS] */
#include "charrnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int on_progress(const charrnn_progress *p, void *user) {
    (void)user;
    switch (p->kind) {
    case CHARRNN_PROGRESS_STEP:
        printf("\rstep %llu/%llu  epoch %u  loss %.4f  lr %.2g  %.0f chars/s", (unsigned long long)p->step,
               (unsigned long long)p->total_steps, p->epoch, p->train_loss, p->learning_rate, p->chars_per_s);
        fflush(stdout);
        break;
    case CHARRNN_PROGRESS_VALIDATION:
        printf("\n  validation loss %.4f  accuracy %.3f\n", p->val_loss, p->val_accuracy);
        break;
    case CHARRNN_PROGRESS_CHECKPOINT: printf("  checkpoint %s\n", p->checkpoint); break;
    }
    return 0; /* non-zero would cancel */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CORPUS OUTPUT [MAX_STEPS]\n", argv[0]);
        return 2;
    }
    charrnn_train_params params = charrnn_default_train_params();
    params.cell = CHARRNN_CELL_LSTM;
    params.layers = 1;
    params.hidden = 64;
    params.seq_length = 32;
    params.batch_size = 16;
    params.epochs = 1;
    params.max_steps = argc > 3 ? strtoull(argv[3], NULL, 10) : 60;
    params.max_chars = 200000;
    params.eval_every = 20;

    charrnn_model *model = NULL;
    charrnn_train_result result;
    CHARRNN_INIT_SIZE(result); /* this program's size of the struct: the library writes no further */
    charrnn_status st = charrnn_train(argv[1], &params, on_progress, NULL, &model, &result);
    printf("\n");
    if (st != CHARRNN_OK) {
        fprintf(stderr, "train: %s: %s\n", charrnn_status_name(st), charrnn_last_error());
        charrnn_model_free(model);
        return 1;
    }
    printf("%llu steps in %.1f s: loss %.4f, validation loss %.4f (perplexity %.2f, accuracy %.3f)\n",
           (unsigned long long)result.steps, result.seconds, result.train_loss, result.val_loss, result.val_perplexity,
           result.val_accuracy);
    st = charrnn_model_save(model, argv[2]);
    charrnn_model_free(model);
    if (st != CHARRNN_OK) {
        fprintf(stderr, "train: cannot save %s: %s\n", argv[2], charrnn_last_error());
        return 1;
    }
    printf("saved %s\n", argv[2]);
    return 0;
}
