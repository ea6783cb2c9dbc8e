/* The layered verdict on a whole file: certain rules first, then the model.
 *
 * The rules of docs/verdict.md each name evidence a benign pickler never
 * writes, so one firing settles the file as unsafe on its own. Every record
 * that holds a pickle is also scored by the classifier (one prediction per
 * record, its back-to-back and nested pickles included in its features); a
 * file the rules leave benign is unsafe when its highest score reaches the
 * threshold. A model that cannot score fails the file closed (error). */
#ifndef SP_DECIDE_H
#define SP_DECIDE_H

#include "sp_classifier.h"
#include "sp_file.h"
#include "sp_verdict.h"

typedef struct sp_decide_options {
    const sp_classifier *classifier; /* NULL: rules only, no score */
    double threshold;                /* score at or above which the model calls unsafe */
    int explain;                     /* fill the drivers even when the model did not decide */
} sp_decide_options;

/* record_features holds one row of sp_feature_count() floats per record,
 * sp_features_compute of its result (rows of records without a pickle are
 * not read); the classifier scores those rows, so they are computed once by
 * the caller, who also reports them. It may be NULL without a classifier.
 * record_scores, when not NULL, receives one score per record (-1 for a
 * record without a pickle). */
void sp_file_decide(const sp_file *file, const sp_decide_options *opt, const float *record_features,
                    double *record_scores, sp_verdict *out);

#endif
