/* libFuzzer target: the whole static pipeline (container readers, scan,
 * features, verdict) on arbitrary bytes. Built by scripts/fuzz.sh with ASan and UBSan; any crash,
 * leak, sanitizer report or broken invariant below is a bug in the core. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <stdlib.h>

#include "sp_features.h"
#include "sp_file.h"
#include "sp_holes.h"
#include "sp_joblib_plan.h"
#include "sp_progress.h"
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

/* What a stream reports besides values, the same from the plain-data walk
 * as from the machine: the features count all of it. */
static int same_streams(const sp_result *a, const sp_result *b)
{
    if ((a == NULL) != (b == NULL))
        return 0;
    if (a == NULL)
        return 1;
    if (a->n_streams != b->n_streams || a->limit_hit != b->limit_hit)
        return 0;
    for (uint32_t i = 0; i < a->n_streams; i++) {
        const sp_stream *x = &a->streams[i], *y = &b->streams[i];

        if (x->start != y->start || x->end != y->end || x->end_kind != y->end_kind ||
            x->proto != y->proto || x->max_proto != y->max_proto || x->n_ops != y->n_ops ||
            x->n_globals != y->n_globals || x->n_calls != y->n_calls ||
            x->n_anomalies != y->n_anomalies || x->n_nested != y->n_nested ||
            x->max_stack_depth != y->max_stack_depth || x->max_mark_depth != y->max_mark_depth ||
            x->memo_puts != y->memo_puts || x->memo_gets != y->memo_gets ||
            x->memo_entries != y->memo_entries || x->memo_max_index != y->memo_max_index ||
            x->max_container_depth != y->max_container_depth ||
            x->string_bytes != y->string_bytes || x->max_string_len != y->max_string_len ||
            x->n_frames != y->n_frames ||
            memcmp(x->opcode_counts, y->opcode_counts, sizeof x->opcode_counts) != 0)
            return 0;
        for (uint32_t j = 0; j < x->n_nested; j++)
            if (!same_streams(x->nested[j].result, y->nested[j].result))
                return 0;
    }
    return 1;
}

/* The reading that leaves results unread (plain streams walked by
 * sp_plain.c) must decide exactly as the full one: same verdict, same
 * reasons, same cap, same statistics and features. */
static void check_same_verdict(const sp_file *full, const uint8_t *data, size_t size,
                               const sp_limits *limits)
{
    sp_limits quick = *limits;
    sp_file *file = NULL;
    sp_error err;
    sp_verdict a, b;

    memset(&err, 0, sizeof err);
    quick.result_unread = 1;
    if (sp_scan_file(data, size, &quick, &file, &err) != SP_OK)
        __builtin_trap(); /* the full reading succeeded on the same bytes */
    sp_file_verdict(full, &a);
    sp_file_verdict(file, &b);
    if (a.kind != b.kind || a.n_reasons != b.n_reasons)
        __builtin_trap();
    for (int i = 0; i < a.n_reasons; i++)
        if (strcmp(a.reasons[i], b.reasons[i]) != 0)
            __builtin_trap();
    if (any_limit(full) != any_limit(file) || full->n_records != file->n_records)
        __builtin_trap();
    for (uint32_t i = 0; i < full->n_records; i++)
        if (!same_streams(full->records[i].result, file->records[i].result))
            __builtin_trap();
    if ((sp_file_primary(full) == NULL) != (sp_file_primary(file) == NULL))
        __builtin_trap();
    if (sp_file_primary(full) != NULL) {
        size_t n = sp_feature_count();
        float *fa = calloc(n ? n : 1, sizeof(float)), *fb = calloc(n ? n : 1, sizeof(float));

        if (fa != NULL && fb != NULL) {
            sp_features_compute(sp_file_primary(full), fa);
            sp_features_compute(sp_file_primary(file), fb);
            if (memcmp(fa, fb, n * sizeof(float)) != 0)
                __builtin_trap();
        }
        free(fa);
        free(fb);
    }
    sp_file_free(file);
}

