/* Test hooks exposing the sp_text parsers to Python.
 *
 * They let the test suite compare each parser with the loader itself on
 * arbitrary lines; nothing else in the package calls them. */
#ifndef SP_BINDING_DEBUG_TEXT_H
#define SP_BINDING_DEBUG_TEXT_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* (ok, big, value, is_bool, noncanonical) */
PyObject *sp_debug_text_parse_int_line(PyObject *self, PyObject *args);
PyObject *sp_debug_text_parse_long_line(PyObject *self, PyObject *args);
PyObject *sp_debug_text_parse_index_line(PyObject *self, PyObject *args);
/* (ok, value, noncanonical) */
PyObject *sp_debug_text_parse_float_line(PyObject *self, PyObject *args);
/* bytes, or ValueError where the loader raises */
PyObject *sp_debug_text_decode_escape(PyObject *self, PyObject *args);
/* str (lone surrogates kept), or ValueError where the loader raises */
PyObject *sp_debug_text_decode_raw_unicode_escape(PyObject *self, PyObject *args);
/* bool */
PyObject *sp_debug_text_utf8_valid(PyObject *self, PyObject *args);
PyObject *sp_debug_text_ascii_valid(PyObject *self, PyObject *args);

#define SP_DEBUG_TEXT_METHODS                                                                      \
    {"_text_parse_int_line", sp_debug_text_parse_int_line, METH_VARARGS,                           \
     "_text_parse_int_line(line) -> (ok, big, value, is_bool, noncanonical)"},                     \
        {"_text_parse_long_line", sp_debug_text_parse_long_line, METH_VARARGS,                     \
         "_text_parse_long_line(line) -> (ok, big, value, is_bool, noncanonical)"},                \
        {"_text_parse_index_line", sp_debug_text_parse_index_line, METH_VARARGS,                   \
         "_text_parse_index_line(line) -> (ok, big, value, is_bool, noncanonical)"},               \
        {"_text_parse_float_line", sp_debug_text_parse_float_line, METH_VARARGS,                   \
         "_text_parse_float_line(line) -> (ok, value, noncanonical)"},                             \
        {"_text_decode_escape", sp_debug_text_decode_escape, METH_VARARGS,                         \
         "_text_decode_escape(data) -> bytes, as the STRING opcode decodes"},                      \
        {"_text_decode_raw_unicode_escape", sp_debug_text_decode_raw_unicode_escape, METH_VARARGS, \
         "_text_decode_raw_unicode_escape(data) -> str, as UNICODE decodes"},                      \
        {"_text_utf8_valid", sp_debug_text_utf8_valid, METH_VARARGS,                               \
         "_text_utf8_valid(data, allow_surrogates) -> bool"},                                      \
        {"_text_ascii_valid", sp_debug_text_ascii_valid, METH_VARARGS,                             \
         "_text_ascii_valid(data) -> bool"},

#endif
