// See include/charrnn_kernels.h. The loops are plain C that the compiler vectorises; target_clones
// builds each loop for x86-64-v4 (AVX-512), x86-64-v3 (AVX2) and the baseline, and an ifunc resolver
// picks one when the library is loaded. The 8-bit product adds AVX-512 VNNI and AVX2 kernels in
// intrinsics, chosen at run time.
#include "charrnn_kernels.h"
#include "kernels_internal.h"
#include "activation_inline.h"

#include <stdint.h>
#include <float.h>
#include <math.h>
#include <string.h>

// No a·b + c → fma(a, b, c): every variant must round exactly as the others (and as the baseline).
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

INTERNAL float crnn_expf(float x) { return exp_inline(x); }

// The multiversioned functions are static, so that their ifunc resolvers stay out of libcharrnn's
// exported symbols; the INTERNAL entry points call them.

static MULTIVERSIONED void sigmoid_loop(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = 1.0f / (1.0f + exp_inline(-p[i]));
}

static MULTIVERSIONED void tanh_loop(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = tanh_inline(p[i]);
}

INTERNAL void crnn_sigmoid(float *p, size_t n) { sigmoid_loop(p, n); }

INTERNAL void crnn_tanh(float *p, size_t n) { tanh_loop(p, n); }

// MARK: small products

#define GEMM_ROWS 4  // rows of A per register block
/// Rows of the wider blocks that full-width panels use as much as they can: a 5-row block loads each row of
/// B once for 5 rows instead of 4 and still keeps its accumulators in registers (10 of AVX2's 16). A
/// 25-row part (a batch of 50 on two cores) runs as 5 · 5 rows: 5–10% faster than 4 · 5 + 5 in the
/// per-step products' shapes on Zen 3, and far faster than 4 · 6 + 1, whose 1-row block runs at a
/// quarter of a full block's rate.
#define GEMM_WIDE_ROWS 5

/// How many 5-row blocks to cut m rows into: the most that leave a multiple of 4 rows, so no block of 1–3
/// rows remains (m = 5a + 4b for every m ≥ 12). Smaller m (1–3, 6, 7, 11) end with a short block.
static inline size_t wide_blocks(size_t m) {
    for (size_t a = m / GEMM_WIDE_ROWS + 1; a-- > 0;)
        if (a % GEMM_ROWS == m % GEMM_ROWS) return a;
    return 0;
}
// Columns of B per panel: 64 with AVX-512 (4 registers per row of the block), 16 with AVX2 (2 per row:
// 4 × 64 floats would not fit AVX2's 16 registers, and 4 × 16 measured 25–30% faster than 4 × 64 on Zen 3).
// The width changes which C elements a block holds, never the order in which an element sums its products,
// so the bits are the same.

/// Asks for the lines of `rows` rows of `width` floats, `ld` apart, to be fetched for writing.
static inline __attribute__((always_inline)) void prefetch_rows(const float *p, size_t rows, size_t width, size_t ld) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < width; j += 16) __builtin_prefetch(p + r * ld + j, 1);
}

