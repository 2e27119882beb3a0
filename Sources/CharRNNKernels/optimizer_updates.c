// See include/charrnn_kernels.h: the optimizers' update rules over a flat parameter buffer, in C so that
// they run at the CPU's vector width. They run once per batch on one thread while the other cores wait:
// in Swift, built for the x86-64 baseline, Adam took 5 ns per parameter (scalar square roots and
// divisions), 1.3% of a 2x128 LSTM's training profile, with the other worker idle meanwhile.
//
// Each rule is written with the same operations in the same order as the expression it replaces, and
// square root and division are correctly rounded at every width: every build gives the same bits.
#include "charrnn_kernels.h"
#include "kernels_internal.h"

#include <math.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

/// A square root that never sets errno, so that its loops vectorize (sqrtf must check for negative
/// arguments, which these sums of squares never are). Correctly rounded either way.
#if defined(__has_builtin)
#if __has_builtin(__builtin_elementwise_sqrt)
#define square_root(x) __builtin_elementwise_sqrt(x)
#endif
#endif
#ifndef square_root
#define square_root(x) sqrtf(x)
#endif

static inline __attribute__((always_inline)) float root(float v, float epsilon, int epsilon_inside_root) {
    return epsilon_inside_root ? square_root(v + epsilon) : square_root(v) + epsilon;
}

static MULTIVERSIONED void sgd_loop(float *restrict p, const float *restrict g, size_t n, float learning_rate) {
    for (size_t i = 0; i < n; i++) p[i] = p[i] - learning_rate * g[i];
}

static MULTIVERSIONED void momentum_loop(float *restrict p, const float *restrict g, float *restrict velocity, size_t n,
                                         float learning_rate, float momentum, int nesterov) {
    for (size_t i = 0; i < n; i++) {
        const float v = momentum * velocity[i] - learning_rate * g[i];
        velocity[i] = v;
        p[i] = p[i] + (nesterov ? momentum * v - learning_rate * g[i] : v);
    }
}

static MULTIVERSIONED void rmsprop_loop(float *restrict p, const float *restrict g, float *restrict average, size_t n,
                                        float learning_rate, float rho, float one_minus_rho, float epsilon,
                                        int epsilon_inside_root) {
    for (size_t i = 0; i < n; i++) {
        const float v = rho * average[i] + one_minus_rho * g[i] * g[i];
        average[i] = v;
        p[i] = p[i] - learning_rate * g[i] / root(v, epsilon, epsilon_inside_root);
    }
}

static MULTIVERSIONED void adam_loop(float *restrict p, const float *restrict g, float *restrict m_, float *restrict v_,
                                     size_t n, float alpha, float one_minus_beta1, float one_minus_beta2,
                                     float epsilon) {
    for (size_t i = 0; i < n; i++) {
        const float m = m_[i] + (g[i] - m_[i]) * one_minus_beta1;
        const float v = v_[i] + (g[i] * g[i] - v_[i]) * one_minus_beta2;
        m_[i] = m;
        v_[i] = v;
        p[i] = p[i] - alpha * m / (square_root(v) + epsilon);
    }
}

static MULTIVERSIONED void adagrad_loop(float *restrict p, const float *restrict g, float *restrict accumulator,
                                        size_t n, float learning_rate, float epsilon, int epsilon_inside_root) {
    for (size_t i = 0; i < n; i++) {
        const float a = accumulator[i] + g[i] * g[i];
        accumulator[i] = a;
        p[i] = p[i] - learning_rate * g[i] / root(a, epsilon, epsilon_inside_root);
    }
}

INTERNAL void crnn_sgd_update(float *p, const float *g, size_t n, float learning_rate) {
    sgd_loop(p, g, n, learning_rate);
}

INTERNAL void crnn_momentum_update(float *p, const float *g, float *velocity, size_t n, float learning_rate,
                                   float momentum, int nesterov) {
    momentum_loop(p, g, velocity, n, learning_rate, momentum, nesterov);
}

INTERNAL void crnn_rmsprop_update(float *p, const float *g, float *average, size_t n, float learning_rate, float rho,
                                  float one_minus_rho, float epsilon, int epsilon_inside_root) {
    rmsprop_loop(p, g, average, n, learning_rate, rho, one_minus_rho, epsilon, epsilon_inside_root);
}

INTERNAL void crnn_adam_update(float *p, const float *g, float *m, float *v, size_t n, float alpha,
                               float one_minus_beta1, float one_minus_beta2, float epsilon) {
    adam_loop(p, g, m, v, n, alpha, one_minus_beta1, one_minus_beta2, epsilon);
}

INTERNAL void crnn_adagrad_update(float *p, const float *g, float *accumulator, size_t n, float learning_rate,
                                  float epsilon, int epsilon_inside_root) {
    adagrad_loop(p, g, accumulator, n, learning_rate, epsilon, epsilon_inside_root);
}
