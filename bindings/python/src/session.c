/* session.c — charrnn._charrnn.Session: recurrent state, pending distribution and generator. */
#include "charrnn_py.h"
#include <string.h>

/* A session belongs to one thread at a time: a call while another thread is inside one (with the GIL
 * released) raises StateError instead of racing. */
static charrnn_session *live(SessionObject *self)
{
    if (!self->session) {
        crn_raise_msg(CHARRNN_ERR_STATE, "the session is closed");
        return NULL;
    }
    if (self->busy) {
        crn_raise_msg(CHARRNN_ERR_STATE, "the session is in use by another thread");
        return NULL;
    }
    return self->session;
}

static PyObject *Session_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_SetString(PyExc_TypeError, "create sessions with model.session()");
    return NULL;
}

static void Session_dealloc(SessionObject *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    charrnn_session_free(self->session);
    self->session = NULL;
    Py_CLEAR(self->model);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Session._open(model, precision=0) -> Session (classmethod); precision is a charrnn_precision. */
static PyObject *Session_open(PyTypeObject *cls, PyObject *args)
{
    PyObject *model_obj;
    int precision = CHARRNN_PRECISION_FLOAT32;
    if (!PyArg_ParseTuple(args, "O|i:_open", &model_obj, &precision))
        return NULL;
    charrnn_model *m = crn_model_handle(model_obj);
    if (!m)
        return NULL;
    charrnn_session *s = NULL;
    charrnn_status st;
    /* The model's first session of a precision copies its weights (about 20 ms to quantize a 2x512
     * LSTM): other threads run meanwhile, and the model cannot be closed under it. */
    ModelObject *model = (ModelObject *)model_obj;
    model->busy++;
    Py_BEGIN_ALLOW_THREADS st = charrnn_session_new_with_precision(m, (charrnn_precision)precision, &s);
    Py_END_ALLOW_THREADS model->busy--;
    if (st != CHARRNN_OK)
        return crn_raise(st);
    SessionObject *self = (SessionObject *)cls->tp_alloc(cls, 0);
    if (!self) {
        charrnn_session_free(s);
        return NULL;
    }
    self->session = s;
    Py_INCREF(model_obj);
    self->model = model_obj;
    return (PyObject *)self;
}

/* feed(text, skip_unknown=False) -> (fed, skipped) */
static PyObject *Session_feed(SessionObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"text", "skip_unknown", NULL};
    PyObject *text;
    int skip = 0;
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p:feed", kwlist, &text, &skip))
        return NULL;
    const char *data;
    Py_ssize_t len, nchars;
    if (crn_text(text, &data, &len, &nchars) < 0)
        return NULL;
    size_t fed = 0, skipped = 0;
    charrnn_status st;
    /* Converting the arguments can run Python code that closes this object: look again. */
    if (!(s = live(self)))
        return NULL;
    CrnLongCall call;
    crn_busy_call_begin(&call, &self->busy, text);
    st = charrnn_session_feed_interruptible(s, data, (size_t)len, skip ? CHARRNN_SKIP_UNKNOWN : 0,
                                            crn_interrupt_callback, &call, &fed, &skipped);
    crn_busy_call_end(&call, &self->busy, text);
    if (crn_call_error(&call, st) < 0)
        return NULL; /* on KeyboardInterrupt the library put the state back as it was */
    return Py_BuildValue("(nn)", (Py_ssize_t)fed, (Py_ssize_t)skipped);
}

/* probabilities() -> float32 array (vocab_size,) */
static PyObject *Session_probabilities(SessionObject *self, PyObject *unused)
{
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    size_t needed = 0;
    charrnn_status st = charrnn_session_probabilities(s, NULL, 0, &needed);
    if (st != CHARRNN_OK && st != CHARRNN_ERR_BUFFER_TOO_SMALL)
        return crn_raise(st);
    Py_ssize_t shape[1] = {(Py_ssize_t)needed};
    float *data = NULL;
    PyObject *arr = crn_new_float_array(1, shape, &data);
    if (!arr)
        return NULL;
    st = charrnn_session_probabilities(s, data, needed, &needed);
    if (st != CHARRNN_OK) {
        Py_DECREF(arr);
        return crn_raise(st);
    }
    return arr;
}

