/* train.c — charrnn._charrnn.train(): charrnn_train with keyword parameters and a progress callback. */
#include "charrnn_py.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { F_U32, F_U64, F_FLOAT, F_DOUBLE, F_BOOL, F_CELL, F_OPT, F_OBJ, F_STR } FieldKind;

typedef struct {
    const char *name;
    FieldKind kind;
    size_t offset;
} Field;

#define FIELD(n, k)                                                                                                    \
    {                                                                                                                  \
#n, k, offsetof(charrnn_train_params, n)                                                                       \
    }
static const Field fields[] = {
    FIELD(cell, F_CELL),
    FIELD(layers, F_U32),
    FIELD(hidden, F_U32),
    FIELD(embedding, F_U32),
    FIELD(dropout, F_FLOAT),
    FIELD(objective, F_OBJ),
    FIELD(seq_length, F_U32),
    FIELD(step, F_U32),
    FIELD(batch_size, F_U32),
    FIELD(optimizer, F_OPT),
    FIELD(learning_rate, F_FLOAT),
    FIELD(clip_value, F_FLOAT),
    FIELD(clip_norm, F_FLOAT),
    FIELD(lr_decay, F_FLOAT),
    FIELD(lr_decay_every, F_U32),
    FIELD(lr_decay_staircase, F_BOOL),
    FIELD(lr_decay_after, F_U32),
    FIELD(epochs, F_U32),
    FIELD(max_steps, F_U64),
    FIELD(max_time, F_DOUBLE),
    FIELD(seed, F_U64),
    FIELD(lowercase, F_BOOL),
    FIELD(reduce_charset, F_BOOL),
    FIELD(max_chars, F_U64),
    FIELD(val_fraction, F_FLOAT),
    FIELD(eval_every, F_U64),
    FIELD(out_dir, F_STR),
    FIELD(resume, F_STR),
    FIELD(momentum, F_FLOAT),
    FIELD(nesterov, F_BOOL),
    FIELD(rho, F_FLOAT),
    FIELD(beta1, F_FLOAT),
    FIELD(beta2, F_FLOAT),
    FIELD(epsilon, F_FLOAT),
    FIELD(overwrite, F_BOOL),
};

/* The `charrnn train` flag names that differ from the C fields', accepted as keywords too. */
static const struct {
    const char *alias, *field;
} aliases[] = {{"lr", "learning_rate"}, {"staircase", "lr_decay_staircase"}, {"out", "out_dir"}};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *cell_names[] = {"lstm", "gru", "rnn", NULL};
static const char *opt_names[] = {"adam", "rmsprop", "sgd", "adagrad", NULL};
static const char *obj_names[] = {"sequence", "window", NULL};

static int enum_value(const Field *f, PyObject *v, const char **names, int *out)
{
    if (PyUnicode_Check(v)) {
        const char *s = PyUnicode_AsUTF8(v);
        if (!s)
            return -1;
        for (int i = 0; names[i]; i++)
            if (strcasecmp(s, names[i]) == 0) {
                *out = i;
                return 0;
            }
    } else if (PyLong_Check(v) && !PyBool_Check(v)) {
        int overflow = 0;
        long i = PyLong_AsLongAndOverflow(v, &overflow);
        if (i == -1 && PyErr_Occurred())
            return -1;
        int n = 0;
        while (names[n])
            n++;
        if (!overflow && i >= 0 && i < n) {
            *out = (int)i;
            return 0;
        }
    }
    PyObject *r = PyObject_Repr(v);
    if (!r)
        return -1; // repr() raised (KeyboardInterrupt, MemoryError, ...): that exception stands
    const char *shown = PyUnicode_AsUTF8(r);
    if (!shown) { // a repr that will not encode to UTF-8: show "?" and raise ours, not theirs beneath it
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            Py_DECREF(r);
            return -1;
        }
        PyErr_Clear();
        shown = "?";
    }
    crn_raise_msg(CHARRNN_ERR_INVALID_ARGUMENT, "%s=%s is not one of %s%s%s%s%s%s%s", f->name, shown, names[0],
                  names[1] ? ", " : "", names[1] ? names[1] : "", names[1] && names[2] ? ", " : "",
                  names[1] && names[2] ? names[2] : "", names[1] && names[2] && names[3] ? ", " : "",
                  names[1] && names[2] && names[3] ? names[3] : "");
    Py_XDECREF(r);
    return -1;
}

