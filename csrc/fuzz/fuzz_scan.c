/* libFuzzer target: the whole static pipeline (container readers, scan,
 * features, verdict) on arbitrary bytes. Built by scripts/fuzz.sh with ASan and UBSan; any crash,
 * leak, sanitizer report or broken invariant below is a bug in the core. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sp_features.h"
#include "sp_file.h"
#include "sp_scan.h"
#include "sp_status.h"
#include "sp_verdict.h"

/* Caps far below the defaults: a fuzzer input is at most 64 KiB, and the
 * limit paths themselves are worth exercising. */
#define FUZZ_MAX_OPS 200000
#define FUZZ_MAX_ALLOC (32u << 20)

static void check_verdict(const sp_verdict *v)
{
    if (v->kind != SP_VERDICT_BENIGN && v->kind != SP_VERDICT_UNSAFE && v->kind != SP_VERDICT_ERROR)
        __builtin_trap();
    if (v->n_reasons < 0 || v->n_reasons > SP_MAX_REASONS)
        __builtin_trap();
    for (int i = 0; i < v->n_reasons; i++) {
        if (memchr(v->reasons[i], '\0', SP_REASON_MAX) == NULL)
            __builtin_trap();
    }
    if (sp_verdict_name(v->kind) == NULL)
        __builtin_trap();
}

static int any_limit(const sp_file *f)
{
    for (uint32_t i = 0; i < f->n_records; i++)
        if (f->records[i].result != NULL && f->records[i].result->limit_hit)
            return 1;
    return 0;
}

/* The verdict-only reading (plain streams walked by sp_plain.c) must
 * decide exactly as the full one: same verdict, same reasons, same cap. */
static void check_same_verdict(const sp_file *full, const uint8_t *data, size_t size,
                               const sp_limits *limits)
{
    sp_limits quick = *limits;
    sp_file *file = NULL;
    sp_error err;
    sp_verdict a, b;

    memset(&err, 0, sizeof err);
    quick.verdict_only = 1;
    if (sp_scan_file(data, size, &quick, &file, &err) != SP_OK)
        __builtin_trap(); /* the full reading succeeded on the same bytes */
    sp_file_verdict(full, &a);
    sp_file_verdict(file, &b);
    if (a.kind != b.kind || a.n_reasons != b.n_reasons)
        __builtin_trap();
    for (int i = 0; i < a.n_reasons; i++)
        if (strcmp(a.reasons[i], b.reasons[i]) != 0)
            __builtin_trap();
    if (any_limit(full) != any_limit(file))
        __builtin_trap();
    sp_file_free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_limits limits;
    sp_result *res = NULL;
    sp_error err;

    memset(&err, 0, sizeof err);
    sp_limits_default(&limits);
    if (limits.max_ops > FUZZ_MAX_OPS)
        limits.max_ops = FUZZ_MAX_OPS;
    if (limits.max_alloc > FUZZ_MAX_ALLOC)
        limits.max_alloc = FUZZ_MAX_ALLOC;

    if (sp_scan_pickles(data, size, &limits, &res, &err) != SP_OK) {
        if (memchr(err.message, '\0', sizeof err.message) == NULL)
            __builtin_trap();
        return 0;
    }

    /* A zero-length VLA is undefined behaviour. */
    size_t n = sp_feature_count();
    float features[n ? n : 1];
    sp_features_compute(res, features);

    sp_verdict verdict;
    sp_verdict_decide(res, &verdict);
    check_verdict(&verdict);
    sp_result_free(res);

    /* the same bytes as a file: zip, npy, compressed data, then pickles */
    sp_file *file = NULL;
    if (sp_scan_file(data, size, &limits, &file, &err) != SP_OK) {
        if (memchr(err.message, '\0', sizeof err.message) == NULL)
            __builtin_trap();
        return 0;
    }
    if (sp_file_primary(file) != NULL)
        sp_features_compute(sp_file_primary(file), features);
    sp_file_verdict(file, &verdict);
    check_verdict(&verdict);
    check_same_verdict(file, data, size, &limits);
    sp_file_free(file);
    return 0;
}
