#include "sp_classifier.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

struct sp_classifier {
    BoosterHandle booster;
    size_t n_features;
    /* Prediction from a DMatrix goes through the booster's prediction
     * cache, which threads must not share; inplace prediction needs no lock. */
    pthread_mutex_t matrix_lock;
    int lock_ok;
};

/* ---- library-wide state ------------------------------------------------ */

/* XGBoost reports warnings by printing them; a load guard must not write
 * to the user's terminal, and errors reach us through XGBGetLastError. */
static void drop_log_message(const char *msg)
{
    (void)msg;
}

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static pthread_key_t proxy_key;
static int proxy_key_ok;

static void free_proxy(void *proxy)
{
    if (proxy != NULL)
        XGDMatrixFree(proxy);
}

static void library_init(void)
{
    XGBRegisterLogCallback(drop_log_message);
    proxy_key_ok = pthread_key_create(&proxy_key, free_proxy) == 0;
}

/* The calling thread's proxy matrix. Inplace prediction sets the input on
 * the proxy, so threads must not share one; creating one per call would
 * cost more than the prediction. Freed when the thread exits. */
static DMatrixHandle thread_proxy(sp_error *err)
{
    DMatrixHandle proxy;

    if (!proxy_key_ok) {
        sp_error_set(err, SP_ERR_MODEL, "classifier: no thread-local storage for the proxy");
        return NULL;
    }
    proxy = pthread_getspecific(proxy_key);
    if (proxy != NULL)
        return proxy;
    if (XGProxyDMatrixCreate(&proxy) != 0) {
        sp_error_set(err, SP_ERR_MODEL, "classifier: cannot create a proxy matrix: %s",
                     XGBGetLastError());
        return NULL;
    }
    if (pthread_setspecific(proxy_key, proxy) != 0) {
        XGDMatrixFree(proxy);
        sp_error_set(err, SP_ERR_MODEL, "classifier: cannot keep the proxy matrix");
        return NULL;
    }
    return proxy;
}

static sp_status model_error(sp_error *err, const char *what)
{
    sp_error_set(err, SP_ERR_MODEL, "classifier: %s: %s", what, XGBGetLastError());
    return SP_ERR_MODEL;
}

/* ---- loading ----------------------------------------------------------- */

sp_status sp_classifier_load(const void *model, size_t len, size_t n_features, sp_classifier **out,
                             sp_error *err)
{
    sp_classifier *c = NULL;
    bst_ulong model_features = 0;
    sp_status status;

    *out = NULL;
    if (model == NULL || len == 0 || n_features == 0) {
        sp_error_set(err, SP_ERR_ARG, "classifier: empty model or feature count");
        return SP_ERR_ARG;
    }
    pthread_once(&library_once, library_init);
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "classifier: out of memory");
        return SP_ERR_NOMEM;
    }
    c->n_features = n_features;
    if (pthread_mutex_init(&c->matrix_lock, NULL) != 0) {
        free(c);
        sp_error_set(err, SP_ERR_NOMEM, "classifier: cannot create a lock");
        return SP_ERR_NOMEM;
    }
    c->lock_ok = 1;
    if (XGBoosterCreate(NULL, 0, &c->booster) != 0) {
        status = model_error(err, "cannot create a booster");
        goto error;
    }
    if (XGBoosterLoadModelFromBuffer(c->booster, model, (bst_ulong)len) != 0) {
        status = model_error(err, "cannot read the model");
        goto error;
    }
    /* One row at a time: a thread pool would cost more than it saves, and
     * scans already run in parallel in the caller's threads. */
    if (XGBoosterSetParam(c->booster, "nthread", "1") != 0) {
        status = model_error(err, "cannot set nthread");
        goto error;
    }
    if (XGBoosterGetNumFeature(c->booster, &model_features) != 0) {
        status = model_error(err, "cannot read the feature count");
        goto error;
    }
    if ((size_t)model_features != n_features) {
        sp_error_set(err, SP_ERR_MODEL,
                     "classifier: the model reads %" PRIu64 " features, the scanner computes %zu",
                     (uint64_t)model_features, n_features);
        status = SP_ERR_MODEL;
        goto error;
    }
    *out = c;
    return SP_OK;

error:
    sp_classifier_free(c);
    return status;
}

