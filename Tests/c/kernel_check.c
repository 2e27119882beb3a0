// Checks CharRNNKernels (Sources/CharRNNKernels), built by the Makefile once per x86-64 level with
// CRNN_SINGLE_VERSION: prints a hash of the outputs' bits — activations over ~16M inputs, the 8-bit
// product, the small GEMM, the batch-1 products over the worker pool, training's elementwise loops and
// the optimizers' updates —
// (the Makefile requires the same hash from every level, since the library picks one at load time) and
// fails if any is further from double precision than promised, or if the threads change a bit.
// check_late_worker: a pause, when asked for, between a job's claims and its publication.
static void pool_pause_after_claims(void);
#define CRNN_POOL_AFTER_CLAIMS() pool_pause_after_claims()
#include "../../Sources/CharRNNKernels/kernels.c"
#include "../../Sources/CharRNNKernels/step_products.c"
#include "../../Sources/CharRNNKernels/pool.c"
#include "../../Sources/CharRNNKernels/training_elementwise.c"
#include "../../Sources/CharRNNKernels/lstm_cell.c"
#include "../../Sources/CharRNNKernels/optimizer_updates.c"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT (1u << 24)

/// Adds the bits of n floats to an FNV-1a hash.
static void hash_floats(const float *v, size_t n, uint64_t *hash) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        *hash ^= bits;
        *hash *= 1099511628211u;
    }
}

static uint64_t random_state = 88172645463325252u;
static float random_float(void) {  // xorshift64*, uniform in [-1, 1)
    random_state ^= random_state >> 12;
    random_state ^= random_state << 25;
    random_state ^= random_state >> 27;
    return (float)((random_state * 2685821657736338717u) >> 40) / (float)(1u << 23) - 1.0f;
}

/// The 8-bit product of a (k, n) matrix (rows `ld` apart) against the float one: equal to the quantized
/// operands' product written out here in double precision, within the rounding bound of the quantization
/// (half a step of each operand's scale), and, where the CPU has AVX-512 VNNI, the same bits from both
/// kernels. `zero_block` zeroes rows 32..63 (a block of zeros); `tiny` scales every weight to ~1e-38,
/// where 127 / max overflows. Adds y's bits to `hash`; returns 1 on failure.
static int check_q8_shape(size_t K, size_t N, size_t LD, int zero_block, int tiny, uint64_t *hash) {
    const size_t blocks = (K + CRNN_Q8_BLOCK - 1) / CRNN_Q8_BLOCK;
    float *w = malloc(K * LD * sizeof *w), *x = malloc(K * sizeof *x), *y = malloc(N * sizeof *y);
    float *reference = malloc(N * sizeof *reference), *bound = malloc(N * sizeof *bound);
    float *portable = malloc(N * sizeof *portable), *scales = malloc(crnn_q8_scale_count(K, N) * sizeof(float));
    float *xs = malloc(blocks * sizeof *xs);
    double *exact = malloc(N * sizeof *exact);  // the quantized operands' product in double precision
    int8_t *values = malloc(crnn_q8_matrix_bytes(K, N));
    uint8_t *xq = malloc(blocks * CRNN_Q8_BLOCK);
    int32_t *sums = malloc(crnn_q8_scale_count(K, N) * sizeof(int32_t));
    if (!w || !x || !y || !reference || !bound || !portable || !scales || !xs || !exact || !values || !xq || !sums)
        return 1;
    for (size_t i = 0; i < K * LD; i++) {
        w[i] = random_float() * (i % 7 == 0 ? 3.0f : 0.5f) * (tiny ? 1e-38f : 1.0f);
        if (zero_block && i / LD >= 32 && i / LD < 64) w[i] = 0;
    }
    for (size_t i = 0; i < K; i++) x[i] = random_float();
    crnn_q8_quantize_matrix(w, K, N, LD, values, scales, sums);
    crnn_q8_quantize_vector(x, K, xq, xs);
    for (size_t j = 0; j < N; j++) {
        double sum = 0, err = 0, quantized = 0;
        for (size_t b = 0; b < blocks; b++) {
            double wmax = 0, xmax = 0;
            for (size_t i = b * CRNN_Q8_BLOCK; i < K && i < (b + 1) * CRNN_Q8_BLOCK; i++) {
                wmax = fmax(wmax, fabs(w[i * LD + j]));
                xmax = fmax(xmax, fabs(x[i]));
            }
            for (size_t i = b * CRNN_Q8_BLOCK; i < K && i < (b + 1) * CRNN_Q8_BLOCK; i++) {
                sum += (double)x[i] * w[i * LD + j];
                err += fabs(x[i]) * wmax / 254.0 + (fabs(w[i * LD + j]) + wmax / 254.0) * xmax / 254.0;
                // Q8_0 written out again: round(v · 127 / max) · max / 127 for both operands.
                const double qw = wmax > 0 ? (double)lrint(w[i * LD + j] * 127.0 / wmax) * wmax / 127.0 : 0;
                quantized += (double)lrint(x[i] * 127.0 / xmax) * xmax / 127.0 * qw;
            }
        }
        y[j] = portable[j] = 1.0f;
        reference[j] = (float)(sum + 1.0);
        bound[j] = (float)(err * 1.001 + 1e-5);
        exact[j] = quantized + 1.0;
    }
    crnn_q8_vecmat_accumulate(xq, xs, K, values, scales, sums, N, 0, (N + CRNN_Q8_GROUP - 1) / CRNN_Q8_GROUP, y);
    int failed = 0;
    for (size_t j = 0; j < N && !failed; j++) {
        if (tiny) {  // 127 / max is clamped to FLT_MAX: the rounding differs, the result must stay ~1
            if (!(fabsf(y[j] - 1.0f) < 1e-6f)) {
                printf("q8 tiny weights: column %zu is %g\n", j, y[j]);
                failed = 1;
            }
        } else if (!(fabs(y[j] - exact[j]) <= 1e-5 * (1 + fabs(exact[j])))) {
            printf("q8 %zux%zu column %zu: %.9g, the quantized operands' product is %.9g\n", K, N, j, y[j], exact[j]);
            failed = 1;
        } else if (!(fabsf(y[j] - reference[j]) <= bound[j])) {
            printf("q8 %zux%zu column %zu: %g, float %g, bound %g\n", K, N, j, y[j], reference[j], bound[j]);
            failed = 1;
        }
    }
    q8_vecmat_portable(xq, xs, K, values, scales, N, 0, (N + CRNN_Q8_GROUP - 1) / CRNN_Q8_GROUP, portable);
    if (memcmp(portable, y, N * sizeof *y) != 0) {
        printf("q8 %zux%zu: the portable loop and the kernel in use disagree\n", K, N);
        failed = 1;
    }
#ifdef CRNN_HAVE_X86_KERNELS
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        for (size_t j = 0; j < N; j++) portable[j] = 1.0f;
        q8_vecmat_vnni(xq, xs, K, values, scales, sums, N, 0, (N + CRNN_Q8_GROUP - 1) / CRNN_Q8_GROUP, portable);
        if (memcmp(portable, y, N * sizeof *y) != 0) {
            printf("q8 %zux%zu: the VNNI and portable kernels disagree\n", K, N);
            failed = 1;
        }
    }
    if (__builtin_cpu_supports("avx2")) {
        for (size_t j = 0; j < N; j++) portable[j] = 1.0f;
        q8_vecmat_avx2(xq, xs, K, values, scales, N, 0, (N + CRNN_Q8_GROUP - 1) / CRNN_Q8_GROUP, portable);
        if (memcmp(portable, y, N * sizeof *y) != 0) {
            printf("q8 %zux%zu: the AVX2 and portable kernels disagree\n", K, N);
            failed = 1;
        }
    }