/// Defines gemm_panels_COLUMNS: C (m, n) (+)= A · B, B taken COLUMNS columns at a time, each panel cut
/// into blocks of GEMM_ROWS (or GEMM_WIDE_ROWS) rows whose accumulators stay in registers for the whole
/// of k. Panel p of B starts `p · panel_step` floats after b and its rows are `ldb` apart: panel_step =
/// COLUMNS for B row-major, panel_rows · COLUMNS for B packed (crnn_pack_panels).
#define DEFINE_GEMM_PANELS(COLUMNS)                                                                                    \
    /* `rows` (≤ GEMM_WIDE_ROWS) rows of C, `width` (≤ COLUMNS) columns. */                                        \
    static inline __attribute__((always_inline)) void gemm_block_##COLUMNS(                                            \
        size_t rows, size_t width, size_t k, const float *restrict a, size_t lda, const float *restrict b, size_t ldb, \
        float *restrict c, size_t ldc, int accumulate) {                                                               \
        float acc[GEMM_WIDE_ROWS][COLUMNS] = {{0}};                                                                    \
        for (size_t p = 0; p < k; p++) {                                                                               \
            const float *restrict bp = b + p * ldb;                                                                    \
            for (size_t r = 0; r < rows; r++) {                                                                        \
                const float ar = a[r * lda + p];                                                                       \
                for (size_t j = 0; j < width; j++) acc[r][j] += ar * bp[j];                                            \
            }                                                                                                          \
        }                                                                                                              \
        for (size_t r = 0; r < rows; r++)                                                                              \
            for (size_t j = 0; j < width; j++) c[r * ldc + j] = accumulate ? c[r * ldc + j] + acc[r][j] : acc[r][j];   \
    }                                                                                                                  \
    static inline __attribute__((always_inline)) void gemm_panels_##COLUMNS(                                           \
        size_t m, size_t n, size_t k, const float *restrict a, size_t lda, const float *restrict b, size_t panel_step, \
        size_t ldb, float *restrict c, size_t ldc, int accumulate) {                                                   \
        /* C's rows are ldc apart, a line each per panel, which no hardware prefetcher predicts (in         \
           training, gates written by the whole-sequence GEMM long before, out in L3 or memory): each       \
           panel fetches the next one's while its k loops run, and the first panel's are fetched here. */          \
        prefetch_rows(c, m, n < COLUMNS ? n : COLUMNS, ldc);                                                           \
        for (size_t j0 = 0, p = 0; j0 < n; j0 += COLUMNS, p++) {                                                       \
            if (j0 + COLUMNS < n)                                                                                      \
                prefetch_rows(c + j0 + COLUMNS, m, n - j0 - COLUMNS < COLUMNS ? n - j0 - COLUMNS : COLUMNS, ldc);      \
            const float *bp = b + p * panel_step;                                                                      \
            const size_t width = n - j0 < COLUMNS ? n - j0 : COLUMNS;                                                  \
            size_t i0 = 0;                                                                                             \
            if (width == COLUMNS) { /* the common case, with every trip count known to the compiler */                 \
                const size_t wide = wide_blocks(m);                                                                    \
                for (size_t w = 0; w < wide; w++, i0 += GEMM_WIDE_ROWS)                                                \
                    gemm_block_##COLUMNS(GEMM_WIDE_ROWS, COLUMNS, k, a + i0 * lda, lda, bp, ldb, c + i0 * ldc + j0,    \
                                         ldc, accumulate);                                                             \
                for (; i0 + GEMM_ROWS <= m; i0 += GEMM_ROWS)                                                           \
                    gemm_block_##COLUMNS(GEMM_ROWS, COLUMNS, k, a + i0 * lda, lda, bp, ldb, c + i0 * ldc + j0, ldc,    \
                                         accumulate);                                                                  \
                const float *ai = a + i0 * lda;                                                                        \
                float *ci = c + i0 * ldc + j0;                                                                         \
                switch (m - i0) { /* the last 1–3 rows, when m is too small for wide blocks to take them */          \
                case 3: gemm_block_##COLUMNS(3, COLUMNS, k, ai, lda, bp, ldb, ci, ldc, accumulate); break;             \
                case 2: gemm_block_##COLUMNS(2, COLUMNS, k, ai, lda, bp, ldb, ci, ldc, accumulate); break;             \
                case 1: gemm_block_##COLUMNS(1, COLUMNS, k, ai, lda, bp, ldb, ci, ldc, accumulate); break;             \
                }                                                                                                      \
                continue;                                                                                              \
            }                                                                                                          \
            for (; i0 < m; i0 += GEMM_ROWS) {                                                                          \
                const size_t rows = m - i0 < GEMM_ROWS ? m - i0 : GEMM_ROWS;                                           \
                gemm_block_##COLUMNS(rows, width, k, a + i0 * lda, lda, bp, ldb, c + i0 * ldc + j0, ldc, accumulate);  \
            }                                                                                                          \
        }                                                                                                              \
    }

