// Hot loops of charrnn's core, in C so that each can be compiled for several x86-64 levels
// (SSE2, AVX2, AVX-512) and chosen for the running CPU when the library loads. Swift has no
// per-function target attributes, and a whole-module -mavx2 would make the library crash on
// older CPUs.
//
// Every variant performs the same floating-point operations in the same order and nothing is
// contracted into FMA, so results are bit-identical whichever variant runs. Internal to
// libcharrnn: none of these symbols is exported.
#ifndef CHARRNN_KERNELS_H
#define CHARRNN_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// e^x in single precision: the Cephes polynomial, within 2 ulp of expf over [-87.3, 88.4]
/// (inputs outside are clamped to it; NaN stays NaN).
float crnn_expf(float x);

/// p[i] = 1 / (1 + e^(-p[i])) for i < n.
void crnn_sigmoid(float *p, size_t n);

/// p[i] = tanh(p[i]) for i < n, within 2 ulp of tanhf for |x| ≥ 0.625 and through Cephes' odd
/// polynomial below, where 1 − 2/(e^2x + 1) would cancel.
void crnn_tanh(float *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif
