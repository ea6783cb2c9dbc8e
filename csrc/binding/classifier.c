#include "classifier.h"

#include <stdlib.h>

#include "float_buffer.h"
#include "module_state.h"
#include "sp_features.h"

typedef struct ClassifierObject {
    PyObject_HEAD sp_classifier *core;
} ClassifierObject;

static PyObject *model_error(PyTypeObject *type, const sp_error *err, sp_status status)
{
    module_state *st = PyType_GetModuleState(type);

    if (status == SP_ERR_NOMEM)
        return PyErr_NoMemory();
    PyErr_SetString(st ? st->ScanError : PyExc_ValueError,
                    err->message[0] ? err->message : sp_status_name(status));
    return NULL;
}

PyDoc_STRVAR(Classifier_doc, "Classifier(model, *, deferred=False)\n\
\n\
An XGBoost model over the scanner's feature vector, loaded from the bytes of\n\
a model that safepickle._native.train wrote (JSON). Immutable; one instance\n\
may serve any number of threads. Raises ScanError when the model cannot be\n\
read or expects another number of features. With deferred=True the model is\n\
read at the first prediction instead, and that error comes from the scan or\n\
the prediction that needed the model (and from every later one).");

static PyObject *Classifier_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"model", "deferred", NULL};
    PyObject *model_obj;
    int deferred = 0;
    Py_buffer model;
    sp_classifier *core = NULL;
    sp_error err = {0};
    sp_status status;
    ClassifierObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$p:Classifier", kwlist, &model_obj,
                                     &deferred))
        return NULL;
    if (PyObject_GetBuffer(model_obj, &model, PyBUF_SIMPLE) < 0)
        return NULL;
    if (deferred) {
        status = sp_classifier_defer(model.buf, (size_t)model.len, sp_feature_count(), &core, &err);
    } else {
        Py_BEGIN_ALLOW_THREADS
        status = sp_classifier_load(model.buf, (size_t)model.len, sp_feature_count(), &core, &err);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&model);
    if (status != SP_OK)
        return model_error(type, &err, status);
    self = (ClassifierObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        sp_classifier_free(core);
        return NULL;
    }
    self->core = core;
    return (PyObject *)self;
}

static void Classifier_dealloc(ClassifierObject *self)
{
    PyTypeObject *type = Py_TYPE(self);

    sp_classifier_free(self->core);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(Classifier_score_rows_doc, "score_rows(matrix) -> list[float]\n\
\n\
Scores of the rows of a float32 matrix (rows x feature count, row-major),\n\
one prediction per row through the serving path.");

static PyObject *Classifier_score_rows(ClassifierObject *self, PyObject *matrix)
{
    size_t n = sp_classifier_n_features(self->core);
    Py_buffer view;
    double *scores = NULL;
    sp_error err = {0};
    sp_status status = SP_OK;
    PyObject *list = NULL;
    Py_ssize_t rows;

    if (sp_float_buffer_get(matrix, &view, (Py_ssize_t)n, "matrix") < 0)
        return NULL;
    rows = sp_float_buffer_count(&view) / (Py_ssize_t)n;
    scores = PyMem_Malloc((size_t)(rows ? rows : 1) * sizeof(double));
    if (scores == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < rows && status == SP_OK; r++)
        status = sp_classifier_score(self->core, (const float *)view.buf + (size_t)r * n,
                                     &scores[r], &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (status != SP_OK) {
        model_error(Py_TYPE(self), &err, status);
        goto done;
    }
    list = PyList_New(rows);
    for (Py_ssize_t r = 0; list != NULL && r < rows; r++) {
        PyObject *f = PyFloat_FromDouble(scores[r]);
        if (f == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, r, f);
    }

done:
    PyMem_Free(scores);
    return list;
}

PyDoc_STRVAR(Classifier_contributions_doc, "contributions(vector) -> list[float]\n\
\n\
How far each feature moved the log-odds of the score for one float32\n\
vector: feature count + 1 values, the last one the bias.");

static PyObject *Classifier_contributions(ClassifierObject *self, PyObject *vector)
{
    size_t n = sp_classifier_n_features(self->core);
    Py_buffer view;
    float *out;
    sp_error err = {0};
    sp_status status;
    PyObject *list = NULL;

    if (sp_float_buffer_get(vector, &view, 0, "vector") < 0)
        return NULL;
    if ((size_t)sp_float_buffer_count(&view) != n) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "vector holds %zd floats, the model reads %zu",
                            sp_float_buffer_count(&view), n);
    }
    out = PyMem_Malloc((n + 1) * sizeof(float));
    if (out == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    status = sp_classifier_contributions(self->core, view.buf, out, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (status != SP_OK) {
        model_error(Py_TYPE(self), &err, status);
        goto done;
    }
    list = PyList_New((Py_ssize_t)(n + 1));
    for (size_t i = 0; list != NULL && i <= n; i++) {
        PyObject *f = PyFloat_FromDouble(out[i]);
        if (f == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, f);
    }

done:
    PyMem_Free(out);
    return list;
}

static PyObject *Classifier_get_n_features(ClassifierObject *self, void *closure)
{
    return PyLong_FromSize_t(sp_classifier_n_features(self->core));
}

static PyObject *Classifier_get_loaded(ClassifierObject *self, void *closure)
{
    return PyBool_FromLong(sp_classifier_is_loaded(self->core));
}

static PyMethodDef Classifier_methods[] = {
    {"score_rows", (PyCFunction)Classifier_score_rows, METH_O, Classifier_score_rows_doc},
    {"contributions", (PyCFunction)Classifier_contributions, METH_O, Classifier_contributions_doc},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Classifier_getset[] = {
    {"n_features", (getter)Classifier_get_n_features, NULL, "Length of the vectors it reads.",
     NULL},
    {"loaded", (getter)Classifier_get_loaded, NULL, "Whether the model has been read yet.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot Classifier_slots[] = {
    {Py_tp_new, Classifier_new},         {Py_tp_dealloc, Classifier_dealloc},
    {Py_tp_doc, (void *)Classifier_doc}, {Py_tp_methods, Classifier_methods},
    {Py_tp_getset, Classifier_getset},   {0, NULL}};

static PyType_Spec Classifier_spec = {
    .name = "safepickle._native.Classifier",
    .basicsize = sizeof(ClassifierObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Classifier_slots,
};

int Classifier_add_type(PyObject *module)
{
    module_state *st = sp_module_state(module);

    st->ClassifierType = PyType_FromModuleAndSpec(module, &Classifier_spec, NULL);
    if (st->ClassifierType == NULL)
        return -1;
    return PyModule_AddObjectRef(module, "Classifier", st->ClassifierType);
}

const sp_classifier *Classifier_core(PyObject *module, PyObject *obj)
{
    module_state *st = sp_module_state(module);

    if (!PyObject_TypeCheck(obj, (PyTypeObject *)st->ClassifierType)) {
        PyErr_Format(PyExc_TypeError,
                     "classifier must be a safepickle._native.Classifier, not %.80s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return ((ClassifierObject *)obj)->core;
}
