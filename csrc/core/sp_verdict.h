/* The verdict on a scan: benign, unsafe or error, with the reasons.
 *
 * Until the classifier lands this is a documented rule set (docs/verdict.md);
 * the structure already carries a score so that the report schema does not
 * change when the model arrives. */
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

typedef struct sp_verdict {
    sp_verdict_kind kind;
    double score; /* 0..1, or -1 when there is no score */
    int n_reasons;
    char reasons[SP_MAX_REASONS][SP_REASON_MAX];
} sp_verdict;

void sp_verdict_decide(const sp_result *result, sp_verdict *out);
const char *sp_verdict_name(sp_verdict_kind kind); /* "benign" ... */

#endif
