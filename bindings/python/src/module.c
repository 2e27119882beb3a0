/* module.c — the charrnn._charrnn extension module: a thin layer over include/charrnn.h. */
#include "charrnn_py.h"
#include <limits.h>
#include <string.h>
#include <time.h>

static PyObject *numpy_empty; /* numpy.empty */

size_t crn_utf8_len(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if ((b & 0xE0) == 0xC0)
        return 2;
    if ((b & 0xF0) == 0xE0)
        return 3;
    if ((b & 0xF8) == 0xF0)
        return 4;
    return 1;
}

int crn_text(PyObject *obj, const char **data, Py_ssize_t *len, Py_ssize_t *nchars)
{
    if (PyUnicode_Check(obj)) {
        *data = PyUnicode_AsUTF8AndSize(obj, len);
        if (!*data)
            return -1;
        *nchars = PyUnicode_GET_LENGTH(obj);
        return 0;
    }
    if (PyBytes_Check(obj)) {
        *data = PyBytes_AS_STRING(obj);
        *len = PyBytes_GET_SIZE(obj);
        Py_ssize_t n = 0;
        for (Py_ssize_t i = 0; i < *len; i++)
            if (((unsigned char)(*data)[i] & 0xC0) != 0x80)
                n++;
        *nchars = n;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "text must be str or bytes (UTF-8), not %.100s", Py_TYPE(obj)->tp_name);
    return -1;
}

PyObject *crn_new_float_array(int ndim, const Py_ssize_t *shape, float **data)
{
    if (!numpy_empty) {
        PyObject *np = PyImport_ImportModule("numpy");
        if (!np)
            return NULL;
        numpy_empty = PyObject_GetAttrString(np, "empty");
        Py_DECREF(np);
        if (!numpy_empty)
            return NULL;
    }
    PyObject *dims = PyTuple_New(ndim);
    if (!dims)
        return NULL;
    for (int i = 0; i < ndim; i++)
        PyTuple_SET_ITEM(dims, i, PyLong_FromSsize_t(shape[i]));
    PyObject *arr = PyObject_CallFunction(numpy_empty, "Os", dims, "float32");
    Py_DECREF(dims);
    if (!arr)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arr, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    *data = (float *)view.buf;
    PyBuffer_Release(&view); /* the array owns the memory and outlives the view */
    return arr;
}

/* "2**64 - 1" for a maximum one below a power of two, else the number. */
static void format_max(char *buf, size_t size, unsigned long long max)
{
    int bits = 0;
    for (unsigned long long m = max; m & 1; m >>= 1)
        bits++;
    unsigned long long above = max + 1; /* 2**n - 2 (a C struct's largest value minus its "unset" one) */
    int bits2 = 0;
    for (unsigned long long m = above; m & 1; m >>= 1)
        bits2++;
    if ((max & (max + 1)) == 0 && bits >= 8)
        snprintf(buf, size, "2**%d - 1", bits);
    else if ((above & (above + 1)) == 0 && bits2 >= 8)
        snprintf(buf, size, "2**%d - 2", bits2);
    else
        snprintf(buf, size, "%llu", max);
}

static void raise_out_of_range(const char *name, PyObject *value, unsigned long long max)
{
    char range[32];
    format_max(range, sizeof range, max);
    PyObject *repr = PyObject_Repr(value);
    const char *shown = repr ? PyUnicode_AsUTF8(repr) : NULL;
    if (!shown) /* an int too long to print (sys.set_int_max_str_digits) */
        PyErr_Clear();
    crn_raise_msg(CHARRNN_ERR_INVALID_ARGUMENT, "%s must be an integer from 0 to %s, not %.60s%s", name, range,
                  shown ? shown : "a larger one", shown && strlen(shown) > 60 ? "..." : "");
    Py_XDECREF(repr);
}

int crn_uint_arg(PyObject *obj, const char *name, unsigned long long max, unsigned long long *out)
{
    /* bool is an int, but n=True or seed=False is a mistake rather than a number */
    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an integer, not %.100s", name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *value = PyNumber_Index(obj);
    if (!value)
        return -1;
    /* Python ints have no bounds: a -1 or a 2**64 must be refused here, or the C type wraps it. */
    int outside = 0;
    unsigned long long x = PyLong_AsUnsignedLongLong(value);
    if (x == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            Py_DECREF(value);
            return -1;
        }
        PyErr_Clear(); /* negative, or past 2**64 - 1 */
        outside = 1;
    }
    if (outside || x > max) {
        raise_out_of_range(name, value, max);
        Py_DECREF(value);
        return -1;
    }
    Py_DECREF(value);
    *out = x;
    return 0;
}