#endif
    // Split over the pool by panels, as generation runs it: the same bits.
    const crnn_product_term term = {
        .k = K, .x_values = xq, .x_scales = xs, .values = values, .scales = scales, .column_sums = sums};
    for (size_t j = 0; j < N; j++) portable[j] = 1.0f;
    crnn_sum_products(&term, 1, N, portable, NULL);
    if (memcmp(portable, y, N * sizeof *y) != 0) {
        printf("q8 %zux%zu: the pooled product differs\n", K, N);
        failed = 1;
    }
    hash_floats(y, N, hash);
    free(w);
    free(x);
    free(y);
    free(reference);
    free(bound);
    free(portable);
    free(scales);
    free(xs);
    free(exact);
    free(values);
    free(xq);
    free(sums);
    return failed;
}

/// A NaN or an infinity in the input vector makes every output NaN, as in the float product (and
/// reaches no float-to-int conversion out of range).
static int check_q8_nonfinite(void) {
    enum { K = 40, N = 20 };
    float w[K * N], x[K], y[N];
    for (size_t i = 0; i < K * N; i++) w[i] = random_float();
    int8_t values[2 * 2 * 32 * 16];
    uint8_t xq[64];
    float scales[2 * 2 * 16], xs[2];
    int32_t sums[2 * 2 * 16];
    if (crnn_q8_matrix_bytes(K, N) > sizeof values || crnn_q8_scale_count(K, N) > 2 * 2 * 16) return 1;
    crnn_q8_quantize_matrix(w, K, N, N, values, scales, sums);
    // In the first (whole) block and in the last (partial) one, and a NaN with its sign bit set.
    const float specials[] = {NAN, INFINITY, -INFINITY, -NAN};
    for (int s = 0; s < 8; s++) {
        for (size_t i = 0; i < K; i++) x[i] = random_float();
        x[s < 4 ? 5 : K - 3] = specials[s % 4];
        for (size_t j = 0; j < N; j++) y[j] = 0;
        crnn_q8_quantize_vector(x, K, xq, xs);
        crnn_q8_vecmat_accumulate(xq, xs, K, values, scales, sums, N, 0, (N + CRNN_Q8_GROUP - 1) / CRNN_Q8_GROUP, y);
        for (size_t j = 0; j < N; j++) {
            if (!isnan(y[j])) {
                printf("q8: input %g gave %g, not NaN\n", specials[s % 4], y[j]);
                return 1;
            }
        }
    }
    return 0;
}

static int check_q8(uint64_t *hash) {
    // (k, n, row stride): not multiples of the block and group, exact multiples, smaller than one of each,
    // more rows than the AVX2 kernel prepares x for, and one large enough to be split over the pool.
    const size_t shapes[][3] = {{300, 77, 80},   {31, 15, 15}, {64, 32, 32},   {1, 1, 1},
                                {128, 512, 512}, {96, 40, 41}, {1100, 40, 40}, {512, 640, 650}};
    int failed = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        failed |= check_q8_shape(shapes[s][0], shapes[s][1], shapes[s][2], 0, 0, hash);
    failed |= check_q8_shape(96, 40, 41, 1, 0, hash);  // a block of zeros
    failed |= check_q8_shape(96, 40, 41, 0, 1, hash);  // weights ~1e-38
    failed |= check_q8_nonfinite();
    return failed;
}