/* ---- holes ------------------------------------------------------------
 *
 * The input is cut in two around a large BINBYTES8 payload the target adds
 * (filled from the input's own bytes, behind opcodes that push it past the
 * file head), and the inside of that payload is a hole. Whenever the scan
 * with the hole unread says it relied on none of its bytes, the verdict,
 * reasons and features must be those of the whole buffer, whatever the
 * hole holds: its own bytes or a hostile pickle. */

#define HOLE_PAGE 4096
#define HOLE_BODY (3 * HOLE_PAGE)

typedef struct scanned {
    sp_verdict verdict;
    int has_primary;
    float *features;
} scanned;

static int scan_verdict(const uint8_t *buf, size_t len, const sp_limits *limits, sp_holes *holes,
                        scanned *out, size_t n_features)
{
    sp_limits quick = *limits;
    sp_file *file = NULL;
    sp_error err;

    memset(&err, 0, sizeof err);
    quick.result_unread = 1;
    quick.holes = holes;
    if (sp_scan_file(buf, len, &quick, &file, &err) != SP_OK)
        return -1;
    sp_file_verdict(file, &out->verdict);
    out->has_primary = sp_file_primary(file) != NULL;
    memset(out->features, 0, n_features * sizeof(float));
    if (out->has_primary)
        sp_features_compute(sp_file_primary(file), out->features);
    sp_file_free(file);
    return 0;
}

static int same(const scanned *a, const scanned *b, size_t n_features)
{
    if (a->verdict.kind != b->verdict.kind || a->verdict.n_reasons != b->verdict.n_reasons ||
        a->has_primary != b->has_primary)
        return 0;
    for (int i = 0; i < a->verdict.n_reasons; i++)
        if (strcmp(a->verdict.reasons[i], b->verdict.reasons[i]) != 0)
            return 0;
    return memcmp(a->features, b->features, n_features * sizeof(float)) == 0;
}

static void check_holes(const uint8_t *data, size_t size, const sp_limits *limits)
{
    static const uint8_t hostile[] = "\x80\x02cposix\nsystem\nX\x04\x00\x00\x00echo\x85R.\n";
    size_t n_features = sp_feature_count() ? sp_feature_count() : 1;
    size_t cut, pad, at, payload, total;
    uint64_t body_len;
    uint8_t *buf;
    uintptr_t lo, hi;
    uint32_t taken = 0;
    sp_holes holes;
    scanned a = {0}, b = {0}, c = {0};

    if (size < 2)
        return;
    cut = 1 + data[0] % (size - 1);
    /* MARK, BINBYTES8 of the file head, POP: the pickle starts past it */
    pad = 1 + 9 + (size_t)SP_HOLE_FILE_HEAD + 1;
    payload = (size_t)SP_HOLE_HEAD + HOLE_BODY + HOLE_PAGE;
    total = pad + (cut - 1) + 9 + payload + (size - cut);
    buf = malloc(total);
    a.features = calloc(n_features, sizeof(float));
    b.features = calloc(n_features, sizeof(float));
    c.features = calloc(n_features, sizeof(float));
    if (buf == NULL || a.features == NULL || b.features == NULL || c.features == NULL)
        goto done;
    at = 0;
    buf[at++] = '(';
    buf[at++] = 0x8e;
    body_len = SP_HOLE_FILE_HEAD;
    memcpy(buf + at, &body_len, 8); /* little-endian hosts only, as the core */
    at += 8;
    memset(buf + at, 'p', (size_t)SP_HOLE_FILE_HEAD);
    at += (size_t)SP_HOLE_FILE_HEAD;
    buf[at++] = '0';
    memcpy(buf + at, data + 1, cut - 1);
    at += cut - 1;
    buf[at++] = 0x8e;
    body_len = payload;
    memcpy(buf + at, &body_len, 8);
    at += 8;
    for (size_t i = 0; i < payload; i += size - 1)
        memcpy(buf + at + i, data + 1, payload - i < size - 1 ? payload - i : size - 1);
    lo = ((uintptr_t)(at + (size_t)SP_HOLE_HEAD) + HOLE_PAGE - 1) / HOLE_PAGE * HOLE_PAGE;
    hi = lo + HOLE_BODY;
    at += payload;
    memcpy(buf + at, data + cut, size - cut);

    /* the whole buffer, the input's bytes in the hole */
    if (scan_verdict(buf, total, limits, NULL, &b, n_features) < 0)
        goto done;
    /* the hole unread (zeros, as in a snapshot) */
    memset(buf + lo, 0, HOLE_BODY);
    lo += (uintptr_t)buf;
    hi += (uintptr_t)buf;
    memset(&holes, 0, sizeof holes);
    holes.lo = &lo;
    holes.hi = &hi;
    holes.taken_by = &taken;
    holes.n = 1;
    if (scan_verdict(buf, total, limits, &holes, &a, n_features) < 0)
        __builtin_trap(); /* the whole buffer scanned */
    if (!holes.touched) {
        /* a hostile hole */
        for (size_t i = 0; i < HOLE_BODY; i++)
            buf[lo - (uintptr_t)buf + i] = hostile[i % (sizeof hostile - 1)];
        if (scan_verdict(buf, total, limits, NULL, &c, n_features) < 0)
            __builtin_trap();
        if (!same(&a, &b, n_features) || !same(&b, &c, n_features))
            __builtin_trap();
    }

done:
    free(buf);
    free(a.features);
    free(b.features);
    free(c.features);
}

