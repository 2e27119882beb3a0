// Hot loops of charrnn's core (activations, training's per-step products, 8-bit generation), in C so
// that each can be compiled for several x86-64 levels (SSE2, AVX2, AVX-512) and chosen for the running
// CPU when the library loads. Swift has no per-function target attributes, and a whole-module -mavx2
// would make the library crash on older CPUs.
//
// Every variant performs the same floating-point operations in the same order and nothing is
// contracted into FMA, so results are bit-identical whichever variant runs. Internal to
// libcharrnn: none of these symbols is exported.
#ifndef CHARRNN_KERNELS_H
#define CHARRNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// e^x in single precision: the Cephes polynomial, within 2 ulp of expf over [-87.3, 88.4]
/// (inputs outside are clamped to it; NaN stays NaN).
float crnn_expf(float x);

/// p[i] = 1 / (1 + e^(-p[i])) for i < n, within 3 ulp of the exact value.
void crnn_sigmoid(float *p, size_t n);

/// p[i] = tanh(p[i]) for i < n, within 2 ulp of tanhf for |x| ≥ 0.625 and through Cephes' odd
/// polynomial below, where 1 − 2/(e^2x + 1) would cancel.
void crnn_tanh(float *p, size_t n);

/// C (m, n) += A (m, k) · B (k, n), all row-major with row strides lda, ldb, ldc; with `accumulate` 0,
/// C = A · B. For the per-step products of training (a few dozen rows by a weight matrix), which a BLAS
/// sgemm spends much of its time packing: B is read in place, a panel of 64 columns (16 with AVX2) at a
/// time, while blocks of 4 rows of A run over it. Each element sums its k products in order, from zero, then is added to
/// C, so every variant (and any blocking) gives the same bits.
void crnn_gemm_rows(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                    size_t ldc, int accumulate);

/// Floats of a (k, n) matrix packed into panels `width` columns wide: n rounded up to a whole panel,
/// times k.
size_t crnn_packed_size(size_t k, size_t n, size_t width);

/// Packs W (k, n), rows `ld` floats apart, into panels of `width` columns, each (k, width) row-major and
/// contiguous (columns past n are zeros): a product then streams through memory in order. Training's
/// products take CRNN_GEMM_PANEL columns, generation's CRNN_PANEL.
void crnn_pack_panels(const float *w, size_t k, size_t n, size_t ld, size_t width, float *panels);

/// Packs Wᵀ of a (rows, columns) matrix W (rows `ld` floats apart) as crnn_pack_panels packs a (columns,
/// rows) matrix: the panels of the recurrent gradient's dz · Uᵀ, straight from U.
void crnn_pack_panels_transposed(const float *w, size_t rows, size_t columns, size_t ld, size_t width, float *panels);

/// Columns per panel of a B packed for crnn_gemm_panels.
#define CRNN_GEMM_PANEL 16

/// crnn_gemm_rows with B packed (crnn_pack_panels, CRNN_GEMM_PANEL wide): panel p of B starts `p · panel_rows · 16` floats after `panels`, and the
/// product uses its first k rows (pass `panels + first_row · 16` for rows from first_row, and
/// `panels + first_panel · panel_rows · 16` for columns from a panel boundary). The same sums in the same
/// order as crnn_gemm_rows: the same bits.
void crnn_gemm_panels(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *panels, size_t panel_rows,
                      float *c, size_t ldc, int accumulate);

// 8-bit weights for batch-1 generation, after ggml's Q8_0: a (k, n) matrix W is cut into blocks of
// CRNN_Q8_BLOCK rows; within a block each column has its own scale (max |w| / 127) and int8 values. The
// input vector is quantized the same way per block, so y[j] += Σ_b s_w[b][j] · s_x[b] · Σ_{i∈b} q_x[i]·q_w[i][j],
// where the inner sums are exact integers. Columns are stored in groups of CRNN_Q8_GROUP, and within a
// (group, block) tile as rows of 4 interleaved k-values per column: the layout of AVX-512 VNNI's
// vpdpbusd, which the kernel uses where the CPU has it (a portable loop elsewhere, with the same result).

