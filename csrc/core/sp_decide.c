#include "sp_decide.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_features.h"
#include "sp_opcodes.h"

static void append_reason(sp_verdict *out, const char *text)
{
    if (out->n_reasons >= SP_MAX_REASONS)
        return;
    snprintf(out->reasons[out->n_reasons++], SP_REASON_MAX, "%s", text);
}

/* The model could not score a record: nothing may pass on a guess. A file
 * the rules already call unsafe stays unsafe, with the failure said. */
static void fail_closed(sp_verdict *out, const sp_record *r, const char *why)
{
    char text[SP_REASON_MAX];

    snprintf(text, sizeof(text), "classifier failed on %s: %s", r->name, why);
    out->score = -1;
    out->scored_record = -1;
    out->n_drivers = 0;
    if (out->kind != SP_VERDICT_UNSAFE) {
        out->kind = SP_VERDICT_ERROR;
        out->decided_by = SP_DECIDED_NONE;
        out->n_reasons = 0;
    }
    append_reason(out, text);
}

/* Keep the SP_MAX_DRIVERS contributions of largest magnitude, strongest
 * first; the bias (last entry) is the same for every input and says
 * nothing about this one. */
static void pick_drivers(const float *features, const float *contrib, size_t n, sp_verdict *out)
{
    out->n_drivers = 0;
    for (size_t i = 0; i < n; i++) {
        float c = contrib[i];
        int k;

        if (c == 0.0f)
            continue;
        if (out->n_drivers == SP_MAX_DRIVERS &&
            fabsf(c) <= fabsf(out->drivers[SP_MAX_DRIVERS - 1].contribution))
            continue;
        k = out->n_drivers < SP_MAX_DRIVERS ? out->n_drivers++ : SP_MAX_DRIVERS - 1;
        while (k > 0 && fabsf(out->drivers[k - 1].contribution) < fabsf(c)) {
            out->drivers[k] = out->drivers[k - 1];
            k--;
        }
        out->drivers[k].feature = (int)i;
        out->drivers[k].value = features[i];
        out->drivers[k].contribution = c;
    }
}

static int explain(const sp_classifier *c, const float *features, sp_verdict *out, sp_error *err)
{
    size_t n = sp_feature_count();
    float *contrib = malloc((n + 1) * sizeof(float));

    if (contrib == NULL) {
        sp_error_set(err, SP_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (sp_classifier_contributions(c, features, contrib, err) != SP_OK) {
        free(contrib);
        return -1;
    }
    pick_drivers(features, contrib, n, out);
    free(contrib);
    return 0;
}

static void model_reason(const sp_file *f, const sp_decide_options *opt, sp_verdict *out)
{
    char text[SP_REASON_MAX];
    int w;

    w = snprintf(text, sizeof(text), "classifier score %.3f >= threshold %.3f", out->score,
                 opt->threshold);
    if (f->n_records > 1 && w > 0 && (size_t)w < sizeof(text))
        w += snprintf(text + w, sizeof(text) - (size_t)w, " on %s",
                      f->records[out->scored_record].name);
    for (int i = 0, shown = 0; i < out->n_drivers && shown < 3; i++) {
        const sp_driver *d = &out->drivers[i];

        if (d->contribution <= 0 || w <= 0 || (size_t)w >= sizeof(text))
            continue;
        w += snprintf(text + w, sizeof(text) - (size_t)w, "%s %s=%g", shown ? "," : "; from",
                      sp_feature_name((size_t)d->feature), d->value);
        shown++;
    }
    append_reason(out, text);
}

/* The opcodes through which a loader obtains or calls a callable. Without
 * one of them a stream can only build builtin values: REDUCE and the other
 * calls need a callable on the stack, and only these opcodes put one there. */
static const int callable_opcodes[] = {
    SP_OPI_GLOBAL, SP_OPI_STACK_GLOBAL, SP_OPI_INST,      SP_OPI_OBJ,  SP_OPI_REDUCE,
    SP_OPI_BUILD,  SP_OPI_NEWOBJ,       SP_OPI_NEWOBJ_EX, SP_OPI_EXT1, SP_OPI_EXT2,
    SP_OPI_EXT4,   SP_OPI_PERSID,       SP_OPI_BINPERSID,
};

/* Nested results are bounded by the nesting cap, so is this recursion. */
int sp_result_reaches_callables(const sp_result *result)
{
    for (uint32_t s = 0; s < result->n_streams; s++) {
        const sp_stream *st = &result->streams[s];

        if (st->n_globals || st->n_calls)
            return 1;
        for (size_t k = 0; k < sizeof(callable_opcodes) / sizeof(callable_opcodes[0]); k++)
            if (st->opcode_counts[callable_opcodes[k]])
                return 1;
        for (uint32_t j = 0; j < st->n_nested; j++)
            if (st->nested[j].result != NULL && sp_result_reaches_callables(st->nested[j].result))
                return 1;
    }
    return 0;
}

void sp_file_decide(const sp_file *f, const sp_decide_options *opt, const float *record_features,
                    double *record_scores, sp_verdict *out)
{
    size_t n = sp_feature_count();
    const sp_classifier *c = opt != NULL ? opt->classifier : NULL;
    double best = -1;
    int best_record = -1;
    sp_error err;

    sp_file_verdict(f, out);
    for (uint32_t i = 0; record_scores != NULL && i < f->n_records; i++)
        record_scores[i] = -1;
    if (c == NULL)
        return;
    if (record_features == NULL) {
        /* a caller's mistake, and still never a pass */
        if (out->kind != SP_VERDICT_UNSAFE) {
            out->kind = SP_VERDICT_ERROR;
            out->decided_by = SP_DECIDED_NONE;
            out->n_reasons = 0;
        }
        append_reason(out, "classifier given no feature rows");
        return;
    }

    for (uint32_t i = 0; i < f->n_records; i++) {
        const sp_record *r = &f->records[i];
        double s;

        if (r->result == NULL || !sp_result_reaches_callables(r->result))
            continue;
        memset(&err, 0, sizeof(err));
        if (sp_classifier_score(c, record_features + (size_t)i * n, &s, &err) != SP_OK) {
            fail_closed(out, r, err.message);
            return;
        }
        if (record_scores != NULL)
            record_scores[i] = s;
        if (s > best) {
            best = s;
            best_record = (int)i;
        }
    }
    out->score = best;
    out->scored_record = best_record;
    if (best_record < 0)
        return;

    if (out->kind == SP_VERDICT_BENIGN && best >= opt->threshold) {
        out->kind = SP_VERDICT_UNSAFE;
        out->decided_by = SP_DECIDED_MODEL;
        out->n_reasons = 0;
    }
    if (out->decided_by == SP_DECIDED_MODEL || opt->explain) {
        memset(&err, 0, sizeof(err));
        if (explain(c, record_features + (size_t)best_record * n, out, &err) < 0) {
            fail_closed(out, &f->records[best_record], err.message);
            return;
        }
    }
    if (out->decided_by == SP_DECIDED_MODEL)
        model_reason(f, opt, out);
}