static PyObject *codepoint_str(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return crn_raise_msg(CHARRNN_ERR_INTERNAL, "library returned an invalid code point %u", cp);
    return PyUnicode_FromOrdinal((int)cp);
}

#define SAMPLE_KWARGS "temperature", "top_k", "top_p", "greedy", "seed"

/* sample(temperature=1.0, top_k=0, top_p=1.0, greedy=False, seed=None) -> (char, probability) */
static PyObject *Session_sample(SessionObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {SAMPLE_KWARGS, NULL};
    PyObject *t = NULL, *k = NULL, *p = NULL, *g = NULL, *seed = NULL;
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOOO:sample", kwlist, &t, &k, &p, &g, &seed))
        return NULL;
    charrnn_sample_params params;
    int reseed_max;
    if (crn_sample_params(t, k, p, g, seed, &params, &reseed_max) < 0)
        return NULL;
    uint32_t cp = 0;
    float prob = 0.0f;
    charrnn_status st;
    /* Converting the arguments can run Python code that closes this object: look again. */
    if (!(s = live(self)))
        return NULL;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS st = reseed_max ? charrnn_session_seed(s, UINT64_MAX) : CHARRNN_OK;
    if (st == CHARRNN_OK)
        st = charrnn_session_sample(s, &params, &cp, &prob);
    Py_END_ALLOW_THREADS self->busy--;
    if (st != CHARRNN_OK)
        return crn_raise(st);
    PyObject *ch = codepoint_str(cp);
    if (!ch)
        return NULL;
    return Py_BuildValue("(Nd)", ch, (double)prob);
}

typedef struct {
    char *buf; /* the generated UTF-8 */
    size_t len, cap;
    PyObject *callback; /* Python callable(char, probability) -> bool, or NULL */
    CrnLongCall call; /* an exception from the callback or a signal handler stays pending in it */
    int oom;
} GenContext;

static int append_utf8(GenContext *ctx, const char *utf8, size_t utf8_len)
{
    if (ctx->len + utf8_len > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 256;
        while (cap < ctx->len + utf8_len)
            cap *= 2;
        char *nb = PyMem_RawRealloc(ctx->buf, cap); /* no GIL here */
        if (!nb)
            return -1;
        ctx->buf = nb;
        ctx->cap = cap;
    }
    memcpy(ctx->buf + ctx->len, utf8, utf8_len);
    ctx->len += utf8_len;
    return 0;
}

/* With the GIL: runs the signal handlers, then the Python callback; 1 to stop. */
static int call_python(GenContext *ctx, const char *utf8, size_t utf8_len, float probability)
{
    if (crn_run_signal_handlers(&ctx->call))
        return 1;
    PyObject *ch = PyUnicode_DecodeUTF8(utf8, (Py_ssize_t)utf8_len, "strict");
    PyObject *r = ch ? PyObject_CallFunction(ctx->callback, "Od", ch, (double)probability) : NULL;
    Py_XDECREF(ch);
    if (!r)
        return 1;
    int stop = PyObject_IsTrue(r);
    Py_DECREF(r);
    return stop != 0; /* -1: an exception, pending */
}

/* A charrnn_token_callback: keeps the character, and stops on Ctrl-C (checked by time, as with the
 * other long calls) or when the Python callback asks or raises. */
static int gen_callback(uint32_t codepoint, const char *utf8, size_t utf8_len, float probability, void *user)
{
    GenContext *ctx = (GenContext *)user;
    (void)codepoint;
    if (append_utf8(ctx, utf8, utf8_len) < 0) {
        ctx->oom = 1;
        return 1;
    }
    if (!ctx->callback)
        return crn_interrupt_callback(&ctx->call);
    crn_gil_take(&ctx->call);
    int stop = call_python(ctx, utf8, utf8_len, probability);
    crn_gil_drop(&ctx->call);
    return stop;
}

