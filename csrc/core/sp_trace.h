/* The trace: what a pickle would make the unpickler do.
 *
 * One sp_stream per pickle found in the input (pickles back to back are
 * read as repeated pickle.load calls read them), each with the globals it
 * resolves, the calls it makes, and what looked wrong on the way. The
 * features, the verdict and the Python report are all computed from this
 * and nothing else. */
#ifndef SP_TRACE_H
#define SP_TRACE_H

#include <stdint.h>

#include "sp_arena.h"
#include "sp_opcodes.h"
#include "sp_status.h"
#include "sp_value.h"

/* ---- globals ---------------------------------------------------------- */

#define SP_GF_COMPAT 0x0001 /* renamed by the protocol < 3 mapping */
#define SP_GF_DOTTED 0x0002 /* dotted name resolved attribute by attribute */
#define SP_GF_COMPUTED                                                                             \
    0x0004                          /* STACK_GLOBAL on values that are not                         \
                                       constant strings: names unknown ("?") */
#define SP_GF_EXT 0x0008            /* reached through an EXT code */
#define SP_GF_SPECULATIVE 0x0010    /* after a point where the loader may fail */
#define SP_GF_NAME_FROM_MEMO 0x0020 /* STACK_GLOBAL strings came from the memo */
#define SP_GF_INVALID                                                                              \
    0x0040 /* names the loader rejects (e.g. dotted                                                \
              below protocol 4, "<locals>") */

typedef struct sp_name {
    const char *ptr; /* UTF-8, NUL-terminated, may contain NUL */
    uint32_t len;
} sp_name;

typedef struct sp_global {
    sp_name module, name;         /* after the protocol < 3 mapping */
    sp_name raw_module, raw_name; /* as find_class receives them */
    uint64_t offset;              /* of the opcode that resolved it */
    uint16_t flags;               /* SP_GF_* */
    uint8_t opcode;               /* dense opcode index (GLOBAL, INST, ...) */
    uint8_t proto;                /* protocol in force when it was resolved */
    int32_t ext_code;             /* EXT code, or 0 */
} sp_global;

/* ---- calls ------------------------------------------------------------ */

typedef enum sp_call_kind {
    SP_CALL_REDUCE = 0, /* callable(*args) */
    SP_CALL_NEWOBJ,     /* cls.__new__(cls, *args) */
    SP_CALL_NEWOBJ_EX,  /* cls.__new__(cls, *args, **kwargs) */
    SP_CALL_INST,       /* INST: cls(*args), or cls.__new__(cls) when empty */
    SP_CALL_OBJ,        /* OBJ: the same, class from the stack */
    SP_CALL_BUILD,      /* inst.__setstate__(state) or the default */
    SP_CALL_EXTEND,     /* APPEND(S) on a non-list: obj.extend(items) */
    SP_CALL_SETITEM,    /* SETITEM(S) on a non-dict: obj[key] = value */
    SP_CALL_ADD,        /* ADDITEMS on a non-set: obj.add(item) */
    SP_CALL_PERSID,     /* persistent_load(pid) */
    SP_CALL_KIND_COUNT
} sp_call_kind;

#define SP_CF_SPECULATIVE 0x01  /* after a point where the loader may fail */
#define SP_CF_USED 0x02         /* the result was used (stored, passed, returned) */
#define SP_CF_ARGS_UNKNOWN 0x04 /* args were opaque: shape unknown */
#define SP_CF_SLOTSTATE 0x08    /* BUILD with (state, slotstate): setattr */

typedef struct sp_call {
    uint8_t kind;   /* sp_call_kind */
    uint8_t flags;  /* SP_CF_* */
    uint8_t opcode; /* dense opcode index */
    uint8_t reserved;
    uint32_t index;
    uint64_t offset;
    sp_slot callee; /* GLOBAL, RESULT, or for BUILD/EXTEND/... the target */
    sp_slot args;   /* TUPLE for calls; state for BUILD; LIST for EXTEND;
                       (key, value) TUPLE for SETITEM; the item for ADD;
                       the pid for PERSID */
    sp_slot kwargs; /* NEWOBJ_EX only, else SP_V_NONE */
} sp_call;

/* ---- anomalies -------------------------------------------------------- */

