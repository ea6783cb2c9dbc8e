/* The layered verdict on a whole file: certain rules first, then the model.
 *
 * The rules of docs/verdict.md each name evidence a benign pickler never
 * writes, so one firing settles the file as unsafe on its own. Every record
 * that holds a pickle is also scored by the classifier (one prediction per
 * record, its back-to-back and nested pickles included in its features); a
 * file the rules leave benign is unsafe when its highest score reaches the
 * threshold. A model that cannot score fails the file closed (error).
 *
 * A record none of whose readings can reach a callable (no global, no
 * extension code, no persistent id, no call) is not scored: its loader
 * builds only builtin scalars and containers, which run nothing, so there
 * is nothing for the model to judge and a high score could only be wrong. */
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

/* 1 when some stream of the result, or of a pickle nested in it, can hand
 * the loader something to call; only such records are scored. */
int sp_result_reaches_callables(const sp_result *result);

/* record_features holds one row of sp_feature_count() floats per record,
 * sp_features_compute of its result (rows of records without a pickle are
 * not read); the classifier scores those rows, so they are computed once by
 * the caller, who also reports them. It may be NULL without a classifier.
 * record_scores, when not NULL, receives one score per record (-1 for a
 * record without a pickle or one that reaches no callable). */
void sp_file_decide(const sp_file *file, const sp_decide_options *opt, const float *record_features,
                    double *record_scores, sp_verdict *out);

#endif