int crn_seed_converter(PyObject *obj, void *out)
{
    unsigned long long x;
    if (crn_uint_arg(obj, "seed", UINT64_MAX, &x) < 0)
        return 0;
    *(uint64_t *)out = (uint64_t)x;
    return 1;
}

int crn_count_converter(PyObject *obj, void *out)
{
    unsigned long long x;
    if (crn_uint_arg(obj, "n", PY_SSIZE_T_MAX, &x) < 0)
        return 0;
    *(Py_ssize_t *)out = (Py_ssize_t)x;
    return 1;
}

int crn_sample_params(PyObject *temperature, PyObject *top_k, PyObject *top_p, PyObject *greedy, PyObject *seed,
                      charrnn_sample_params *out, int *reseed_max)
{
    charrnn_sample_params p = charrnn_default_sample_params();
    *reseed_max = 0;
    if (temperature && temperature != Py_None) {
        double t = PyFloat_AsDouble(temperature);
        if (t == -1.0 && PyErr_Occurred())
            return -1;
        p.temperature = (float)t;
    }
    if (top_k && top_k != Py_None) {
        unsigned long long k;
        if (crn_uint_arg(top_k, "top_k", INT32_MAX, &k) < 0)
            return -1;
        p.top_k = (int32_t)k;
    }
    if (top_p && top_p != Py_None) {
        double tp = PyFloat_AsDouble(top_p);
        if (tp == -1.0 && PyErr_Occurred())
            return -1;
        p.top_p = (float)tp;
    }
    if (greedy && greedy != Py_None) {
        int g = PyObject_IsTrue(greedy);
        if (g < 0)
            return -1;
        p.greedy = g;
    }
    if (seed && seed != Py_None) {
        if (!crn_seed_converter(seed, &p.seed))
            return -1;
        *reseed_max = p.seed == CHARRNN_SEED_CONTINUE;
    }
    *out = p;
    return 0;
}

/* Long calls and signals ------------------------------------------------------------------------ */

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void crn_call_begin(CrnLongCall *call)
{
    /* asked with the GIL held, once: the per-chunk test is then one int */
    call->main_thread = _PyOS_IsMainThread();
    call->next_check = 0.0; /* the first chunk checks */
    call->interrupted = 0;
    call->tstate = PyEval_SaveThread();
}

void crn_call_end(CrnLongCall *call)
{
    PyEval_RestoreThread(call->tstate);
}

void crn_busy_call_begin(CrnLongCall *call, int *busy, PyObject *keep)
{
    Py_XINCREF(keep);
    (*busy)++;
    crn_call_begin(call);
}

void crn_busy_call_end(CrnLongCall *call, int *busy, PyObject *keep)
{
    crn_call_end(call);
    (*busy)--;
    Py_XDECREF(keep);
}

int crn_call_error(const CrnLongCall *call, charrnn_status st)
{
    if (call->interrupted)
        return -1; /* KeyboardInterrupt is pending */
    if (st != CHARRNN_OK) {
        crn_raise(st);
        return -1;
    }
    return 0;
}

void crn_gil_take(CrnLongCall *call)
{
    PyEval_RestoreThread(call->tstate);
}

void crn_gil_drop(CrnLongCall *call)
{
    call->tstate = PyEval_SaveThread();
}

int crn_check_due(CrnLongCall *call)
{
    if (!call->main_thread)
        return 0;
    double now = monotonic_seconds();
    if (now < call->next_check)
        return 0;
    call->next_check = now + CRN_CHECK_INTERVAL;
    return 1;
}

int crn_run_signal_handlers(CrnLongCall *call)
{
    if (PyErr_CheckSignals() < 0) {
        call->interrupted = 1;
        return 1;
    }
    return 0;
}

int crn_interrupt_callback(void *user)
{
    CrnLongCall *call = (CrnLongCall *)user;
    if (call->interrupted)
        return 1;
    if (!crn_check_due(call))
        return 0;
    crn_gil_take(call);
    int stop = crn_run_signal_handlers(call);
    crn_gil_drop(call);
    return stop;
}

static PyObject *mod_version(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(charrnn_version());
}

static PyObject *mod_version_number(PyObject *self, PyObject *unused)
{
    return PyLong_FromUnsignedLong(charrnn_version_number());
}

