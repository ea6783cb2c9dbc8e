#include "sp_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

static sp_status train_error(sp_error *err, const char *what)
{
    sp_error_set(err, SP_ERR_MODEL, "training: %s: %s", what, XGBGetLastError());
    return SP_ERR_MODEL;
}

sp_status sp_classifier_train(const float *x, size_t rows, size_t cols, const float *labels,
                              const float *weights, const sp_train_param *params, size_t n_params,
                              int rounds, int json, sp_train_output *out, sp_error *err)
{
    static const char predict_config[] = "{\"type\": 0, \"training\": false, "
                                         "\"iteration_begin\": 0, \"iteration_end\": 0, "
                                         "\"strict_shape\": false}";
    DMatrixHandle dm = NULL;
    BoosterHandle booster = NULL;
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0, len = 0;
    const float *pred = NULL;
    const char *model = NULL;
    sp_status status = SP_OK;

    memset(out, 0, sizeof(*out));
    if (rows == 0 || cols == 0 || rounds <= 0) {
        sp_error_set(err, SP_ERR_ARG, "training: no rows, no columns or no rounds");
        return SP_ERR_ARG;
    }
    if (XGDMatrixCreateFromMat(x, (bst_ulong)rows, (bst_ulong)cols, NAN, &dm) != 0)
        return train_error(err, "cannot build the matrix");
    if (XGDMatrixSetFloatInfo(dm, "label", labels, (bst_ulong)rows) != 0) {
        status = train_error(err, "cannot set labels");
        goto done;
    }
    if (weights != NULL && XGDMatrixSetFloatInfo(dm, "weight", weights, (bst_ulong)rows) != 0) {
        status = train_error(err, "cannot set weights");
        goto done;
    }
    if (XGBoosterCreate(&dm, 1, &booster) != 0) {
        status = train_error(err, "cannot create the booster");
        goto done;
    }
    for (size_t i = 0; i < n_params; i++) {
        if (XGBoosterSetParam(booster, params[i].name, params[i].value) != 0) {
            status = train_error(err, params[i].name);
            goto done;
        }
    }
    for (int i = 0; i < rounds; i++) {
        if (XGBoosterUpdateOneIter(booster, i, dm) != 0) {
            status = train_error(err, "boosting round failed");
            goto done;
        }
    }
    if (XGBoosterPredictFromDMatrix(booster, dm, predict_config, &shape, &dim, &pred) != 0) {
        status = train_error(err, "prediction on the training rows failed");
        goto done;
    }
    if (pred == NULL || dim < 1 || shape[0] != rows) {
        sp_error_set(err, SP_ERR_MODEL, "training: unexpected prediction shape");
        status = SP_ERR_MODEL;
        goto done;
    }
    out->predictions = malloc(rows * sizeof(float));
    if (out->predictions == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "training: out of memory");
        status = SP_ERR_NOMEM;
        goto done;
    }
    memcpy(out->predictions, pred, rows * sizeof(float));
    if (XGBoosterSaveModelToBuffer(booster,
                                   json ? "{\"format\": \"json\"}" : "{\"format\": \"ubj\"}", &len,
                                   &model) != 0) {
        status = train_error(err, "cannot save the model");
        goto done;
    }
    out->model = malloc((size_t)len + 1);
    if (out->model == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "training: out of memory");
        status = SP_ERR_NOMEM;
        goto done;
    }
    memcpy(out->model, model, (size_t)len);
    out->model[len] = '\0';
    out->model_len = (size_t)len;

done:
    if (booster != NULL)
        XGBoosterFree(booster);
    XGDMatrixFree(dm);
    if (status != SP_OK)
        sp_train_output_free(out);
    return status;
}

void sp_train_output_free(sp_train_output *out)
{
    free(out->model);
    free(out->predictions);
    out->model = NULL;
    out->predictions = NULL;
    out->model_len = 0;
}
