/* Entry points of the core: scan one buffer of pickle bytes.
 *
 * sp_scan_pickles runs the pickle machine over every pickle in the buffer
 * (back to back, as repeated pickle.load calls read them) and over pickles
 * nested inside them. Nothing in the input is executed or imported. */
#ifndef SP_SCAN_H
#define SP_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "sp_status.h"
#include "sp_trace.h"

/* Scan data[0..len). On SP_OK *out is a result that must be released with
 * sp_result_free; data must outlive it. A resource cap is not an error: it
 * is recorded in the result (limit_hit, SP_END_LIMIT). Errors are only for
 * allocation failure and invalid arguments. */
sp_status sp_scan_pickles(const uint8_t *data, size_t len, const sp_limits *limits, sp_result **out,
                          sp_error *err);

/* One pickle only, as one pickle.load call reads it from data: for formats
 * that put other bytes between the pickles they load. */
sp_status sp_scan_pickle_once(const uint8_t *data, size_t len, const sp_limits *limits,
                              sp_result **out, sp_error *err);

void sp_result_free(sp_result *result);

/* Scan one stream starting at offset into a result being built; used by
 * sp_scan_pickles and for nested pickles. */
sp_status sp_machine_run(sp_result *result, const sp_limits *limits, uint64_t offset,
                         sp_stream *stream, sp_error *err);

#endif
