/* How far a loader may run ahead of the scan of its own input.
 *
 * A guard that scans first and loads after pays for both in turn. It may
 * instead start the real loader at once, as long as the loader only reads
 * bytes whose every opcode the scan has already examined and found
 * harmless to execute whatever the verdict will be: plain data (scalars,
 * strings, builtin containers, the memo, frames) and the rebuild calls
 * numpy writes for an array (sp_progress.c names them). The scan publishes
 * how far those bytes reach, [0, cleared) of the input, as it goes. The
 * first opcode that could do anything else (import a module, call, hand
 * the loader's persistent_load or buffers something, STOP) closes the
 * gate: the loader then waits for the verdict.
 *
 * Only the pickle the loader reads first is gated, as _pickle reads it
 * from a file: the one at the start of a raw pickle, or after the header
 * of an .npy file (whose header numpy parses as a literal). Nested pickles,
 * other readings and the pickles after the first never publish. */
#ifndef SP_PROGRESS_H
#define SP_PROGRESS_H

#include <stdint.h>

struct sp_result;
struct sp_stream;

/* Published at most once per this many bytes of progress, and where the
 * gate closes: a signal per opcode would cost more than the opcode. */
#define SP_PROGRESS_STEP ((uint64_t)64 * 1024)

/* numpy is imported already: the loader may resolve numpy's rebuild
 * functions without running numpy's import on the file's say. */
#define SP_PROGRESS_NUMPY 0x01

typedef struct sp_progress {
    const uint8_t *base;   /* the caller's whole input */
    const uint8_t *origin; /* where the gated pickle starts; NULL until known */
    uint64_t cleared;      /* last published: bytes [0, cleared) of base */
    int closed;            /* nothing more is published */
    unsigned flags;        /* SP_PROGRESS_* */
    /* Called from the scanning thread with each new value of cleared. */
    void (*publish)(void *ctx, uint64_t cleared);
    void *ctx;
} sp_progress;

/* The top-level input holds a pickle the loader reads first at `pickle`
 * (data is the input being read). Publishes the bytes before it, which
 * the loader reads as a header, when data is the caller's input. */
void sp_progress_begin(sp_progress *p, const uint8_t *data, const uint8_t *pickle);

/* 1 when the reading of result starting at `start` is the gated one. */
int sp_progress_gates(const sp_progress *p, const struct sp_result *result, const uint8_t *start);

/* Publishes [0, at) when it reaches SP_PROGRESS_STEP past the last value. */
void sp_progress_publish_from(sp_progress *p, const uint8_t *at);
static inline void sp_progress_note(sp_progress *p, const uint8_t *at)
{
    if ((uint64_t)(at - p->base) >= p->cleared + SP_PROGRESS_STEP)
        sp_progress_publish_from(p, at);
}

/* The opcode at `at` is not cleared: publishes [0, at) and closes. */
void sp_progress_close(sp_progress *p, const uint8_t *at);

/* 1 when what one opcode added to the stream, globals from index
 * first_global and calls from first_call on, is among the rebuilds the
 * gate lets the loader run. */
int sp_progress_allows(const sp_progress *p, const struct sp_stream *st, uint32_t first_global,
                       uint32_t first_call);

#endif
