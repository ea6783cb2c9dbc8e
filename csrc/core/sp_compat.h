/* CPython's protocol < 3 renames (Unpickler.find_class with fix_imports). */
#ifndef SP_COMPAT_H
#define SP_COMPAT_H

#include <stddef.h>

/* Looks (module, name) up as CPython does: a NAME_MAPPING hit renames both,
 * otherwise an IMPORT_MAPPING hit renames the module. Returns 1 and sets the
 * outputs (static strings) when something was renamed, 0 otherwise. */
int sp_compat_map(const char *module, size_t module_len, const char *name, size_t name_len,
                  const char **new_module, const char **new_name);

#endif