/// crnn_gemm_rows against a double-precision product for shapes around its 4-row blocks and 64-column
/// panels, with row strides wider than the rows, accumulating and not. Adds C's bits to `hash`.
static int check_gemm_rows(uint64_t *hash) {
    const size_t shapes[][3] = {{25, 512, 128}, {5, 20, 5},  {4, 64, 1},   {7, 130, 33}, {1, 3, 2},
                                {50, 65, 128},  {13, 48, 9}, {26, 33, 17}, {11, 16, 4}};
    int failed = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        const size_t lda = k + 3, ldb = n + 5, ldc = n + 2;
        float *a = malloc(m * lda * sizeof *a), *b = malloc(k * ldb * sizeof *b), *c = malloc(m * ldc * sizeof *c);
        if (!a || !b || !c) return 1;
        for (size_t i = 0; i < m * lda; i++) a[i] = random_float();
        for (size_t i = 0; i < k * ldb; i++) b[i] = random_float();
        for (int accumulate = 0; accumulate <= 1; accumulate++) {
            for (size_t i = 0; i < m * ldc; i++) c[i] = 0.5f;
            crnn_gemm_rows(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            for (size_t i = 0; i < m && !failed; i++) {
                for (size_t j = 0; j < ldc; j++) {
                    double expected = j < n ? (accumulate ? 0.5 : 0.0) : 0.5;  // past n: untouched
                    double scale = 1;
                    for (size_t p = 0; j < n && p < k; p++) {
                        expected += (double)a[i * lda + p] * b[p * ldb + j];
                        scale += fabs((double)a[i * lda + p] * b[p * ldb + j]);
                    }
                    if (!(fabs(c[i * ldc + j] - expected) <= 1e-6 * scale)) {
                        printf("gemm_rows %zux%zux%zu (accumulate %d): C[%zu][%zu] = %.9g, expected %.9g\n", m, n, k,
                               accumulate, i, j, c[i * ldc + j], expected);
                        failed = 1;
                        break;
                    }
                }
            }
            hash_floats(c, m * ldc, hash);
            // B packed into panels, whole and from row 1 and column 16 on: the bits of the unpacked product.
            float *packed = malloc(crnn_packed_size(k, n, CRNN_GEMM_PANEL) * sizeof(float)),
                  *d = malloc(m * ldc * sizeof(float));
            if (!packed || !d) return 1;
            crnn_pack_panels(b, k, n, ldb, CRNN_GEMM_PANEL, packed);
            for (size_t i = 0; i < m * ldc; i++) d[i] = 0.5f;
            crnn_gemm_panels(m, n, k, a, lda, packed, k, d, ldc, accumulate);
            if (memcmp(c, d, m * ldc * sizeof(float)) != 0) {
                printf("gemm_panels %zux%zux%zu: other bits than gemm_rows\n", m, n, k);
                failed = 1;
            }
            if (k > 1 && n > 16) {
                for (size_t i = 0; i < m * ldc; i++) c[i] = d[i] = 0.5f;
                crnn_gemm_rows(m, n - 16, k - 1, a + 1, lda, b + ldb + 16, ldb, c, ldc, accumulate);
                crnn_gemm_panels(m, n - 16, k - 1, a + 1, lda, packed + k * 16 + 16, k, d, ldc, accumulate);
                if (memcmp(c, d, m * ldc * sizeof(float)) != 0) {
                    printf("gemm_panels %zux%zux%zu: a sub-block differs\n", m, n, k);
                    failed = 1;
                }
            }
            // Bᵀ packed straight from B: the same panels as B transposed by hand, then packed.
            float *bt = malloc(n * k * sizeof(float)),
                  *expected = malloc(crnn_packed_size(n, k, CRNN_GEMM_PANEL) * sizeof(float));
            float *transposed = malloc(crnn_packed_size(n, k, CRNN_GEMM_PANEL) * sizeof(float));
            if (!bt || !expected || !transposed) return 1;
            for (size_t i = 0; i < k; i++)
                for (size_t j = 0; j < n; j++) bt[j * k + i] = b[i * ldb + j];
            crnn_pack_panels(bt, n, k, k, CRNN_GEMM_PANEL, expected);
            crnn_pack_panels_transposed(b, k, n, ldb, CRNN_GEMM_PANEL, transposed);
            if (memcmp(expected, transposed, crnn_packed_size(n, k, CRNN_GEMM_PANEL) * sizeof(float)) != 0) {
                printf("pack_panels_transposed %zux%zu: other panels than packing Bᵀ\n", k, n);
                failed = 1;
            }
            free(bt);
            free(expected);
            free(transposed);
            free(packed);
            free(d);
        }
        free(a);
        free(b);
        free(c);
    }
    return failed;
}

/// The float32 batch-1 sums of products (crnn_sum_products over packed panels, one term and two) against double
/// precision, and bit for bit against the same panels summed on this thread alone. Adds y's bits to `hash`.
static int check_sum_products(uint64_t *hash) {
    // (k1, k2, n): panel multiples, ragged last panels, one column, a second term of another height.
    const size_t shapes[][3] = {{128, 128, 512}, {300, 7, 130}, {1, 1, 1}, {65, 64, 65}, {512, 512, 2048}};
    int failed = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t k1 = shapes[s][0], k2 = shapes[s][1], n = shapes[s][2], ld = n + 3;
        float *w1 = malloc(k1 * ld * sizeof(float)), *w2 = malloc(k2 * n * sizeof(float));
        float *p1 = malloc(crnn_packed_size(k1, n, CRNN_PANEL) * sizeof(float)),
              *p2 = malloc(crnn_packed_size(k2, n, CRNN_PANEL) * sizeof(float));
        float *x1 = malloc(k1 * sizeof(float)), *x2 = malloc(k2 * sizeof(float));
        float *y = malloc(n * sizeof(float)), *alone = malloc(n * sizeof(float));
        if (!w1 || !w2 || !p1 || !p2 || !x1 || !x2 || !y || !alone) return 1;
        for (size_t i = 0; i < k1 * ld; i++) w1[i] = random_float();
        for (size_t i = 0; i < k2 * n; i++) w2[i] = random_float();
        for (size_t i = 0; i < k1; i++) x1[i] = random_float();
        for (size_t i = 0; i < k2; i++) x2[i] = random_float();
        crnn_pack_panels(w1, k1, n, ld, CRNN_PANEL, p1);
        crnn_pack_panels(w2, k2, n, n, CRNN_PANEL, p2);
        const crnn_product_term terms[2] = {{.k = k1, .x = x1, .panels = p1}, {.k = k2, .x = x2, .panels = p2}};
        for (size_t count = 1; count <= 2; count++) {
            for (size_t j = 0; j < n; j++) y[j] = alone[j] = 0.25f;
            crnn_sum_products(terms, count, n, y, NULL);
            panels_accumulate(terms, count, 0, (n + CRNN_PANEL - 1) / CRNN_PANEL, n, alone);
            if (memcmp(y, alone, n * sizeof *y) != 0) {
                printf("sum of products %zux%zu: the threads changed bits\n", k1, n);
                failed = 1;
            }
            for (size_t j = 0; j < n && !failed; j++) {
                double expected = 0.25, scale = 1;
                for (size_t i = 0; i < k1; i++) {
                    expected += (double)x1[i] * w1[i * ld + j];
                    scale += fabs((double)x1[i] * w1[i * ld + j]);
                }
                for (size_t i = 0; count == 2 && i < k2; i++) {
                    expected += (double)x2[i] * w2[i * n + j];
                    scale += fabs((double)x2[i] * w2[i * n + j]);
                }
                if (!(fabs(y[j] - expected) <= 1e-6 * scale)) {
                    printf("sum of products %zux%zu (%zu terms) column %zu: %.9g, expected %.9g\n", k1, n, count, j,
                           y[j], expected);
                    failed = 1;
                }
            }
            hash_floats(y, n, hash);
            // With an LSTM's gate activations applied by the threads: the same bits as applying them after.
            const crnn_gate_activations gates = {n / 4, n / 2};
            for (size_t j = 0; j < n; j++) y[j] = 0.25f;
            crnn_sum_products(terms, count, n, y, &gates);
            crnn_sigmoid(alone, n / 4);
            crnn_tanh(alone + n / 4, n / 2 - n / 4);
            crnn_sigmoid(alone + n / 2, n - n / 2);
            if (memcmp(y, alone, n * sizeof *y) != 0) {
                printf("sum of products %zux%zu: activated by the threads, other bits\n", k1, n);
                failed = 1;
            }
            // With a one-hot input's row added first: the bits of adding it after the products, then activating.
            float *row = malloc(n * sizeof(float));
            if (!row) return 1;
            for (size_t j = 0; j < n; j++) row[j] = random_float();
            const crnn_gate_activations with_row = {n / 4, n / 2, row};
            for (size_t j = 0; j < n; j++) y[j] = alone[j] = 0.25f;
            crnn_sum_products(terms, count, n, y, &with_row);
            panels_accumulate(terms, count, 0, (n + CRNN_PANEL - 1) / CRNN_PANEL, n, alone);
            for (size_t j = 0; j < n; j++) alone[j] = alone[j] + row[j];
            crnn_sigmoid(alone, n / 4);
            crnn_tanh(alone + n / 4, n / 2 - n / 4);
            crnn_sigmoid(alone + n / 2, n - n / 2);
            if (memcmp(y, alone, n * sizeof *y) != 0) {
                printf("sum of products %zux%zu: the row added by the threads, other bits\n", k1, n);
                failed = 1;
            }
            hash_floats(y, n, hash);
            free(row);
        }
        free(w1);
        free(w2);
        free(p1);
        free(p2);
        free(x1);
        free(x2);
        free(y);
        free(alone);
    }
    return failed;
}

