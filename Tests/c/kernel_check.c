// Checks CharRNNKernels (Sources/CharRNNKernels/kernels.c), built by the Makefile once per x86-64
// level with CRNN_SINGLE_VERSION: prints a hash of the outputs' bits — activations over ~16M inputs, the
// 8-bit product and the small GEMM — (the Makefile requires the same hash from every level, since the
// library picks one at load time) and fails if any is further from double precision than promised.
#include "../../Sources/CharRNNKernels/kernels.c"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT (1u << 24)

static uint64_t random_state = 88172645463325252u;
static float random_float(void) {  // xorshift64*, uniform in [-1, 1)
    random_state ^= random_state >> 12; random_state ^= random_state << 25; random_state ^= random_state >> 27;
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
    if (!w || !x || !y || !reference || !bound || !portable || !scales || !xs || !exact || !values || !xq || !sums) return 1;
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
    crnn_q8_vecmat_accumulate(xq, xs, K, values, scales, sums, N, y);
    int failed = 0;
    for (size_t j = 0; j < N && !failed; j++) {
        if (tiny) {  // 127 / max is clamped to FLT_MAX: the rounding differs, the result must stay ~1
            if (!(fabsf(y[j] - 1.0f) < 1e-6f)) { printf("q8 tiny weights: column %zu is %g\n", j, y[j]); failed = 1; }
        } else if (!(fabs(y[j] - exact[j]) <= 1e-5 * (1 + fabs(exact[j])))) {
            printf("q8 %zux%zu column %zu: %.9g, the quantized operands' product is %.9g\n", K, N, j, y[j], exact[j]);
            failed = 1;
        } else if (!(fabsf(y[j] - reference[j]) <= bound[j])) {
            printf("q8 %zux%zu column %zu: %g, float %g, bound %g\n", K, N, j, y[j], reference[j], bound[j]);
            failed = 1;
        }
    }
    q8_vecmat_portable(xq, xs, K, values, scales, N, portable);
    if (memcmp(portable, y, N * sizeof *y) != 0) { printf("q8 %zux%zu: the portable loop and the kernel in use disagree\n", K, N); failed = 1; }
#ifdef CRNN_HAVE_VNNI
    for (size_t j = 0; j < N; j++) portable[j] = 1.0f;
    q8_vecmat_vnni(xq, xs, K, values, scales, sums, N, portable);
    if (memcmp(portable, y, N * sizeof *y) != 0) { printf("q8 %zux%zu: the VNNI and portable kernels disagree\n", K, N); failed = 1; }
#endif
    for (size_t j = 0; j < N; j++) {
        uint32_t bits;
        memcpy(&bits, &y[j], sizeof bits);
        *hash ^= bits; *hash *= 1099511628211u;
    }
    free(w); free(x); free(y); free(reference); free(bound); free(portable); free(scales); free(xs); free(exact);
    free(values); free(xq); free(sums);
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
    const float specials[] = {NAN, INFINITY, -INFINITY};
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < K; i++) x[i] = random_float();
        x[5] = specials[s];
        for (size_t j = 0; j < N; j++) y[j] = 0;
        crnn_q8_quantize_vector(x, K, xq, xs);
        crnn_q8_vecmat_accumulate(xq, xs, K, values, scales, sums, N, y);
        for (size_t j = 0; j < N; j++) {
            if (!isnan(y[j])) { printf("q8: input %g gave %g, not NaN\n", specials[s], y[j]); return 1; }
        }
    }
    return 0;
}

static int check_q8(uint64_t *hash) {
    // (k, n, row stride): not multiples of the block and group, exact multiples, smaller than one of each.
    const size_t shapes[][3] = {{300, 77, 80}, {31, 15, 15}, {64, 32, 32}, {1, 1, 1}, {128, 512, 512}, {96, 40, 41}};
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
    const size_t shapes[][3] = {{25, 512, 128}, {5, 20, 5}, {4, 64, 1}, {7, 130, 33}, {1, 3, 2}, {50, 65, 128}};
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
            for (size_t i = 0; i < m * ldc; i++) {
                uint32_t bits;
                memcpy(&bits, &c[i], sizeof bits);
                *hash ^= bits; *hash *= 1099511628211u;
            }
        }
        free(a); free(b); free(c);
    }
    return failed;
}

/// Distance in units in the last place of `expected` (rounded to float).
static double ulps(float got, double expected) {
    float e = (float)expected;
    double ulp = nextafterf(fabsf(e), INFINITY) - fabsf(e);
    return fabs((double)got - expected) / ulp;
}

int main(void) {
    float *x = malloc(COUNT * sizeof *x), *s = malloc(COUNT * sizeof *s), *t = malloc(COUNT * sizeof *t);
    if (!x || !s || !t) return 2;
    for (uint32_t i = 0; i < COUNT; i++) x[i] = -90.0f + 180.0f * (float)i / (float)COUNT;  // the whole clamp range
    x[0] = NAN; x[1] = INFINITY; x[2] = -INFINITY; x[3] = 0.0f; x[4] = -0.0f; x[5] = 1e-30f;
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
        for (int k = 0; k < 3; k++) { hash ^= bits[k]; hash *= 1099511628211u; }
        if (i < 6) continue;  // the special values are checked below
        const double xd = x[i];
        if (xd > -87.0 && xd < 88.0) worst_exp = fmax(worst_exp, ulps(e, exp(xd)));
        if (fabs(xd) < 16.0) worst_sigmoid = fmax(worst_sigmoid, ulps(s[i], 1.0 / (1.0 + exp(-xd))));
        if (fabs(xd) > 1e-3 && fabs(xd) < 9.0) worst_tanh = fmax(worst_tanh, ulps(t[i], tanh(xd)));
    }
    int failed = check_q8(&hash);
    failed |= check_gemm_rows(&hash);
    if (!isnan(s[0]) || !isnan(t[0]) || !isnan(crnn_expf(NAN))) { puts("NaN must stay NaN"); failed = 1; }
    if (s[1] != 1.0f || !(s[2] >= 0.0f && s[2] < 1e-37f) || t[1] != 1.0f || t[2] != -1.0f) { puts("wrong at ±infinity"); failed = 1; }
    if (s[3] != 0.5f || t[3] != 0.0f || crnn_expf(0.0f) != 1.0f) { puts("wrong at 0"); failed = 1; }
    if (worst_exp > 2.0) { printf("exp is %.2f ulp off\n", worst_exp); failed = 1; }
    if (worst_sigmoid > 3.0) { printf("sigmoid is %.2f ulp off\n", worst_sigmoid); failed = 1; }
    if (worst_tanh > 2.0) { printf("tanh is %.2f ulp off\n", worst_tanh); failed = 1; }
    printf("outputs %016llx  worst ulp: exp %.2f, sigmoid %.2f, tanh %.2f\n", (unsigned long long)hash,
           worst_exp, worst_sigmoid, worst_tanh);
    free(x); free(s); free(t);
    return failed;
}
