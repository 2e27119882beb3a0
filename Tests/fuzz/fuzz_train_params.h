/* The training parameters of the resume seeds (make_seeds) and of every fuzz_resume run. A checkpoint
 * restores its optimizer, carried state and position only when batch size, sequence length, objective,
 * step and optimizer agree, so they must be the same in both. */
#ifndef FUZZ_TRAIN_PARAMS_H
#define FUZZ_TRAIN_PARAMS_H

#include "charrnn.h"

static charrnn_train_params fuzz_train_params(void) {
    charrnn_train_params p = charrnn_default_train_params();
    p.hidden = 3;
    p.layers = 1;
    p.batch_size = 2;
    p.seq_length = 4;
    p.epochs = 1;
    p.val_fraction = 0.1f;
    p.seed = 1;
    return p;
}

#endif
