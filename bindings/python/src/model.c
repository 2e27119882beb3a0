/* model.c — charrnn._charrnn.Model: a thin wrapper of charrnn_model. */
#include "charrnn_py.h"
#include <stdlib.h>
#include <string.h>

#define CHECK_IDLE(self)                                                                                               \
    do {                                                                                                               \
        if ((self)->busy)                                                                                              \
            return crn_raise_msg(CHARRNN_ERR_STATE, "the model is in use by another thread");                          \
    } while (0)

static charrnn_model *live(ModelObject *self)
{
    if (!self->model) {
        crn_raise_msg(CHARRNN_ERR_STATE, "the model is closed");
        return NULL;
    }
    return self->model;
}

/* The live handle once a text argument is parsed: its UTF-8 (crn_text) in *data, *len and *nchars, and
 * the model looked up again, since converting the arguments can run Python code that closes it. NULL
 * with an exception set otherwise. */
static charrnn_model *live_with_text(ModelObject *self, PyObject *text, const char **data, Py_ssize_t *len,
                                     Py_ssize_t *nchars)
{
    if (crn_text(text, data, len, nchars) < 0)
        return NULL;
    return live(self);
}

charrnn_model *crn_model_handle(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &CrnModel_Type)) {
        PyErr_Format(PyExc_TypeError, "expected a charrnn.Model, not %.100s", Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return live((ModelObject *)obj);
}

PyObject *crn_model_wrap(PyTypeObject *cls, charrnn_model *model)
{
    if (!PyType_IsSubtype(cls, &CrnModel_Type)) {
        charrnn_model_free(model);
        PyErr_SetString(PyExc_TypeError, "model class must derive from charrnn._charrnn.Model");
        return NULL;
    }
    ModelObject *self = (ModelObject *)cls->tp_alloc(cls, 0);
    if (!self) {
        charrnn_model_free(model);
        return NULL;
    }
    self->model = model;
    self->busy = 0;
    return (PyObject *)self;
}

static PyObject *Model_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_SetString(PyExc_TypeError, "use charrnn.Model.load(path) or charrnn.Model.create(config, vocab)");
    return NULL;
}

static void Model_dealloc(ModelObject *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    charrnn_model_free(self->model);
    self->model = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Model.load(path) */
static PyObject *Model_load(PyTypeObject *cls, PyObject *args)
{
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&:load", PyUnicode_FSConverter, &path))
        return NULL;
    charrnn_model *m = NULL;
    charrnn_status st;
    Py_BEGIN_ALLOW_THREADS st = charrnn_model_load(PyBytes_AS_STRING(path), &m);
    Py_END_ALLOW_THREADS Py_DECREF(path);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    return crn_model_wrap(cls, m);
}

/* Model._create(config_json, vocab, seed=0) */
static PyObject *Model_create(PyTypeObject *cls, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"config_json", "vocab", "seed", NULL};
    const char *config;
    const char *vocab;
    Py_ssize_t vocab_len;
    uint64_t seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ss#|O&:create", kwlist, &config, &vocab, &vocab_len,
                                     crn_seed_converter, &seed))
        return NULL;
    charrnn_model *m = NULL;
    charrnn_status st;
    Py_BEGIN_ALLOW_THREADS st = charrnn_model_create(config, vocab, (size_t)vocab_len, seed, &m);
    Py_END_ALLOW_THREADS if (st != CHARRNN_OK) return crn_raise(st);
    return crn_model_wrap(cls, m);
}

static PyObject *Model_save(ModelObject *self, PyObject *args)
{
    PyObject *path = NULL;
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    charrnn_status st;
    /* Converting the arguments can run Python code that closes this object: look again. */
    if (!(m = live(self))) {
        Py_DECREF(path);
        return NULL;
    }
    self->busy++;
    Py_BEGIN_ALLOW_THREADS st = charrnn_model_save(m, PyBytes_AS_STRING(path));
    Py_END_ALLOW_THREADS self->busy--;
    Py_DECREF(path);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    Py_RETURN_NONE;
}

