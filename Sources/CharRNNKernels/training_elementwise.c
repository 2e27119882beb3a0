// See include/charrnn_kernels.h: the elementwise loops of training's backward pass (bias sums, one-hot
// scatter), in C so that they run at the CPU's vector width. Swift builds for the x86-64 baseline, where
// they ran four lanes wide. An LSTM's own loops are in lstm_cell.c.
#include "charrnn_kernels.h"
#include "kernels_internal.h"

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

/// Columns summed per pass: 64 floats are 8 AVX2 registers of accumulators, which stay in registers for
/// every row instead of being loaded and stored again per row.
#define SUM_COLUMNS 64

static MULTIVERSIONED void column_sums_loop(const float *restrict m, size_t rows, size_t width, size_t stride,
                                            float *restrict out) {
    for (size_t j0 = 0; j0 < width; j0 += SUM_COLUMNS) {
        const size_t w = width - j0 < SUM_COLUMNS ? width - j0 : SUM_COLUMNS;
        float acc[SUM_COLUMNS];
        if (w == SUM_COLUMNS) {  // trip counts the compiler knows: the accumulators live in registers
            for (size_t j = 0; j < SUM_COLUMNS; j++) acc[j] = out[j0 + j];
            for (size_t r = 0; r < rows; r++) {
                const float *restrict row = m + r * stride + j0;
                for (size_t j = 0; j < SUM_COLUMNS; j++) acc[j] = acc[j] + row[j];
            }
            for (size_t j = 0; j < SUM_COLUMNS; j++) out[j0 + j] = acc[j];
        } else {
            for (size_t j = 0; j < w; j++) acc[j] = out[j0 + j];
            for (size_t r = 0; r < rows; r++) {
                const float *restrict row = m + r * stride + j0;
                for (size_t j = 0; j < w; j++) acc[j] = acc[j] + row[j];
            }
            for (size_t j = 0; j < w; j++) out[j0 + j] = acc[j];
        }
    }
}

INTERNAL void crnn_column_sums(const float *m, size_t rows, size_t width, size_t stride, float *out) {
    column_sums_loop(m, rows, width, stride, out);
}

static MULTIVERSIONED void scatter_add_rows_loop(const float *restrict src, size_t rows, size_t width,
                                                 size_t src_stride, const int32_t *restrict indices,
                                                 float *restrict dst, size_t dst_stride) {
    for (size_t r = 0; r < rows; r++) {
        const float *restrict from = src + r * src_stride;
        float *restrict to = dst + (size_t)indices[r] * dst_stride;
        for (size_t j = 0; j < width; j++) to[j] = to[j] + from[j];
    }
}

INTERNAL void crnn_scatter_add_rows(const float *src, size_t rows, size_t width, size_t src_stride,
                                    const int32_t *indices, float *dst, size_t dst_stride) {
    scatter_add_rows_loop(src, rows, width, src_stride, indices, dst, dst_stride);
}
