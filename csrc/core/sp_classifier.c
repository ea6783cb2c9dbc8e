#include "sp_classifier.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

struct sp_classifier {
    BoosterHandle booster;
    size_t n_features;
    /* A deferred classifier keeps the model's bytes until its first
     * prediction: a process that only meets plain data never pays for
     * parsing the model. `state` is read without the lock once it has left
     * PENDING; `failure` then says why the model could not be read. */
    unsigned char *pending;
    size_t pending_len;
    _Atomic int state;
    pthread_mutex_t load_lock;
    sp_error failure;
    /* Prediction from a DMatrix goes through the booster's prediction
     * cache, which threads must not share; inplace prediction needs no lock. */
    pthread_mutex_t matrix_lock;
};

enum { MODEL_PENDING, MODEL_READY, MODEL_FAILED };

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

/* XGBoost reads a model's trees in parallel with OpenMP's default number of
 * threads: the booster applies nthread only after the load. On a guard that
 * starts a thread pool at the first scan of every process, which then spins
 * after its one parallel region, for a read of a few milliseconds. So the
 * load runs with one thread: the OpenMP runtime libxgboost already loaded
 * (looked up, never loaded here) is asked to change this thread's setting
 * only, and the setting is put back after the load. Without that runtime
 * the load runs as the library decides. */
typedef struct {
    void (*set)(int);
    int saved;
} openmp_setting;

static void openmp_serial(openmp_setting *s)
{
    static const char *const runtimes[] = {"libgomp.so.1", "libomp.so", "libomp.so.5"};
    int (*get)(void) = NULL;

    s->set = NULL;
    for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]) && s->set == NULL; i++) {
        void *lib = dlopen(runtimes[i], RTLD_LAZY | RTLD_NOLOAD);

        if (lib == NULL)
            continue;
        *(void **)&get = dlsym(lib, "omp_get_max_threads");
        *(void **)&s->set = dlsym(lib, "omp_set_num_threads");
        if (get == NULL)
            s->set = NULL;
        /* the runtime stays loaded: libxgboost holds it */
        dlclose(lib);
    }
    if (s->set == NULL)
        return;
    s->saved = get();
    s->set(1);
}

static void openmp_restore(const openmp_setting *s)
{
    if (s->set != NULL)
        s->set(s->saved);
}

/* Parse the model into c->booster and check that it reads our vectors;
 * on failure no booster is left behind. */
static sp_status read_model(sp_classifier *c, const void *model, size_t len, sp_error *err)
{
    bst_ulong model_features = 0;
    openmp_setting omp;
    sp_status status;
    int loaded;

    if (XGBoosterCreate(NULL, 0, &c->booster) != 0) {
        c->booster = NULL;
        return model_error(err, "cannot create a booster");
    }
    openmp_serial(&omp);
    loaded = XGBoosterLoadModelFromBuffer(c->booster, model, (bst_ulong)len);
    openmp_restore(&omp);
    if (loaded != 0) {
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
    if ((size_t)model_features != c->n_features) {
        sp_error_set(err, SP_ERR_MODEL,
                     "classifier: the model reads %" PRIu64 " features, the scanner computes %zu",
                     (uint64_t)model_features, c->n_features);
        status = SP_ERR_MODEL;
        goto error;
    }
    return SP_OK;

error:
    XGBoosterFree(c->booster);
    c->booster = NULL;
    return status;
}

/* A classifier with its locks and no model yet. */
static sp_status classifier_new(const void *model, size_t len, size_t n_features,
                                sp_classifier **out, sp_error *err)
{
    sp_classifier *c;

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
    if (pthread_mutex_init(&c->load_lock, NULL) != 0) {
        pthread_mutex_destroy(&c->matrix_lock);
        free(c);
        sp_error_set(err, SP_ERR_NOMEM, "classifier: cannot create a lock");
        return SP_ERR_NOMEM;
    }
    atomic_init(&c->state, MODEL_PENDING);
    *out = c;
    return SP_OK;
}

sp_status sp_classifier_load(const void *model, size_t len, size_t n_features, sp_classifier **out,
                             sp_error *err)
{
    sp_classifier *c;
    sp_status status = classifier_new(model, len, n_features, &c, err);

    if (status != SP_OK)
        return status;
    status = read_model(c, model, len, err);
    if (status != SP_OK) {
        sp_classifier_free(c);
        return status;
    }
    atomic_init(&c->state, MODEL_READY);
    *out = c;
    return SP_OK;
}

sp_status sp_classifier_defer(const void *model, size_t len, size_t n_features, sp_classifier **out,
                              sp_error *err)
{
    sp_classifier *c;
    sp_status status = classifier_new(model, len, n_features, &c, err);

    if (status != SP_OK)
        return status;
    c->pending = malloc(len);
    if (c->pending == NULL) {
        sp_classifier_free(c);
        sp_error_set(err, SP_ERR_NOMEM, "classifier: out of memory");
        return SP_ERR_NOMEM;
    }
    memcpy(c->pending, model, len);
    c->pending_len = len;
    *out = c;
    return SP_OK;
}

/* Read a deferred model on the first call; every call after that, from
 * any thread, gets the same outcome without taking the lock. A model that
 * cannot be read is never retried: each scan reports the same error. */
static sp_status ensure_model(const sp_classifier *shared, sp_error *err)
{
    sp_classifier *c = (sp_classifier *)shared;
    int state = atomic_load_explicit(&c->state, memory_order_acquire);

    if (state == MODEL_PENDING) {
        pthread_mutex_lock(&c->load_lock);
        state = atomic_load_explicit(&c->state, memory_order_relaxed);
        if (state == MODEL_PENDING) {
            state = read_model(c, c->pending, c->pending_len, &c->failure) == SP_OK ? MODEL_READY
                                                                                    : MODEL_FAILED;
            free(c->pending);
            c->pending = NULL;
            atomic_store_explicit(&c->state, state, memory_order_release);
        }
        pthread_mutex_unlock(&c->load_lock);
    }
    if (state == MODEL_FAILED) {
        if (err != NULL)
            *err = c->failure;
        return c->failure.status;
    }
    return SP_OK;
}

int sp_classifier_is_loaded(const sp_classifier *c)
{
    return atomic_load_explicit(&((sp_classifier *)c)->state, memory_order_acquire) == MODEL_READY;
}

void sp_classifier_free(sp_classifier *c)
{
    if (c == NULL)
        return;
    if (c->booster != NULL)
        XGBoosterFree(c->booster);
    free(c->pending);
    /* every classifier that exists has both locks (classifier_new) */
    pthread_mutex_destroy(&c->matrix_lock);
    pthread_mutex_destroy(&c->load_lock);
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
    sp_status loaded;

    *score = -1;
    if (!vector_is_finite(x, c->n_features)) {
        /* NaN would read as "missing" and inf as an extreme value: either
         * way the model would answer a question it was not trained on. */
        sp_error_set(err, SP_ERR_MODEL, "classifier: the feature vector is not finite");
        return SP_ERR_MODEL;
    }
    loaded = ensure_model(c, err);
    if (loaded != SP_OK)
        return loaded;
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
    status = ensure_model(c, err);
    if (status != SP_OK)
        return status;
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
