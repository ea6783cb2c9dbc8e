/* The verdict on a scan: benign, unsafe or error, with the reasons.
 *
 * sp_verdict_decide applies the documented rule set (docs/verdict.md) to one
 * trace; sp_file_decide (sp_decide.h) layers the classifier over the rules
 * of a whole file and fills the score and the features that drove it. */
#ifndef SP_VERDICT_H
#define SP_VERDICT_H

#include "sp_trace.h"

typedef enum sp_verdict_kind {
    SP_VERDICT_BENIGN = 0,
    SP_VERDICT_UNSAFE,
    SP_VERDICT_ERROR
} sp_verdict_kind;

#define SP_MAX_REASONS 32
#define SP_REASON_MAX 200
#define SP_MAX_DRIVERS 5

/* Who settled the verdict: a rule that is certain on its own, the model's
 * score against the threshold, or neither (benign or error on the rules,
 * with the score below the threshold or no model). */
typedef enum sp_decider { SP_DECIDED_NONE = 0, SP_DECIDED_RULES, SP_DECIDED_MODEL } sp_decider;

/* A feature that pushed the score, with how far (log-odds). */
typedef struct sp_driver {
    int feature;
    float value;
    float contribution;
} sp_driver;

typedef struct sp_verdict {
    sp_verdict_kind kind;
    double score;      /* 0..1, or -1 when there is no score */
    int scored_record; /* the record the score comes from, or -1 */
    sp_decider decided_by;
    int n_drivers;
    sp_driver drivers[SP_MAX_DRIVERS]; /* strongest first */
    int n_reasons;
    char reasons[SP_MAX_REASONS][SP_REASON_MAX];
} sp_verdict;

/* An empty verdict: benign, no score, no reasons. Only the fields before
 * the reasons are zeroed; a reason is written before n_reasons counts it,
 * and zeroing all 32 took longer than judging a small pickle. */
void sp_verdict_clear(sp_verdict *out);

void sp_verdict_decide(const sp_result *result, sp_verdict *out);
const char *sp_verdict_name(sp_verdict_kind kind); /* "benign" ... */

#endif