/// Training's elementwise loops against the same sums and expressions written out one element at a time:
/// the same bits (each element's operations in the same order), for widths around the 64-column passes,
/// row strides wider than the rows and repeated scatter indices. Adds the outputs' bits to `hash`.
static int check_training_elementwise(uint64_t *hash) {
    enum { ROWS = 37, MAX_WIDTH = 200, STRIDE = MAX_WIDTH + 5, TABLE = 9 };
    static float m[ROWS * STRIDE], out[MAX_WIDTH], expected[MAX_WIDTH];
    static float table[TABLE * STRIDE], table_expected[TABLE * STRIDE];
    int32_t indices[ROWS];
    int failed = 0;
    for (size_t i = 0; i < ROWS * STRIDE; i++) m[i] = random_float() * (i % 5 == 0 ? 1e4f : 1.0f);
    for (size_t r = 0; r < ROWS; r++) indices[r] = (int32_t)((r * 7 + r / 3) % TABLE);
    const size_t widths[] = {1, 15, 64, 65, 130, 200};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        const size_t width = widths[w];
        for (size_t j = 0; j < width; j++) out[j] = expected[j] = random_float();
        crnn_column_sums(m, ROWS, width, STRIDE, out);
        for (size_t r = 0; r < ROWS; r++)
            for (size_t j = 0; j < width; j++) expected[j] = expected[j] + m[r * STRIDE + j];
        if (memcmp(out, expected, width * sizeof *out) != 0) {
            printf("column sums (width %zu): other bits\n", width);
            failed = 1;
        }
        hash_floats(out, width, hash);

        for (size_t i = 0; i < TABLE * STRIDE; i++) table[i] = table_expected[i] = random_float();
        crnn_scatter_add_rows(m, ROWS, width, STRIDE, indices, table, STRIDE);
        for (size_t r = 0; r < ROWS; r++)
            for (size_t j = 0; j < width; j++)
                table_expected[indices[r] * STRIDE + j] = table_expected[indices[r] * STRIDE + j] + m[r * STRIDE + j];
        if (memcmp(table, table_expected, sizeof table) != 0) {
            printf("scatter-add (width %zu): other bits\n", width);
            failed = 1;
        }
        hash_floats(table, TABLE * STRIDE, hash);
    }

    // LSTM cell and backward step: sigmoid gates and tanh in (0, 1) and (-1, 1), as the forward pass leaves them.
    const size_t units[] = {1, 7, 128};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        const size_t U = units[u], B = 5, G = 4 * U;
        float *gates = malloc(B * G * sizeof(float)), *gates_expected = malloc(B * G * sizeof(float));
        float *d_out = malloc(B * U * sizeof(float)), *dh = malloc(B * U * sizeof(float));
        float *dc = malloc(B * U * sizeof(float)), *dc_expected = malloc(B * U * sizeof(float));
        float *c_prev = malloc(B * U * sizeof(float)), *tc = malloc(B * U * sizeof(float));
        if (!gates || !gates_expected || !d_out || !dh || !dc || !dc_expected || !c_prev || !tc) return 1;
        for (size_t b = 0; b < B; b++)
            for (size_t j = 0; j < G; j++) {
                const float v = random_float();
                gates[b * G + j] = gates_expected[b * G + j] = (j / U == 2) ? v : 0.5f + 0.5f * v;
            }
        for (size_t i = 0; i < B * U; i++) {
            d_out[i] = random_float();
            dh[i] = random_float();
            c_prev[i] = 3 * random_float();
            tc[i] = random_float();
            dc[i] = dc_expected[i] = random_float();
        }
        // The cell update, into other rows and in place: c and h as crnn_tanh and the products give them.
        float *c_next = malloc(B * U * sizeof(float)), *h_next = malloc(B * U * sizeof(float));
        float *c_expected = malloc(B * U * sizeof(float)), *h_expected = malloc(B * U * sizeof(float));
        float *c_in_place = malloc(B * U * sizeof(float)), *h_in_place = malloc(B * U * sizeof(float));
        if (!c_next || !h_next || !c_expected || !h_expected || !c_in_place || !h_in_place) return 1;
        crnn_lstm_cell_update(B, U, gates, c_prev, c_next, h_next);
        memcpy(c_in_place, c_prev, B * U * sizeof(float));
        crnn_lstm_cell_update(B, U, gates, c_in_place, c_in_place, h_in_place);
        for (size_t b = 0; b < B; b++)
            for (size_t j = 0; j < U; j++) {
                const float *row = gates + b * G;
                c_expected[b * U + j] = row[U + j] * c_prev[b * U + j] + row[j] * row[2 * U + j];
            }
        memcpy(h_expected, c_expected, B * U * sizeof(float));
        crnn_tanh(h_expected, B * U);
        for (size_t b = 0; b < B; b++)
            for (size_t j = 0; j < U; j++) h_expected[b * U + j] = h_expected[b * U + j] * gates[b * G + 3 * U + j];
        if (memcmp(c_next, c_expected, B * U * sizeof(float)) != 0 ||
            memcmp(h_next, h_expected, B * U * sizeof(float)) != 0 ||
            memcmp(c_in_place, c_expected, B * U * sizeof(float)) != 0 ||
            memcmp(h_in_place, h_expected, B * U * sizeof(float)) != 0) {
            printf("LSTM cell (%zu units): other bits\n", U);
            failed = 1;
        }
        hash_floats(c_next, B * U, hash);
        hash_floats(h_next, B * U, hash);
        free(c_next);
        free(h_next);
        free(c_expected);
        free(h_expected);
        free(c_in_place);
        free(h_in_place);

        crnn_lstm_backward_step(B, U, gates, d_out, dh, dc, c_prev, tc);
        for (size_t b = 0; b < B; b++)
            for (size_t j = 0; j < U; j++) {
                float *row = gates_expected + b * G;
                const size_t e = b * U + j;
                const float dhe = d_out[e] + dh[e], i = row[j], f = row[U + j], g = row[2 * U + j], o = row[3 * U + j];
                const float dce = dc_expected[e] + dhe * o * (1.0f - tc[e] * tc[e]);
                dc_expected[e] = dce * f;
                row[j] = dce * g * (i * (1.0f - i));
                row[U + j] = dce * c_prev[e] * (f * (1.0f - f));
                row[2 * U + j] = dce * i * (1.0f - g * g);
                row[3 * U + j] = dhe * tc[e] * (o * (1.0f - o));
            }
        if (memcmp(gates, gates_expected, B * G * sizeof(float)) != 0 ||
            memcmp(dc, dc_expected, B * U * sizeof(float)) != 0) {
            printf("LSTM backward step (%zu units): other bits\n", U);
            failed = 1;
        }
        hash_floats(gates, B * G, hash);
        hash_floats(dc, B * U, hash);
        free(gates);
        free(gates_expected);
        free(d_out);
        free(dh);
        free(dc);
        free(dc_expected);
        free(c_prev);
        free(tc);
    }
    return failed;
}