#define SP_ANOMALY_LIST(X)                                                                         \
    X(NONCANONICAL_NUMBER, "number line the loader accepts but a pickler "                         \
                           "never writes (base prefix, underscores, "                              \
                           "spaces, sign, NUL terminator)")                                        \
    X(NUL_IN_LINE, "NUL byte inside a text line")                                                  \
    X(MEMO_MISSING, "memo read of an index never written")                                         \
    X(MEMO_OVERWRITE, "memo index written twice")                                                  \
    X(MEMO_SPARSE, "memo index far beyond the number of entries")                                  \
    X(STACK_UNDERFLOW, "stack or mark underflow")                                                  \
    X(UNKNOWN_OPCODE, "byte that is not an opcode")                                                \
    X(TRUNCATED, "input ends inside a pickle")                                                     \
    X(TRAILING_DATA, "bytes after the last pickle that are not a pickle")                          \
    X(MULTIPLE_STREAMS, "more than one pickle back to back")                                       \
    X(LIMIT, "a resource cap was hit")                                                             \
    X(COMPUTED_GLOBAL, "STACK_GLOBAL on values that are not constant "                             \
                       "strings")                                                                  \
    X(EXT_CODE, "extension-registry code (EXT1/2/4)")                                              \
    X(EXT_UNREGISTERED, "EXT code not registered earlier in the stream")                           \
    X(PROTO_REPEATED, "PROTO that is not the first opcode")                                        \
    X(PROTO_MISMATCH, "opcode newer than the declared protocol")                                   \
    X(FRAME_MISUSE, "framing a pickler never writes")                                              \
    X(OPEN_MARK_AT_STOP, "MARK still open at STOP")                                                \
    X(STACK_LEFTOVER, "more than the result left on the stack at STOP")                            \
    X(TYPE_ERROR, "operation the loader rejects for these value types")                            \
    X(DECODE_ERROR, "text the loader cannot decode")                                               \
    X(NESTED_PICKLE, "pickle inside a string or bytes value")                                      \
    X(DOTTED_NAME, "dotted global name (attribute chain)")                                         \
    X(COMPAT_RENAME, "protocol < 3 rename of a module or name")                                    \
    X(SPECULATIVE, "scan went on past a point where the loader may fail")                          \
    X(SLOTSTATE, "BUILD sets attributes through a slot state")                                     \
    X(OPAQUE_METHOD, "APPEND/SETITEM/ADDITEMS on a non-builtin object "                            \
                     "calls its methods")                                                          \
    X(CALL_ON_RESULT, "callable that is itself a call result")                                     \
    X(DISCARDED_CALL, "call whose result is thrown away")                                          \
    X(EMPTY_INPUT, "no bytes at all")                                                              \
    X(BAD_NAME, "global name the loader rejects")

typedef enum sp_anomaly_code {
#define SP_X(name, text) SP_AN_##name,
    SP_ANOMALY_LIST(SP_X)
#undef SP_X
        SP_AN_COUNT
} sp_anomaly_code;

typedef struct sp_anomaly {
    uint16_t code; /* sp_anomaly_code */
    uint64_t offset;
    const char *detail; /* arena string, may be NULL */
} sp_anomaly;

const char *sp_anomaly_name(int code);        /* "MEMO_MISSING" */
const char *sp_anomaly_description(int code); /* the text above */

/* ---- limits ----------------------------------------------------------- */

typedef struct sp_limits {
    uint64_t max_ops;     /* opcodes executed, all streams and nested */
    uint32_t max_stack;   /* values on the stack */
    uint32_t max_marks;   /* open MARKs */
    uint32_t max_memo;    /* distinct memo entries */
    uint64_t max_string;  /* declared length of one string/bytes value */
    uint64_t max_alloc;   /* bytes the arena may hand out */
    uint32_t max_streams; /* pickles back to back */
    uint32_t max_events;  /* globals + calls + anomalies per stream */
    uint32_t max_nesting; /* depth of pickles inside pickles */
    uint64_t max_depth;   /* container nesting depth */
    /* Not a cap: the caller reads no stream's result value, so streams of
     * plain data may be walked without building values (sp_plain.c).
     * Not settable from Python's limits dict; scan() sets it for
     * report="verdict" and for detail=False. */
    uint8_t result_unread;
    /* Not a cap: parts of the input the caller left unread (sp_holes.h),
     * NULL for none. The scan records there whether it relied on them. */
    struct sp_holes *holes;
    /* Not a cap: where to publish how far a loader started early may read
     * (sp_progress.h), NULL when no loader waits on the scan. */
    struct sp_progress *progress;
} sp_limits;

void sp_limits_default(sp_limits *limits);

/* ---- streams ---------------------------------------------------------- */

typedef enum sp_end_kind {
    SP_END_STOP = 0,  /* STOP reached: the loader returns a value */
    SP_END_ERROR,     /* the loader raises here; opcodes before it ran */
    SP_END_TRUNCATED, /* input ended inside the pickle */
    SP_END_LIMIT      /* a cap was hit: the rest was not examined */
} sp_end_kind;

typedef struct sp_result sp_result;