typedef charrnn_status (*string_getter)(const charrnn_model *, char *, size_t, size_t *);

/* Calls a (buf, capacity, needed) string getter twice and returns a str. */
static PyObject *get_string(ModelObject *self, string_getter fn)
{
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    size_t needed = 0;
    charrnn_status st = fn(m, NULL, 0, &needed);
    if (st != CHARRNN_OK && st != CHARRNN_ERR_BUFFER_TOO_SMALL)
        return crn_raise(st);
    for (int attempt = 0; attempt < 3; attempt++) {
        size_t cap = needed ? needed : 1;
        char *buf = PyMem_Malloc(cap);
        if (!buf)
            return PyErr_NoMemory();
        st = fn(m, buf, cap, &needed);
        if (st == CHARRNN_OK) {
            size_t len = needed ? needed - 1 : 0;
            PyObject *s = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "strict");
            PyMem_Free(buf);
            return s;
        }
        PyMem_Free(buf);
        if (st != CHARRNN_ERR_BUFFER_TOO_SMALL)
            return crn_raise(st);
    }
    return crn_raise_msg(CHARRNN_ERR_INTERNAL, "string size kept changing");
}

static PyObject *Model_vocab(ModelObject *self, PyObject *unused)
{
    return get_string(self, charrnn_model_get_vocab);
}
static PyObject *Model_config_json(ModelObject *self, PyObject *unused)
{
    return get_string(self, charrnn_model_get_config);
}
static PyObject *Model_summary(ModelObject *self, PyObject *unused)
{
    return get_string(self, charrnn_model_summary);
}

/* _info() -> (vocab_size, num_layers, hidden_size, parameter_count, state_size) */
static PyObject *Model_info(ModelObject *self, PyObject *unused)
{
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    charrnn_model_info info;
    memset(&info, 0, sizeof info);
    CHARRNN_INIT_SIZE(info);
    charrnn_status st = charrnn_model_get_info(m, &info);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    return Py_BuildValue("(IIIKK)", info.vocab_size, info.num_layers, info.hidden_size,
                         (unsigned long long)info.parameter_count, (unsigned long long)info.state_size);
}

/* tensors() -> list of (name, shape) */
static PyObject *Model_tensors(ModelObject *self, PyObject *unused)
{
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    size_t count = 0;
    charrnn_status st = charrnn_model_tensor_count(m, &count);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        char name[256];
        size_t name_needed = 0, rank = 0;
        int64_t shape[4] = {0, 0, 0, 0};
        char *big = NULL;
        st = charrnn_model_tensor_info(m, i, name, sizeof name, &name_needed, shape, &rank);
        if (st == CHARRNN_ERR_BUFFER_TOO_SMALL) {
            big = PyMem_Malloc(name_needed);
            if (!big) {
                Py_DECREF(list);
                return PyErr_NoMemory();
            }
            st = charrnn_model_tensor_info(m, i, big, name_needed, &name_needed, shape, &rank);
        }
        if (st != CHARRNN_OK) {
            PyMem_Free(big);
            Py_DECREF(list);
            return crn_raise(st);
        }
        if (rank > 4)
            rank = 4;
        PyObject *dims = PyTuple_New((Py_ssize_t)rank);
        for (size_t r = 0; dims && r < rank; r++)
            PyTuple_SET_ITEM(dims, (Py_ssize_t)r, PyLong_FromLongLong((long long)shape[r]));
        PyObject *item = dims ? Py_BuildValue("(sN)", big ? big : name, dims) : NULL;
        PyMem_Free(big);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}