void sp_classifier_free(sp_classifier *c)
{
    if (c == NULL)
        return;
    if (c->booster != NULL)
        XGBoosterFree(c->booster);
    if (c->lock_ok)
        pthread_mutex_destroy(&c->matrix_lock);
    free(c);
}

size_t sp_classifier_n_features(const sp_classifier *c)
{
    return c->n_features;
}

void sp_classifier_library_version(int *major, int *minor, int *patch)
{
    XGBoostVersion(major, minor, patch);
}

/* ---- prediction -------------------------------------------------------- */

/* XGBoost takes its input as a JSON array interface; NaN marks a missing
 * value, which the feature vector never holds. */
static const char predict_config[] = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                     "\"iteration_end\": 0, \"strict_shape\": false, "
                                     "\"missing\": NaN, \"cache_id\": 0}";

static int array_interface(char *buf, size_t cap, const float *x, size_t n)
{
    int w = snprintf(buf, cap,
                     "{\"data\": [%" PRIuPTR ", true], \"shape\": [1, %zu], "
                     "\"typestr\": \"<f4\", \"version\": 3}",
                     (uintptr_t)x, n);
    return w > 0 && (size_t)w < cap;
}

static int vector_is_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

sp_status sp_classifier_score(const sp_classifier *c, const float *x, double *score, sp_error *err)
{
    char values[160];
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *result = NULL;
    DMatrixHandle proxy;

    *score = -1;
    if (!vector_is_finite(x, c->n_features)) {
        /* NaN would read as "missing" and inf as an extreme value: either
         * way the model would answer a question it was not trained on. */
        sp_error_set(err, SP_ERR_MODEL, "classifier: the feature vector is not finite");
        return SP_ERR_MODEL;
    }
    if (!array_interface(values, sizeof(values), x, c->n_features)) {
        sp_error_set(err, SP_ERR_INTERNAL, "classifier: array interface does not fit");
        return SP_ERR_INTERNAL;
    }
    proxy = thread_proxy(err);
    if (proxy == NULL)
        return SP_ERR_MODEL;
    if (XGBoosterPredictFromDense(c->booster, values, predict_config, proxy, &shape, &dim,
                                  &result) != 0)
        return model_error(err, "prediction failed");
    /* the output lives in XGBoost's thread-local buffer: read it now */
    if (result == NULL || dim < 1 || shape[0] != 1 || (dim == 2 && shape[1] != 1) ||
        !(result[0] >= 0.0f && result[0] <= 1.0f)) {
        sp_error_set(err, SP_ERR_MODEL,
                     "classifier: the model does not give one probability per row "
                     "(is its objective binary:logistic?)");
        return SP_ERR_MODEL;
    }
    *score = result[0];
    return SP_OK;
}

sp_status sp_classifier_contributions(const sp_classifier *c, const float *x, float *out,
                                      sp_error *err)
{
    static const char config[] = "{\"type\": 2, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false}";
    DMatrixHandle dm = NULL;
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *result = NULL;
    sp_status status = SP_OK;

    if (!vector_is_finite(x, c->n_features)) {
        sp_error_set(err, SP_ERR_MODEL, "classifier: the feature vector is not finite");
        return SP_ERR_MODEL;
    }
    /* Contributions need a real matrix; they are asked for rarely (to
     * explain a verdict), so building one per call is fine. */
    if (XGDMatrixCreateFromMat(x, 1, (bst_ulong)c->n_features, NAN, &dm) != 0)
        return model_error(err, "cannot build a matrix");
    pthread_mutex_lock((pthread_mutex_t *)&c->matrix_lock);
    if (XGBoosterPredictFromDMatrix(c->booster, dm, config, &shape, &dim, &result) != 0) {
        status = model_error(err, "contribution prediction failed");
        goto done;
    }
    if (result == NULL || dim != 2 || shape[0] != 1 || shape[1] != c->n_features + 1) {
        sp_error_set(err, SP_ERR_MODEL, "classifier: unexpected contribution shape");
        status = SP_ERR_MODEL;
        goto done;
    }
    memcpy(out, result, (c->n_features + 1) * sizeof(float));

done:
    pthread_mutex_unlock((pthread_mutex_t *)&c->matrix_lock);
    XGDMatrixFree(dm);
    return status;
}
