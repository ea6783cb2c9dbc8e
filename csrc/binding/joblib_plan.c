#include "joblib_plan.h"

#include <errno.h>
#include <unistd.h>

#include "sp_joblib_plan.h"

/* Between two arrays lie a few hundred bytes of pickle: the first read
 * after an array is small, and each read that was not enough doubles. */
#define WINDOW (64 * 1024)
#define FIRST_WINDOW (4 * 1024)

/* Spans into `out` (pairs, up to cap of them); the count, or -1 with errno
 * set when a read fails. Runs without the GIL. */
static Py_ssize_t walk(int fd, uint64_t size, uint64_t min_len, sp_jplan *plan, uint8_t *window,
                       uint64_t *out, Py_ssize_t cap)
{
    Py_ssize_t n = 0;
    size_t step = FIRST_WINDOW;

    for (;;) {
        uint64_t at = sp_jplan_next(plan), start = 0, end = 0;
        size_t want = size - at < step ? (size_t)(size - at) : step, got = 0;
        sp_jplan_end how;

        if (at >= size)
            return n;
        while (got < want) {
            ssize_t r = pread(fd, window + got, want - got, (off_t)(at + got));

            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            got += (size_t)r;
        }
        if (got == 0)
            return n; /* shorter than it was: the scan will say so */
        do {
            how = sp_jplan_walk(plan, window, got, at, size, &start, &end);
            if (how == SP_JPLAN_ARRAY && end - start >= min_len) {
                if (n == cap)
                    return n;
                out[2 * n] = start;
                out[2 * n + 1] = end;
                n++;
            }
            /* an array ends outside this window: read on from there */
        } while (how == SP_JPLAN_ARRAY && sp_jplan_next(plan) - at < got);
        if (how == SP_JPLAN_DONE)
            return n;
        step = how == SP_JPLAN_ARRAY ? FIRST_WINDOW : step < WINDOW ? 2 * step : WINDOW;
    }
}

PyObject *sp_binding_joblib_arrays(PyObject *self, PyObject *args)
{
    int fd;
    unsigned long long size, min_len, ops;
    sp_jplan *plan = NULL;
    uint8_t *window = NULL;
    uint64_t *spans = NULL;
    Py_ssize_t n, cap = 65536;
    PyObject *list = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "iKKK:joblib_arrays", &fd, &size, &min_len, &ops))
        return NULL;
    plan = sp_jplan_new(ops);
    window = PyMem_RawMalloc(WINDOW);
    spans = PyMem_RawMalloc((size_t)cap * 2 * sizeof(uint64_t));
    if (plan == NULL || window == NULL || spans == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    n = walk(fd, size, min_len, plan, window, spans, cap);
    Py_END_ALLOW_THREADS
    if (n < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto error;
    }
    list = PyList_New(n);
    if (list == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *span = Py_BuildValue("(KK)", (unsigned long long)spans[2 * i],
                                       (unsigned long long)spans[2 * i + 1]);

        if (span == NULL) {
            Py_CLEAR(list);
            goto error;
        }
        PyList_SET_ITEM(list, i, span);
    }
error:
    sp_jplan_free(plan);
    PyMem_RawFree(window);
    PyMem_RawFree(spans);
    return list;
}