/// Four threads at once through the pool (one holds the workers, the others run alone): every product
/// comes out with the bits of the product computed on one thread.
enum { RACE_K = 256, RACE_N = 1024, RACE_THREADS = 4, RACE_ROUNDS = 300 };
static float race_panels[RACE_K * RACE_N], race_x[RACE_K], race_expected[RACE_N];
static void *race_thread(void *argument) {
    float *y = malloc(RACE_N * sizeof(float));
    const crnn_product_term term = {.k = RACE_K, .x = race_x, .panels = race_panels};
    size_t *wrong = argument;
    crnn_products_async job = {.terms = {term}, .count = 1, .n = RACE_N, .y = y};
    for (int round = 0; y && round < RACE_ROUNDS; round++) {
        for (size_t j = 0; j < RACE_N; j++) y[j] = round % 2 ? -1 : 0;  // a posted product starts from zeros
        if (round % 2) {  // every other one handed to a worker, when one is free
            crnn_sum_products_post(&job);
            crnn_sum_products_wait(&job);
        } else {
            crnn_sum_products(&term, 1, RACE_N, y, NULL);
        }
        if (memcmp(y, race_expected, sizeof race_expected) != 0) (*wrong)++;
    }
    free(y);
    return NULL;
}

static int check_pool_races(void) {
    for (size_t i = 0; i < RACE_K * RACE_N; i++) race_panels[i] = random_float();
    for (size_t i = 0; i < RACE_K; i++) race_x[i] = random_float();
    const crnn_product_term term = {.k = RACE_K, .x = race_x, .panels = race_panels};
    panels_accumulate(&term, 1, 0, RACE_N / CRNN_PANEL, RACE_N, race_expected);
    pthread_t threads[RACE_THREADS];
    size_t wrong[RACE_THREADS] = {0};
    for (int t = 0; t < RACE_THREADS; t++)
        if (pthread_create(&threads[t], NULL, race_thread, &wrong[t]) != 0) return 1;
    size_t total = 0;
    for (int t = 0; t < RACE_THREADS; t++) {
        pthread_join(threads[t], NULL);
        total += wrong[t];
    }
    if (total)
        printf("pool: %zu of %d products from concurrent callers were wrong\n", total, RACE_THREADS * RACE_ROUNDS);
    return total != 0;
}

/// A product a worker has finished no longer holds the pool, even before its poster waits for it: a
/// session left with its next product done must not keep other threads' products off the workers.
/// (Checked only when a worker takes the first product within a second.)
static int check_async_release(void) {
    if (crnn_pool_width() < 2) return 0;
    static float first_y[RACE_N], second_y[RACE_N];
    const crnn_product_term term = {.k = RACE_K, .x = race_x, .panels = race_panels};
    crnn_products_async first = {.terms = {term}, .count = 1, .n = RACE_N, .y = first_y};
    crnn_products_async second = {.terms = {term}, .count = 1, .n = RACE_N, .y = second_y};
    int failed = 0;
    for (int attempt = 0; attempt < 20; attempt++) {
        crnn_sum_products_post(&first);
        int finished = 0;
        for (uint64_t deadline = now_nanoseconds() + 1000000000u; first.async.posted && now_nanoseconds() < deadline;)
            if ((finished = (int)__atomic_load_n(&first.async.done, __ATOMIC_ACQUIRE))) break;
        crnn_sum_products_post(&second);
        const int second_posted = second.async.posted != 0;
        crnn_sum_products_wait(&second);
        crnn_sum_products_wait(&first);
        if (memcmp(first_y, race_expected, sizeof race_expected) != 0 ||
            memcmp(second_y, race_expected, sizeof race_expected) != 0) {
            puts("pool: a posted product came out wrong");
            return 1;
        }
        if (finished) {
            if (!second_posted) {
                puts("pool: a finished posted product still held the workers");
                failed = 1;
            }
            return failed;
        }
    }
    return failed;
}

