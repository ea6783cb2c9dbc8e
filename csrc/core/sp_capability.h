/* What known modules and callables can do.
 *
 * A table of (module, name) patterns with capability classes. It is what a
 * reviewer would answer when asked "what can calling this do?"; the rule
 * verdict and the semantic features both read it. Nothing is imported. */
#ifndef SP_CAPABILITY_H
#define SP_CAPABILITY_H

#include <stddef.h>
#include <stdint.h>

#define SP_CAP_PROCESS 0x0001       /* spawns or replaces processes */
#define SP_CAP_CODE_EXEC 0x0002     /* runs Python code or native code */
#define SP_CAP_FILESYSTEM 0x0004    /* writes, deletes, opens files */
#define SP_CAP_NETWORK 0x0008       /* sockets, HTTP, mail, ... */
#define SP_CAP_IMPORT 0x0010        /* import machinery */
#define SP_CAP_INTROSPECTION 0x0020 /* getattr-style reach into objects */
#define SP_CAP_DESERIALIZE 0x0040   /* loads more serialized data */
#define SP_CAP_DEBUG 0x0080         /* debuggers, profilers, tracers */
#define SP_CAP_SYSTEM 0x0100        /* interpreter state: exit, env, signals */
#define SP_CAP_SAFE_DATA                                                                           \
    0x1000                 /* known data constructor (numpy, torch                                 \
                              rebuild, collections, sklearn ...) */
#define SP_CAP_N_CLASSES 9 /* the first nine bits are "dangerous" */
#define SP_CAP_DANGEROUS 0x01ffu

/* Capability bits of module.name, both UTF-8 of given lengths. Dotted names
 * are judged by every component: "os.system" inside "pathlib" is PROCESS. */
uint32_t sp_capability_of(const char *module, size_t module_len, const char *name, size_t name_len);
/* 1 when calling module.name deserializes its first argument (pickle.loads,
 * dill.loads, marshal.loads, ...): its bytes are scanned as a nested pickle. */
int sp_is_loads_like(const char *module, size_t module_len, const char *name, size_t name_len);
/* 1 when the module is part of the Python standard library. */
int sp_module_is_stdlib(const char *module, size_t module_len);
/* Name of capability bit ("process"), or NULL. */
const char *sp_capability_name(uint32_t bit);

#endif