/* Looks up the shape of "<layer>.<weight>"; returns rank or -1 when not listed. */
static int tensor_shape(charrnn_model *m, const char *layer, const char *weight, Py_ssize_t shape[4])
{
    size_t count = 0;
    if (charrnn_model_tensor_count(m, &count) != CHARRNN_OK)
        return -1;
    size_t want_len = strlen(layer) + 1 + strlen(weight) + 1;
    char *want = PyMem_Malloc(want_len);
    if (!want)
        return -1;
    snprintf(want, want_len, "%s.%s", layer, weight);
    int found = -1;
    for (size_t i = 0; i < count && found < 0; i++) {
        char name[256];
        size_t needed = 0, rank = 0;
        int64_t s[4] = {0, 0, 0, 0};
        if (charrnn_model_tensor_info(m, i, name, sizeof name, &needed, s, &rank) != CHARRNN_OK)
            continue;
        if (strcmp(name, want) == 0 && rank <= 4) {
            for (size_t r = 0; r < rank; r++)
                shape[r] = (Py_ssize_t)s[r];
            found = (int)rank;
        }
    }
    PyMem_Free(want);
    return found;
}

/* get_weights(layer, weight) -> float32 numpy array in the Keras layout */
static PyObject *Model_get_weights(ModelObject *self, PyObject *args)
{
    const char *layer, *weight;
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    if (!PyArg_ParseTuple(args, "ss:get_weights", &layer, &weight))
        return NULL;
    size_t needed = 0;
    charrnn_status st = charrnn_model_get_weights(m, layer, weight, NULL, 0, &needed);
    if (st != CHARRNN_OK && st != CHARRNN_ERR_BUFFER_TOO_SMALL)
        return crn_raise(st);
    Py_ssize_t shape[4];
    int rank = tensor_shape(m, layer, weight, shape);
    Py_ssize_t total = 1;
    for (int r = 0; r < rank; r++)
        total *= shape[r];
    if (rank < 0 || (size_t)total != needed) {
        rank = 1;
        shape[0] = (Py_ssize_t)needed;
    }
    float *data = NULL;
    PyObject *arr = crn_new_float_array(rank, shape, &data);
    if (!arr)
        return NULL;
    st = charrnn_model_get_weights(m, layer, weight, data, needed, &needed);
    if (st != CHARRNN_OK) {
        Py_DECREF(arr);
        return crn_raise(st);
    }
    return arr;
}

static int float32_format(const char *fmt)
{
    if (!fmt)
        return 0; /* NULL means unsigned bytes */
    if (*fmt == '@' || *fmt == '=')
        fmt++;
#if PY_BIG_ENDIAN
    else if (*fmt == '>' || *fmt == '!')
        fmt++;
#else
    else if (*fmt == '<')
        fmt++;
#endif
    return strcmp(fmt, "f") == 0;
}

/* set_weights(layer, weight, buffer): a C-contiguous float32 buffer (numpy array, memoryview). */
static PyObject *Model_set_weights(ModelObject *self, PyObject *args)
{
    const char *layer, *weight;
    PyObject *obj;
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    CHECK_IDLE(self);
    if (!PyArg_ParseTuple(args, "ssO:set_weights", &layer, &weight, &obj))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    PyObject *result = NULL;
    if (!float32_format(view.format) || view.itemsize != 4) {
        PyErr_Format(PyExc_TypeError,
                     "set_weights needs float32 data (buffer format 'f'), got format '%s' "
                     "with itemsize %zd",
                     view.format ? view.format : "B", view.itemsize);
        goto done;
    }
    if (view.ndim > 4) {
        crn_raise_msg(CHARRNN_ERR_SHAPE, "weights of rank %d: at most 4 dimensions", view.ndim);
        goto done;
    }
    int64_t shape[4] = {0, 0, 0, 0};
    size_t rank = (size_t)view.ndim;
    if (view.ndim == 0) {
        rank = 1;
        shape[0] = 1;
    } else {
        for (int i = 0; i < view.ndim; i++)
            shape[i] = (int64_t)view.shape[i];
    }
    charrnn_status st =
        charrnn_model_set_weights(m, layer, weight, (const float *)view.buf, (size_t)(view.len / 4), shape, rank);
    if (st != CHARRNN_OK) {
        crn_raise(st);
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&view);
    return result;
}