#define CRNN_Q8_BLOCK 32
#define CRNN_Q8_GROUP 16

/// Bytes of int8 values for a quantized (k, n) matrix; scales and column sums take
/// crnn_q8_scale_count(k, n) entries each.
size_t crnn_q8_matrix_bytes(size_t k, size_t n);
size_t crnn_q8_scale_count(size_t k, size_t n);

/// Quantizes W (k, n), rows `ld` floats apart.
void crnn_q8_quantize_matrix(const float *w, size_t k, size_t n, size_t ld, int8_t *values, float *scales,
                             int32_t *column_sums);

/// Quantizes x (k) into ceil(k / CRNN_Q8_BLOCK) blocks: `values` holds that many × CRNN_Q8_BLOCK bytes,
/// each the int8 value plus 128 (the unsigned operand vpdpbusd takes; 128 past k), `scales` one float per
/// block.
void crnn_q8_quantize_vector(const float *x, size_t k, uint8_t *values, float *scales);

/// y (n) += x · W for a vector and a matrix quantized as above (k rows), over the column groups [g0, g1)
/// (columns g0·CRNN_Q8_GROUP up to g1·CRNN_Q8_GROUP or n; all of them for g1 = ⌈n / CRNN_Q8_GROUP⌉).
void crnn_q8_vecmat_accumulate(const uint8_t *x_values, const float *x_scales, size_t k, const int8_t *values,
                               const float *scales, const int32_t *column_sums, size_t n, size_t g0, size_t g1,
                               float *y);

// MARK: an LSTM's elementwise math (lstm_cell.c): its cell update, shared by training's batched forward
// and generation's step, and one step of its backward

/// The LSTM cell update after its gates, for tanh activation, over `rows` sequences of `units` units:
/// from `gates` (rows, 4·units) holding the activated i, f, g, o, c_next = f ⊙ c_previous + i ⊙ g and
/// h_next = tanh(c_next) ⊙ o (crnn_tanh's values). c_next may be c_previous, updated in place (a
/// generation step's state).
void crnn_lstm_cell_update(size_t rows, size_t units, const float *gates, const float *c_previous, float *c_next,
                           float *h_next);

/// One step of an LSTM's backward through time, for sigmoid gates and tanh activation, over `rows`
/// sequences of `units` units. In: `gates` (rows, 4·units) the gate activations i, f, g, o;
/// `output_gradient` and `h_gradient` (rows, units) dL/dh_t from above and from step t+1; `c_gradient`
/// dL/dc_t from step t+1; `c_previous` c_{t-1}; `tanh_c` tanh(c_t). Out: `gates` becomes dL/d(gate
/// pre-activations), `c_gradient` dL/dc_{t-1}'s part through the forget gate.
void crnn_lstm_backward_step(size_t rows, size_t units, float *gates, const float *output_gradient,
                             const float *h_gradient, float *c_gradient, const float *c_previous, const float *tanh_c);

// MARK: training's elementwise loops (training_elementwise.c)

/// out[j] += Σ_r m[r · stride + j] for j < width, each column summed in row order starting from out[j]
/// (a bias gradient: the column sums of dL/dz over every row).
void crnn_column_sums(const float *m, size_t rows, size_t width, size_t stride, float *out);

/// dst[indices[r] · dst_stride + j] += src[r · src_stride + j] for r < rows, j < width, rows in order
/// (the gradient of a gathered row goes back to that row: one-hot input, embeddings).
void crnn_scatter_add_rows(const float *src, size_t rows, size_t width, size_t src_stride, const int32_t *indices,
                           float *dst, size_t dst_stride);

// MARK: the optimizers' update rules (optimizer_updates.c)
//
// One update of n parameters p from their gradients g, with the rule's state buffers, each written as
// CharRNN's Optimizer defines it (Keras 3's rules): the same bits as that Swift code, at every width.
// Constants such as 1 − β are passed in as the caller rounds them.

