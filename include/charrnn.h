/*
 * charrnn.h — the C ABI of libcharrnn, a character-level recurrent language-model library.
 *
 * This header is the one authoritative description of the API: if it is not here, it is not API.
 *
 * Conventions
 * - Every symbol starts with `charrnn_` / `CHARRNN_`.
 * - Handles are opaque. A `charrnn_model` holds immutable weights and may be shared by any number of
 *   threads; a `charrnn_session` holds recurrent state and belongs to one thread at a time.
 * - Every fallible call returns a `charrnn_status`. On failure, `charrnn_last_error()` gives a message
 *   for the last error on the calling thread, and output parameters are left untouched.
 * - Text is UTF-8 with an explicit byte length; the unit of the model is the Unicode scalar value.
 * - Functions that fill a caller's buffer take `(buf, capacity, needed)`: pass `buf == NULL` and
 *   `capacity == 0` to query `*needed`; a buffer that is too small returns
 *   `CHARRNN_ERR_BUFFER_TOO_SMALL` with `*needed` set. Strings are NUL-terminated and `*needed`
 *   counts the terminator.
 * - Every `*_free` function accepts NULL.
 * - Structs that cross the boundary can grow. Each starts with `uint32_t struct_size`: the size of the
 *   struct as the program that made it was compiled, which tells the other side which fields exist.
 *   - Parameters the program passes in (charrnn_sample_params, charrnn_train_params): take them from
 *     charrnn_default_sample_params() / charrnn_default_train_params(), which set struct_size, then
 *     change fields. The library reads the fields that lie within struct_size and takes the defaults for
 *     the others (a program older than the library). Bytes past the library's own struct (a program
 *     newer than the library) must be zero, the value every field added later gives to the behaviour from
 *     before it existed; a non-zero byte there is CHARRNN_ERR_INVALID_ARGUMENT, naming both sizes.
 *   - Results the library fills in (charrnn_model_info, charrnn_eval_result, charrnn_train_result,
 *     charrnn_layer_info, charrnn_trace_info): set
 *     struct_size before the call, with CHARRNN_INIT_SIZE(var). The library writes only the fields that
 *     lie within both its struct and struct_size, leaves the bytes after them alone, and sets
 *     struct_size to the bytes it wrote.
 *   - charrnn_progress, which the library hands to a callback, carries the library's struct_size.
 *   - Fields added later are read only after CHARRNN_HAS_FIELD(ptr, type, field) says they were written.
 *   - A struct_size of 0 (never set), smaller than the struct's first version (its size in 0.2.0, or in
 *     the version that introduced it) or larger than 1024 is CHARRNN_ERR_INVALID_ARGUMENT, and the
 *     library touches nothing.
 *   A later version adds fields only at the end and always makes the struct larger (with explicit
 *   padding where a field would fit in the old trailing padding). Version 0.2.0 introduced struct_size
 *   and so changed the layout of every struct: programs built against 0.1.0 must be rebuilt.
 * - Process-wide state: the library installs no signal handlers and changes no environment variable,
 *   locale, working directory, umask or resource limit. What it does change for the whole process is
 *   written next to the call that does it: the worker threads of sessions and their fork handlers
 *   (charrnn_session_new), and OpenBLAS's thread count while training (charrnn_train).
 */
#ifndef CHARRNN_H
#define CHARRNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CHARRNN_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#define CHARRNN_API __attribute__((visibility("default")))
#else
#define CHARRNN_API
#endif

/* Sets `var.struct_size` to the size of `var` as this program is compiled: do it before passing a struct
 * the library fills in. `var` is an lvalue: `charrnn_model_info info; CHARRNN_INIT_SIZE(info);`. */
#define CHARRNN_INIT_SIZE(var) ((var).struct_size = (uint32_t)sizeof(var))

/* Non-zero when the struct at `ptr` (of type `type`, with its struct_size) holds `field`: for a struct
 * from a library older than this header, fields added after that library are missing. */
