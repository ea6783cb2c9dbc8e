/* State of one run of the pickle machine over one stream.
 *
 * Private to the machine's source files (sp_machine.c, sp_objects.c,
 * sp_memo.c, sp_scan.c); nothing outside the core sees it. */
#ifndef SP_MACHINE_INTERNAL_H
#define SP_MACHINE_INTERNAL_H

#include <stdint.h>

#include "sp_scan.h"
#include "sp_trace.h"
#include "sp_value.h"

/* copyreg's registry as the file changes it: code -> (module, name), and
 * the cache _pickle keeps of what a code resolved to. */
struct sp_ext_entry {
    int64_t code;
    sp_name module, name;
    int has_cached;
    sp_slot cached;                 /* a GLOBAL slot once resolved */
    const sp_stream *cached_stream; /* whose globals cached.ref indexes */
};

typedef struct sp_memo_hash_entry {
    uint64_t key;
    uint8_t used;
    sp_slot value;
} sp_memo_hash_entry;

/* _Unpickler_MemoPut resizes its array to twice the key: a key this large
 * makes the loader fail for want of memory on any ordinary machine. */
#define SP_MEMO_LOADER_MAX ((uint64_t)1 << 28)
/* A memo key further than this past the number of entries is an anomaly
 * (MEMO_SPARSE): picklers number their entries 0, 1, 2 ... */
#define SP_MEMO_SPARSE_GAP 1024

/* Items arrays come in power-of-two capacities up to SP_KEEP_ITEMS. */
#define SP_ITEM_CLASSES 6 /* 2, 4, 8, 16, 32, 64 */

typedef struct sp_machine {
    sp_result *res;
    sp_result *root;
    const sp_limits *lim;
    sp_arena *arena;
    sp_stream *st;
    sp_error *err;
    sp_status fatal; /* set only for conditions that abort the whole scan */

    const uint8_t *buf;
    uint64_t len;
    uint64_t pos;
    uint64_t op_off;  /* offset of the opcode being executed */
    uint32_t reading; /* this run's id among readings of the holes, or 0 */
    int op_index;     /* its dense index */
    int done;

    sp_slot *stack;
    uint32_t sp, stack_cap;
    uint32_t *marks;
    uint32_t n_marks, marks_cap;
    uint32_t fence;

    /* The loader's memo is an array indexed by memo key; most pickles use
     * keys 0..n-1, so a dense array serves them (outside the arena, see
     * sp_memo.c) and a hash table takes the sparse keys a hostile file may
     * use. */
    sp_slot *memo_dense; /* then the used flags, in one block */
    uint8_t *memo_dense_used;
    uint32_t memo_dense_cap;
    size_t memo_dense_bytes; /* of the block holding both arrays */
    sp_memo_hash_entry *memo_hash;
    uint64_t memo_hash_cap; /* power of two, 0 when absent */
    uint64_t memo_hash_count;
    uint64_t memo_len; /* entries set, as _pickle counts them for MEMOIZE */

    uint8_t proto;
    uint64_t frame_end; /* 0 when not inside a frame */

    sp_obj *free_objs;
    sp_slot *free_items[SP_ITEM_CLASSES];
    /* The empty tuple, one object for the whole stream as in CPython
     * (PyTuple_New(0) is a singleton): EMPTY_TUPLE is the argument tuple of
     * most NEWOBJ calls. The machine holds a reference until it ends. */
    sp_obj *empty_tuple;
} sp_machine;

/* ---- containers (sp_objects.c) ---------------------------------------- */
sp_obj *sp_obj_new(sp_machine *m, uint8_t kind, uint64_t offset);
/* Takes ownership of the reference *item holds (the caller then marks the
 * slot moved). Returns -1 only when memory ran out. */
int sp_obj_append(sp_machine *m, sp_obj *obj, const sp_slot *item);
void sp_slot_incref(const sp_slot *slot);
void sp_slot_decref(sp_machine *m, const sp_slot *slot);

/* ---- memo (sp_memo.c) ------------------------------------------------- */
/* 1 and *out (a borrowed copy) when key is set, 0 when not. */
int sp_memo_get(sp_machine *m, uint64_t key, sp_slot *out);
/* Stores a new reference to value. -1 when memory ran out. */
int sp_memo_put(sp_machine *m, uint64_t key, const sp_slot *value, int *overwrote);
/* Gives back the dense arrays, which live outside the arena. */
void sp_memo_free(sp_machine *m);

/* ---- ending a stream (sp_machine.c), for the format hooks --------------- */
int sp_machine_fail(sp_machine *m, const char *message);
int sp_machine_truncated(sp_machine *m);
void sp_machine_anomaly(sp_machine *m, int code, const char *detail);

/* 1 when the name is exactly the C string z. */
int sp_name_is(const sp_name *n, const char *z);

/* ---- joblib (sp_joblib.c) --------------------------------------------- */
/* After a BUILD of inst with state in SP_MODE_JOBLIB: when inst is a
 * NumpyArrayWrapper, consume the bytes joblib reads for the array. 0, or -1
 * when the stream ended. */
int sp_joblib_after_build(sp_machine *m, const sp_slot *inst, const sp_slot *state);
/* 1 when the stream resolves joblib's array wrapper: the file was written
 * by joblib.dump and is read by joblib.load. */
int sp_joblib_wrote(const sp_stream *st);
/* The same, from a wrapper whose opcode and arguments end at or before
 * offset `limit` of the input: a choice no byte from there on made. */
int sp_joblib_wrote_before(const sp_stream *st, uint64_t limit);

/* ---- anomalies (sp_machine.c) --------------------------------------- */
void sp_stream_add_anomaly(sp_arena *arena, sp_stream *st, int code, uint64_t offset,
                           const char *detail, uint32_t max_events);

/* ---- nested scans (sp_scan.c) ----------------------------------------- */
/* Scan data as a pickle run by a loads-like call inside parent. */
/* The same with a reading mode; single: one pickle only, as one load call. */
sp_status sp_scan_nested_mode(sp_result *parent, const sp_limits *limits, const uint8_t *data,
                              uint64_t len, uint8_t mode, int single, sp_result **out,
                              sp_error *err);

#endif