DEFINE_GEMM_PANELS(64)
DEFINE_GEMM_PANELS(16)

#if defined(__x86_64__) && defined(__ELF__) && defined(__clang__) && !defined(CRNN_SINGLE_VERSION)
__attribute__((target("arch=x86-64-v4"))) static void gemm_rows_avx512(size_t m, size_t n, size_t k,
                                                                       const float *restrict a, size_t lda,
                                                                       const float *restrict b, size_t ldb,
                                                                       float *restrict c, size_t ldc, int accumulate) {
    gemm_panels_64(m, n, k, a, lda, b, 64, ldb, c, ldc, accumulate);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) static void
gemm_rows_avx2(size_t m, size_t n, size_t k, const float *restrict a, size_t lda, const float *restrict b, size_t ldb,
               float *restrict c, size_t ldc, int accumulate) {
    gemm_panels_16(m, n, k, a, lda, b, 16, ldb, c, ldc, accumulate);
}

INTERNAL void crnn_gemm_rows(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                             float *c, size_t ldc, int accumulate) {
    if (__builtin_cpu_supports("x86-64-v4"))
        gemm_rows_avx512(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    else
        gemm_rows_avx2(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
#else
INTERNAL void crnn_gemm_rows(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                             float *c, size_t ldc, int accumulate) {
#ifdef __AVX512F__
    gemm_panels_64(m, n, k, a, lda, b, 64, ldb, c, ldc, accumulate);
#else
    gemm_panels_16(m, n, k, a, lda, b, 16, ldb, c, ldc, accumulate);
#endif
}
#endif

// B packed into panels of CRNN_GEMM_PANEL columns (crnn_pack_panels): each k × 16 block contiguous, so a
// block of rows streams through it in order instead of touching a row of B per 64 bytes.

static MULTIVERSIONED void gemm_packed_loop(size_t m, size_t n, size_t k, const float *restrict a, size_t lda,
                                            const float *restrict panels, size_t panel_rows, float *restrict c,
                                            size_t ldc, int accumulate) {
    gemm_panels_16(m, n, k, a, lda, panels, panel_rows * CRNN_GEMM_PANEL, CRNN_GEMM_PANEL, c, ldc, accumulate);
}

INTERNAL void crnn_gemm_panels(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *panels,
                               size_t panel_rows, float *c, size_t ldc, int accumulate) {
    gemm_packed_loop(m, n, k, a, lda, panels, panel_rows, c, ldc, accumulate);
}

// Panels of `width` columns, shared by training's products (16 columns) and generation's (64).

INTERNAL size_t crnn_packed_size(size_t k, size_t n, size_t width) { return (n + width - 1) / width * width * k; }

INTERNAL void crnn_pack_panels(const float *w, size_t k, size_t n, size_t ld, size_t width, float *panels) {
    for (size_t p = 0; p * width < n; p++) {
        float *panel = panels + p * k * width;
        if ((p + 1) * width <= n) {  // a whole panel: one row of `width` floats at a time
            for (size_t i = 0; i < k; i++) memcpy(panel + i * width, w + i * ld + p * width, width * sizeof *w);
            continue;
        }
        for (size_t i = 0; i < k; i++)
            for (size_t q = 0; q < width; q++) {
                const size_t j = p * width + q;
                panel[i * width + q] = j < n ? w[i * ld + j] : 0.0f;
            }
    }
}

INTERNAL void crnn_pack_panels_transposed(const float *w, size_t rows, size_t columns, size_t ld, size_t width,
                                          float *panels) {
    // Wᵀ is (columns, rows): panel p holds its columns p·width ..< (p + 1)·width, which are W's rows. Each
    // row of W is read in order and lands `width` floats apart, within the panel's span.
    for (size_t p = 0; p * width < rows; p++) {
        float *panel = panels + p * columns * width;
        for (size_t q = 0; q < width; q++) {
            const size_t r = p * width + q;
            if (r < rows) {
                const float *row = w + r * ld;
                for (size_t i = 0; i < columns; i++) panel[i * width + q] = row[i];
            } else {
                for (size_t i = 0; i < columns; i++) panel[i * width + q] = 0.0f;
            }
        }
    }
}

// MARK: 8-bit weights (see the header for the layout)

#define Q8_TILE (CRNN_Q8_BLOCK * CRNN_Q8_GROUP)  // bytes per (group, block) tile

static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

INTERNAL size_t crnn_q8_scale_count(size_t k, size_t n) {
    return div_up(n, CRNN_Q8_GROUP) * div_up(k, CRNN_Q8_BLOCK) * CRNN_Q8_GROUP;
}

INTERNAL size_t crnn_q8_matrix_bytes(size_t k, size_t n) {
    return div_up(n, CRNN_Q8_GROUP) * div_up(k, CRNN_Q8_BLOCK) * Q8_TILE;
}

/// Position of row i (within its block) of column jj (within its group) in a tile.
static inline size_t tile_offset(size_t i, size_t jj) { return (i / 4) * (4 * CRNN_Q8_GROUP) + jj * 4 + i % 4; }

/// round(v · 127 / max) to nearest, ties to even, as lrintf does, but inline and vectorisable: adding
/// and taking off 1.5 · 2^23 leaves the rounded value. Clamped to ±127 and NaN taken to 0 before the
/// conversion, which C leaves undefined outside int32's range.
static inline __attribute__((always_inline)) int8_t quantize(float v, float inverse_scale) {
    float r = (v * inverse_scale + rounding_magic) - rounding_magic;
    r = r > 127.0f ? 127.0f : r;
    r = r < -127.0f ? -127.0f : r;
    return (int8_t)(int32_t)(r == r ? r : 0.0f);
}

/// The largest |v| of a block, NaN if any value is NaN: a non-finite block gets a non-finite scale, so
/// the product comes out NaN as the float product would, rather than as a quiet finite number.
static inline __attribute__((always_inline)) float block_max(float largest, float v) {
    const float a = v < 0 ? -v : v;
    return (a > largest || a != a) ? a : largest;
}

/// 127 / max, kept finite (a max below 127 / FLT_MAX would give infinity, and 0 · ∞ a NaN).
static inline __attribute__((always_inline)) float inverse_scale(float largest) {
    if (!(largest > 0) || largest == INFINITY) return 0.0f;
    const float inverse = 127.0f / largest;
    return inverse <= FLT_MAX ? inverse : FLT_MAX;
}

INTERNAL void crnn_q8_quantize_matrix(const float *w, size_t k, size_t n, size_t ld, int8_t *values, float *scales,
                                      int32_t *column_sums) {
    const size_t blocks = div_up(k, CRNN_Q8_BLOCK), groups = div_up(n, CRNN_Q8_GROUP);
    for (size_t g = 0; g < groups; g++) {
        for (size_t b = 0; b < blocks; b++) {
            const size_t t = g * blocks + b;
            int8_t *tile = values + t * Q8_TILE;
            for (size_t jj = 0; jj < CRNN_Q8_GROUP; jj++) {
                const size_t j = g * CRNN_Q8_GROUP + jj;
                float largest = 0;
                for (size_t i = 0; i < CRNN_Q8_BLOCK && j < n && b * CRNN_Q8_BLOCK + i < k; i++)
                    largest = block_max(largest, w[(b * CRNN_Q8_BLOCK + i) * ld + j]);
                const float inverse = inverse_scale(largest);
                int32_t sum = 0;
                for (size_t i = 0; i < CRNN_Q8_BLOCK; i++) {
                    const size_t row = b * CRNN_Q8_BLOCK + i;
                    const int8_t q = (j < n && row < k) ? quantize(w[row * ld + j], inverse) : 0;
                    tile[tile_offset(i, jj)] = q;
                    sum += q;
                }
                scales[t * CRNN_Q8_GROUP + jj] = largest / 127.0f;
                column_sums[t * CRNN_Q8_GROUP + jj] = sum;
            }
        }
    }
}

/// The largest |x[i]| of n values, NaN if any is NaN (as block_max), by the bits: with the sign cleared,
/// the order of a float's bits as an unsigned integer is the order of its value, and every NaN lies above
/// infinity. An integer max is associative, so unlike block_max's chain of selects it runs vector-wide.
static inline __attribute__((always_inline)) float largest_magnitude(const float *restrict x, size_t n) {
    uint32_t largest = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        bits &= 0x7fffffffu;
        largest = bits > largest ? bits : largest;
    }
    float value;
    memcpy(&value, &largest, sizeof value);
    return value;
}

static MULTIVERSIONED void quantize_vector_loop(const float *restrict x, size_t k, uint8_t *restrict values,
                                                float *restrict scales) {
    const size_t blocks = div_up(k, CRNN_Q8_BLOCK);
    for (size_t b = 0; b < blocks; b++) {
        const size_t first = b * CRNN_Q8_BLOCK;
        if (first + CRNN_Q8_BLOCK <= k) {  // a whole block: every trip count known to the compiler
            const float largest = largest_magnitude(x + first, CRNN_Q8_BLOCK), inverse = inverse_scale(largest);
            for (size_t i = 0; i < CRNN_Q8_BLOCK; i++)
                values[first + i] = (uint8_t)(quantize(x[first + i], inverse) + 128);
            scales[b] = largest / 127.0f;
            continue;
        }
        const float largest = largest_magnitude(x + first, k - first), inverse = inverse_scale(largest);
        for (size_t i = 0; i < CRNN_Q8_BLOCK; i++) {
            const size_t row = first + i;
            values[row] = (uint8_t)((row < k ? quantize(x[row], inverse) : 0) + 128);
        }
        scales[b] = largest / 127.0f;
    }
}

INTERNAL void crnn_q8_quantize_vector(const float *x, size_t k, uint8_t *values, float *scales) {
    quantize_vector_loop(x, k, values, scales);
}

/// y[j] of one column group += Σ_b dot[b][jj] · (s_w · s_x): the float part, identical in every variant.
static inline __attribute__((always_inline)) void q8_finish_block(float *acc, const int32_t *dot, const float *w_scales,
                                                                  float x_scale) {
    for (size_t jj = 0; jj < CRNN_Q8_GROUP; jj++) acc[jj] = acc[jj] + (float)dot[jj] * (w_scales[jj] * x_scale);
}

static inline __attribute__((always_inline)) void q8_store(float *y, size_t g, size_t n, const float *acc) {
    for (size_t jj = 0; jj < CRNN_Q8_GROUP && g * CRNN_Q8_GROUP + jj < n; jj++)
        y[g * CRNN_Q8_GROUP + jj] = y[g * CRNN_Q8_GROUP + jj] + acc[jj];
}

/// The portable loop: exact integer dot products per block.
static MULTIVERSIONED void q8_vecmat_portable(const uint8_t *restrict x_values, const float *restrict x_scales,
                                              size_t k, const int8_t *restrict values, const float *restrict scales,
                                              size_t n, size_t g0, size_t g1, float *restrict y) {
    const size_t blocks = div_up(k, CRNN_Q8_BLOCK);
    for (size_t g = g0; g < g1; g++) {
        float acc[CRNN_Q8_GROUP] = {0};
        for (size_t b = 0; b < blocks; b++) {
            const size_t t = g * blocks + b;
            const int8_t *tile = values + t * Q8_TILE;
            const uint8_t *xb = x_values + b * CRNN_Q8_BLOCK;
            int32_t dot[CRNN_Q8_GROUP] = {0};
            for (size_t quad = 0; quad < CRNN_Q8_BLOCK / 4; quad++)
                for (size_t jj = 0; jj < CRNN_Q8_GROUP; jj++)
                    for (size_t r = 0; r < 4; r++)
                        dot[jj] +=
                            ((int32_t)xb[quad * 4 + r] - 128) * (int32_t)tile[quad * 4 * CRNN_Q8_GROUP + jj * 4 + r];
            q8_finish_block(acc, dot, scales + t * CRNN_Q8_GROUP, x_scales[b]);
        }
        q8_store(y, g, n, acc);
    }
}

// The intrinsics kernels carry their own target attributes and are chosen at run time, whatever the
// flags of the build.
#if defined(__x86_64__) && defined(__clang__)
#define CRNN_HAVE_X86_KERNELS 1
#endif

#ifdef CRNN_HAVE_X86_KERNELS
#include <immintrin.h>

/// AVX-512 VNNI: one vpdpbusd multiplies 4 k-values of 16 columns and adds them into 16 int32 lanes.
/// It takes unsigned × signed bytes, so x comes offset by 128 and 128 · Σ w is taken off again: the same
/// exact integers as the portable loop.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static void
q8_vecmat_vnni(const uint8_t *restrict x_values, const float *restrict x_scales, size_t k,
               const int8_t *restrict values, const float *restrict scales, const int32_t *restrict column_sums,
               size_t n, size_t g0, size_t g1, float *restrict y) {
    const size_t blocks = div_up(k, CRNN_Q8_BLOCK);
    for (size_t g = g0; g < g1; g++) {
        __m512 acc = _mm512_setzero_ps();
        for (size_t b = 0; b < blocks; b++) {
            const size_t t = g * blocks + b;
            const int8_t *tile = values + t * Q8_TILE;
            const uint8_t *xb = x_values + b * CRNN_Q8_BLOCK;  // already x + 128
            __m512i dot = _mm512_setzero_si512();
            for (size_t quad = 0; quad < CRNN_Q8_BLOCK / 4; quad++) {
                int32_t four;  // 4 consecutive k-values, broadcast to the 16 columns
                memcpy(&four, xb + quad * 4, sizeof four);
                const __m512i w = _mm512_loadu_si512((const void *)(tile + quad * 4 * CRNN_Q8_GROUP));
                dot = _mm512_dpbusd_epi32(dot, _mm512_set1_epi32(four), w);
            }
            const __m512i sums = _mm512_loadu_si512((const void *)(column_sums + t * CRNN_Q8_GROUP));
            dot = _mm512_sub_epi32(dot, _mm512_slli_epi32(sums, 7));
            const __m512 scale =
                _mm512_mul_ps(_mm512_loadu_ps(scales + t * CRNN_Q8_GROUP), _mm512_set1_ps(x_scales[b]));
            acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(dot), scale));
        }
        if ((g + 1) * CRNN_Q8_GROUP <= n) {
            float *out = y + g * CRNN_Q8_GROUP;
            _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), acc));  // y + acc, as q8_store
        } else {
            float out[CRNN_Q8_GROUP];
            _mm512_storeu_ps(out, acc);
            q8_store(y, g, n, out);
        }
    }
}

