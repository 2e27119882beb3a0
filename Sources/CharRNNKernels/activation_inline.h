// The exponential and tanh every activation loop inlines (kernels.c's sigmoid and tanh, the LSTM cell
// update in training_elementwise.c): one definition, so every loop computes the same bits.
#ifndef CHARRNN_ACTIVATION_INLINE_H
#define CHARRNN_ACTIVATION_INLINE_H

#include <stdint.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

/// 1.5 · 2^23: adding it rounds a float to an integer held in the low mantissa bits.
static const float rounding_magic = 12582912.0f;

static inline __attribute__((always_inline)) float exp_inline(float x0) {
    float x = -87.33654f >= x0 ? -87.33654f : x0;  // clamp, letting NaN through
    x = 88.37626f < x ? 88.37626f : x;
    const float t = x * 1.44269504f + rounding_magic;  // n = round(x / ln 2), kept in t's low bits
    const float n = t - rounding_magic;
    const float r = x - n * 0.693359375f + n * 2.1219444e-4f;
    float y = 1.98756915e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    uint32_t t_bits, magic_bits;
    memcpy(&t_bits, &t, sizeof t);
    memcpy(&magic_bits, &rounding_magic, sizeof rounding_magic);
    const uint32_t scale_bits = (t_bits - magic_bits + 127u) << 23;  // 2^n
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return y * scale;
}

static inline __attribute__((always_inline)) float tanh_inline(float x) {
    const float a = x < 0 ? -x : x;
    const float large = 1.0f - 2.0f / (exp_inline(2.0f * a) + 1.0f);
    const float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const float small = x + x * z * p;
    const float sign_large = x < 0 ? -large : large;
    return a < 0.625f ? small : sign_large;
}

#endif