/// A posted task that runs long: crnn_async_wait returns only once it has finished.
static _Atomic int slow_task_finished;
static void slow_task(void *context, size_t part, size_t parts) {
    (void)context;
    (void)part;
    (void)parts;
    const struct timespec pause = {0, 20000000};
    nanosleep(&pause, NULL);
    atomic_store(&slow_task_finished, 1);
}

/// After 2^32 jobs the 32-bit futex generation comes round to 0: a job posted then must still be waited
/// for (its claim once read as 0, "ran on the calling thread", and the wait returned at once).
static int check_generation_wrap(void) {
    if (crnn_pool_width() < 2) return 0;
    atomic_store(&pool.generation, UINT32_MAX);  // as after 2^32 − 1 jobs; the workers see it move
    futex_wake_all(&pool.generation);
    const struct timespec settle = {0, 10000000};
    nanosleep(&settle, NULL);
    crnn_async job = {0};
    crnn_async_post(&job, slow_task, NULL);
    crnn_async_wait(&job);
    if (!atomic_load(&slow_task_finished)) {
        puts("pool: a job posted at generation 0 was not waited for");
        return 1;
    }
    return 0;
}

/// A worker asleep when a job is posted can wake after the caller has finished it alone and posted the
/// next one, and take the next one's claim before the generation moves. That job's count of running
/// workers must already be set then, or the worker's decrement comes first and the caller waits forever.
/// The pause after the claims holds that window open; a watchdog turns a hang into a failure.
static _Atomic int pause_after_claims;
static void pool_pause_after_claims(void) {
    if (!atomic_load(&pause_after_claims)) return;
    const struct timespec pause = {0, 300000};
    nanosleep(&pause, NULL);
}

enum { LATE_ROUNDS = 30 };
static _Atomic int late_rounds_done;
static void tiny_task(void *context, size_t part, size_t parts) {
    (void)context;
    (void)part;
    (void)parts;
}
static void *late_worker_jobs(void *argument) {
    (void)argument;
    for (int round = 0; round < LATE_ROUNDS; round++) {
        const struct timespec idle = {0, 2000000};  // past the workers' spin: they sleep
        nanosleep(&idle, NULL);
        crnn_parallel_run(tiny_task, NULL, 2);  // done alone before the worker wakes
        crnn_parallel_run(tiny_task, NULL, 2);  // the worker wakes inside the pause and claims this one
        atomic_store(&late_rounds_done, round + 1);
    }
    return NULL;
}

static int check_late_worker(void) {
    if (crnn_pool_width() < 2) return 0;
    atomic_store(&pause_after_claims, 1);
    pthread_t thread;
    if (pthread_create(&thread, NULL, late_worker_jobs, NULL) != 0) return 1;
    int last = -1;
    uint64_t changed = now_nanoseconds();
    while (atomic_load(&late_rounds_done) < LATE_ROUNDS) {
        const int done = atomic_load(&late_rounds_done);
        if (done != last) {
            last = done;
            changed = now_nanoseconds();
        }
        if (now_nanoseconds() - changed > 3000000000u) {
            printf("pool: a caller waits forever for a worker that took its job before the job was set up (round %d)\n",
                   done);
            return 1;  // the caller is stuck: leave it, main exits
        }
        const struct timespec poll = {0, 1000000};
        nanosleep(&poll, NULL);
    }
    pthread_join(thread, NULL);
    atomic_store(&pause_after_claims, 0);
    return 0;
}

/// Distance in units in the last place of `expected` (rounded to float).
static double ulps(float got, double expected) {
    float e = (float)expected;
    double ulp = nextafterf(fabsf(e), INFINITY) - fabsf(e);
    return fabs((double)got - expected) / ulp;
}

/// Each optimizer rule over a vector body and a ragged tail, three steps, against its expression written
/// out one element at a time (the Swift test checks the same against CharRNN's formulas). Adds the
/// parameters' and states' bits to `hash`; returns 1 on failure.
static int check_optimizer_updates(uint64_t *hash) {
    enum { N = 1003 };
    static float p[N], g[N], a[N], b[N], ep[N], ea[N], eb[N];
    int failed = 0;
    for (int rule = 0; rule < 7; rule++) {
        for (size_t i = 0; i < N; i++) {
            p[i] = ep[i] = random_float();
            a[i] = ea[i] = rule == 6 ? 0.1f : 0.0f;
            b[i] = eb[i] = 0.0f;
        }
        for (int step = 1; step <= 3; step++) {
            for (size_t i = 0; i < N; i++) g[i] = i % 97 == 0 ? 0.0f : 2.0f * random_float();
            const float lr = 0.01f,
                        alpha = lr * sqrtf(1.0f - powf(0.999f, (float)step)) / (1.0f - powf(0.9f, (float)step));
            switch (rule) {
            case 0: crnn_sgd_update(p, g, N, lr); break;
            case 1:
            case 2: crnn_momentum_update(p, g, a, N, lr, 0.9f, rule == 2); break;
            case 3:
            case 4: crnn_rmsprop_update(p, g, a, N, lr, 0.95f, 1.0f - 0.95f, 1e-8f, rule == 3); break;
            case 5: crnn_adam_update(p, g, a, b, N, alpha, 1.0f - 0.9f, 1.0f - 0.999f, 1e-7f); break;
            case 6: crnn_adagrad_update(p, g, a, N, lr, 1e-7f, 1); break;
            }
            for (size_t i = 0; i < N; i++) {
                volatile float v, m;  // volatile: one element at a time, as the formulas read
                switch (rule) {
                case 0: ep[i] = ep[i] - lr * g[i]; break;
                case 1:
                case 2:
                    v = 0.9f * ea[i] - lr * g[i];
                    ea[i] = v;
                    ep[i] = ep[i] + (rule == 2 ? 0.9f * ea[i] - lr * g[i] : ea[i]);
                    break;
                case 3:
                case 4:
                    v = 0.95f * ea[i] + (1.0f - 0.95f) * g[i] * g[i];
                    ea[i] = v;
                    ep[i] = ep[i] - lr * g[i] / (rule == 3 ? sqrtf(ea[i] + 1e-8f) : sqrtf(ea[i]) + 1e-8f);
                    break;
                case 5:
                    m = ea[i] + (g[i] - ea[i]) * (1.0f - 0.9f);
                    ea[i] = m;
                    v = eb[i] + (g[i] * g[i] - eb[i]) * (1.0f - 0.999f);
                    eb[i] = v;
                    ep[i] = ep[i] - alpha * ea[i] / (sqrtf(eb[i]) + 1e-7f);
                    break;
                case 6:
                    v = ea[i] + g[i] * g[i];
                    ea[i] = v;
                    ep[i] = ep[i] - lr * g[i] / sqrtf(ea[i] + 1e-7f);
                    break;
                }
            }
            if (memcmp(p, ep, sizeof p) || memcmp(a, ea, sizeof a) || memcmp(b, eb, sizeof b)) {
                printf("optimizer rule %d, step %d: not the bits of its formula\n", rule, step);
                failed = 1;
            }
        }
        hash_floats(p, N, hash);
        hash_floats(a, N, hash);
        hash_floats(b, N, hash);
    }
    return failed;
}