/* _evaluate(text, skip_unknown=False) -> (loss, perplexity, accuracy, chars) */
static PyObject *Model_evaluate(ModelObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"text", "skip_unknown", NULL};
    PyObject *text;
    int skip = 0;
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p:evaluate", kwlist, &text, &skip))
        return NULL;
    const char *data;
    Py_ssize_t len, nchars;
    if (!(m = live_with_text(self, text, &data, &len, &nchars)))
        return NULL;
    charrnn_eval_result r;
    memset(&r, 0, sizeof r);
    CHARRNN_INIT_SIZE(r);
    CrnLongCall call;
    crn_busy_call_begin(&call, &self->busy, text);
    charrnn_status st = charrnn_model_evaluate_interruptible(m, data, (size_t)len, skip ? CHARRNN_SKIP_UNKNOWN : 0,
                                                             crn_interrupt_callback, &call, &r);
    crn_busy_call_end(&call, &self->busy, text);
    if (crn_call_error(&call, st) < 0)
        return NULL;
    return Py_BuildValue("(dddK)", r.loss, r.perplexity, r.accuracy, (unsigned long long)r.chars);
}

/* probability_rows() found another number of characters than crn_text() counted (never, for valid
 * UTF-8): a status of ours, so that no row is written past the array. */
#define ROW_COUNT_MISMATCH ((charrnn_status)-1)

/* Feeds `data` into `s` one character at a time and copies the distribution after each into a row of
 * `out` (vocab_size floats). Runs without the GIL; between characters it asks `call` whether Ctrl-C was
 * pressed (a clock read; the GIL is taken only every CRN_CHECK_INTERVAL), and stops with
 * CHARRNN_ERR_CANCELLED if so. A character that is not valid UTF-8 fails with CHARRNN_ERR_UTF8 and its
 * offset in `data` in *bad_offset: the library sees one character at a time and would say 0. */
static charrnn_status probability_rows(charrnn_session *s, const char *data, Py_ssize_t len, Py_ssize_t rows,
                                       size_t vocab_size, float *out, CrnLongCall *call, Py_ssize_t *bad_offset)
{
    Py_ssize_t pos = 0, row = 0;
    while (pos < len) {
        if (crn_interrupt_callback(call))
            return CHARRNN_ERR_CANCELLED;
        size_t n = crn_utf8_len((unsigned char)data[pos]);
        if ((Py_ssize_t)n > len - pos)
            n = (size_t)(len - pos);
        charrnn_status st = charrnn_session_feed(s, data + pos, n, 0, NULL, NULL);
        if (st == CHARRNN_ERR_UTF8)
            *bad_offset = pos; /* the chunk starts the bad sequence: no valid character precedes it in it */
        if (st != CHARRNN_OK)
            return st;
        if (row >= rows)
            return ROW_COUNT_MISMATCH;
        size_t needed = 0;
        st = charrnn_session_probabilities(s, out + (size_t)row * vocab_size, vocab_size, &needed);
        if (st != CHARRNN_OK)
            return st;
        row++;
        pos += (Py_ssize_t)n;
    }
    return row == rows ? CHARRNN_OK : ROW_COUNT_MISMATCH;
}

/* crn_call_error() for probability_rows(): bad UTF-8 is reported at its offset in the whole text, and a
 * ROW_COUNT_MISMATCH as an InternalError. */
static int probabilities_error(const CrnLongCall *call, charrnn_status st, Py_ssize_t bad_offset)
{
    if (call->interrupted || (st != CHARRNN_ERR_UTF8 && st != ROW_COUNT_MISMATCH))
        return crn_call_error(call, st);
    if (st == CHARRNN_ERR_UTF8)
        crn_raise_msg(st, "text is not valid UTF-8: bad byte sequence at byte offset %zd", bad_offset);
    else
        crn_raise_msg(CHARRNN_ERR_INTERNAL, "probabilities: the text gave another number of characters than counted");
    return -1;
}

/* probabilities(text) -> (len(text), vocab_size) float32: the distribution after each prefix, from a
 * fresh state. */