/* Sets one field; string values are kept alive in `keep` (a list). */
static int set_field(charrnn_train_params *p, const Field *f, PyObject *v, PyObject *keep)
{
    char *base = (char *)p + f->offset;
    int e;
    switch (f->kind) {
    case F_U32:
    case F_U64: {
        unsigned long long x;
        /* The largest value means "not given" in C (CHARRNN_UNSET_U32/U64): not a value to pass. */
        if (crn_uint_arg(v, f->name, f->kind == F_U32 ? UINT32_MAX - 1 : UINT64_MAX - 1, &x) < 0)
            return -1;
        if (f->kind == F_U32)
            *(uint32_t *)base = (uint32_t)x;
        else
            *(uint64_t *)base = (uint64_t)x;
        return 0;
    }
    case F_BOOL: {
        int x = PyObject_IsTrue(v);
        if (x < 0)
            return -1;
        *(int32_t *)base = x;
        return 0;
    }
    case F_FLOAT:
    case F_DOUBLE: {
        double x = PyFloat_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred())
            return -1;
        if (isnan(x)) { /* NaN means "not given" in C: refuse it as a value rather than ignore it */
            crn_raise_msg(CHARRNN_ERR_INVALID_ARGUMENT,
                          "%s=nan is not a number (leave it out or pass None "
                          "for the default)",
                          f->name);
            return -1;
        }
        if (f->kind == F_FLOAT)
            *(float *)base = (float)x;
        else
            *(double *)base = x;
        return 0;
    }
    case F_CELL:
        if (enum_value(f, v, cell_names, &e) < 0)
            return -1;
        *(charrnn_cell *)base = (charrnn_cell)e;
        return 0;
    case F_OPT:
        if (enum_value(f, v, opt_names, &e) < 0)
            return -1;
        *(charrnn_optimizer *)base = (charrnn_optimizer)e;
        return 0;
    case F_OBJ:
        if (enum_value(f, v, obj_names, &e) < 0)
            return -1;
        *(charrnn_objective *)base = (charrnn_objective)e;
        return 0;
    case F_STR: {
        if (v == Py_None) {
            *(const char **)base = NULL;
            return 0;
        }
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(v, &b))
            return -1;
        if (PyList_Append(keep, b) < 0) {
            Py_DECREF(b);
            return -1;
        }
        *(const char **)base = PyBytes_AS_STRING(b);
        Py_DECREF(b);
        return 0;
    }
    }
    return -1;
}

/* A float32 as the shortest decimal that reads back to it (2e-3, not 0.0020000000949949026). */
static PyObject *float32_value(float f)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f || isnan(f))
            return PyFloat_FromDouble(strtod(buf, NULL));
    }
    return PyFloat_FromDouble((double)f);
}

/* Whether a field holds the C API's "not given" value. */
static int is_unset(const Field *f, const char *base)
{
    switch (f->kind) {
    case F_U32: return *(const uint32_t *)base == CHARRNN_UNSET_U32;
    case F_U64: return *(const uint64_t *)base == CHARRNN_UNSET_U64;
    case F_FLOAT: return isnan(*(const float *)base);
    case F_DOUBLE: return isnan(*(const double *)base);
    case F_BOOL: return *(const int32_t *)base < 0;
    case F_CELL: return (int)*(const charrnn_cell *)base < 0;
    case F_OPT: return (int)*(const charrnn_optimizer *)base < 0;
    case F_OBJ: return (int)*(const charrnn_objective *)base < 0;
    case F_STR: return 0;
    }
    return 0;
}