static PyObject *mod_status_name(PyObject *self, PyObject *arg)
{
    int overflow = 0;
    long long code = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    // Past int's range the enum would wrap (2**32 would read as OK): every such code is unknown.
    if (overflow || code < INT_MIN || code > INT_MAX)
        return PyUnicode_FromString("UNKNOWN");
    return PyUnicode_FromString(charrnn_status_name((charrnn_status)code));
}

static PyObject *mod_default_sample_params(PyObject *self, PyObject *unused)
{
    charrnn_sample_params p = charrnn_default_sample_params();
    PyObject *seed =
        p.seed == CHARRNN_SEED_CONTINUE ? (Py_INCREF(Py_None), Py_None) : PyLong_FromUnsignedLongLong(p.seed);
    return Py_BuildValue("{s:d,s:i,s:d,s:O,s:N}", "temperature", (double)p.temperature, "top_k", p.top_k, "top_p",
                         (double)p.top_p, "greedy", p.greedy ? Py_True : Py_False, "seed", seed);
}

static PyMethodDef module_methods[] = {
    {"version", mod_version, METH_NOARGS, "The library's version string."},
    {"version_number", mod_version_number, METH_NOARGS, "major * 10000 + minor * 100 + patch."},
    {"status_name", mod_status_name, METH_O, "status_name(code) -> the charrnn_status name."},
    {"default_sample_params", mod_default_sample_params, METH_NOARGS, "The default sampling parameters."},
    {"default_train_params", crn_default_train_params, METH_NOARGS, "The default training parameters."},
    {"train", (PyCFunction)(void (*)(void))crn_train, METH_VARARGS | METH_KEYWORDS,
     "train(corpus_path, params=None, callback=None, model_class=Model) -> (model, result)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "charrnn._charrnn",
    "The C layer of charrnn (use the charrnn package).",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__charrnn(void)
{
    if (PyType_Ready(&CrnModel_Type) < 0 || PyType_Ready(&CrnSession_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (crn_errors_init(m) < 0)
        goto fail;
    Py_INCREF(&CrnModel_Type);
    if (PyModule_AddObject(m, "Model", (PyObject *)&CrnModel_Type) < 0) {
        Py_DECREF(&CrnModel_Type);
        goto fail;
    }
    Py_INCREF(&CrnSession_Type);
    if (PyModule_AddObject(m, "Session", (PyObject *)&CrnSession_Type) < 0) {
        Py_DECREF(&CrnSession_Type);
        goto fail;
    }
    if (PyModule_AddIntConstant(m, "HEADER_VERSION_NUMBER", CHARRNN_VERSION_NUMBER) < 0 ||
        PyModule_AddStringConstant(m, "HEADER_VERSION", CHARRNN_VERSION_STRING) < 0 ||
        PyModule_AddIntConstant(m, "SKIP_UNKNOWN", CHARRNN_SKIP_UNKNOWN) < 0)
        goto fail;
    static const charrnn_status all[] = {CHARRNN_OK,
                                         CHARRNN_ERR_INVALID_ARGUMENT,
                                         CHARRNN_ERR_IO,
                                         CHARRNN_ERR_FORMAT,
                                         CHARRNN_ERR_UTF8,
                                         CHARRNN_ERR_UNKNOWN_CHARACTER,
                                         CHARRNN_ERR_BUFFER_TOO_SMALL,
                                         CHARRNN_ERR_SHAPE,
                                         CHARRNN_ERR_NOT_FOUND,
                                         CHARRNN_ERR_STATE,
                                         CHARRNN_ERR_CANCELLED,
                                         CHARRNN_ERR_DIVERGED,
                                         CHARRNN_ERR_CONFIG,
                                         CHARRNN_ERR_OUT_OF_MEMORY,
                                         CHARRNN_ERR_NOT_FINITE,
                                         CHARRNN_ERR_INTERNAL};
    static const char *names[] = {"OK",
                                  "ERR_INVALID_ARGUMENT",
                                  "ERR_IO",
                                  "ERR_FORMAT",
                                  "ERR_UTF8",
                                  "ERR_UNKNOWN_CHARACTER",
                                  "ERR_BUFFER_TOO_SMALL",
                                  "ERR_SHAPE",
                                  "ERR_NOT_FOUND",
                                  "ERR_STATE",
                                  "ERR_CANCELLED",
                                  "ERR_DIVERGED",
                                  "ERR_CONFIG",
                                  "ERR_OUT_OF_MEMORY",
                                  "ERR_NOT_FINITE",
                                  "ERR_INTERNAL"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (PyModule_AddIntConstant(m, names[i], all[i]) < 0)
            goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
