/* Training the classifier with the library that serves it.
 *
 * Python assembles the matrix (one row per scanned record) and the labels;
 * this builds the booster through the same libxgboost C API the scanner
 * predicts with, and returns the model (UBJSON, the format that ships, or
 * JSON, which tests edit) plus the booster's own
 * predictions on the training rows, which a test later compares with what
 * the serving path computes from the saved model. */
#ifndef SP_TRAIN_H
#define SP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "sp_status.h"

typedef struct sp_train_param {
    const char *name; /* an XGBoost parameter: "max_depth", "eta", ... */
    const char *value;
} sp_train_param;

typedef struct sp_train_output {
    char *model; /* the saved model, NUL-terminated, malloc'd */
    size_t model_len;
    float *predictions; /* one per row, malloc'd */
} sp_train_output;

/* x is rows x cols, row-major; weights may be NULL; json saves the model
 * as XGBoost JSON instead of UBJSON. On SP_OK, out must be released with
 * sp_train_output_free. */
sp_status sp_classifier_train(const float *x, size_t rows, size_t cols, const float *labels,
                              const float *weights, const sp_train_param *params, size_t n_params,
                              int rounds, int json, sp_train_output *out, sp_error *err);
void sp_train_output_free(sp_train_output *out);

#endif