static PyObject *params_dict(const charrnn_train_params *p)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (size_t i = 0; i < NFIELDS; i++) {
        const Field *f = &fields[i];
        const char *base = (const char *)p + f->offset;
        PyObject *v = NULL;
        if (is_unset(f, base)) {
            Py_INCREF(Py_None);
            v = Py_None;
        } else
            switch (f->kind) {
            case F_U32: v = PyLong_FromUnsignedLong(*(const uint32_t *)base); break;
            case F_U64: v = PyLong_FromUnsignedLongLong(*(const uint64_t *)base); break;
            case F_BOOL: v = PyBool_FromLong(*(const int32_t *)base); break;
            case F_FLOAT: v = float32_value(*(const float *)base); break;
            case F_DOUBLE: v = PyFloat_FromDouble(*(const double *)base); break;
            case F_CELL: {
                int e = (int)*(const charrnn_cell *)base;
                v = (e >= 0 && e < 3) ? PyUnicode_FromString(cell_names[e]) : PyLong_FromLong(e);
                break;
            }
            case F_OPT: {
                int e = (int)*(const charrnn_optimizer *)base;
                v = (e >= 0 && e < 4) ? PyUnicode_FromString(opt_names[e]) : PyLong_FromLong(e);
                break;
            }
            case F_OBJ: {
                int e = (int)*(const charrnn_objective *)base;
                v = (e >= 0 && e < 2) ? PyUnicode_FromString(obj_names[e]) : PyLong_FromLong(e);
                break;
            }
            case F_STR: {
                const char *s = *(const char *const *)base;
                if (s) {
                    v = PyUnicode_DecodeFSDefault(s);
                } else {
                    Py_INCREF(Py_None);
                    v = Py_None;
                }
                break;
            }
            }
        if (!v || PyDict_SetItemString(d, f->name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

PyObject *crn_default_train_params(PyObject *self, PyObject *unused)
{
    charrnn_train_params p = charrnn_default_train_params();
    return params_dict(&p);
}

typedef struct {
    PyObject *callback; /* Python callable(dict) -> bool, or NULL */
    CrnLongCall call;
    /* What stopped training: an exception from the callback or a signal handler (KeyboardInterrupt),
     * taken out of the thread state while the library finishes (a last validation and checkpoint). */
    PyObject *error_type, *error_value, *error_tb;
    char *checkpoint; /* the last checkpoint written (PyMem_RawMalloc), or NULL */
    uint64_t checkpoint_step;
} TrainContext;

static const char *kind_name(charrnn_progress_kind k)
{
    switch (k) {
    case CHARRNN_PROGRESS_STEP: return "step";
    case CHARRNN_PROGRESS_VALIDATION: return "validation";
    case CHARRNN_PROGRESS_CHECKPOINT: return "checkpoint";
    }
    return "unknown";
}

/* Without the GIL. Keeps the first path reported at each step, latest.safetensors (the library reports
 * it before the best-so-far copy): the one to resume from. */
static void remember_checkpoint(TrainContext *ctx, const charrnn_progress *pr)
{
    if (ctx->checkpoint && ctx->checkpoint_step == pr->step)
        return;
    size_t size = strlen(pr->checkpoint) + 1;
    char *copy = PyMem_RawMalloc(size);
    if (!copy)
        return; /* the previous path is latest.safetensors too */
    memcpy(copy, pr->checkpoint, size);
    PyMem_RawFree(ctx->checkpoint);
    ctx->checkpoint = copy;
    ctx->checkpoint_step = pr->step;
}

/* With the GIL: calls the Python callback with the progress as a dict; 1 to stop (an exception stays
 * pending). */
static int call_progress(PyObject *callback, const charrnn_progress *pr)
{
    PyObject *ckpt;
    if (pr->checkpoint) {
        ckpt = PyUnicode_DecodeFSDefault(pr->checkpoint);
    } else {
        Py_INCREF(Py_None);
        ckpt = Py_None;
    }
    PyObject *d =
        ckpt ? Py_BuildValue("{s:s,s:K,s:K,s:I,s:d,s:d,s:d,s:d,s:d,s:d,s:N}", "kind", kind_name(pr->kind), "step",
                             (unsigned long long)pr->step, "total_steps", (unsigned long long)pr->total_steps, "epoch",
                             pr->epoch, "train_loss", (double)pr->train_loss, "val_loss", (double)pr->val_loss,
                             "val_accuracy", (double)pr->val_accuracy, "chars_per_s", pr->chars_per_s, "seconds",
                             pr->seconds, "learning_rate", (double)pr->learning_rate, "checkpoint", ckpt)
             : NULL;
    PyObject *r = d ? PyObject_CallOneArg(callback, d) : NULL;
    Py_XDECREF(d);
    if (!r)
        return 1;
    int stop = PyObject_IsTrue(r);
    Py_DECREF(r);
    return stop != 0; /* -1: an exception, pending */
}

/* A charrnn_progress_callback, called after every step: runs the signal handlers (every
 * CRN_CHECK_INTERVAL without a Python callback, else before each call of it) and the Python callback.
 * Whatever they raise stops training; the library then writes a checkpoint and returns the model. */
static int progress_cb(const charrnn_progress *pr, void *user)
{
    TrainContext *ctx = (TrainContext *)user;
    if (pr->kind == CHARRNN_PROGRESS_CHECKPOINT && pr->checkpoint)
        remember_checkpoint(ctx, pr);
    if (ctx->error_type)
        return 1; /* stopping: no more Python */
    if (!ctx->callback && !crn_check_due(&ctx->call))
        return 0;
    crn_gil_take(&ctx->call);
    int stop = crn_run_signal_handlers(&ctx->call) || (ctx->callback && call_progress(ctx->callback, pr));
    if (PyErr_Occurred())
        PyErr_Fetch(&ctx->error_type, &ctx->error_value, &ctx->error_tb);
    crn_gil_drop(&ctx->call);
    return stop;
}

/* Raises the library's error for `st`; what stopped training before it (say, Ctrl-C before a checkpoint
 * that could not be written) becomes its __context__. */
static void raise_train_error(charrnn_status st, TrainContext *ctx)
{
    crn_raise(st);
    if (!ctx->error_type)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyErr_NormalizeException(&ctx->error_type, &ctx->error_value, &ctx->error_tb);
    if (ctx->error_tb)
        PyException_SetTraceback(ctx->error_value, ctx->error_tb);
    PyException_SetContext(value, ctx->error_value); /* steals it */
    Py_DECREF(ctx->error_type);
    Py_XDECREF(ctx->error_tb);
    ctx->error_type = ctx->error_value = ctx->error_tb = NULL;
    PyErr_Restore(type, value, tb);
}

static PyObject *result_dict(const charrnn_train_result *r, charrnn_status st, const TrainContext *ctx, int interrupted)
{
    PyObject *ckpt;
    if (ctx->checkpoint) {
        ckpt = PyUnicode_DecodeFSDefault(ctx->checkpoint);
        if (!ckpt)
            return NULL;
    } else {
        Py_INCREF(Py_None);
        ckpt = Py_None;
    }
    static const char *starts[] = {"fresh", "resumed", "fine_tuned"};
    const char *start = r->start >= 0 && r->start <= 2 ? starts[r->start] : "unknown";
    return Py_BuildValue(
        "{s:K,s:I,s:d,s:d,s:d,s:d,s:d,s:d,s:d,s:O,s:O,s:N,s:s,s:K}", "steps", (unsigned long long)r->steps, "epochs",
        r->epochs, "train_loss", (double)r->train_loss, "val_loss", (double)r->val_loss, "val_perplexity",
        (double)r->val_perplexity, "val_accuracy", (double)r->val_accuracy, "best_val_loss", (double)r->best_val_loss,
        "chars_per_s", r->chars_per_s, "seconds", r->seconds, "cancelled",
        st == CHARRNN_ERR_CANCELLED ? Py_True : Py_False, "interrupted", interrupted ? Py_True : Py_False, "checkpoint",
        ckpt, "start", start, "resumed_step", (unsigned long long)r->resumed_step);
}

/* train(corpus_path, params: dict, callback=None, model_class=Model) -> (model, result dict)
 * On cancellation by the callback, result["cancelled"] is True and the model so far is returned. On
 * KeyboardInterrupt (Ctrl-C), training stops the same way and result["interrupted"] is True (the
 * package raises charrnn.TrainingInterrupted with the model). result["checkpoint"] is the last
 * checkpoint written, or None. */
PyObject *crn_train(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"corpus_path", "params", "callback", "model_class", NULL};
    PyObject *path = NULL, *params = Py_None, *callback = Py_None, *model_class = (PyObject *)&CrnModel_Type;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|OOO:train", kwlist, PyUnicode_FSConverter, &path, &params,
                                     &callback, &model_class))
        return NULL;
    TrainContext ctx;
    memset(&ctx, 0, sizeof ctx);
    PyObject *keep = PyList_New(0);
    PyObject *result = NULL;
    if (!keep)
        goto done;
    if (!PyType_Check(model_class) || !PyType_IsSubtype((PyTypeObject *)model_class, &CrnModel_Type)) {
        PyErr_SetString(PyExc_TypeError, "model_class must derive from charrnn._charrnn.Model");
        goto done;
    }
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "progress callback must be callable");
        goto done;
    }
    charrnn_train_params p = charrnn_default_train_params();
    if (params != Py_None) {
        if (!PyDict_Check(params)) {
            PyErr_SetString(PyExc_TypeError, "params must be a dict");
            goto done;
        }
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(params, &pos, &key, &value)) {
            const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
            for (size_t i = 0; k && i < sizeof aliases / sizeof aliases[0]; i++)
                if (strcmp(aliases[i].alias, k) == 0)
                    k = aliases[i].field;
            const Field *f = NULL;
            for (size_t i = 0; k && i < NFIELDS; i++)
                if (strcmp(fields[i].name, k) == 0)
                    f = &fields[i];
            if (!f) {
                PyErr_Format(PyExc_TypeError, "train() got an unexpected keyword argument %R", key);
                goto done;
            }
            if (value == Py_None && f->kind != F_STR)
                continue; /* None: not given (the default, or the resumed checkpoint's value) */
            if (set_field(&p, f, value, keep) < 0)
                goto done;
        }
    }
    ctx.callback = callback == Py_None ? NULL : callback;
    charrnn_model *model = NULL;
    charrnn_train_result r;
    memset(&r, 0, sizeof r);
    CHARRNN_INIT_SIZE(r);
    charrnn_status st;
    crn_call_begin(&ctx.call);
    st = charrnn_train(PyBytes_AS_STRING(path), &p, progress_cb, &ctx, &model, &r);
    crn_call_end(&ctx.call);
    if (st != CHARRNN_OK && st != CHARRNN_ERR_CANCELLED) {
        charrnn_model_free(model);
        raise_train_error(st, &ctx); /* before a signal handler can make a charrnn call */
        goto done;
    }
    /* Ctrl-C after the last check (in the final validation or checkpoint) must not throw the model away
     * at the caller's next bytecode either. */
    if (!ctx.error_type && crn_run_signal_handlers(&ctx.call))
        PyErr_Fetch(&ctx.error_type, &ctx.error_value, &ctx.error_tb);
    int interrupted = ctx.error_type && PyErr_GivenExceptionMatches(ctx.error_type, PyExc_KeyboardInterrupt);
    if (ctx.error_type && (!interrupted || !model)) {
        charrnn_model_free(model);
        PyErr_Restore(ctx.error_type, ctx.error_value, ctx.error_tb);
        ctx.error_type = ctx.error_value = ctx.error_tb = NULL;
        goto done;
    }
    if (!model) {
        crn_raise_msg(st == CHARRNN_ERR_CANCELLED ? CHARRNN_ERR_CANCELLED : CHARRNN_ERR_INTERNAL,
                      "training returned no model");
        goto done;
    }
    PyObject *m = crn_model_wrap((PyTypeObject *)model_class, model);
    if (!m)
        goto done;
    PyObject *d = result_dict(&r, st, &ctx, interrupted);
    if (!d) {
        Py_DECREF(m);
        goto done;
    }
    result = Py_BuildValue("(NN)", m, d);
done:
    /* On interruption the KeyboardInterrupt is dropped here: the package raises TrainingInterrupted. */
    Py_XDECREF(ctx.error_type);
    Py_XDECREF(ctx.error_value);
    Py_XDECREF(ctx.error_tb);
    PyMem_RawFree(ctx.checkpoint);
    Py_XDECREF(keep);
    Py_XDECREF(path);
    return result;
}
