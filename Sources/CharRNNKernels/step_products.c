// See include/charrnn_kernels.h: the sums of vector–matrix products of generation's steps (batch 1),
// float32 over packed panels or 8-bit, split by columns over the pool's threads, with an LSTM's or
// SimpleRNN's gate activations applied by the threads to the columns they have summed.
#include "charrnn_kernels.h"
#include "kernels_internal.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

/// Below this many bytes of weights a product stays on the calling thread: handing part of it to another
/// core costs more than it saves. float32: 128 KB (32k multiply-adds). 8-bit: 256 KB. An 8-bit 2x128 LSTM's
/// products (64 and 128 KB) take a few µs from one core's L2 cache, and generation measured 90–120k
/// chars/s on one Zen 3 core against 55–114k on two.
#define PARALLEL_MINIMUM_FLOAT_BYTES (128u * 1024u)
#define PARALLEL_MINIMUM_INT8_BYTES (256u * 1024u)

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/// Panels [first, end) of every term, each column summed in row order starting from y's value, the
/// terms one after the other: the same operations whichever thread runs which panels.
static MULTIVERSIONED void panels_accumulate(const crnn_product_term *terms, size_t count, size_t first, size_t end,
                                             size_t n, float *restrict y) {
    for (size_t p = first; p < end; p++) {
        const size_t j0 = p * CRNN_PANEL, width = n - j0 < CRNN_PANEL ? n - j0 : CRNN_PANEL;
        float acc[CRNN_PANEL];
        for (size_t q = 0; q < CRNN_PANEL; q++) acc[q] = q < width ? y[j0 + q] : 0.0f;
        for (size_t t = 0; t < count; t++) {
            const float *restrict x = terms[t].x;
            const size_t k = terms[t].k;
            const float *restrict panel = terms[t].panels + p * k * CRNN_PANEL;
            for (size_t i = 0; i < k; i++) {
                const float xi = x[i];
                const float *restrict row = panel + i * CRNN_PANEL;
                for (size_t q = 0; q < CRNN_PANEL; q++) acc[q] = acc[q] + xi * row[q];
            }
        }
        for (size_t q = 0; q < width; q++) y[j0 + q] = acc[q];
    }
}

/// Columns are handed out a panel (CRNN_PANEL columns) at a time. Each part starts with its own share,
/// in order, so a core keeps meeting the same weights in its cache, and then takes what is left of the
/// others' shares: a core that started late or runs slower does less.
typedef struct {
    const crnn_product_term *terms;
    size_t count, n;
    float *y;
    const crnn_gate_activations *gates;
    /// Per share: its next panel and its end; `shares` of them, one per part the job was planned for.
    _Atomic size_t next[CRNN_MAX_PARTS];
    size_t end[CRNN_MAX_PARTS];
    size_t shares;
} step_job;

/// The addend, then sigmoid, or tanh inside [tanh_begin, tanh_end), over the columns [j0, j1) of y.
static void activate(const crnn_gate_activations *gates, size_t j0, size_t j1, float *y) {
    if (gates->addend)
        for (size_t j = j0; j < j1; j++) y[j] = y[j] + gates->addend[j];
    const size_t tb = gates->tanh_begin, te = gates->tanh_end;
    const size_t a = j0 > tb ? j0 : tb, b = j1 < te ? j1 : te;  // the tanh part, if a < b
    if (a < b) {
        if (j0 < a) crnn_sigmoid(y + j0, a - j0);
        crnn_tanh(y + a, b - a);
        if (b < j1) crnn_sigmoid(y + b, j1 - b);
    } else {
        crnn_sigmoid(y + j0, j1 - j0);
    }
}

