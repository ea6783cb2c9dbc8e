/* What the trace means: shared by the features and the rule verdict.
 *
 * The capability of each global, the constant strings a call hands over,
 * and what those strings look like. Both consumers must read the trace the
 * same way, so the reading lives here once. */
#ifndef SP_SEMANTIC_H
#define SP_SEMANTIC_H

#include <stddef.h>
#include <stdint.h>

#include "sp_arena.h"
#include "sp_trace.h"

/* Capability bits of a global, judged on the renamed and the raw names.
 * SP_CAP_SAFE_DATA is dropped whenever a dangerous bit is set. */
uint32_t sp_global_caps(const sp_global *g);

/* Judges every global of a run stream once, into st->caps (in the arena):
 * the features and the verdict both read them. st->caps stays NULL when
 * the stream has no globals or memory ran out (readers then fall back to
 * sp_global_caps). */
void sp_stream_set_caps(sp_arena *arena, sp_stream *st);

/* Capability bits of the stream's global i: st->caps when it was set. */
uint32_t sp_stream_global_caps(const sp_stream *st, uint32_t i);

/* The global a callee slot names, or NULL when it is not a global. */
const sp_global *sp_slot_global(const sp_stream *st, const sp_slot *s);

/* 1 for the call kinds that invoke their callee (REDUCE, NEWOBJ, INST...),
 * as opposed to those that act on a built object (BUILD, SETITEM...). */
int sp_call_invokes(const sp_call *c);

#define SP_STR_CODE 0x01   /* reads like Python source */
#define SP_STR_SHELL 0x02  /* reads like a shell command */
#define SP_STR_DANGER 0x04 /* names an attribute or module an attack reaches for */

/* SP_STR_* flags of a string constant. Only the first SP_STR_SCAN_MAX bytes
 * are examined so that a large array payload costs a bounded amount; data
 * that looks binary (a quarter of its first 256 bytes neither printable
 * ASCII nor whitespace) gets no code or shell flag. */
#define SP_STR_SCAN_MAX 65536
unsigned sp_string_class(const uint8_t *s, uint64_t len);

/* SP_STR_DANGER alone: s (or a dotted component of it) is an attribute or
 * module name used to reach code (system, __globals__, os, ...). */
int sp_string_names_danger(const uint8_t *s, uint64_t len);

/* Calls fn on every str/bytes/bytearray constant in v, containers walked to
 * depth SP_WALK_DEPTH; *budget counts visited slots down and stops the walk
 * at 0 (shared structure can make a small pickle a huge tree). */
#define SP_WALK_DEPTH 16
typedef void (*sp_string_fn)(const uint8_t *s, uint64_t len, void *ctx);
void sp_walk_strings(const sp_slot *v, sp_string_fn fn, void *ctx, uint64_t *budget);

/* A lookup (getattr, attrgetter, methodcaller) whose arguments are all
 * constants or globals and name nothing an attack reaches for: calling what
 * it returns calls an ordinary attribute of something the file named, which
 * is how bound methods and classmethods pickle (zoneinfo.ZoneInfo._unpickle
 * in every tz-aware pandas frame, methodcaller("lower") in a pipeline). It
 * reads like a dotted global, judged by the globals it names. A name that is
 * computed, or a target that a call built, stays a chain. 1 when the
 * arguments of inner are such; the caller checks that its callee is a
 * lookup (SP_CAP_INTROSPECTION). */
int sp_plain_lookup_args(const sp_call *inner);

/* A call that is such a lookup: it invokes a global whose only dangerous
 * capability is SP_CAP_INTROSPECTION (getattr, attrgetter, methodcaller;
 * not pkgutil.resolve_name, which imports), with plain arguments. */
int sp_is_plain_lookup(const sp_call *c, uint32_t callee_bits);

/* getattr(G, "attr") with G a global is the dotted global G.attr: its
 * capability bits, or 0 for any other shape of lookup (attrgetter and
 * methodcaller name no target) and for names longer than
 * SP_LOOKUP_NAME_MAX. */
#define SP_LOOKUP_NAME_MAX 512
uint32_t sp_lookup_target_caps(const sp_stream *st, const sp_call *lookup);

#endif
