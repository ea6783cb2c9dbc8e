/* A quick walk over pickles of plain data, for callers that read no
 * stream's result value (sp_plain.c). */
#ifndef SP_PLAIN_H
#define SP_PLAIN_H

#include <stdint.h>

#include "sp_trace.h"

/* Walks the stream at offset of res's input. 1 when it holds only builtin
 * values and the machine would record nothing for it but opcode counts
 * and statistics: *st is then filled as the machine would fill it, all
 * but the result (st->plain is set), and the root result counts it in
 * plain_streams. 0 otherwise, *st untouched: run the machine. */
int sp_plain_run(sp_result *res, const sp_limits *limits, uint64_t offset, sp_stream *st);

#endif
