// Checks CharRNNKernels (Sources/CharRNNKernels/kernels.c), built by the Makefile once per x86-64
// level with CRNN_SINGLE_VERSION: prints a hash of the outputs' bits over ~16M inputs (the Makefile
// requires the same hash from every level, since the library picks one at load time) and fails if
// e^x, tanh or the sigmoid is further from the double-precision value than the header promises.
#include "../../Sources/CharRNNKernels/kernels.c"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT (1u << 24)

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
    int failed = 0;
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
