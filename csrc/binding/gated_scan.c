/* safepickle._native.GatedScan: a scan in a thread of its own, for a loader
 * started at once instead of after the verdict (csrc/core/sp_progress.h).
 *
 * The thread runs the same scan as scan(report="verdict") and publishes as
 * it goes how far the input is cleared: bytes whose opcodes a loader may
 * run whatever the verdict. The loader's reader asks wait(end) before it
 * serves bytes up to end; once the scan has finished, result() gives the
 * compact report, on which the caller decides whether the rest is served.
 * The buffer is held until close() or the object goes. */
#include "gated_scan.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "classifier.h"
#include "module_state.h"
#include "scan_limits.h"
#include "scan_run.h"
#include "sp_progress.h"
#include "verdict_convert.h"

typedef struct GatedScanObject {
    PyObject_HEAD Py_buffer view;
    int have_view;
    PyObject *classifier; /* kept alive while the thread scores with it */
    sp_limits limits;
    sp_decide_options decide;
    sp_progress progress;

    pthread_t thread;
    int started, joined;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t cleared; /* under lock: the last value published */
    int finished;     /* under lock: the scan has ended */

    /* written by the thread, read after the join */
    sp_status status;
    sp_error err;
    sp_file *file;
    scan_outputs out;
    sp_verdict verdict;

    PyObject *report; /* the compact report, once made */
} GatedScanObject;

static const uint8_t empty_input[1] = {0};

static const uint8_t *input_of(const GatedScanObject *self)
{
    return self->view.buf ? (const uint8_t *)self->view.buf : empty_input;
}

/* Called by the core from the scanning thread. */
static void publish(void *ctx, uint64_t cleared)
{
    GatedScanObject *self = ctx;

    pthread_mutex_lock(&self->lock);
    self->cleared = cleared;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->lock);
}

static void *GatedScan_thread(void *arg)
{
    GatedScanObject *self = arg;

    self->status = scan_run(input_of(self), (size_t)self->view.len, &self->limits, &self->decide, 0,
                            0, &self->file, &self->out, &self->err);
    pthread_mutex_lock(&self->lock);
    self->finished = 1;
    pthread_cond_broadcast(&self->changed);
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

static void join(GatedScanObject *self)
{
    if (!self->started || self->joined)
        return;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(self->thread, NULL);
    Py_END_ALLOW_THREADS
    self->joined = 1;
}

static void free_outputs(GatedScanObject *self)
{
    if (self->file != NULL) {
        sp_file_free(self->file);
        self->file = NULL;
    }
    scan_outputs_free(&self->out);
    memset(&self->out, 0, sizeof(self->out));
}

PyDoc_STRVAR(GatedScan_doc, "GatedScan(buffer, classifier=None, threshold=0.5, limits=None,\n\
          numpy=False)\n\
\n\
Start scanning buffer in a thread of its own, as scan(buffer,\n\
report='verdict') would, publishing as it goes how far a loader started\n\
at once may read (csrc/core/sp_progress.h). numpy=True when numpy is\n\
imported already: the loader may then run the rebuilds of numpy arrays\n\
before the verdict. The buffer is held until close().");

static PyObject *GatedScan_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"buffer", "classifier", "threshold", "limits", "numpy", NULL};
    PyObject *source, *classifier_obj = Py_None, *limits_obj = Py_None, *module;
    double threshold = 0.5;
    int numpy = 0, rc;
    GatedScanObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OdOp:GatedScan", kwlist, &source,
                                     &classifier_obj, &threshold, &limits_obj, &numpy))
        return NULL;
    if (!(threshold >= 0.0 && threshold <= 1.0))
        return PyErr_Format(PyExc_ValueError, "threshold must be between 0 and 1, not %g",
                            threshold);
    module = PyType_GetModule(type);
    if (module == NULL)
        return NULL;
    self = (GatedScanObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->changed, NULL);
    if (sp_limits_from_object(limits_obj, &self->limits) < 0)
        goto error;
    self->limits.result_unread = 1; /* the compact report reads no stream's value */
    if (classifier_obj != Py_None) {
        self->decide.classifier = Classifier_core(module, classifier_obj);
        if (self->decide.classifier == NULL)
            goto error;
        self->classifier = Py_NewRef(classifier_obj);
    }
    self->decide.threshold = threshold;
    if (PyObject_GetBuffer(source, &self->view, PyBUF_SIMPLE) < 0)
        goto error;
    self->have_view = 1;
    self->out.verdict = &self->verdict;
    self->progress.base = input_of(self);
    self->progress.flags = numpy ? SP_PROGRESS_NUMPY : 0;
    self->progress.publish = publish;
    self->progress.ctx = self;
    self->limits.progress = &self->progress;
    rc = pthread_create(&self->thread, NULL, GatedScan_thread, self);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        goto error;
    }
    self->started = 1;
    return (PyObject *)self;

