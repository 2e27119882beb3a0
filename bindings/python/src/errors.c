/* errors.c — the exception hierarchy: charrnn.Error (with .status and .status_name) and one subclass
 * per charrnn_status, also deriving from the natural built-in exception. */
#include "charrnn_py.h"
#include <string.h>

typedef struct {
    charrnn_status status;
    const char *name; /* class name */
    PyObject **builtin; /* second base, or NULL */
    const char *doc;
    PyObject *cls;
} ErrorClass;

static PyObject *Error; /* charrnn.Error */

static ErrorClass classes[] = {
    {CHARRNN_ERR_INVALID_ARGUMENT, "InvalidArgumentError", &PyExc_ValueError,
     "An argument is NULL, zero or out of range.", NULL},
    {CHARRNN_ERR_IO, "IOError", &PyExc_OSError, "A file could not be opened, read, written or renamed.", NULL},
    {CHARRNN_ERR_FORMAT, "FormatError", &PyExc_ValueError,
     "A model, checkpoint or state buffer is corrupt or unsupported.", NULL},
    {CHARRNN_ERR_UTF8, "UTF8Error", &PyExc_ValueError, "Text is not valid UTF-8.", NULL},
    {CHARRNN_ERR_UNKNOWN_CHARACTER, "UnknownCharacterError", &PyExc_ValueError,
     "Text holds a character outside the model's vocabulary.", NULL},
    {CHARRNN_ERR_BUFFER_TOO_SMALL, "BufferTooSmallError", NULL, "A buffer was too small (internal to the binding).",
     NULL},
    {CHARRNN_ERR_SHAPE, "ShapeError", &PyExc_ValueError, "A tensor's shape or size disagrees with the model.", NULL},
    {CHARRNN_ERR_NOT_FOUND, "NotFoundError", &PyExc_LookupError, "No such layer or tensor.", NULL},
    {CHARRNN_ERR_STATE, "StateError", &PyExc_RuntimeError,
     "The call is not valid in the object's current state (closed, in use, nothing fed).", NULL},
    {CHARRNN_ERR_CANCELLED, "CancelledError", NULL, "A callback asked to stop.", NULL},
    {CHARRNN_ERR_DIVERGED, "DivergedError", &PyExc_ArithmeticError, "Training produced a NaN or exploding loss.", NULL},
    {CHARRNN_ERR_CONFIG, "ConfigError", &PyExc_ValueError, "A model or training configuration is invalid.", NULL},
    {CHARRNN_ERR_OUT_OF_MEMORY, "OutOfMemoryError", &PyExc_MemoryError, "An allocation would be too large.", NULL},
    {CHARRNN_ERR_NOT_FINITE, "NotFiniteError", &PyExc_ArithmeticError,
     "The model's numbers overflowed (weights or a state too large): there is no distribution.", NULL},
    {CHARRNN_ERR_INTERNAL, "InternalError", &PyExc_RuntimeError, "A bug in charrnn; please report it.", NULL},
};
#define NCLASSES (sizeof(classes) / sizeof(classes[0]))

static int set_class_status(PyObject *cls, charrnn_status status)
{
    PyObject *code = PyLong_FromLong((long)status);
    PyObject *name = PyUnicode_FromString(charrnn_status_name(status));
    int rc = -1;
    if (code && name && PyObject_SetAttrString(cls, "status", code) == 0 &&
        PyObject_SetAttrString(cls, "status_name", name) == 0)
        rc = 0;
    Py_XDECREF(code);
    Py_XDECREF(name);
    return rc;
}

int crn_errors_init(PyObject *module)
{
    Error = PyErr_NewExceptionWithDoc(
        "charrnn.Error",
        "Base of charrnn's exceptions. `status` is the C status code (charrnn_status) and `status_name` "
        "its name (\"FORMAT\", ...).",
        NULL, NULL);
    if (!Error || set_class_status(Error, CHARRNN_ERR_INTERNAL) < 0)
        return -1;
    Py_INCREF(Error);
    if (PyModule_AddObject(module, "Error", Error) < 0) {
        Py_DECREF(Error);
        return -1;
    }
    for (size_t i = 0; i < NCLASSES; i++) {
        char qualname[96];
        PyObject *bases = classes[i].builtin ? PyTuple_Pack(2, Error, *classes[i].builtin) : PyTuple_Pack(1, Error);
        if (!bases)
            return -1;
        snprintf(qualname, sizeof qualname, "charrnn.%s", classes[i].name);
        classes[i].cls = PyErr_NewExceptionWithDoc(qualname, classes[i].doc, bases, NULL);
        Py_DECREF(bases);
        if (!classes[i].cls || set_class_status(classes[i].cls, classes[i].status) < 0)
            return -1;
        Py_INCREF(classes[i].cls);
        if (PyModule_AddObject(module, classes[i].name, classes[i].cls) < 0) {
            Py_DECREF(classes[i].cls);
            return -1;
        }
    }
    return 0;
}

static PyObject *class_for(charrnn_status status)
{
    for (size_t i = 0; i < NCLASSES; i++)
        if (classes[i].status == status)
            return classes[i].cls;
    return Error;
}

static PyObject *raise_with(charrnn_status status, const char *message)
{
    PyObject *cls = class_for(status);
    PyObject *text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    if (!text)
        return NULL;
    PyObject *exc = PyObject_CallOneArg(cls, text);
    Py_DECREF(text);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong((long)status);
    PyObject *name = PyUnicode_FromString(charrnn_status_name(status));
    if (code && name) {
        PyObject_SetAttrString(exc, "status", code);
        PyObject_SetAttrString(exc, "status_name", name);
    }
    Py_XDECREF(code);
    Py_XDECREF(name);
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *crn_raise(charrnn_status status)
{
    const char *msg = charrnn_last_error();
    char fallback[64];
    if (!msg || !*msg) {
        snprintf(fallback, sizeof fallback, "charrnn call failed (%s)", charrnn_status_name(status));
        msg = fallback;
    }
    return raise_with(status, msg);
}

PyObject *crn_raise_msg(charrnn_status status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return raise_with(status, buf);
}