#define CHARRNN_HAS_FIELD(ptr, type, field) \
    ((size_t)(ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---------------------------------------------------------------------------------------------- */
/* Version                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

#define CHARRNN_VERSION_MAJOR 0
#define CHARRNN_VERSION_MINOR 4
#define CHARRNN_VERSION_PATCH 0
#define CHARRNN_VERSION_STRING "0.4.0"
/* major * 10000 + minor * 100 + patch, as returned by charrnn_version_number(). */
#define CHARRNN_VERSION_NUMBER \
    (CHARRNN_VERSION_MAJOR * 10000 + CHARRNN_VERSION_MINOR * 100 + CHARRNN_VERSION_PATCH)

/* The library's version string (CHARRNN_VERSION_STRING when the header matches); static storage, never freed. */
CHARRNN_API const char *charrnn_version(void);
/* The library's version as major * 10000 + minor * 100 + patch; compare with CHARRNN_VERSION_NUMBER. */
CHARRNN_API uint32_t charrnn_version_number(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status and errors                                                                               */
/* ---------------------------------------------------------------------------------------------- */

typedef enum charrnn_status {
    CHARRNN_OK = 0,                     /* success */
    CHARRNN_ERR_INVALID_ARGUMENT = 1,   /* NULL pointer, zero or out-of-range value */
    CHARRNN_ERR_IO = 2,                 /* a file could not be opened, read, written or renamed */
    CHARRNN_ERR_FORMAT = 3,             /* a model, checkpoint or state buffer is corrupt or unsupported */
    CHARRNN_ERR_UTF8 = 4,               /* text is not valid UTF-8 (the message gives the byte offset) */
    CHARRNN_ERR_UNKNOWN_CHARACTER = 5,  /* text holds a character outside the model's vocabulary */
    CHARRNN_ERR_BUFFER_TOO_SMALL = 6,   /* the caller's buffer is too small; *needed says how large */
    CHARRNN_ERR_SHAPE = 7,              /* a tensor's shape or size disagrees with the model */
    CHARRNN_ERR_NOT_FOUND = 8,          /* no such layer or tensor */
    CHARRNN_ERR_STATE = 9,              /* the call is not valid in the object's current state */
    CHARRNN_ERR_CANCELLED = 10,         /* a callback asked to stop */
    CHARRNN_ERR_DIVERGED = 11,          /* training produced a NaN or exploding loss */
    CHARRNN_ERR_CONFIG = 12,            /* a model or training configuration is invalid */
    CHARRNN_ERR_OUT_OF_MEMORY = 13,     /* an allocation would be too large: more than the machine or
                                           ulimit allows, or a training run over 8 GiB (estimated) */
    CHARRNN_ERR_NOT_FINITE = 14,        /* the model's numbers overflowed float32 (weights or a state too
                                           large): no distribution to report or sample from */
    CHARRNN_ERR_INTERNAL = 99           /* a bug in charrnn; please report it */
} charrnn_status;

/* The enumerator's name without prefix ("OK", "INVALID_ARGUMENT", ...); static storage. Unknown
 * values give "UNKNOWN". */
CHARRNN_API const char *charrnn_status_name(charrnn_status status);

/* A message describing the last failure on the calling thread, or "" when the last call succeeded.
 * Valid until the next charrnn call on the same thread; never NULL; do not free. */
CHARRNN_API const char *charrnn_last_error(void);

/* ---------------------------------------------------------------------------------------------- */
/* Models                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/* Weights, configuration and vocabulary. Immutable once shared: any number of threads may create
 * sessions on one model and use them concurrently. */
typedef struct charrnn_model charrnn_model;

/* Sizes of a model, filled by charrnn_model_get_info(): set struct_size first (CHARRNN_INIT_SIZE). */
typedef struct charrnn_model_info {
    uint32_t struct_size;       /* in: sizeof as the caller compiled it; out: the bytes written */
    uint32_t vocab_size;        /* characters in the vocabulary */
    uint32_t num_layers;        /* recurrent layers */
    uint32_t hidden_size;       /* units of the last recurrent layer */
    uint64_t parameter_count;   /* trainable parameters, counted as Keras counts them */
    uint64_t state_size;        /* bytes of a session's state buffer (charrnn_session_get_state) */
} charrnn_model_info;

/* Loads a model or a training checkpoint (safetensors written by charrnn).
 * On success *out owns a new model: free it with charrnn_model_free(). */
CHARRNN_API charrnn_status charrnn_model_load(const char *path, charrnn_model **out);

/* Creates a model with freshly initialised weights (Keras-like initialisation, seeded).
 * `config_json` is the model configuration (see README, "Model configuration"); its vocabulary
 * size is taken from `vocab`, `vocab_len` bytes of UTF-8 holding each character once, in order.
 * On success *out owns a new model: free it with charrnn_model_free(). */
CHARRNN_API charrnn_status charrnn_model_create(const char *config_json, const char *vocab,
                                                size_t vocab_len, uint64_t seed,
                                                charrnn_model **out);

/* Writes the model to `path` atomically (temporary file in the same folder, then rename). */
CHARRNN_API charrnn_status charrnn_model_save(const charrnn_model *model, const char *path);

/* Releases the caller's reference. Sessions keep their model alive, so a model may be freed while
 * its sessions are still in use. NULL is a no-op. */
CHARRNN_API void charrnn_model_free(charrnn_model *model);

/* Fills *info with the model's sizes; info->struct_size must be set (see Conventions). */
CHARRNN_API charrnn_status charrnn_model_get_info(const charrnn_model *model, charrnn_model_info *info);

/* The vocabulary as UTF-8, each character once, in index order (NUL-terminated; a vocabulary that
 * contains U+0000 is returned in full: use *needed - 1 as its length). */
CHARRNN_API charrnn_status charrnn_model_get_vocab(const charrnn_model *model, char *buf,
                                                   size_t capacity, size_t *needed);

/* The model configuration as JSON (the same schema charrnn_model_create() takes, with vocab_size). */
CHARRNN_API charrnn_status charrnn_model_get_config(const charrnn_model *model, char *buf,
                                                    size_t capacity, size_t *needed);

/* A Keras-style summary table (layers, output shapes, parameter counts). */
CHARRNN_API charrnn_status charrnn_model_summary(const charrnn_model *model, char *buf,
                                                 size_t capacity, size_t *needed);

/* Number of weight tensors, and the name, rank and shape of tensor `index` (0-based).
 * Tensor names are "<layer>.<weight>": "embedding.embeddings", "rnn0.kernel",
 * "rnn0.recurrent_kernel", "rnn0.bias", ..., "dense.kernel", "dense.bias". */
CHARRNN_API charrnn_status charrnn_model_tensor_count(const charrnn_model *model, size_t *count);
/* `name` receives the NUL-terminated tensor name (capacity `name_capacity`; *name_needed as usual);
 * `shape` receives up to 4 dimensions; *rank their number. */
CHARRNN_API charrnn_status charrnn_model_tensor_info(const charrnn_model *model, size_t index,
                                                     char *name, size_t name_capacity,
                                                     size_t *name_needed, int64_t shape[4],
                                                     size_t *rank);

/* Copies weight `weight` of layer `layer` (e.g. "rnn0", "kernel"), row-major float32 in the Keras
 * layout, into `data` (`capacity` floats; *needed receives the element count). */
CHARRNN_API charrnn_status charrnn_model_get_weights(const charrnn_model *model, const char *layer,
                                                     const char *weight, float *data,
                                                     size_t capacity, size_t *needed);

/* Replaces weight `weight` of layer `layer` with `count` row-major float32 values whose shape,
 * `shape[0..rank)`, must equal the model's (CHARRNN_ERR_SHAPE otherwise, naming both shapes).
 * Weights are in the Keras layout: kernels (input, gates * units), LSTM gates i, f, c, o; GRU z, r, h.
 * Mutates the model: call it only before the model is shared with sessions or other threads. */
CHARRNN_API charrnn_status charrnn_model_set_weights(charrnn_model *model, const char *layer,
                                                     const char *weight, const float *data,
                                                     size_t count, const int64_t *shape,
                                                     size_t rank);

/* Result of charrnn_model_evaluate(): set struct_size first (CHARRNN_INIT_SIZE). */
typedef struct charrnn_eval_result {
    uint32_t struct_size; /* in: sizeof as the caller compiled it; out: the bytes written */
    double loss;         /* mean cross-entropy, nats per predicted character */
    double perplexity;   /* exp(loss) */
    double accuracy;     /* fraction of characters whose most probable prediction was right */
    uint64_t chars;      /* characters predicted (text length in characters minus one) */
} charrnn_eval_result;

/* Flags for charrnn_model_evaluate() and charrnn_session_feed(). */
#define CHARRNN_SKIP_UNKNOWN 1u  /* drop characters outside the vocabulary instead of failing */

/* Runs the model over `text` from a fresh state and measures how well it predicts each next
 * character. Without CHARRNN_SKIP_UNKNOWN, an unknown character fails with
 * CHARRNN_ERR_UNKNOWN_CHARACTER. The text needs at least two known characters. A model whose numbers
 * overflow on this text fails with CHARRNN_ERR_NOT_FINITE. */
CHARRNN_API charrnn_status charrnn_model_evaluate(const charrnn_model *model, const char *text,
                                                  size_t len, uint32_t flags,
                                                  charrnn_eval_result *result);

/* Asked between chunks of a long call (every 256 characters: a few milliseconds for the largest
 * models); return non-zero to stop the call, which then fails with CHARRNN_ERR_CANCELLED and changes
 * nothing. Called on the calling thread; for example, a binding checks its interpreter's pending
 * signals here. */
typedef int (*charrnn_interrupt_callback)(void *user_data);

/* charrnn_model_evaluate() that asks `interrupt` (may be NULL) between chunks of the text. */
CHARRNN_API charrnn_status charrnn_model_evaluate_interruptible(const charrnn_model *model, const char *text,
                                                                size_t len, uint32_t flags,
                                                                charrnn_interrupt_callback interrupt,
                                                                void *user_data, charrnn_eval_result *result);

/* ---------------------------------------------------------------------------------------------- */
/* Sessions: stateful generation                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/* Recurrent state, the pending next-character distribution and a random generator. One thread at
 * a time. */
typedef struct charrnn_session charrnn_session;

/* Sampling parameters. Get defaults from charrnn_default_sample_params(), which sets struct_size; fields
 * are only ever added at the end (see Conventions). */
typedef struct charrnn_sample_params {
    uint32_t struct_size; /* sizeof as the caller compiled it */
    float temperature;  /* > 0; probabilities ∝ p^(1/temperature). Default 1.0 */
    int32_t top_k;      /* keep the k most probable characters; 0 = all. Default 0 */
    float top_p;        /* keep the smallest set whose probability reaches top_p, in (0, 1]. Default 1.0 */
    int32_t greedy;     /* non-zero: always take the most probable character. Default 0 */
    uint64_t seed;      /* CHARRNN_SEED_CONTINUE keeps the session's generator; any other value
                           reseeds it before sampling. Default CHARRNN_SEED_CONTINUE */
} charrnn_sample_params;

#define CHARRNN_SEED_CONTINUE UINT64_MAX

/* Fills `params` with the defaults. `struct_size` is sizeof(*params) as the caller compiled it (at least
 * the 0.2.0 size, at most 1024): the fields the library knows get their defaults, the bytes past them
 * are zeroed, and params->struct_size is set to `struct_size`. Use charrnn_default_sample_params(). */
CHARRNN_API charrnn_status charrnn_sample_params_init(charrnn_sample_params *params, size_t struct_size);

/* The default sampling parameters, with struct_size set to this program's sizeof. Inline, so that the
 * size is the one this program was compiled with, whatever library it runs against (a struct returned
 * by value from the library would have the library's size, and overrun an older program's). */
static inline charrnn_sample_params charrnn_default_sample_params(void) {
    charrnn_sample_params params;
    (void)charrnn_sample_params_init(&params, sizeof params);
    return params;
}

/* Creates a session on `model` with a zero state and its generator seeded with 0. The session holds a
 * reference to the model. On success *out owns it: free it with charrnn_session_free().
 * Sessions multiply with a copy of the model's matrices laid out for one character at a time, made by
 * the first session of each precision (as many bytes as the weights for float32) and shared by the
 * model's later sessions. Large products are split over a pool of worker threads (one per CPU the
 * process may use, at most 8, started on first use; they spin briefly after each product, then sleep);
 * a small model's session hands each layer's next recurrent product to a worker and goes on, even past
 * the return of the call that started it. The result does not depend on the number of threads. The
 * pool registers pthread_atfork() handlers once: in a child of fork() every product runs on the calling
 * thread. */
CHARRNN_API charrnn_status charrnn_session_new(const charrnn_model *model, charrnn_session **out);

/* The weights a session multiplies with. */
typedef enum charrnn_precision {
    CHARRNN_PRECISION_FLOAT32 = 0, /* the model's own weights: exactly the model */
    CHARRNN_PRECISION_INT8 = 1     /* an 8-bit copy of the matrices (blocks of 32 rows with a scale per
                                      column, as ggml's Q8_0): 1.5 to 3 times as fast to generate;
                                      `charrnn eval --int8` reports what it changes in loss */
} charrnn_precision;

/* Like charrnn_session_new, with the precision of the weights. An unknown `precision` is
 * CHARRNN_ERR_INVALID_ARGUMENT. The CHARRNN_PRECISION_INT8 copy takes about 1.25 bytes per weight (4 MB
 * for the bundled 2x512 LSTM) and is made by the model's first int8 session (about 20 ms for that model). */
CHARRNN_API charrnn_status charrnn_session_new_with_precision(const charrnn_model *model, charrnn_precision precision,
                                                              charrnn_session **out);

/* NULL is a no-op. */
CHARRNN_API void charrnn_session_free(charrnn_session *session);

/* Zeroes the recurrent state and forgets the pending distribution (the generator is kept). */
CHARRNN_API charrnn_status charrnn_session_reset(charrnn_session *session);

/* Reseeds the session's random generator. */
CHARRNN_API charrnn_status charrnn_session_seed(charrnn_session *session, uint64_t seed);

/* Sets how the session computes each distribution. 0: the state is carried from character to character
 * (stateful generation, the default for most models). N > 0: from the last N characters alone, run from
 * a zero state — the loop of the Keras tutorials (`x = text[-maxlen:]; model.predict(x)`), which a
 * model trained on windows expects; with greedy choice it gives the characters that loop gives. A new
 * session starts with the model's window (the "window" of its config: set by `charrnn train --objective
 * window` and by imports whose input shape fixes it). The characters seen so far are kept, up to N. In
 * window mode charrnn_session_set_state() fails with CHARRNN_ERR_STATE (the state is the window's).
 * Since 0.3.0. */
CHARRNN_API charrnn_status charrnn_session_set_window(charrnn_session *session, uint32_t window);

/* The session's window (0 = stateful). Since 0.3.0. */
CHARRNN_API charrnn_status charrnn_session_get_window(const charrnn_session *session, uint32_t *window);

/* Feeds `len` bytes of UTF-8 into the state. The whole text is checked first: invalid UTF-8 or (without
 * CHARRNN_SKIP_UNKNOWN) an unknown character fails and leaves the state unchanged. `*fed` (may be
 * NULL) receives the number of characters fed, `*skipped` (may be NULL) those skipped. */
CHARRNN_API charrnn_status charrnn_session_feed(charrnn_session *session, const char *text, size_t len,
                                                uint32_t flags, size_t *fed, size_t *skipped);

/* charrnn_session_feed() that asks `interrupt` (may be NULL) between chunks of the text; when it asks
 * to stop, the state is put back as it was before the call and CHARRNN_ERR_CANCELLED is returned. */
CHARRNN_API charrnn_status charrnn_session_feed_interruptible(charrnn_session *session, const char *text,
                                                              size_t len, uint32_t flags,
                                                              charrnn_interrupt_callback interrupt,
                                                              void *user_data, size_t *fed, size_t *skipped);

/* Copies the distribution over the next character (vocab_size floats, summing to 1) into `probs`.
 * CHARRNN_ERR_STATE when nothing has been fed since creation or reset; CHARRNN_ERR_NOT_FINITE when the
 * model's numbers overflowed (sampling and generation then fail the same way). The session computes the
 * distribution on first demand and keeps it for sampling, so the call changes the session (not its
 * state as charrnn_session_get_state() reports it). */
CHARRNN_API charrnn_status charrnn_session_probabilities(charrnn_session *session, float *probs,
                                                         size_t capacity, size_t *needed);

/* Draws the next character from the pending distribution with `params` (NULL = defaults), feeds it
 * back into the state, and returns its code point and the probability it had under the adjusted
 * distribution it was drawn from. `*codepoint` and `*probability` may be NULL. */
CHARRNN_API charrnn_status charrnn_session_sample(charrnn_session *session,
                                                  const charrnn_sample_params *params,
                                                  uint32_t *codepoint, float *probability);

/* Draws the next character of `count` sessions at once and feeds each its own, as
 * charrnn_session_sample() on each in turn would: the same characters, probabilities, states and
 * generators, bit for bit. Each layer's products are computed once for all the sessions, reading every
 * weight once per character for all of them, so many sessions of a model (a server's users, a batch of
 * names) step several times faster together than one by one. The sessions must be distinct, of one
 * model and one precision, and each fed at least one character; a session in window mode re-runs its
 * window alone. `params` is NULL (the defaults for every session) or `count` pointers, each NULL (the
 * defaults) or its session's parameters, seed included. `codepoints` and `probabilities` (each may be
 * NULL) receive `count` values, in the sessions' order. On an error (CHARRNN_ERR_INVALID_ARGUMENT for
 * a mix of models or precisions, a session given twice, bad parameters; CHARRNN_ERR_STATE for a session
 * never fed; CHARRNN_ERR_NOT_FINITE) no session changes. The sessions belong to the calling thread for
 * the call. Since 0.4.0. */
CHARRNN_API charrnn_status charrnn_session_sample_many(charrnn_session *const *sessions, size_t count,
                                                       const charrnn_sample_params *const *params,
                                                       uint32_t *codepoints, float *probabilities);

/* Called for each generated character: its code point, its UTF-8 bytes (not NUL-terminated), and the
 * probability it was drawn with. Return non-zero to stop generation (the call then returns
 * CHARRNN_OK with what was generated so far). */
typedef int (*charrnn_token_callback)(uint32_t codepoint, const char *utf8, size_t utf8_len,
                                      float probability, void *user_data);

/* Generates up to `n` characters as charrnn_session_sample() would, calling `callback` (may be
 * NULL) after each. `*generated` (may be NULL) receives the number generated. */
CHARRNN_API charrnn_status charrnn_session_generate(charrnn_session *session, size_t n,
                                                    const charrnn_sample_params *params,
                                                    charrnn_token_callback callback, void *user_data,
                                                    size_t *generated);

/* The session's state (recurrent state, pending input, generator) as an opaque byte buffer tied to
 * the model it came from. Its size is charrnn_model_info.state_size. */
CHARRNN_API charrnn_status charrnn_session_get_state(const charrnn_session *session, void *buf,
                                                     size_t capacity, size_t *needed);

/* Restores a state from charrnn_session_get_state(). A buffer of the wrong size, from another model
 * or corrupt fails with CHARRNN_ERR_FORMAT and leaves the session unchanged. */
CHARRNN_API charrnn_status charrnn_session_set_state(charrnn_session *session, const void *buf,
                                                     size_t len);

/* ---------------------------------------------------------------------------------------------- */
/* Training                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

typedef enum charrnn_cell {
    CHARRNN_CELL_UNSET = -1, /* not given (see charrnn_train_params) */
    CHARRNN_CELL_LSTM = 0,
    CHARRNN_CELL_GRU = 1,
    CHARRNN_CELL_RNN = 2
} charrnn_cell;

typedef enum charrnn_optimizer {
    CHARRNN_OPTIMIZER_UNSET = -1, /* not given (see charrnn_train_params) */
    CHARRNN_OPTIMIZER_ADAM = 0,
    CHARRNN_OPTIMIZER_RMSPROP = 1,
    CHARRNN_OPTIMIZER_SGD = 2,
    CHARRNN_OPTIMIZER_ADAGRAD = 3
} charrnn_optimizer;

typedef enum charrnn_objective {
    CHARRNN_OBJECTIVE_UNSET = -1,   /* not given (see charrnn_train_params) */
    CHARRNN_OBJECTIVE_SEQUENCE = 0, /* every step predicts the next character; state carried across batches */
    CHARRNN_OBJECTIVE_WINDOW = 1    /* a window of seq_length characters predicts the one after it */
} charrnn_objective;

/* The value of a training option that was not given. charrnn_train_params_init() sets every option to
 * it; a new run then takes the default named beside the field, and a run resumed from a checkpoint
 * takes the value that checkpoint's run used (the rule of `charrnn train --resume`). Floating-point
 * options are not given when NaN; flags and enums when negative; strings when NULL. */
#define CHARRNN_UNSET_U32 UINT32_MAX
#define CHARRNN_UNSET_U64 UINT64_MAX

/* Training options: the `charrnn train` flags and Python's charrnn.train() keywords of the same names,
 * resolved by the same rules (a new model's architecture; a resumed model keeps its own). Get them from
 * charrnn_default_train_params(), which sets struct_size and leaves every option unset; set only those
 * you want. Fields are only ever added at the end (see Conventions). Strings are borrowed for the
 * duration of the call.
 *
 * A time budget. A new run given max_time without epochs and lr_decay trains for the budget: Adam's rate
 * warms up over its first 2% and follows a cosine to 0 at its end (1e-2 for 128 units, times
 * sqrt(128/hidden) for wider models, unless learning_rate is given), validating halfway and at the end
 * unless eval_every is given. When cell, layers, hidden, embedding, batch_size, seq_length and objective
 * are all unset as well, the run times a few steps of GRU 2x128 to 2x512 at batch 32 x 50 (under a
 * second, taken from the budget) and trains the largest the budget can feed enough characters, with
 * dropout 0.25 (unless dropout is given) when it will see its text more than 10 times: the defaults below
 * are for runs without a budget. Such a run depends on the machine's speed, so it is not
 * reproducible bit for bit (nor is any run that stops on time). */
typedef struct charrnn_train_params {
    uint32_t struct_size;       /* sizeof as the caller compiled it */
    charrnn_cell cell;          /* default LSTM */
    uint32_t layers;            /* default 2 */
    uint32_t hidden;            /* default 128 */
    uint32_t embedding;         /* embedding width; 0 = one-hot input. Default 0 */
    float dropout;              /* between layers, [0, 1). Default 0 */
    charrnn_objective objective;/* default SEQUENCE */
    uint32_t seq_length;        /* default 50 */
    uint32_t step;              /* window stride for OBJECTIVE_WINDOW. Default 3 */
    uint32_t batch_size;        /* default 50 */
    charrnn_optimizer optimizer;/* default ADAM */
    float learning_rate;        /* default 2e-3 for ADAM and RMSPROP, Keras's otherwise (SGD 0.01,
                                   ADAGRAD 0.001); a resumed run keeps its rate unless the optimizer changes */
    float clip_value;           /* clip each gradient to ±clip_value; 0 = off. Default 0 */
    float clip_norm;            /* clip the global gradient norm; 0 = off. Default 5 */
    float lr_decay;             /* multiply the rate by this...; 1 = no schedule. Default: no schedule */
    uint32_t lr_decay_every;    /* ...every this many steps (exponential decay), or */
    int32_t lr_decay_staircase; /* positive: decay in steps rather than continuously. Default 0 */
    uint32_t lr_decay_after;    /* ...once per epoch after this epoch (char-rnn). One of the two is needed */
    uint32_t epochs;            /* default 10; with max_time given and epochs not, time decides */
    uint64_t max_steps;         /* 0 = no limit. Default 0 */
    double max_time;            /* seconds of this run; 0 = no limit. Default 0 */
    uint64_t seed;              /* default 42 */
    int32_t lowercase;          /* positive: lowercase the corpus. The model stores it (a resumed
                                   model keeps its own). Default 0 */
    int32_t reduce_charset;     /* positive: keep a-z and ",.?! \n:;-'", map the rest to space. Stored
                                   like lowercase. Default 0 */
    uint64_t max_chars;         /* use at most this many characters of the corpus; 0 = all. Default 0 */
    float val_fraction;         /* last fraction held out for validation. Default 0.1 */
    uint64_t eval_every;        /* validate every this many steps; 0 = at each epoch's end. Default 0 */
    const char *out_dir;        /* checkpoint folder (created); NULL = no checkpoints */
    const char *resume;         /* checkpoint to continue from (or model file to fine-tune); NULL = new */
    /* Since 0.3.0. */
    float momentum;             /* SGD momentum in [0, 1). Default 0 */
    int32_t nesterov;           /* positive: Nesterov momentum (SGD). Default 0 */
    float rho;                  /* RMSprop: decay of the squared-gradient average. Default 0.9 */
    float beta1;                /* Adam: decay of the first moment. Default 0.9 */
    float beta2;                /* Adam: decay of the second moment. Default 0.999 */
    float epsilon;              /* keeps denominators from zero (RMSprop, Adam, Adagrad). Default 1e-7 */
    int32_t overwrite;          /* positive: replace another run's checkpoints in out_dir (refused
                                   otherwise). Never taken from a checkpoint. Default 0 */
} charrnn_train_params;

/* Sets struct_size and leaves every option unset (CHARRNN_UNSET_U32 and the others above), as
 * charrnn_sample_params_init() does for sampling. Use charrnn_default_train_params(). */
CHARRNN_API charrnn_status charrnn_train_params_init(charrnn_train_params *params, size_t struct_size);

/* Training parameters with no option given, struct_size set to this program's sizeof (inline, as
 * charrnn_default_sample_params()). */
static inline charrnn_train_params charrnn_default_train_params(void) {
    charrnn_train_params params;
    (void)charrnn_train_params_init(&params, sizeof params);
    return params;
}

typedef enum charrnn_progress_kind {
    CHARRNN_PROGRESS_STEP = 0,        /* a training step finished */
    CHARRNN_PROGRESS_VALIDATION = 1,  /* a validation pass finished; val_* fields are set */
    CHARRNN_PROGRESS_CHECKPOINT = 2   /* a checkpoint was written to `checkpoint` */
} charrnn_progress_kind;

/* What a progress callback is told. struct_size is the library's: test fields added after the library
 * this program may run against with CHARRNN_HAS_FIELD(progress, charrnn_progress, field). */
typedef struct charrnn_progress {
    uint32_t struct_size;       /* sizeof as the library compiled it */
    charrnn_progress_kind kind;
    uint64_t step;              /* steps done */
    uint64_t total_steps;       /* planned steps (epochs × steps per epoch, capped by max_steps) */
    uint32_t epoch;             /* current epoch, 1-based */
    float train_loss;           /* smoothed training loss, nats per character */
    float val_loss;             /* last validation loss, or NaN before the first */
    float val_accuracy;         /* last validation accuracy, or NaN */
    double chars_per_s;         /* training throughput */
    double seconds;             /* wall time since the start of this run */
    float learning_rate;        /* current rate */
    const char *checkpoint;     /* for CHECKPOINT: the path written; valid during the callback */
} charrnn_progress;

/* Called during training; return non-zero to cancel (a checkpoint is written first when out_dir is
 * set, and charrnn_train returns CHARRNN_ERR_CANCELLED with *out set to the model so far). */
typedef int (*charrnn_progress_callback)(const charrnn_progress *progress, void *user_data);

/* How a training run began. */
typedef enum charrnn_run_start {
    CHARRNN_START_FRESH = 0,      /* a new model */
    CHARRNN_START_RESUMED = 1,    /* continued a checkpoint's run exactly, from resumed_step */
    CHARRNN_START_FINE_TUNED = 2  /* new progress from the weights of `resume`: a model file, or a
                                     checkpoint whose text, split, batching or optimizer differ */
} charrnn_run_start;

/* Result of charrnn_train(): set struct_size first (CHARRNN_INIT_SIZE). */
typedef struct charrnn_train_result {
    uint32_t struct_size;       /* in: sizeof as the caller compiled it; out: the bytes written */
    uint64_t steps;
    uint32_t epochs;
    float train_loss;
    float val_loss;
    float val_perplexity;
    float val_accuracy;
    double chars_per_s;
    double seconds;
    /* Since 0.3.0. */
    charrnn_run_start start;    /* a new model, a resumed run or a fine-tuned file */
    uint64_t resumed_step;      /* for CHARRNN_START_RESUMED: the checkpoint's step it continued from */
    /* Since 0.4.0. */
    float best_val_loss;        /* the lowest validation loss of the run, resumed parts included (the loss
                                   of out_dir's best checkpoint); NaN when nothing was validated */
} charrnn_train_result;

/* Trains a model on the UTF-8 text file `corpus_path` with `params` (NULL = defaults).
 * `callback` (may be NULL) is called on the calling thread. On success, and on cancellation, *out (may
 * be NULL) owns the trained model and *result (may be NULL; its struct_size is checked before training
 * starts) holds the final figures.
 * Process-wide: each batch (and each validation batch) runs on the worker threads sessions use
 * (charrnn_session_new; started here if no session has started them), its parts calling OpenBLAS from
 * several threads at once. So while a batch runs, and only then, every OpenBLAS call in the process runs
 * single-threaded (openblas_set_num_threads(1): the count of OpenBLAS's pthreads build is process-wide,
 * with no per-thread setting). `callback` and the program's code between batches see the program's own
 * count. The first of concurrent batches saves the count it finds and the last to end puts it back: a
 * program that changes the count from another thread while a batch runs loses that change. */
CHARRNN_API charrnn_status charrnn_train(const char *corpus_path, const charrnn_train_params *params,
                                         charrnn_progress_callback callback, void *user_data,
                                         charrnn_model **out, charrnn_train_result *result);

/* ---------------------------------------------------------------------------------------------- */
/* Traces: what the model computes along a text                                                    */
/* ---------------------------------------------------------------------------------------------- */

/* One recurrent layer, filled by charrnn_model_get_layer_info(): set struct_size first
 * (CHARRNN_INIT_SIZE). */
typedef struct charrnn_layer_info {
    uint32_t struct_size;   /* in: sizeof as the caller compiled it; out: the bytes written */
    charrnn_cell cell;      /* LSTM, GRU or RNN */
    uint32_t units;         /* U: the width of its hidden state (and of an LSTM's cell state) */
    uint32_t state_offset;  /* floats of one character's state that come before this layer's: the units of
                               the layers below, twice for LSTM layers (see charrnn_model_trace) */
} charrnn_layer_info;

/* Fills *info for recurrent layer `layer` (0 = the one that reads the input; charrnn_model_info's
 * num_layers of them). A layer past the last is CHARRNN_ERR_NOT_FOUND. */
CHARRNN_API charrnn_status charrnn_model_get_layer_info(const charrnn_model *model, size_t layer,
                                                        charrnn_layer_info *info);

/* Sizes and figures of a trace, filled by charrnn_model_trace(): set struct_size first
 * (CHARRNN_INIT_SIZE). */
typedef struct charrnn_trace_info {
    uint32_t struct_size;   /* in: sizeof as the caller compiled it; out: the bytes written */
    uint32_t vocab_size;    /* V: floats per character in `probs` */
    uint64_t chars;         /* n: characters traced (the text's, less those skipped) */
    uint64_t skipped;       /* characters left out as unknown (CHARRNN_SKIP_UNKNOWN) */
    uint64_t probs_needed;  /* n * V: the floats `probs` must hold */
    uint64_t states_needed; /* n * state_width: the floats `states` must hold */
    uint32_t num_layers;    /* recurrent layers */
    uint32_t state_width;   /* floats of state per character: every layer's units, twice for LSTM layers */
    double loss;            /* mean cross-entropy of the n - 1 predictions, nats per character; NaN when
                               n == 1 or nothing was run (a size query) */
    double accuracy;        /* fraction of those predictions whose most probable character was right; NaN
                               likewise */
} charrnn_trace_info;

/* Runs the model over `len` bytes of UTF-8 `text` from a fresh state and records, after each of its n
 * characters, the distribution over the next character and the state of every layer: the numbers behind
 * `charrnn explain`. Row t is "after reading characters 0..t".
 * - `probs` (n * V floats, row-major): row t is the distribution over character t + 1, so row t - 1 at
 *   character t's index is the probability the model gave character t.
 * - `states` (n * state_width floats), layer by layer: layer l's hidden states are the (n, U) row-major
 *   block starting at float n * state_offset (both from charrnn_model_get_layer_info), and an LSTM
 *   layer's cell states the (n, U) block right after it, at n * (state_offset + U).
 * Sizing: `info` is required; it receives n, V and the sizes. With `probs` and `states` both NULL (and
 * both capacities 0) the call is a size query: the text is decoded and *info filled, the model is not run
 * and loss and accuracy are NaN. Otherwise a NULL buffer (capacity 0) is one the caller does not want.
 * A buffer smaller than its *_needed fails with CHARRNN_ERR_BUFFER_TOO_SMALL, *info filled as by a size
 * query; a NULL buffer with a non-zero capacity is CHARRNN_ERR_INVALID_ARGUMENT. No size traps or wraps:
 * n * V and n * state_width fit in 64 bits for every text one call accepts.
 * Without CHARRNN_SKIP_UNKNOWN an unknown character fails with CHARRNN_ERR_UNKNOWN_CHARACTER; the text
 * needs at least one known character. `interrupt` (may be NULL) is asked every 256 characters. When the
 * run fails part-way (CHARRNN_ERR_CANCELLED, CHARRNN_ERR_NOT_FINITE), the buffers hold what was written
 * so far and *info is untouched. The library allocates only the pass's working buffers (256
 * characters' activations); the results go straight to the caller's buffers. */
CHARRNN_API charrnn_status charrnn_model_trace(const charrnn_model *model, const char *text, size_t len,
                                               uint32_t flags, charrnn_interrupt_callback interrupt,
                                               void *user_data, float *probs, size_t probs_capacity,
                                               float *states, size_t states_capacity,
                                               charrnn_trace_info *info);

#ifdef __cplusplus
}
#endif

#endif /* CHARRNN_H */