/// AVX2: vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16, which would overflow
/// for x + 128 (up to 255 · 127 · 2). So, as ggml does, it takes |x| and w with x's sign: pairs stay within
/// 2 · 127 · 127. The int16 pairs are then summed into int32 lanes by vpmaddwd: the same exact integers
/// as the portable loop, and the same float operations after.
/// x of up to this many quads (4 rows each: 1024 rows) is prepared once per call, in 16 KB of stack.
#define AVX2_PREPARED_QUADS 256

/// One group's product over every block; `prepared` holds |x| and x per quad (broadcast), or is NULL for
/// x worked out here from the stored bytes.
__attribute__((target("avx2"), always_inline)) static inline void
q8_group_avx2(const uint8_t *restrict x_values, const float *restrict x_scales, size_t blocks,
              const __m256i *restrict prepared, const int8_t *restrict values, const float *restrict scales, size_t g,
              size_t n, float *restrict y) {
    const __m256i offset = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256 acc_low = _mm256_setzero_ps(), acc_high = _mm256_setzero_ps();  // columns 0–7 and 8–15
    for (size_t b = 0; b < blocks; b++) {
        const size_t t = g * blocks + b;
        const int8_t *tile = values + t * Q8_TILE;
        __m256i dot_low = _mm256_setzero_si256(), dot_high = _mm256_setzero_si256();
        for (size_t quad = 0; quad < CRNN_Q8_BLOCK / 4; quad++) {
            __m256i magnitude, x;
            if (prepared) {
                magnitude = prepared[2 * (b * (CRNN_Q8_BLOCK / 4) + quad)];
                x = prepared[2 * (b * (CRNN_Q8_BLOCK / 4) + quad) + 1];
            } else {
                int32_t four;  // 4 consecutive k-values (+ 128), broadcast to the columns
                memcpy(&four, x_values + b * CRNN_Q8_BLOCK + quad * 4, sizeof four);
                x = _mm256_xor_si256(_mm256_set1_epi32(four), offset);  // back to signed
                magnitude = _mm256_abs_epi8(x);
            }
            const int8_t *w = tile + quad * 4 * CRNN_Q8_GROUP;
            const __m256i w_low = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)w), x);
            const __m256i w_high = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(w + 32)), x);
            dot_low = _mm256_add_epi32(dot_low, _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, w_low), ones));
            dot_high = _mm256_add_epi32(dot_high, _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, w_high), ones));
        }
        const __m256 x_scale = _mm256_set1_ps(x_scales[b]);
        const float *s = scales + t * CRNN_Q8_GROUP;
        acc_low = _mm256_add_ps(acc_low,
                                _mm256_mul_ps(_mm256_cvtepi32_ps(dot_low), _mm256_mul_ps(_mm256_loadu_ps(s), x_scale)));
        acc_high = _mm256_add_ps(
            acc_high, _mm256_mul_ps(_mm256_cvtepi32_ps(dot_high), _mm256_mul_ps(_mm256_loadu_ps(s + 8), x_scale)));
    }
    float out[CRNN_Q8_GROUP];
    _mm256_storeu_ps(out, acc_low);
    _mm256_storeu_ps(out + 8, acc_high);
    q8_store(y, g, n, out);
}