/* generate_text(n, temperature=…, top_k=…, top_p=…, greedy=…, seed=…, callback=None) -> str
 * Generates up to n characters in one call with the GIL released; `callback(char, probability)` is
 * called after each (the GIL is taken for it) and may return True to stop. Ctrl-C stops it with
 * KeyboardInterrupt, the session holding the characters generated so far. */
static PyObject *Session_generate_text(SessionObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"n", SAMPLE_KWARGS, "callback", NULL};
    Py_ssize_t n;
    PyObject *t = NULL, *k = NULL, *p = NULL, *g = NULL, *seed = NULL, *cb = Py_None;
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|$OOOOOO:generate_text", kwlist, crn_count_converter, &n, &t, &k,
                                     &p, &g, &seed, &cb))
        return NULL;
    if (cb != Py_None && !PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, "callback must be callable");
        return NULL;
    }
    charrnn_sample_params params;
    int reseed_max;
    if (crn_sample_params(t, k, p, g, seed, &params, &reseed_max) < 0)
        return NULL;
    GenContext ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.callback = cb == Py_None ? NULL : cb;
    size_t generated = 0;
    charrnn_status st = CHARRNN_OK;
    /* Converting the arguments can run Python code that closes this object: look again. */
    if (!(s = live(self)))
        return NULL;
    crn_busy_call_begin(&ctx.call, &self->busy, NULL);
    if (n > 0 && reseed_max)
        st = charrnn_session_seed(s, UINT64_MAX);
    if (n > 0 && st == CHARRNN_OK)
        st = charrnn_session_generate(s, (size_t)n, &params, gen_callback, &ctx, &generated);
    crn_busy_call_end(&ctx.call, &self->busy, NULL);
    PyObject *result = NULL;
    if (PyErr_Occurred())
        ; /* the callback's exception, or a signal handler's (KeyboardInterrupt), stands */
    else if (st != CHARRNN_OK)
        crn_raise(st);
    else if (ctx.oom)
        PyErr_NoMemory();
    else
        result = PyUnicode_DecodeUTF8(ctx.buf ? ctx.buf : "", (Py_ssize_t)ctx.len, "strict");
    PyMem_RawFree(ctx.buf);
    return result;
}

/* The most characters one _sample_many call draws per session (as charrnn_session_generate). */
#define MANY_MAX_N ((Py_ssize_t)1 << 32)

/* What _sample_many holds for one session. */
typedef struct {
    SessionObject *object;
    charrnn_sample_params params;
    int reseed_max;
    uint32_t *drawn; /* the code points drawn so far, `capacity` of them allocated */
    size_t capacity;
} ManyEntry;

static void many_release(ManyEntry *entries, Py_ssize_t count)
{
    for (Py_ssize_t i = 0; i < count; i++) {
        if (entries[i].object)
            entries[i].object->busy--;
        PyMem_RawFree(entries[i].drawn);
    }
    PyMem_Free(entries);
}

/* Session._sample_many(sessions, n, params) -> list of str (classmethod). `sessions` is a sequence of
 * sessions of one model and precision, each fed; `params` a sequence of as many dicts of sampling
 * keywords (temperature, top_k, top_p, greedy, seed; a seed reseeds before the first character). Draws
 * n characters of every session with charrnn_session_sample_many, one call per character for all of
 * them, the GIL released; Ctrl-C stops it with KeyboardInterrupt, the sessions holding what was drawn. */