/* The joblib planner (sp_joblib_plan.h) fed windows of the input as the
 * binding feeds them from a file, of a size the input picks: its spans lie
 * inside the input, in order, and its cursor only moves forward. */
static void check_joblib_plan(const uint8_t *data, size_t size)
{
    size_t window = size ? 1 + (size_t)data[size - 1] * 37 : 1;
    sp_jplan *plan = sp_jplan_new(FUZZ_MAX_OPS);
    uint64_t last_end = 0, at = 0;

    if (plan == NULL)
        return;
    for (int rounds = 0; rounds < 100000; rounds++) {
        uint64_t start = 0, end = 0, next = sp_jplan_next(plan);
        size_t len;
        sp_jplan_end how;

        if (next < at || next >= size)
            break;
        at = next;
        len = size - at < window ? size - at : window;
        how = sp_jplan_walk(plan, data + at, len, at, size, &start, &end);
        if (how == SP_JPLAN_ARRAY) {
            if (start < last_end || end < start || end > size)
                __builtin_trap();
            last_end = end;
        }
        if (sp_jplan_next(plan) < at)
            __builtin_trap();
        if (how == SP_JPLAN_DONE)
            break;
    }
    sp_jplan_free(plan);
}

/* What a gated scan publishes only grows, stays inside the input, and
 * gating changes nothing of the verdict. */
typedef struct gate_log {
    uint64_t last, size;
} gate_log;

static void gate_publish(void *ctx, uint64_t cleared)
{
    gate_log *log = ctx;

    if (cleared <= log->last || cleared > log->size)
        __builtin_trap();
    log->last = cleared;
}

static void check_gated(const uint8_t *data, size_t size, const sp_limits *limits,
                        const sp_verdict *plain)
{
    sp_limits gated = *limits;
    sp_progress progress;
    gate_log log = {0, size};
    sp_file *file = NULL;
    sp_error err;
    sp_verdict verdict;

    memset(&progress, 0, sizeof progress);
    memset(&err, 0, sizeof err);
    progress.base = data;
    progress.flags = (size & 1) ? SP_PROGRESS_NUMPY : 0;
    progress.publish = gate_publish;
    progress.ctx = &log;
    gated.progress = &progress;
    if (sp_scan_file(data, size, &gated, &file, &err) != SP_OK)
        return;
    sp_file_verdict(file, &verdict);
    if (verdict.kind != plain->kind || progress.cleared != log.last)
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
    check_gated(data, size, &limits, &verdict);
    check_holes(data, size, &limits);
    check_joblib_plan(data, size);
    return 0;
}