error:
    Py_DECREF(self);
    return NULL;
}

PyDoc_STRVAR(GatedScan_wait_doc, "wait(end) -> (cleared, finished)\n\
\n\
Block until the bytes [0, end) are cleared or the scan has finished, and\n\
say which: cleared is how far the bytes are cleared now.");

static PyObject *GatedScan_wait(GatedScanObject *self, PyObject *arg)
{
    unsigned long long end = PyLong_AsUnsignedLongLong(arg);
    uint64_t cleared;
    int finished;

    if (end == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    pthread_mutex_lock(&self->lock);
    cleared = self->cleared;
    finished = self->finished;
    pthread_mutex_unlock(&self->lock);
    if (cleared < end && !finished) {
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&self->lock);
        while (self->cleared < end && !self->finished)
            pthread_cond_wait(&self->changed, &self->lock);
        cleared = self->cleared;
        finished = self->finished;
        pthread_mutex_unlock(&self->lock);
        Py_END_ALLOW_THREADS
    }
    return Py_BuildValue("(KO)", (unsigned long long)cleared, finished ? Py_True : Py_False);
}

PyDoc_STRVAR(GatedScan_result_doc, "result() -> dict\n\
\n\
Wait for the scan to end and return its compact report, as scan(buffer,\n\
report='verdict') returns it. Raises ScanError or MemoryError as scan()\n\
does.");

static PyObject *GatedScan_result(GatedScanObject *self, PyObject *unused)
{
    if (self->report != NULL)
        return Py_NewRef(self->report);
    if (!self->started || !self->have_view) {
        PyErr_SetString(PyExc_ValueError, "the scan was closed before its result was taken");
        return NULL;
    }
    join(self);
    if (self->status != SP_OK)
        return scan_raise(PyType_GetModuleState(Py_TYPE(self)), &self->err, self->status);
    /* strings of the report point into the buffer: converted while held */
    self->report =
        sp_verdict_report_from_file(self->file, (uint64_t)self->view.len, &self->verdict);
    if (self->report == NULL)
        return NULL;
    free_outputs(self); /* the loader wants the memory */
    return Py_NewRef(self->report);
}

PyDoc_STRVAR(GatedScan_close_doc, "close() -> None\n\
\n\
Wait for the thread and let go of the buffer and of what the scan holds.");

static PyObject *GatedScan_close(GatedScanObject *self, PyObject *unused)
{
    join(self);
    free_outputs(self);
    if (self->have_view) {
        self->have_view = 0;
        PyBuffer_Release(&self->view);
    }
    Py_RETURN_NONE;
}

static PyObject *GatedScan_get_cleared(GatedScanObject *self, void *closure)
{
    uint64_t cleared;

    pthread_mutex_lock(&self->lock);
    cleared = self->cleared;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromUnsignedLongLong(cleared);
}

static void GatedScan_dealloc(GatedScanObject *self)
{
    PyTypeObject *type = Py_TYPE(self);

    join(self);
    free_outputs(self);
    if (self->have_view)
        PyBuffer_Release(&self->view);
    Py_XDECREF(self->classifier);
    Py_XDECREF(self->report);
    pthread_cond_destroy(&self->changed);
    pthread_mutex_destroy(&self->lock);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMethodDef GatedScan_methods[] = {
    {"wait", (PyCFunction)GatedScan_wait, METH_O, GatedScan_wait_doc},
    {"result", (PyCFunction)GatedScan_result, METH_NOARGS, GatedScan_result_doc},
    {"close", (PyCFunction)GatedScan_close, METH_NOARGS, GatedScan_close_doc},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef GatedScan_getset[] = {
    {"cleared", (getter)GatedScan_get_cleared, NULL,
     "How far the input is cleared: once the scan has finished, where the gate closed.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot GatedScan_slots[] = {
    {Py_tp_new, GatedScan_new},         {Py_tp_dealloc, GatedScan_dealloc},
    {Py_tp_doc, (void *)GatedScan_doc}, {Py_tp_methods, GatedScan_methods},
    {Py_tp_getset, GatedScan_getset},   {0, NULL}};

static PyType_Spec GatedScan_spec = {
    .name = "safepickle._native.GatedScan",
    .basicsize = sizeof(GatedScanObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = GatedScan_slots,
};

int GatedScan_add_type(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &GatedScan_spec, NULL);
    int rc;

    if (type == NULL)
        return -1;
    rc = PyModule_AddObjectRef(module, "GatedScan", type);
    Py_DECREF(type);
    return rc;
}
