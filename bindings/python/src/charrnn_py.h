/* Shared declarations of the charrnn CPython extension (charrnn._charrnn). */
#ifndef CHARRNN_PY_H
#define CHARRNN_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "charrnn.h"

typedef struct {
    PyObject_HEAD charrnn_model *model; /* NULL once closed */
    int busy; /* calls running with the GIL released */
    PyObject *weakreflist;
} ModelObject;

typedef struct {
    PyObject_HEAD charrnn_session *session; /* NULL once closed */
    PyObject *model; /* the Python Model it was created from (kept alive) */
    int busy;
    PyObject *weakreflist;
} SessionObject;

extern PyTypeObject CrnModel_Type;
extern PyTypeObject CrnSession_Type;

/* errors.c */
int crn_errors_init(PyObject *module);
/* Raises the exception for `status` with charrnn_last_error(); returns NULL. */
PyObject *crn_raise(charrnn_status status);
/* Raises the exception for `status` with a message of ours; returns NULL. */
PyObject *crn_raise_msg(charrnn_status status, const char *fmt, ...);

/* module.c helpers */
/* UTF-8 view of a str or bytes object; *nchars receives the number of characters (code points for
 * str, UTF-8 lead bytes for bytes). Returns 0 or -1 with an exception set. The view lives as long as
 * `obj`, which must be immutable (str/bytes only). */
int crn_text(PyObject *obj, const char **data, Py_ssize_t *len, Py_ssize_t *nchars);
/* A new float32 numpy array of the given shape (C order), and a pointer to its data. */
PyObject *crn_new_float_array(int ndim, const Py_ssize_t *shape, float **data);
/* An integer argument in [0, max]: an int or anything with __index__ (numpy integers), not a bool.
 * Returns 0 with *out set, or -1 with TypeError (not an integer) or InvalidArgumentError (outside the
 * range, naming `name` and the range). */
int crn_uint_arg(PyObject *obj, const char *name, unsigned long long max, unsigned long long *out);
/* An O& converter for a seed, 0 to 2**64 - 1, into a uint64_t. */
int crn_seed_converter(PyObject *obj, void *out);
/* An O& converter for a count (n, lengths), 0 to PY_SSIZE_T_MAX, into a Py_ssize_t. */
int crn_count_converter(PyObject *obj, void *out);
/* Reads sampling keywords (NULL or None keeps the default) into *out; returns 0 or -1. Every seed from
 * 0 to 2**64 - 1 is accepted, but the struct reserves 2**64 - 1 for "keep the generator"
 * (CHARRNN_SEED_CONTINUE): for that seed *reseed_max is set, and the caller reseeds the session with
 * charrnn_session_seed() before sampling. */
int crn_sample_params(PyObject *temperature, PyObject *top_k, PyObject *top_p, PyObject *greedy, PyObject *seed,
                      charrnn_sample_params *out, int *reseed_max);

/* A long call: the GIL released for the work, and Ctrl-C noticed between chunks of it (CPython's
 * rule: re-take the GIL and run the signal handlers, which raise KeyboardInterrupt).
 *
 *     CrnLongCall call;
 *     crn_call_begin(&call);                   // releases the GIL
 *     st = charrnn_..._interruptible(..., crn_interrupt_callback, &call, ...);
 *     crn_call_end(&call);                     // takes it back
 *     if (call.interrupted)
 *         return NULL;                         // the handler's exception (KeyboardInterrupt) is set
 */
typedef struct {
    PyThreadState *tstate; /* saved while the GIL is released */
    int main_thread; /* only the main thread runs signal handlers: elsewhere nothing is checked */
    double next_check; /* monotonic seconds: checks are CRN_CHECK_INTERVAL apart at most */
    int interrupted; /* a signal handler raised; its exception is pending in tstate */
} CrnLongCall;

/* 50 ms: Ctrl-C is felt at once, and a call on the main thread does not take the GIL from busy
 * Python threads more often than it must. */
#define CRN_CHECK_INTERVAL 0.05

void crn_call_begin(CrnLongCall *call);
void crn_call_end(CrnLongCall *call);
/* The bracket of a long call on a Model or Session: `keep` (the text argument, or NULL) held and *busy
 * (the object's busy count) raised while the GIL is released, so that close() from another thread
 * refuses instead of freeing the handle under the call. */
void crn_busy_call_begin(CrnLongCall *call, int *busy, PyObject *keep);
void crn_busy_call_end(CrnLongCall *call, int *busy, PyObject *keep);
/* After a long call that returned `st`: 0 when it succeeded, else -1 with the exception set. When Ctrl-C
 * stopped it, that is the signal handler's (KeyboardInterrupt), not the CancelledError the library made
 * of it; otherwise the exception for `st`, with the library's message: call this before another charrnn
 * call on this thread replaces it. */
int crn_call_error(const CrnLongCall *call, charrnn_status st);
/* Inside the call, around Python code (a callback, the signal handlers). */
void crn_gil_take(CrnLongCall *call);
void crn_gil_drop(CrnLongCall *call);
/* Without the GIL: whether a check is due (main thread, and the interval has passed). */
int crn_check_due(CrnLongCall *call);
/* With the GIL: runs pending signal handlers; 1 (and call->interrupted) when one raised, else 0. */
int crn_run_signal_handlers(CrnLongCall *call);
/* A charrnn_interrupt_callback over a CrnLongCall (without the GIL): when a check is due, takes the GIL
 * for the signal handlers and returns 1 when one raised (its exception stays pending). */
int crn_interrupt_callback(void *call);
/* Length in bytes of the UTF-8 sequence starting with lead byte `b` (1 for invalid bytes). */
size_t crn_utf8_len(unsigned char b);

/* model.c */
/* The live handle of a Model, or NULL with StateError set when closed / TypeError when not a Model. */
charrnn_model *crn_model_handle(PyObject *obj);
/* Wraps a new handle in an instance of `cls` (a Model subclass), taking ownership. */
PyObject *crn_model_wrap(PyTypeObject *cls, charrnn_model *model);

/* train.c */
PyObject *crn_train(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *crn_default_train_params(PyObject *self, PyObject *unused);

#endif