static PyObject *Session_sample_many(PyTypeObject *cls, PyObject *args)
{
    PyObject *sessions_arg, *params_arg;
    Py_ssize_t n;
    (void)cls;
    if (!PyArg_ParseTuple(args, "OO&O:_sample_many", &sessions_arg, crn_count_converter, &n, &params_arg))
        return NULL;
    if (n > MANY_MAX_N)
        return crn_raise_msg(CHARRNN_ERR_INVALID_ARGUMENT, "n is %zd; one call draws at most %zd characters", n,
                             MANY_MAX_N);
    /* Tuples of our own: the caller's list could be emptied by another thread while the GIL is released,
     * freeing the sessions under us. */
    PyObject *sessions = PySequence_Tuple(sessions_arg);
    if (!sessions)
        return NULL;
    PyObject *params = PySequence_Tuple(params_arg);
    if (!params) {
        Py_DECREF(sessions);
        return NULL;
    }
    const Py_ssize_t count = PyTuple_GET_SIZE(sessions);
    PyObject *result = NULL;
    ManyEntry *entries = NULL;
    charrnn_session **handles = NULL;
    const charrnn_sample_params **pointers = NULL;
    if (PyTuple_GET_SIZE(params) != count) {
        crn_raise_msg(CHARRNN_ERR_INVALID_ARGUMENT, "%zd sessions and %zd sets of parameters", count,
                      PyTuple_GET_SIZE(params));
        goto done;
    }
    if (count == 0) {
        result = PyList_New(0);
        goto done;
    }
    entries = PyMem_Calloc((size_t)count, sizeof *entries);
    handles = PyMem_Calloc((size_t)count, sizeof *handles);
    pointers = PyMem_Calloc((size_t)count, sizeof *pointers);
    if (!entries || !handles || !pointers) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(sessions, i), *d = PyTuple_GET_ITEM(params, i);
        if (!PyObject_TypeCheck(item, &CrnSession_Type)) {
            PyErr_Format(PyExc_TypeError, "sessions[%zd] is a %.100s, not a Session", i, Py_TYPE(item)->tp_name);
            goto done;
        }
        if (!PyDict_Check(d)) {
            PyErr_Format(PyExc_TypeError, "params[%zd] is a %.100s, not a dict", i, Py_TYPE(d)->tp_name);
            goto done;
        }
        if (crn_sample_params(PyDict_GetItemString(d, "temperature"), PyDict_GetItemString(d, "top_k"),
                              PyDict_GetItemString(d, "top_p"), PyDict_GetItemString(d, "greedy"),
                              PyDict_GetItemString(d, "seed"), &entries[i].params, &entries[i].reseed_max) < 0)
            goto done;
    }
    /* Converting the parameters can run Python code: the sessions are looked at last. */
    for (Py_ssize_t i = 0; i < count; i++) {
        SessionObject *object = (SessionObject *)PyTuple_GET_ITEM(sessions, i);
        if (!(handles[i] = live(object)))
            goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) { /* a session given twice is the library's to refuse */
        entries[i].object = (SessionObject *)PyTuple_GET_ITEM(sessions, i);
        entries[i].object->busy++;
        pointers[i] = &entries[i].params;
    }
    charrnn_status st = CHARRNN_OK;
    Py_ssize_t made = 0;
    CrnLongCall call;
    crn_call_begin(&call);
    for (Py_ssize_t i = 0; i < count && st == CHARRNN_OK && n > 0; i++)
        if (entries[i].reseed_max)
            st = charrnn_session_seed(handles[i], UINT64_MAX);
    int oom = 0; /* our own allocations: MemoryError, not the library's last error */
    uint32_t *codepoints = PyMem_RawMalloc((size_t)count * sizeof(uint32_t));
    if (!codepoints)
        oom = 1;
    while (!oom && st == CHARRNN_OK && made < n && !crn_interrupt_callback(&call)) {
        st = charrnn_session_sample_many(handles, (size_t)count, pointers, codepoints, NULL);
        if (st != CHARRNN_OK)
            break;
        for (Py_ssize_t i = 0; i < count && !oom; i++) {
            if ((size_t)made == entries[i].capacity) { /* grown as generate_text grows its text */
                size_t capacity = entries[i].capacity ? entries[i].capacity * 2 : 256;
                uint32_t *grown = PyMem_RawRealloc(entries[i].drawn, capacity * sizeof(uint32_t));
                if (!grown) {
                    oom = 1;
                    break;
                }
                entries[i].drawn = grown;
                entries[i].capacity = capacity;
            }
            entries[i].drawn[made] = codepoints[i];
            entries[i].params.seed = CHARRNN_SEED_CONTINUE; /* seeded before the first character only */
        }
        if (!oom)
            made++;
    }
    PyMem_RawFree(codepoints);
    crn_call_end(&call);
    if (PyErr_Occurred())
        goto done; /* a signal handler's exception (KeyboardInterrupt) */
    if (oom) {
        PyErr_NoMemory();
        goto done;
    }
    if (st != CHARRNN_OK) {
        crn_raise(st);
        goto done;
    }
    result = PyList_New(count);
    for (Py_ssize_t i = 0; result && i < count; i++) {
        PyObject *text =
            made ? PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, entries[i].drawn, made) : PyUnicode_FromString("");
        if (!text)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, i, text);
    }
