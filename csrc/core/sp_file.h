/* A whole file as its loader sees it: the pickles it runs, in which records.
 *
 * A model file is a bare pickle, or a container around pickles: a torch zip
 * whose data.pkl torch.load runs, an .npy of objects whose pickle follows the
 * header, an .npz of those, a joblib file compressed whole. sp_scan_file finds
 * each pickle exactly as the loader would reach it, scans it, and keeps what
 * about the container itself a benign writer never produces. */
#ifndef SP_FILE_H
#define SP_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "sp_container.h"
#include "sp_scan.h"
#include "sp_verdict.h"

#define SP_RECORD_NAME_MAX 160
#define SP_FILE_MAX_RECORDS 1024

typedef struct sp_record {
    char name[SP_RECORD_NAME_MAX]; /* "archive/data.pkl", "<file>", "arr_0.npy" */
    int primary;                   /* the pickle the loader runs first */
    int code;                      /* TorchScript code, not a pickle: listed, not scanned */
    sp_result *result;             /* NULL when the record could not be read */
    char error[SP_ERROR_MAX];      /* why it could not, or "" */
} sp_record;

typedef struct sp_file_anomaly {
    int code; /* sp_container_anomaly */
    char detail[SP_ERROR_MAX];
} sp_file_anomaly;

typedef struct sp_file sp_file;

struct sp_file {
    char format[48];    /* as the manifest names formats: "torch-zip", "npz", ... */
    sp_record *records; /* the primary record first, when there is one */
    uint32_t n_records;
    sp_file_anomaly *anomalies;
    uint32_t n_anomalies;
    uint32_t anomaly_mask;    /* bit (1u << code) per sp_container_anomaly */
    char error[SP_ERROR_MAX]; /* the loader refuses the file before any pickle */
    int no_pickle;            /* nothing in the file is a pickle (numeric arrays) */
    int torchscript;          /* torch.load hands the file to torch.jit.load */
    /* owned buffers (decompressed data) and the zip reader's state */
    uint8_t **owned;
    uint32_t n_owned;
    void *zip;
    /* containers inside this one, kept for the buffers their records use */
    sp_file **children;
    uint32_t n_children;
    int depth; /* 0 for the file itself */
};

/* Scan data as a file. On SP_OK *out must be freed with sp_file_free, and
 * data must outlive it. Errors only for memory and invalid arguments: what
 * the file does wrong is in the result. */
sp_status sp_scan_file(const uint8_t *data, size_t len, const sp_limits *limits, sp_file **out,
                       sp_error *err);
void sp_file_free(sp_file *file);

/* The primary record's result, or NULL. */
const sp_result *sp_file_primary(const sp_file *file);

/* The verdict over every record and the container: any unsafe record or
 * container ambiguity makes the file unsafe; a loader that would refuse the
 * file or its first pickle makes it an error; a file without pickles, or
 * whose pickles are all benign, is benign. */
void sp_file_verdict(const sp_file *file, sp_verdict *out);

#endif