static PyObject *Model_probabilities(ModelObject *self, PyObject *args)
{
    PyObject *text;
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    if (!PyArg_ParseTuple(args, "O:probabilities", &text))
        return NULL;
    const char *data;
    Py_ssize_t len, nchars;
    if (!(m = live_with_text(self, text, &data, &len, &nchars)))
        return NULL;
    charrnn_model_info info;
    CHARRNN_INIT_SIZE(info);
    charrnn_status st = charrnn_model_get_info(m, &info);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    Py_ssize_t shape[2] = {nchars, (Py_ssize_t)info.vocab_size};
    float *out = NULL;
    PyObject *arr = crn_new_float_array(2, shape, &out);
    if (!arr)
        return NULL;
    if (nchars == 0)
        return arr;
    if (!(m = live(self))) { /* numpy ran Python code too */
        Py_DECREF(arr);
        return NULL;
    }
    charrnn_session *s = NULL;
    CrnLongCall call;
    Py_ssize_t bad_offset = 0;
    crn_busy_call_begin(&call, &self->busy, text);
    st = charrnn_session_new(m, &s);
    if (st == CHARRNN_OK) /* every prefix from a fresh state, carried: not the model's window, if it has one */
        st = charrnn_session_set_window(s, 0);
    if (st == CHARRNN_OK)
        st = probability_rows(s, data, len, nchars, info.vocab_size, out, &call, &bad_offset);
    crn_busy_call_end(&call, &self->busy, text);
    int failed = probabilities_error(&call, st, bad_offset); /* before charrnn_session_free() */
    charrnn_session_free(s);
    if (failed) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* _trace(text, skip_unknown=False) -> (probs (n, V) float32, states (n * state_width,) float32,
 * (chars, skipped, loss, accuracy), [(cell, units, state_offset) per layer]): charrnn_model_trace's
 * buffers as numpy arrays (charrnn/_trace.py cuts the states into per-layer views). */
static PyObject *Model_trace(ModelObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"text", "skip_unknown", NULL};
    PyObject *text;
    int skip = 0;
    charrnn_model *m = live(self);
    if (!m)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p:trace", kwlist, &text, &skip))
        return NULL;
    const char *data;
    Py_ssize_t len, nchars;
    if (!(m = live_with_text(self, text, &data, &len, &nchars)))
        return NULL;
    uint32_t flags = skip ? CHARRNN_SKIP_UNKNOWN : 0;
    charrnn_trace_info info;
    memset(&info, 0, sizeof info);
    CHARRNN_INIT_SIZE(info);
    charrnn_status st = charrnn_model_trace(m, data, (size_t)len, flags, NULL, NULL, NULL, 0, NULL, 0, &info);
    if (st != CHARRNN_OK)
        return crn_raise(st);
    if (info.probs_needed > (uint64_t)PY_SSIZE_T_MAX / 4 || info.states_needed > (uint64_t)PY_SSIZE_T_MAX / 4)
        return crn_raise_msg(CHARRNN_ERR_OUT_OF_MEMORY, "the trace of %llu characters is too large",
                             (unsigned long long)info.chars);
    float *probs = NULL, *states = NULL;
    Py_ssize_t pshape[2] = {(Py_ssize_t)info.chars, (Py_ssize_t)info.vocab_size};
    Py_ssize_t sshape[1] = {(Py_ssize_t)info.states_needed};
    PyObject *parr = crn_new_float_array(2, pshape, &probs);
    if (!parr)
        return NULL;
    PyObject *sarr = crn_new_float_array(1, sshape, &states);
    if (!sarr || !(m = live(self))) { /* numpy ran Python code too */
        Py_DECREF(parr);
        Py_XDECREF(sarr);
        return NULL;
    }
    CrnLongCall call;
    crn_busy_call_begin(&call, &self->busy, text);
    st = charrnn_model_trace(m, data, (size_t)len, flags, crn_interrupt_callback, &call, probs,
                             (size_t)info.probs_needed, states, (size_t)info.states_needed, &info);
    crn_busy_call_end(&call, &self->busy, text);
    if (crn_call_error(&call, st) < 0) {
        Py_DECREF(parr);
        Py_DECREF(sarr);
        return NULL;
    }
    PyObject *layers = PyList_New(0);
    for (uint32_t l = 0; layers && l < info.num_layers; l++) {
        charrnn_layer_info li;
        memset(&li, 0, sizeof li);
        CHARRNN_INIT_SIZE(li);
        st = charrnn_model_get_layer_info(m, l, &li);
        PyObject *item =
            st == CHARRNN_OK ? Py_BuildValue("(iII)", (int)li.cell, li.units, li.state_offset) : crn_raise(st);
        if (!item || PyList_Append(layers, item) < 0)
            Py_CLEAR(layers);
        Py_XDECREF(item);
    }
    if (!layers) {
        Py_DECREF(parr);
        Py_DECREF(sarr);
        return NULL;
    }
    return Py_BuildValue("(NN(KKdd)N)", parr, sarr, (unsigned long long)info.chars, (unsigned long long)info.skipped,
                         info.loss, info.accuracy, layers);
}