/// Several streams' sums of products at once (crnn_sum_products_many) against each stream summed alone
/// (crnn_sum_products), bit for bit: float32 and 8-bit, one term and two, with activations and a one-hot
/// row per stream, 1 to 9 streams (every remainder of the kernel's blocks of four) and 64, ragged panels,
/// and inputs and starting values holding −0 (which a broadcast written as 0 + x would turn into +0).
/// Adds the outputs' bits to `hash`.
static int check_sum_products_many(uint64_t *hash) {
    // 8-bit matrices under 256 KB go by streams, larger ones by panels (the last shape).
    const size_t shapes[][3] = {{128, 128, 512}, {37, 5, 70}, {1, 1, 1}, {64, 33, 200}, {300, 200, 600}};
    const size_t stream_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 64};
    int failed = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const size_t k1 = shapes[sh][0], k2 = shapes[sh][1], n = shapes[sh][2], S = 64;
        float *w1 = malloc(k1 * n * sizeof(float)), *w2 = malloc(k2 * n * sizeof(float));
        float *p1 = malloc(crnn_packed_size(k1, n, CRNN_PANEL) * sizeof(float)),
              *p2 = malloc(crnn_packed_size(k2, n, CRNN_PANEL) * sizeof(float));
        int8_t *v1 = malloc(crnn_q8_matrix_bytes(k1, n)), *v2 = malloc(crnn_q8_matrix_bytes(k2, n));
        float *s1 = malloc(crnn_q8_scale_count(k1, n) * sizeof(float)),
              *s2 = malloc(crnn_q8_scale_count(k2, n) * sizeof(float));
        int32_t *c1 = malloc(crnn_q8_scale_count(k1, n) * sizeof(int32_t)),
                *c2 = malloc(crnn_q8_scale_count(k2, n) * sizeof(int32_t));
        float *x = malloc(S * (k1 + k2) * sizeof(float)), *rows = malloc(S * n * sizeof(float));
        float *start = malloc(S * n * sizeof(float)), *many = malloc(S * n * sizeof(float)),
              *alone = malloc(S * n * sizeof(float));
        const size_t b1 = (k1 + CRNN_Q8_BLOCK - 1) / CRNN_Q8_BLOCK, b2 = (k2 + CRNN_Q8_BLOCK - 1) / CRNN_Q8_BLOCK;
        uint8_t *xq = malloc(S * (b1 + b2) * CRNN_Q8_BLOCK);
        float *xs = malloc(S * (b1 + b2) * sizeof(float));
        crnn_product_term *terms = malloc(2 * S * sizeof *terms);
        float **ys = malloc(S * sizeof *ys);
        const float **addends = malloc(S * sizeof *addends);
        if (!w1 || !w2 || !p1 || !p2 || !v1 || !v2 || !s1 || !s2 || !c1 || !c2 || !x || !rows || !start || !many ||
            !alone || !xq || !xs || !terms || !ys || !addends)
            return 1;
        for (size_t i = 0; i < k1 * n; i++) w1[i] = random_float();
        for (size_t i = 0; i < k2 * n; i++) w2[i] = random_float();
        for (size_t i = 0; i < S * (k1 + k2); i++) x[i] = i % 7 == 3 ? -0.0f : random_float();
        for (size_t i = 0; i < S * n; i++) rows[i] = random_float();
        for (size_t i = 0; i < S * n; i++) start[i] = i % 5 == 1 ? -0.0f : random_float();
        crnn_pack_panels(w1, k1, n, n, CRNN_PANEL, p1);
        crnn_pack_panels(w2, k2, n, n, CRNN_PANEL, p2);
        crnn_q8_quantize_matrix(w1, k1, n, n, v1, s1, c1);
        crnn_q8_quantize_matrix(w2, k2, n, n, v2, s2, c2);
        for (size_t st = 0; st < S; st++) {
            const float *x1 = x + st * (k1 + k2), *x2 = x1 + k1;
            uint8_t *q1 = xq + st * (b1 + b2) * CRNN_Q8_BLOCK, *q2 = q1 + b1 * CRNN_Q8_BLOCK;
            float *f1 = xs + st * (b1 + b2), *f2 = f1 + b1;
            crnn_q8_quantize_vector(x1, k1, q1, f1);
            crnn_q8_quantize_vector(x2, k2, q2, f2);
            (void)q2;
            (void)f2;
        }
        for (int int8 = 0; int8 <= 1; int8++) {
            for (size_t count = 1; count <= 2; count++) {
                for (int activated = 0; activated <= 1; activated++) {
                    for (size_t c = 0; c < sizeof stream_counts / sizeof stream_counts[0]; c++) {
                        const size_t streams = stream_counts[c];
                        for (size_t st = 0; st < streams; st++) {
                            const float *x1 = x + st * (k1 + k2);
                            const uint8_t *q1 = xq + st * (b1 + b2) * CRNN_Q8_BLOCK;
                            const float *f1 = xs + st * (b1 + b2);
                            const crnn_product_term t1 = int8 ? (crnn_product_term){.k = k1,
                                                                                    .x_values = q1,
                                                                                    .x_scales = f1,
                                                                                    .values = v1,
                                                                                    .scales = s1,
                                                                                    .column_sums = c1}
                                                              : (crnn_product_term){.k = k1, .x = x1, .panels = p1};
                            const crnn_product_term t2 = int8
                                                             ? (crnn_product_term){.k = k2,
                                                                                   .x_values = q1 + b1 * CRNN_Q8_BLOCK,
                                                                                   .x_scales = f1 + b1,
                                                                                   .values = v2,
                                                                                   .scales = s2,
                                                                                   .column_sums = c2}
                                                             : (crnn_product_term){.k = k2, .x = x1 + k1, .panels = p2};
                            terms[st * count] = t1;
                            if (count == 2) terms[st * count + 1] = t2;
                            ys[st] = many + st * n;
                            addends[st] = rows + st * n;
                        }
                        memcpy(many, start, streams * n * sizeof(float));
                        memcpy(alone, start, streams * n * sizeof(float));
                        const crnn_gate_activations gates = {n / 4, n / 2, NULL};
                        const crnn_gate_activations *g = activated ? &gates : NULL;
                        crnn_sum_products_many(terms, count, streams, n, ys, g, activated ? addends : NULL);
                        for (size_t st = 0; st < streams; st++) {
                            crnn_gate_activations own = {n / 4, n / 2, rows + st * n};
                            crnn_sum_products(terms + st * count, count, n, alone + st * n, activated ? &own : NULL);
                        }
                        if (memcmp(many, alone, streams * n * sizeof(float)) != 0) {
                            printf("%zu streams' sums of products %zux%zu (%s, %zu terms%s): other bits than alone\n",
                                   streams, k1, n, int8 ? "int8" : "float32", count, activated ? ", activated" : "");
                            failed = 1;
                        }
                        hash_floats(many, streams * n, hash);
                    }
                }
            }
        }
        free(w1), free(w2), free(p1), free(p2), free(v1), free(v2), free(s1), free(s2), free(c1), free(c2);
        free(x), free(rows), free(start), free(many), free(alone), free(xq), free(xs), free(terms), free(ys);
        free(addends);
    }
    return failed;
}