__attribute__((target("avx2"))) static void q8_vecmat_avx2(const uint8_t *restrict x_values,
                                                           const float *restrict x_scales, size_t k,
                                                           const int8_t *restrict values, const float *restrict scales,
                                                           size_t n, size_t g0, size_t g1, float *restrict y) {
    const size_t blocks = div_up(k, CRNN_Q8_BLOCK), quads = blocks * (CRNN_Q8_BLOCK / 4);
    if (quads > AVX2_PREPARED_QUADS) {
        for (size_t g = g0; g < g1; g++) q8_group_avx2(x_values, x_scales, blocks, NULL, values, scales, g, n, y);
        return;
    }
    // |x| and x per quad, shared by every group: 2 of the 7 operations per quad and half-group.
    __m256i prepared[2 * AVX2_PREPARED_QUADS];
    const __m256i offset = _mm256_set1_epi8((char)0x80);
    for (size_t q = 0; q < quads; q++) {
        int32_t four;
        memcpy(&four, x_values + q * 4, sizeof four);
        const __m256i x = _mm256_xor_si256(_mm256_set1_epi32(four), offset);
        prepared[2 * q] = _mm256_abs_epi8(x);
        prepared[2 * q + 1] = x;
    }
    for (size_t g = g0; g < g1; g++) q8_group_avx2(x_values, x_scales, blocks, prepared, values, scales, g, n, y);
}
#endif

INTERNAL void crnn_q8_vecmat_accumulate(const uint8_t *x_values, const float *x_scales, size_t k, const int8_t *values,
                                        const float *scales, const int32_t *column_sums, size_t n, size_t g0, size_t g1,
                                        float *y) {
#ifdef CRNN_HAVE_X86_KERNELS
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        q8_vecmat_vnni(x_values, x_scales, k, values, scales, column_sums, n, g0, g1, y);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        q8_vecmat_avx2(x_values, x_scales, k, values, scales, n, g0, g1, y);
        return;
    }
#endif
    (void)column_sums;
    q8_vecmat_portable(x_values, x_scales, k, values, scales, n, g0, g1, y);
}
