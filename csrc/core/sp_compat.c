#include "sp_compat.h"

#include <string.h>

#include "sp_compat_table.h"

static int equals(const char *s, size_t n, const char *z)
{
    return strlen(z) == n && memcmp(s, z, n) == 0;
}

int sp_compat_map(const char *module, size_t module_len, const char *name, size_t name_len,
                  const char **new_module, const char **new_name)
{
    size_t i;

    for (i = 0; i < sizeof(sp_compat_names) / sizeof(sp_compat_names[0]); i++) {
        if (equals(module, module_len, sp_compat_names[i].module) &&
            equals(name, name_len, sp_compat_names[i].name)) {
            *new_module = sp_compat_names[i].new_module;
            *new_name = sp_compat_names[i].new_name;
            return 1;
        }
    }
    for (i = 0; i < sizeof(sp_compat_modules) / sizeof(sp_compat_modules[0]); i++) {
        if (equals(module, module_len, sp_compat_modules[i].module)) {
            *new_module = sp_compat_modules[i].new_module;
            *new_name = NULL;
            return 1;
        }
    }
    return 0;
}
