/* The classifier: an XGBoost model over the feature vector, served through
 * the XGBoost C API.
 *
 * The model is trained by sp_classifier_train (sp_train.h) with the very
 * library that serves it, so a model and its predictions cannot drift apart
 * between training and use. A loaded classifier is immutable and may be
 * shared by threads: each thread predicts through a proxy matrix of its own,
 * created on its first prediction and reused after. */
#ifndef SP_CLASSIFIER_H
#define SP_CLASSIFIER_H

#include <stddef.h>

#include "sp_status.h"

typedef struct sp_classifier sp_classifier;

/* Load a model (XGBoost JSON or UBJSON, as sp_classifier_train writes it)
 * that expects vectors of n_features floats. A model built for another
 * length is refused: it would read the wrong features without a word. */
sp_status sp_classifier_load(const void *model, size_t len, size_t n_features, sp_classifier **out,
                             sp_error *err);
void sp_classifier_free(sp_classifier *c);

/* The same, but the model is only read at the first prediction (a copy of
 * its bytes is kept until then). A model that cannot be read makes that
 * prediction and every later one fail with the reason. */
sp_status sp_classifier_defer(const void *model, size_t len, size_t n_features, sp_classifier **out,
                              sp_error *err);

/* Whether the model has been read (always true for sp_classifier_load). */
int sp_classifier_is_loaded(const sp_classifier *c);

size_t sp_classifier_n_features(const sp_classifier *c);

/* Probability, 0..1, that x (n_features floats) comes from a malicious file. */
sp_status sp_classifier_score(const sp_classifier *c, const float *x, double *score, sp_error *err);

/* How much each feature moved the score's log-odds for x: n_features + 1
 * values, the last being the bias shared by every input. */
sp_status sp_classifier_contributions(const sp_classifier *c, const float *x, float *out,
                                      sp_error *err);

/* The version of the linked libxgboost. */
void sp_classifier_library_version(int *major, int *minor, int *patch);

#endif
