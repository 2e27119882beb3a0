// See include/charrnn_kernels.h: an LSTM's elementwise math, in C so that it runs at the CPU's vector
// width (Swift builds for the x86-64 baseline, where it ran four lanes wide and, for the gradients, one
// element at a time). The cell update is the one both training's batched forward (LSTMLayer) and
// generation's step (LSTMStep) call, so the two compute the same bits.
#include "charrnn_kernels.h"
#include "kernels_internal.h"
#include "activation_inline.h"

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

static MULTIVERSIONED void lstm_cell_loop(size_t rows, size_t units, const float *gates, const float *c_previous,
                                          float *c_next, float *h_next) {
    const size_t U = units, G = 4 * units;
    for (size_t b = 0; b < rows; b++) {
        const float *i_ = gates + b * G, *f_ = i_ + U, *g_ = f_ + U, *o_ = g_ + U;
        const float *c_prev = c_previous + b * U;
        float *c = c_next + b * U, *h = h_next + b * U;
        // c_next may be c_previous (generation updates its state in place): each j reads its own
        // elements before writing them, so the loop is safe to vectorize all the same.
#pragma clang loop vectorize(assume_safety)
        for (size_t j = 0; j < U; j++) {
            const float cell = f_[j] * c_prev[j] + i_[j] * g_[j];
            c[j] = cell;
            h[j] = tanh_inline(cell) * o_[j];
        }
    }
}

INTERNAL void crnn_lstm_cell_update(size_t rows, size_t units, const float *gates, const float *c_previous,
                                    float *c_next, float *h_next) {
    lstm_cell_loop(rows, units, gates, c_previous, c_next, h_next);
}

static MULTIVERSIONED void lstm_backward_loop(size_t rows, size_t units, float *restrict gates,
                                              const float *restrict output_gradient, const float *restrict h_gradient,
                                              float *restrict c_gradient, const float *restrict c_previous,
                                              const float *restrict tanh_c) {
    const size_t U = units, G = 4 * units;
    for (size_t b = 0; b < rows; b++) {
        float *restrict i_ = gates + b * G, *restrict f_ = i_ + U, *restrict g_ = f_ + U, *restrict o_ = g_ + U;
        const float *restrict d_out = output_gradient + b * U, *restrict c_prev = c_previous + b * U;
        const float *restrict tc_row = tanh_c + b * U;
        const float *restrict dh_next = h_gradient + b * U;
        float *restrict dc_next = c_gradient + b * U;
        for (size_t j = 0; j < U; j++) {
            const float dh = d_out[j] + dh_next[j];
            const float i = i_[j], f = f_[j], g = g_[j], o = o_[j], tc = tc_row[j];
            const float dc = dc_next[j] + dh * o * (1.0f - tc * tc);
            dc_next[j] = dc * f;
            i_[j] = dc * g * (i * (1.0f - i));
            f_[j] = dc * c_prev[j] * (f * (1.0f - f));
            g_[j] = dc * i * (1.0f - g * g);
            o_[j] = dh * tc * (o * (1.0f - o));
        }
    }
}

INTERNAL void crnn_lstm_backward_step(size_t rows, size_t units, float *gates, const float *output_gradient,
                                      const float *h_gradient, float *c_gradient, const float *c_previous,
                                      const float *tanh_c) {
    lstm_backward_loop(rows, units, gates, output_gradient, h_gradient, c_gradient, c_previous, tanh_c);
}