int main(void) {
    float *x = malloc(COUNT * sizeof *x), *s = malloc(COUNT * sizeof *s), *t = malloc(COUNT * sizeof *t);
    if (!x || !s || !t) return 2;
    for (uint32_t i = 0; i < COUNT; i++) x[i] = -90.0f + 180.0f * (float)i / (float)COUNT;  // the whole clamp range
    x[0] = NAN;
    x[1] = INFINITY;
    x[2] = -INFINITY;
    x[3] = 0.0f;
    x[4] = -0.0f;
    x[5] = 1e-30f;
    for (uint32_t i = 0; i < COUNT; i++) s[i] = t[i] = x[i];
    crnn_sigmoid(s, COUNT);
    crnn_tanh(t, COUNT);

    uint64_t hash = 1469598103934665603u;  // FNV-1a over the bits of every output
    double worst_exp = 0, worst_sigmoid = 0, worst_tanh = 0;
    for (uint32_t i = 0; i < COUNT; i++) {
        const float e = crnn_expf(x[i]);
        const float outs[3] = {e, s[i], t[i]};
        uint32_t bits[3];
        memcpy(bits, outs, sizeof bits);
        for (int k = 0; k < 3; k++) {
            hash ^= bits[k];
            hash *= 1099511628211u;
        }
        if (i < 6) continue;  // the special values are checked below
        const double xd = x[i];
        if (xd > -87.0 && xd < 88.0) worst_exp = fmax(worst_exp, ulps(e, exp(xd)));
        if (fabs(xd) < 16.0) worst_sigmoid = fmax(worst_sigmoid, ulps(s[i], 1.0 / (1.0 + exp(-xd))));
        if (fabs(xd) > 1e-3 && fabs(xd) < 9.0) worst_tanh = fmax(worst_tanh, ulps(t[i], tanh(xd)));
    }
    int failed = check_q8(&hash);
    failed |= check_gemm_rows(&hash);
    failed |= check_sum_products(&hash);
    failed |= check_sum_products_many(&hash);
    failed |= check_training_elementwise(&hash);
    failed |= check_optimizer_updates(&hash);
    failed |= check_pool_races();
    failed |= check_async_release();
    failed |= check_generation_wrap();
    failed |= check_late_worker();
    if (!isnan(s[0]) || !isnan(t[0]) || !isnan(crnn_expf(NAN))) {
        puts("NaN must stay NaN");
        failed = 1;
    }
    if (s[1] != 1.0f || !(s[2] >= 0.0f && s[2] < 1e-37f) || t[1] != 1.0f || t[2] != -1.0f) {
        puts("wrong at ±infinity");
        failed = 1;
    }
    if (s[3] != 0.5f || t[3] != 0.0f || crnn_expf(0.0f) != 1.0f) {
        puts("wrong at 0");
        failed = 1;
    }
    if (worst_exp > 2.0) {
        printf("exp is %.2f ulp off\n", worst_exp);
        failed = 1;
    }
    if (worst_sigmoid > 3.0) {
        printf("sigmoid is %.2f ulp off\n", worst_sigmoid);
        failed = 1;
    }
    if (worst_tanh > 2.0) {
        printf("tanh is %.2f ulp off\n", worst_tanh);
        failed = 1;
    }
    printf("outputs %016llx  worst ulp: exp %.2f, sigmoid %.2f, tanh %.2f\n", (unsigned long long)hash, worst_exp,
           worst_sigmoid, worst_tanh);
    free(x);
    free(s);
    free(t);
    return failed;
}