/// Units (panels of CRNN_PANEL columns) [first, end): one call per term over all of them, so that a
/// thread working alone prepares each 8-bit input once per product, not once per panel.
static void step_units(const step_job *job, size_t first, size_t end) {
    const size_t j0 = first * CRNN_PANEL, j1 = end * CRNN_PANEL < job->n ? end * CRNN_PANEL : job->n;
    if (job->terms[0].panels) {
        panels_accumulate(job->terms, job->count, first, end, job->n, job->y);
        if (job->gates) activate(job->gates, j0, j1, job->y);
        return;
    }
    // 8-bit: a panel's columns are CRNN_PANEL / CRNN_Q8_GROUP groups.
    const size_t per_panel = CRNN_PANEL / CRNN_Q8_GROUP, groups = ceil_div(job->n, CRNN_Q8_GROUP);
    const size_t g0 = first * per_panel, g1 = end * per_panel < groups ? end * per_panel : groups;
    for (size_t t = 0; t < job->count; t++) {
        const crnn_product_term *term = &job->terms[t];
        crnn_q8_vecmat_accumulate(term->x_values, term->x_scales, term->k, term->values, term->scales,
                                  term->column_sums, job->n, g0, g1, job->y);
    }
    if (job->gates) activate(job->gates, j0, j1, job->y);
}

static void step_part(void *context, size_t part, size_t parts) {
    step_job *job = context;
    // Alone: everything at once, no atomics. The activations then run over whole ranges instead of panel
    // by panel, which gives the same bits only because crnn_sigmoid and crnn_tanh compute each element on
    // its own (no contraction, no reassociation across elements): keep them so.
    if (parts == 1) {
        step_units(job, 0, ceil_div(job->n, CRNN_PANEL));
        return;
    }
    for (size_t q = 0; q < job->shares; q++) {  // every share, however many parts actually run
        const size_t share = (part + q) % job->shares;
        for (;;) {
            const size_t unit = atomic_fetch_add_explicit(&job->next[share], 1, memory_order_relaxed);
            if (unit >= job->end[share]) break;
            step_units(job, unit, unit + 1);
        }
    }
}

INTERNAL void crnn_sum_products(const crnn_product_term *terms, size_t count, size_t n, float *y,
                                const crnn_gate_activations *gates) {
    if (count == 0 || n == 0) return;
    size_t weight_bytes = 0;
    for (size_t t = 0; t < count; t++) weight_bytes += terms[t].k * n * (terms[t].panels ? sizeof(float) : 1);
    step_job job = {.terms = terms, .count = count, .n = n, .y = y, .gates = gates};
    const size_t units = ceil_div(n, CRNN_PANEL);
    const size_t width = crnn_pool_width();  // shares for as many parts as can run
    const size_t minimum = terms[0].panels ? PARALLEL_MINIMUM_FLOAT_BYTES : PARALLEL_MINIMUM_INT8_BYTES;
    const size_t parts = weight_bytes < minimum ? 1 : units < width ? units : width;
    job.shares = parts;
    for (size_t p = 0; p < parts; p++) {
        atomic_init(&job.next[p], units * p / parts);
        job.end[p] = units * (p + 1) / parts;
    }
    crnn_parallel_run(step_part, &job, parts);
}

INTERNAL void crnn_activate_gates(const crnn_gate_activations *gates, size_t n, float *y) { activate(gates, 0, n, y); }

/// crnn_sum_products on the calling thread alone, without activations (a posted sum's worker).
static void sum_products_alone(const crnn_product_term *terms, size_t count, size_t n, float *y) {
    if (count == 0 || n == 0) return;
    const step_job job = {.terms = terms, .count = count, .n = n, .y = y};
    step_units(&job, 0, ceil_div(n, CRNN_PANEL));
}

static void async_product(void *context, size_t part, size_t parts) {
    (void)part;
    (void)parts;
    crnn_products_async *job = context;
    for (size_t j = 0; j < job->n; j++) job->y[j] = job->start ? job->start[j] : 0.0f;  // so it can run twice
    sum_products_alone(job->terms, job->count, job->n, job->y);
}

INTERNAL void crnn_sum_products_post(crnn_products_async *job) { crnn_async_post(&job->async, async_product, job); }

INTERNAL void crnn_sum_products_wait(crnn_products_async *job) { crnn_async_wait(&job->async); }

// MARK: many streams: the products of several sessions' steps with the same matrices

/// Streams summed together by `panel_streams`: their accumulators (STREAM_BLOCK × SUB_PANEL floats) stay in
/// registers while a row of weights is multiplied into each of them.
#define STREAM_BLOCK 4
/// Columns of a panel summed at a time by `panel_streams`.
#define SUB_PANEL 16

/// Eight floats, one vector register (AVX2) or two (the baseline build): written out so that the
/// accumulators below stay in registers, which the compiler's own vectorization of the scalar loops did
/// not achieve.
typedef float vec8 __attribute__((vector_size(32), aligned(4)));