/// p −= learning_rate · g.
void crnn_sgd_update(float *p, const float *g, size_t n, float learning_rate);
/// velocity = momentum · velocity − learning_rate · g; p += velocity, or with `nesterov`
/// p += momentum · velocity − learning_rate · g.
void crnn_momentum_update(float *p, const float *g, float *velocity, size_t n, float learning_rate, float momentum,
                          int nesterov);
/// average = ρ · average + (1 − ρ) · g²; p −= learning_rate · g / root(average), where root(v) is
/// √(v + ε) with `epsilon_inside_root`, else √v + ε.
void crnn_rmsprop_update(float *p, const float *g, float *average, size_t n, float learning_rate, float rho,
                         float one_minus_rho, float epsilon, int epsilon_inside_root);
/// m += (g − m)(1 − β₁); v += (g² − v)(1 − β₂); p −= α · m / (√v + ε), with the bias corrections folded
/// into α.
void crnn_adam_update(float *p, const float *g, float *m, float *v, size_t n, float alpha, float one_minus_beta1,
                      float one_minus_beta2, float epsilon);
/// accumulator += g²; p −= learning_rate · g / root(accumulator), root as for RMSprop.
void crnn_adagrad_update(float *p, const float *g, float *accumulator, size_t n, float learning_rate, float epsilon,
                         int epsilon_inside_root);

// MARK: threads (pool.c, whose opening comment is the policy: size, users, one job at a time, OpenBLAS)

/// The most parts a parallel job is cut into: the caller and up to 7 workers.
#define CRNN_MAX_PARTS 8

/// A piece of parallel work: does part `part` of `parts` (part < parts).
typedef void (*crnn_task)(void *context, size_t part, size_t parts);

/// The parts work is planned for: one per CPU this process may run on (its affinity mask when first
/// asked), at most CRNN_MAX_PARTS. Fixed for the life of the process, whatever threads actually run (a
/// child of fork() has no workers, pthread_create may fail), so that a split planned from it, and the
/// result, never depends on them.
size_t crnn_pool_parts(void);

/// The threads that run a job: the caller plus the workers started (crnn_pool_parts() − 1 of them unless
/// they could not be, none in a child of fork()). The workers start on the first call.
size_t crnn_pool_width(void);

/// Runs task(context, p, parts) with parts = min(max_parts, crnn_pool_width()): part 0 on the calling
/// thread, the others on the workers that pick the job up in time, and returns when all that started
/// are done. A task must therefore finish the whole job from any one part when the others never run
/// (crnn_sum_products' parts take work from shared counters). When another thread's job holds the
/// workers, runs task(context, 0, 1) alone instead, so any number of threads may call it at once.
void crnn_parallel_run(crnn_task task, void *context, size_t max_parts);

/// One item of a crnn_parallel_for: item `index`.
typedef void (*crnn_item_task)(void *context, size_t index);

/// Runs item(context, i) for every i < count, each exactly once, on the pool's threads (the caller
/// included; alone when another thread's job holds the workers), and returns when all are done: the
/// items of a job whose result must not depend on which thread ran which item (training's batch parts
/// and gradient shares).
void crnn_parallel_for(size_t count, crnn_item_task item, void *context);

/// A task handed to one worker while the caller goes on (crnn_async_post), until crnn_async_wait.
typedef struct crnn_async {
    crnn_task task;
    void *context;
    /// The claim the worker takes, or 0 when the task ran on the calling thread.
    uint64_t posted;
    /// The process's fork() count when it was posted: a child of fork() has no worker, so a task posted
    /// before is run again by crnn_async_wait, and must therefore give the same result run twice.
    uint32_t forks;
    /// Set (atomically) by the worker when the task is done; the worker releases the pool first, so a job
    /// waited for late never keeps other threads' jobs from the workers.
    uint32_t done;
} crnn_async;

