#include "train.h"

#include <stdlib.h>
#include <string.h>

#include "float_buffer.h"
#include "module_state.h"
#include "sp_features.h"
#include "sp_train.h"

const char module_train_doc[] = "train(matrix, labels, weights=None, params=None, rounds=100,\n\
      model_format='ubj') -> (bytes, list[float])\n\
\n\
Fit a binary:logistic booster on a float32 matrix (rows x feature count,\n\
row-major) and float32 labels (0 benign, 1 malicious), with optional float32\n\
row weights and XGBoost parameters (a dict of str to str). Runs through the\n\
same libxgboost C API that Classifier predicts with. Returns the model as\n\
XGBoost UBJSON (or JSON, with model_format='json') and the booster's own\n\
prediction for every training row.";

/* params dict -> array of (name, value) C strings owned by the dict's
 * str objects, which the caller keeps alive. */
static sp_train_param *params_from_dict(PyObject *dict, size_t *n)
{
    Py_ssize_t pos = 0, i = 0, size;
    PyObject *key, *value;
    sp_train_param *params;

    *n = 0;
    if (dict == Py_None) {
        params = PyMem_Calloc(1, sizeof(sp_train_param));
        if (params == NULL)
            PyErr_NoMemory();
        return params;
    }
    if (!PyDict_Check(dict)) {
        PyErr_SetString(PyExc_TypeError, "params must be a dict of str to str");
        return NULL;
    }
    size = PyDict_Size(dict);
    params = PyMem_Calloc((size_t)(size ? size : 1), sizeof(sp_train_param));
    if (params == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_Check(key) || !PyUnicode_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "params must be a dict of str to str");
            PyMem_Free(params);
            return NULL;
        }
        params[i].name = PyUnicode_AsUTF8(key);
        params[i].value = PyUnicode_AsUTF8(value);
        if (params[i].name == NULL || params[i].value == NULL) {
            PyMem_Free(params);
            return NULL;
        }
        i++;
    }
    *n = (size_t)i;
    return params;
}

PyObject *module_train(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"matrix", "labels",       "weights", "params",
                             "rounds", "model_format", NULL};
    PyObject *matrix_obj, *labels_obj, *weights_obj = Py_None, *params_obj = Py_None;
    const char *model_format = "ubj";
    int json;
    PyObject *result = NULL, *model = NULL, *preds = NULL;
    Py_buffer matrix, labels, weights;
    int have_matrix = 0, have_labels = 0, have_weights = 0, rounds = 100;
    size_t cols = sp_feature_count(), rows, n_params = 0;
    sp_train_param *params = NULL;
    sp_train_output out = {0};
    sp_error err = {0};
    sp_status status;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOis:train", kwlist, &matrix_obj,
                                     &labels_obj, &weights_obj, &params_obj, &rounds,
                                     &model_format))
        return NULL;
    if (strcmp(model_format, "ubj") != 0 && strcmp(model_format, "json") != 0) {
        PyErr_Format(PyExc_ValueError, "model_format must be 'ubj' or 'json', not '%s'",
                     model_format);
        return NULL;
    }
    json = strcmp(model_format, "json") == 0;
    if (sp_float_buffer_get(matrix_obj, &matrix, (Py_ssize_t)cols, "matrix") < 0)
        goto done;
    have_matrix = 1;
    rows = (size_t)sp_float_buffer_count(&matrix) / cols;
    if (sp_float_buffer_get(labels_obj, &labels, 0, "labels") < 0)
        goto done;
    have_labels = 1;
    if ((size_t)sp_float_buffer_count(&labels) != rows) {
        PyErr_Format(PyExc_ValueError, "%zu rows but %zd labels", rows,
                     sp_float_buffer_count(&labels));
        goto done;
    }
    if (weights_obj != Py_None) {
        if (sp_float_buffer_get(weights_obj, &weights, 0, "weights") < 0)
            goto done;
        have_weights = 1;
        if ((size_t)sp_float_buffer_count(&weights) != rows) {
            PyErr_Format(PyExc_ValueError, "%zu rows but %zd weights", rows,
                         sp_float_buffer_count(&weights));
            goto done;
        }
    }
    params = params_from_dict(params_obj, &n_params);
    if (params == NULL)
        goto done;

    Py_BEGIN_ALLOW_THREADS
    status =
        sp_classifier_train(matrix.buf, rows, cols, labels.buf, have_weights ? weights.buf : NULL,
                            params, n_params, rounds, json, &out, &err);
    Py_END_ALLOW_THREADS
    if (status != SP_OK) {
        if (status == SP_ERR_NOMEM)
            PyErr_NoMemory();
        else
            PyErr_SetString(sp_module_state(module)->ScanError, err.message);
        goto done;
    }
    model = PyBytes_FromStringAndSize(out.model, (Py_ssize_t)out.model_len);
    preds = PyList_New((Py_ssize_t)rows);
    if (model == NULL || preds == NULL)
        goto done;
    for (size_t i = 0; i < rows; i++) {
        PyObject *f = PyFloat_FromDouble(out.predictions[i]);
        if (f == NULL)
            goto done;
        PyList_SET_ITEM(preds, (Py_ssize_t)i, f);
    }
    result = PyTuple_Pack(2, model, preds);

done:
    Py_XDECREF(model);
    Py_XDECREF(preds);
    sp_train_output_free(&out);
    PyMem_Free(params);
    if (have_weights)
        PyBuffer_Release(&weights);
    if (have_labels)
        PyBuffer_Release(&labels);
    if (have_matrix)
        PyBuffer_Release(&matrix);
    return result;
}