static PyObject *Model_close(ModelObject *self, PyObject *unused)
{
    CHECK_IDLE(self);
    charrnn_model_free(self->model);
    self->model = NULL;
    Py_RETURN_NONE;
}

static PyObject *Model_enter(ModelObject *self, PyObject *unused)
{
    if (!live(self))
        return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *Model_exit(ModelObject *self, PyObject *args)
{
    PyObject *r = Model_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *Model_get_closed(ModelObject *self, void *closure)
{
    return PyBool_FromLong(self->model == NULL);
}

static PyMethodDef Model_methods[] = {
    {"load", (PyCFunction)Model_load, METH_VARARGS | METH_CLASS,
     "load(path) -> Model\n\nLoads a model or training checkpoint (safetensors written by charrnn)."},
    {"_create", (PyCFunction)(void (*)(void))Model_create, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "_create(config_json, vocab, seed=0) -> Model"},
    {"save", (PyCFunction)Model_save, METH_VARARGS, "save(path)\n\nWrites the model atomically."},
    {"_vocab", (PyCFunction)Model_vocab, METH_NOARGS, "The vocabulary string."},
    {"_config_json", (PyCFunction)Model_config_json, METH_NOARGS, "The configuration as JSON."},
    {"summary", (PyCFunction)Model_summary, METH_NOARGS, "summary() -> str: a Keras-style summary table."},
    {"_info", (PyCFunction)Model_info, METH_NOARGS,
     "(vocab_size, num_layers, hidden_size, parameter_count, state_size)"},
    {"_tensors", (PyCFunction)Model_tensors, METH_NOARGS, "[(name, shape), ...]"},
    {"_get_weights", (PyCFunction)Model_get_weights, METH_VARARGS, "_get_weights(layer, weight) -> float32 array"},
    {"_set_weights", (PyCFunction)Model_set_weights, METH_VARARGS,
     "_set_weights(layer, weight, float32 C-contiguous buffer)"},
    {"_evaluate", (PyCFunction)(void (*)(void))Model_evaluate, METH_VARARGS | METH_KEYWORDS,
     "_evaluate(text, skip_unknown=False) -> (loss, perplexity, accuracy, chars)"},
    {"probabilities", (PyCFunction)Model_probabilities, METH_VARARGS,
     "probabilities(text) -> float32 array (len(text), vocab_size)\n\n"
     "The next-character distribution after each prefix of `text`, from a fresh state. Ctrl-C stops it "
     "with KeyboardInterrupt."},
    {"_trace", (PyCFunction)(void (*)(void))Model_trace, METH_VARARGS | METH_KEYWORDS,
     "_trace(text, skip_unknown=False) -> (probs, states, (chars, skipped, loss, accuracy), layers)"},
    {"close", (PyCFunction)Model_close, METH_NOARGS, "Releases the model (sessions keep working)."},
    {"__enter__", (PyCFunction)Model_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Model_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Model_getset[] = {
    {"closed", (getter)Model_get_closed, NULL, "True once close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject CrnModel_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "charrnn._charrnn.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A charrnn model: weights, configuration and vocabulary (immutable once shared).",
    .tp_weaklistoffset = offsetof(ModelObject, weakreflist),
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
    .tp_new = Model_new,
};
