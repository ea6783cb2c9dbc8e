/* Reports set the same ~150 keys on every dict they make; building and
 * interning a new str for each (what PyDict_SetItemString does) was most of
 * the cost of a small file's report. The strings are kept for the life of
 * the process; the GIL guards the table. */
#include "static_str.h"

#include <stdint.h>
#include <string.h>

#define SLOTS 512 /* power of two, well above the strings the reports use */

static const char *slot_key[SLOTS];
static PyObject *slot_str[SLOTS];

PyObject *sp_static_str(const char *s)
{
    uintptr_t h = (uintptr_t)s;

    h ^= h >> 9;
    for (size_t n = 0; n < SLOTS; n++) {
        size_t i = (h + n) & (SLOTS - 1);

        if (slot_key[i] == s)
            return Py_NewRef(slot_str[i]);
        if (slot_key[i] == NULL) {
            PyObject *v = PyUnicode_InternFromString(s);

            if (v == NULL)
                return NULL;
            slot_key[i] = s;
            slot_str[i] = v;
            return Py_NewRef(v);
        }
    }
    return PyUnicode_InternFromString(s); /* table full: not expected */
}