/// Hands task(context, 0, 1) to a worker and returns at once; runs it here instead when there is no
/// worker or another job holds them. The caller must crnn_async_wait before it reuses `job` or touches
/// what the task reads or writes; until the task is done other threads' jobs run alone.
void crnn_async_post(crnn_async *job, crnn_task task, void *context);

/// Returns once the posted task has finished: run by the worker, or here when no worker took it in time
/// (a descheduled worker is never waited for). Does nothing when nothing is posted.
void crnn_async_wait(crnn_async *job);

// MARK: batch-1 products (step_products.c): the vector–matrix products of generation's steps

/// Columns per panel of a float32 matrix packed for crnn_sum_products (crnn_pack_panels).
#define CRNN_PANEL 64

/// One x · W of a sum of products: float32 (`x` and `panels` set) or 8-bit (the other fields, as for
/// crnn_q8_vecmat_accumulate, with x already quantized).
typedef struct crnn_product_term {
    size_t k;
    const float *x;
    const float *panels;
    const uint8_t *x_values;
    const float *x_scales;
    const int8_t *values;
    const float *scales;
    const int32_t *column_sums;
} crnn_product_term;

/// The activations of an LSTM's or SimpleRNN's gate sums, which the threads of crnn_sum_products apply
/// to the columns they have summed: first `addend` when set (n values: a one-hot input's row of the
/// kernel, which a step adds after the products), then tanh inside [tanh_begin, tanh_end) and
/// crnn_sigmoid elsewhere. The cell's step says which columns are which (LSTMStep, SimpleRNNStep).
typedef struct crnn_gate_activations {
    size_t tanh_begin, tanh_end;
    const float *addend;
} crnn_gate_activations;

/// y (n) += Σ x · W over `count` terms of one precision, every W with n columns, then `gates` (NULL:
/// none). Large products are split by panels over the pool's threads. Each column is summed in the
/// same order however the work is split (float32: from y, through the terms in order, each over its rows
/// in order), so the result does not depend on the number of threads.
void crnn_sum_products(const crnn_product_term *terms, size_t count, size_t n, float *y,
                       const crnn_gate_activations *gates);

/// crnn_sum_products for `streams` sessions' steps at once, with the same matrices: for each stream s,
/// ys[s] (n) += Σ_t terms[s·count + t].x · W_t, then `gates` (NULL: none) with addends[s] as its addend
/// (addends NULL: none). Every stream's terms name the same matrices (stream 0's are used; only x, or an
/// 8-bit term's x_values and x_scales, differ), and each stream's columns get the bits crnn_sum_products
/// gives it alone: the same operations in the same order, with each row of weights loaded once for
/// several streams.
void crnn_sum_products_many(const crnn_product_term *terms, size_t count, size_t streams, size_t n, float *const *ys,
                            const crnn_gate_activations *gates, const float *const *addends);

/// What crnn_sum_products applies to y's n columns after the products: the addend, then the activations.
void crnn_activate_gates(const crnn_gate_activations *gates, size_t n, float *y);

/// The most terms of a sum of products handed to a worker.
#define CRNN_ASYNC_TERMS 2

/// A sum of products computed by a worker while the caller goes on: y (n) = start + Σ terms (start NULL:
/// zeros), summed in the order crnn_sum_products uses from y = start, so the result has its bits. Fill
/// terms, count, n, start and y, post it with crnn_sum_products_post and wait for it with
/// crnn_sum_products_wait.
typedef struct crnn_products_async {
    crnn_async async;
    crnn_product_term terms[CRNN_ASYNC_TERMS];
    size_t count, n;
    const float *start;
    float *y;
} crnn_products_async;

/// Posts the sum (see crnn_async_post: it runs here when no worker is free).
void crnn_sum_products_post(crnn_products_async *job);

/// Returns once the posted sum is in y (crnn_async_wait).
void crnn_sum_products_wait(crnn_products_async *job);

#ifdef __cplusplus
}
#endif

#endif