/// Panel p of `s_count` (at most STREAM_BLOCK) streams, from stream `first`: each stream's columns summed
/// exactly as panels_accumulate sums them for that stream alone — from y's value, through the terms in
/// order, each over its rows in order, a multiply then an add — while every row of weights is loaded once
/// for all of them. Inlined with a constant `s_count`, so the accumulators are registers.
static inline __attribute__((always_inline)) void panel_streams(const crnn_product_term *terms, size_t count,
                                                                size_t first, size_t s_count, size_t p, size_t n,
                                                                float *const *ys) {
    const size_t j0 = p * CRNN_PANEL;
    for (size_t q0 = 0; q0 < CRNN_PANEL && j0 + q0 < n; q0 += SUB_PANEL) {
        const size_t width = n - j0 - q0 < SUB_PANEL ? n - j0 - q0 : SUB_PANEL;
        vec8 acc[STREAM_BLOCK][2];
        for (size_t s = 0; s < s_count; s++) {
            const float *y = ys[first + s] + j0 + q0;
            if (width == SUB_PANEL) {  // all but a matrix's last columns: no copy through the stack
                acc[s][0] = *(const vec8 *)y;
                acc[s][1] = *(const vec8 *)(y + 8);
                continue;
            }
            float start[SUB_PANEL] = {0};
            memcpy(start, y, width * sizeof(float));
            memcpy(&acc[s][0], start, sizeof(vec8));
            memcpy(&acc[s][1], start + 8, sizeof(vec8));
        }
        for (size_t t = 0; t < count; t++) {
            const size_t k = terms[t].k;
            const float *restrict panel = terms[t].panels + p * k * CRNN_PANEL + q0;
            const float *x[STREAM_BLOCK];
            for (size_t s = 0; s < s_count; s++) x[s] = terms[(first + s) * count + t].x;
            for (size_t i = 0; i < k; i++) {
                const vec8 w0 = *(const vec8 *)(panel + i * CRNN_PANEL);
                const vec8 w1 = *(const vec8 *)(panel + i * CRNN_PANEL + 8);
                for (size_t s = 0; s < s_count; s++) {
                    const float v = x[s][i];
                    const vec8 xi = {v, v, v, v, v, v, v, v};  // not 0 + v, which would turn −0 into +0
                    acc[s][0] = acc[s][0] + xi * w0;
                    acc[s][1] = acc[s][1] + xi * w1;
                }
            }
        }
        for (size_t s = 0; s < s_count; s++) {
            if (width == SUB_PANEL) {
                *(vec8 *)(ys[first + s] + j0 + q0) = acc[s][0];
                *(vec8 *)(ys[first + s] + j0 + q0 + 8) = acc[s][1];
                continue;
            }
            float sums[SUB_PANEL];
            memcpy(sums, &acc[s][0], sizeof(vec8));
            memcpy(sums + 8, &acc[s][1], sizeof(vec8));
            memcpy(ys[first + s] + j0 + q0, sums, width * sizeof(float));
        }
    }
}

/// Panels [first, end) of every stream (float32).
static MULTIVERSIONED void panels_accumulate_streams(const crnn_product_term *terms, size_t count, size_t streams,
                                                     size_t first, size_t end, size_t n, float *const *ys) {
    for (size_t p = first; p < end; p++) {
        size_t s = 0;
        for (; s + STREAM_BLOCK <= streams; s += STREAM_BLOCK) panel_streams(terms, count, s, STREAM_BLOCK, p, n, ys);
        switch (streams - s) {
        case 3: panel_streams(terms, count, s, 3, p, n, ys); break;
        case 2: panel_streams(terms, count, s, 2, p, n, ys); break;
        case 1: panel_streams(terms, count, s, 1, p, n, ys); break;
        default: break;
        }
    }
}

typedef struct {
    const crnn_product_term *terms;
    size_t count, streams, n;
    float *const *ys;
    const crnn_gate_activations *gates;
    const float *const *addends;
    _Atomic size_t next;
    /// Units of work: panels, or whole streams when `by_stream`.
    size_t units;
    bool by_stream;
} streams_job;

