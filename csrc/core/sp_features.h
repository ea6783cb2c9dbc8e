/* The feature vector: a fixed-length float vector computed from a trace.
 *
 * Layout is versioned: SP_FEATURE_VERSION changes whenever a feature is
 * added, removed or reordered, and a model trained on another version is
 * refused. docs/features.md lists every feature; a test keeps it in step. */
#ifndef SP_FEATURES_H
#define SP_FEATURES_H

#include <stddef.h>

#include "sp_status.h"
#include "sp_trace.h"

extern const int SP_FEATURE_VERSION;

size_t sp_feature_count(void);
/* Stable snake_case name of feature i ("op_count_REDUCE", ...). */
const char *sp_feature_name(size_t i);
/* One-line description of feature i. */
const char *sp_feature_description(size_t i);

/* Fill out[0..sp_feature_count()) from all streams of result, nested ones
 * included. SP_ERR_NOMEM leaves a zero vector that must not be classified. */
sp_status sp_features_compute(const sp_result *result, float *out);

#endif