typedef enum sp_nested_reason {
    SP_NESTED_LOADS_ARG = 0, /* handed to a loads-like callable */
    SP_NESTED_LOOKS_LIKE,    /* a str/bytes constant that parses as a pickle */
    SP_NESTED_ALT_BUFFER,    /* the same stream as pickle.loads reads it */
    SP_NESTED_ALT_PYTHON,    /* the same stream as pickle.py reads it */
    SP_NESTED_JOBLIB_OBJECTS /* an object array joblib pickles inline */
} sp_nested_reason;

/* How a stream is read. The primary reading is _pickle's with a file (what
 * pickle.load and torch.load do); where another loader would read other
 * bytes, that reading is scanned too, as an alternate nested result. */
#define SP_MODE_BUFFER 0x01 /* _pickle with the whole pickle in memory */
#define SP_MODE_PYTHON 0x02 /* pickle.py's _Unpickler (joblib's base) */
#define SP_MODE_JOBLIB                                                                             \
    0x04 /* joblib's NumpyUnpickler: array data follows                                            \
            the BUILD of each NumpyArrayWrapper */

typedef struct sp_nested {
    uint8_t reason;    /* sp_nested_reason */
    uint32_t call;     /* call index for LOADS_ARG, else UINT32_MAX */
    uint64_t offset;   /* offset of the opcode that pushed the bytes */
    sp_result *result; /* allocated in the parent's arena */
} sp_nested;

typedef struct sp_stream {
    uint64_t start;      /* offset of the first opcode */
    uint64_t end;        /* one past STOP, or the failing offset */
    uint8_t end_kind;    /* sp_end_kind */
    uint8_t proto;       /* first PROTO argument, 0 if none */
    uint8_t max_proto;   /* highest PROTO argument seen */
    uint8_t speculative; /* went on past a point where the loader may fail */
    uint8_t alternates;  /* SP_MODE_* readings that would differ here */
    uint64_t speculative_offset;
    char error[SP_ERROR_MAX]; /* why the loader stops, if it does */
    uint64_t error_offset;

    sp_global *globals;
    uint32_t n_globals, globals_cap;
    sp_call *calls;
    uint32_t n_calls, calls_cap;
    sp_anomaly *anomalies;
    uint32_t n_anomalies, anomalies_cap;
    uint32_t anomaly_counts[SP_AN_COUNT];
    sp_nested *nested;
    uint32_t n_nested, nested_cap;

    sp_slot result; /* what STOP returns (SP_END_STOP only) */

    /* structural statistics */
    uint64_t opcode_counts[SP_N_OPCODES];
    uint64_t n_ops;
    uint32_t max_stack_depth;
    uint32_t max_mark_depth;
    uint32_t memo_puts;
    uint32_t memo_gets;
    uint32_t memo_entries;
    uint64_t memo_max_index;
    uint32_t joblib_arrays;      /* arrays read the way joblib reads them */
    uint64_t joblib_array_bytes; /* raw array bytes skipped */
    uint64_t max_container_depth;
    uint64_t string_bytes; /* total length of str/bytes values */
    uint64_t max_string_len;
    uint32_t n_frames;
    /* a container became searchable after it was put in another one, so
     * the holders' SP_OF_SEARCHABLE flags may be stale: the nested-pickle
     * search then walks every container */
    uint8_t search_all;
    /* walked by sp_plain.c: counts and statistics, result left None */
    uint8_t plain;
    /* capability bits of each global, set once the stream has run
     * (sp_stream_set_caps); NULL when there are none */
    uint32_t *caps;
} sp_stream;

/* ---- the result of scanning one buffer -------------------------------- */

struct sp_result {
    sp_arena *arena;      /* owner; nested results share the parent's */
    const uint8_t *input; /* NOT owned: must outlive the result */
    uint64_t input_len;
    uint32_t nesting; /* 0 for the top level */
    uint8_t mode;     /* SP_MODE_* of this reading */
    uint8_t single;   /* one pickle only, as one load call reads */
    sp_stream *streams;
    uint32_t n_streams, streams_cap;
    uint64_t trailing_offset; /* first byte not consumed by any stream */
    uint64_t trailing_len;
    int limit_hit; /* some cap was hit somewhere */
    char limit_detail[SP_ERROR_MAX];
    uint64_t ops_used; /* shared budget across nested scans (root only) */

    /* Process-wide state of the loader that outlives one pickle.load:
     * copyreg's extension registry as calls in the file change it. Kept on
     * the root result; nested results point at it through root. */
    sp_result *root;
    struct sp_ext_entry *ext;
    uint32_t n_ext, ext_cap;
    uint32_t nested_attempts; /* "looks like a pickle" scans tried (root) */
    uint32_t walk_epoch;      /* numbers value walks, see sp_obj.walk_mark */
    uint32_t plain_streams;   /* streams sp_plain.c walked, at any nesting (root) */
};

#endif