done:
    if (entries)
        many_release(entries, count);
    PyMem_Free(handles);
    PyMem_Free(pointers);
    Py_DECREF(sessions);
    Py_DECREF(params);
    return result;
}

static PyObject *Session_reset(SessionObject *self, PyObject *unused)
{
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    charrnn_status st = charrnn_session_reset(s);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    Py_RETURN_NONE;
}

static PyObject *Session_seed(SessionObject *self, PyObject *args)
{
    uint64_t seed;
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    if (!PyArg_ParseTuple(args, "O&:seed", crn_seed_converter, &seed))
        return NULL;
    /* Converting the arguments can run Python code that closes this object: look again. */
    if (!(s = live(self)))
        return NULL;
    charrnn_status st = charrnn_session_seed(s, seed);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    Py_RETURN_NONE;
}

static PyObject *Session_get_state(SessionObject *self, void *closure)
{
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    size_t needed = 0;
    charrnn_status st = charrnn_session_get_state(s, NULL, 0, &needed);
    if (st != CHARRNN_OK && st != CHARRNN_ERR_BUFFER_TOO_SMALL)
        return crn_raise(st);
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)needed);
    if (!bytes)
        return NULL;
    st = charrnn_session_get_state(s, PyBytes_AS_STRING(bytes), needed, &needed);
    if (st != CHARRNN_OK) {
        Py_DECREF(bytes);
        return crn_raise(st);
    }
    if ((Py_ssize_t)needed != PyBytes_GET_SIZE(bytes) && _PyBytes_Resize(&bytes, (Py_ssize_t)needed) < 0)
        return NULL;
    return bytes;
}

static int Session_set_state(SessionObject *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the state; use reset()");
        return -1;
    }
    charrnn_session *s = live(self);
    if (!s)
        return -1;
    Py_buffer view;
    if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0)
        return -1;
    charrnn_status st = charrnn_session_set_state(s, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (st != CHARRNN_OK) {
        crn_raise(st);
        return -1;
    }
    return 0;
}

static PyObject *Session_get_window(SessionObject *self, void *closure)
{
    charrnn_session *s = live(self);
    if (!s)
        return NULL;
    uint32_t window = 0;
    charrnn_status st = charrnn_session_get_window(s, &window);
    return st == CHARRNN_OK ? PyLong_FromUnsignedLong(window) : crn_raise(st);
}

static int Session_set_window(SessionObject *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the window; set 0 for stateful generation");
        return -1;
    }
    charrnn_session *s = live(self);
    if (!s)
        return -1;
    unsigned long long window;
    if (crn_uint_arg(value, "window", UINT32_MAX, &window) < 0)
        return -1;
    charrnn_status st = charrnn_session_set_window(s, (uint32_t)window);
    if (st != CHARRNN_OK) {
        crn_raise(st);
        return -1;
    }
    return 0;
}