/// Streams [first, end), each over all the columns, then its activations (8-bit): the way for matrices
/// small enough to stay in a core's L2 cache, where splitting them by panels only multiplies the calls.
/// Each column's sum does not depend on the groups a call covers, so the bits are those of the panels.
static void whole_streams(const streams_job *job, size_t first, size_t end) {
    const size_t groups = ceil_div(job->n, CRNN_Q8_GROUP);
    for (size_t s = first; s < end; s++) {
        for (size_t t = 0; t < job->count; t++) {
            const crnn_product_term *own = &job->terms[s * job->count + t], *shared = &job->terms[t];
            crnn_q8_vecmat_accumulate(own->x_values, own->x_scales, shared->k, shared->values, shared->scales,
                                      shared->column_sums, job->n, 0, groups, job->ys[s]);
        }
        if (job->gates) {
            crnn_gate_activations gates = *job->gates;
            gates.addend = job->addends ? job->addends[s] : NULL;
            activate(&gates, 0, job->n, job->ys[s]);
        }
    }
}

/// Units (panels) [first, end) of every stream, then each stream's activations over their columns.
static void streams_units(const streams_job *job, size_t first, size_t end) {
    const size_t j0 = first * CRNN_PANEL, j1 = end * CRNN_PANEL < job->n ? end * CRNN_PANEL : job->n;
    if (job->terms[0].panels) {
        panels_accumulate_streams(job->terms, job->count, job->streams, first, end, job->n, job->ys);
    } else {  // 8-bit: each stream's products over the panels' column groups, the weights hot in cache
        const size_t per_panel = CRNN_PANEL / CRNN_Q8_GROUP, groups = ceil_div(job->n, CRNN_Q8_GROUP);
        const size_t g0 = first * per_panel, g1 = end * per_panel < groups ? end * per_panel : groups;
        for (size_t s = 0; s < job->streams; s++)
            for (size_t t = 0; t < job->count; t++) {
                const crnn_product_term *own = &job->terms[s * job->count + t], *shared = &job->terms[t];
                crnn_q8_vecmat_accumulate(own->x_values, own->x_scales, shared->k, shared->values, shared->scales,
                                          shared->column_sums, job->n, g0, g1, job->ys[s]);
            }
    }
    if (!job->gates) return;
    for (size_t s = 0; s < job->streams; s++) {
        crnn_gate_activations gates = *job->gates;
        gates.addend = job->addends ? job->addends[s] : NULL;
        activate(&gates, j0, j1, job->ys[s]);
    }
}

static void streams_part(void *context, size_t part, size_t parts) {
    (void)part;
    (void)parts;
    streams_job *job = context;
    for (;;) {  // a panel at a time: a core that started late or runs slower does less
        const size_t unit = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (unit >= job->units) break;
        if (job->by_stream)
            whole_streams(job, unit, unit + 1);
        else
            streams_units(job, unit, unit + 1);
    }
}

INTERNAL void crnn_sum_products_many(const crnn_product_term *terms, size_t count, size_t streams, size_t n,
                                     float *const *ys, const crnn_gate_activations *gates,
                                     const float *const *addends) {
    if (count == 0 || streams == 0 || n == 0) return;
    size_t weight_bytes = 0;
    for (size_t t = 0; t < count; t++) weight_bytes += terms[t].k * n * (terms[t].panels ? sizeof(float) : 1);
    streams_job job = {.terms = terms,
                       .count = count,
                       .streams = streams,
                       .n = n,
                       .ys = ys,
                       .gates = gates,
                       .addends = addends,
                       .units = ceil_div(n, CRNN_PANEL)};
    atomic_init(&job.next, 0);
    const size_t minimum = terms[0].panels ? PARALLEL_MINIMUM_FLOAT_BYTES : PARALLEL_MINIMUM_INT8_BYTES;
    // 8-bit weights that batch 1 keeps on one core stay whole: each thread takes streams. (Split by
    // panels, 64 streams of an 8-bit 2x128 LSTM ran slower than one stream at a time.)
    if (!terms[0].panels && weight_bytes < PARALLEL_MINIMUM_INT8_BYTES) {
        job.by_stream = true;
        job.units = streams;
    }
    const size_t parts = weight_bytes * streams < minimum ? 1 : job.units;
    crnn_parallel_run(streams_part, &job, parts);
}