static PyObject *Session_close(SessionObject *self, PyObject *unused)
{
    if (self->busy)
        return crn_raise_msg(CHARRNN_ERR_STATE, "the session is in use by another thread");
    charrnn_session_free(self->session);
    self->session = NULL;
    Py_RETURN_NONE;
}

static PyObject *Session_enter(SessionObject *self, PyObject *unused)
{
    if (!live(self))
        return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *Session_exit(SessionObject *self, PyObject *args)
{
    PyObject *r = Session_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *Session_get_closed(SessionObject *self, void *closure)
{
    return PyBool_FromLong(self->session == NULL);
}

static PyObject *Session_get_model(SessionObject *self, void *closure)
{
    PyObject *m = self->model ? self->model : Py_None;
    Py_INCREF(m);
    return m;
}

static PyMethodDef Session_methods[] = {
    {"_open", (PyCFunction)Session_open, METH_VARARGS | METH_CLASS,
     "_open(model, precision=0) -> Session; precision is a charrnn_precision"},
    {"_sample_many", (PyCFunction)Session_sample_many, METH_VARARGS | METH_CLASS,
     "_sample_many(sessions, n, params) -> list of str: n characters of every session, stepped together."},
    {"feed", (PyCFunction)(void (*)(void))Session_feed, METH_VARARGS | METH_KEYWORDS,
     "feed(text, skip_unknown=False) -> (fed, skipped)\n\nFeeds text (str, or bytes of UTF-8) into the state, "
     "all or nothing: an error or Ctrl-C (KeyboardInterrupt) leaves the state as it was."},
    {"probabilities", (PyCFunction)Session_probabilities, METH_NOARGS,
     "probabilities() -> float32 array (vocab_size,): the pending next-character distribution."},
    {"sample", (PyCFunction)(void (*)(void))Session_sample, METH_VARARGS | METH_KEYWORDS,
     "sample(*, temperature=1.0, top_k=0, top_p=1.0, greedy=False, seed=None) -> (char, probability)\n\n"
     "Draws the next character, feeds it back and returns it with the probability it was drawn with."},
    {"generate_text", (PyCFunction)(void (*)(void))Session_generate_text, METH_VARARGS | METH_KEYWORDS,
     "generate_text(n, *, temperature, top_k, top_p, greedy, seed, callback=None) -> str\n\n"
     "Generates up to n characters with the GIL released; callback(char, probability) may return True to "
     "stop. Ctrl-C stops it with KeyboardInterrupt (the session keeps what was generated)."},
    {"reset", (PyCFunction)Session_reset, METH_NOARGS, "Zeroes the state (the generator is kept)."},
    {"seed", (PyCFunction)Session_seed, METH_VARARGS, "seed(n): reseeds the random generator."},
    {"close", (PyCFunction)Session_close, METH_NOARGS, "Releases the session."},
    {"__enter__", (PyCFunction)Session_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Session_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Session_getset[] = {
    {"state", (getter)Session_get_state, (setter)Session_set_state,
     "The state as opaque bytes (tied to the model); assign bytes from the same model to restore.", NULL},
    {"closed", (getter)Session_get_closed, NULL, "True once close() was called.", NULL},
    {"window", (getter)Session_get_window, (setter)Session_set_window,
     "0: the state is carried (stateful); N: each distribution from the last N characters run from a zero "
     "state, as the Keras tutorials' loop. Starts as the model's config['window'].",
     NULL},
    {"model", (getter)Session_get_model, NULL, "The Model this session was created from.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject CrnSession_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "charrnn._charrnn.Session",
    .tp_basicsize = sizeof(SessionObject),
    .tp_dealloc = (destructor)Session_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Stateful generation on a model; one thread at a time.",
    .tp_weaklistoffset = offsetof(SessionObject, weakreflist),
    .tp_methods = Session_methods,
    .tp_getset = Session_getset,
    .tp_new = Session_new,
};
