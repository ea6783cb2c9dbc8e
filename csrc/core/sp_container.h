/* Containers: the records of a file that a loader will run as pickles.
 *
 * Readers in this family never run a pickle: they find the exact bytes a
 * loader would hand to its unpickler (the record torch.load executes, the
 * decompressed stream joblib reads, the pickle after an .npy header) and
 * everything about the container that a benign writer never produces. */
#ifndef SP_CONTAINER_H
#define SP_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "sp_status.h"

#define SP_CONTAINER_ANOMALY_LIST(X)                                                               \
    X(ZIP_DUPLICATE_NAME, "two entries with the same name")                                        \
    X(ZIP_CASE_COLLISION, "two entries whose names differ only in case")                           \
    X(ZIP_MULTIPLE_EOCD, "more than one end-of-central-directory record")                          \
    X(ZIP_NAME_MISMATCH, "local and central headers name an entry differently")                    \
    X(ZIP_ENCRYPTED, "encryption flag set")                                                        \
    X(ZIP_DATA_BEFORE, "bytes before the first local header")                                      \
    X(ZIP_DATA_AFTER, "bytes after the end-of-central-directory record")                           \
    X(ZIP_CRC_MISMATCH, "stored CRC does not match the data (torch does not check)")               \
    X(ZIP_FLAG_BITS, "general-purpose flag bits a torch writer never sets")                        \
    X(ZIP_PREFIX_MISMATCH, "entries do not share the archive prefix of the first entry")           \
    X(ZIP_BAD_ENTRY, "an entry that cannot be read")                                               \
    X(ZIP_COMPRESSED_RECORD, "a record torch expects stored is compressed")                        \
    X(ZIP_OVERLAP, "entries whose data overlap")                                                   \
    X(DECOMPRESS_RATIO, "decompression ratio above the cap")                                       \
    X(DECOMPRESS_SIZE, "decompressed size above the cap")                                          \
    X(DECOMPRESS_ERROR, "compressed stream is corrupt or truncated")                               \
    X(DECOMPRESS_TRAILING, "bytes after the end of the compressed stream")                         \
    X(NPY_BAD_HEADER, "npy header numpy would reject")                                             \
    X(NPY_OBJECT, "npy array of dtype object: a pickle follows the header")                        \
    X(NESTING, "containers nested deeper than the cap")

typedef enum sp_container_anomaly {
#define SP_X(name, text) SP_CA_##name,
    SP_CONTAINER_ANOMALY_LIST(SP_X)
#undef SP_X
        SP_CA_COUNT
} sp_container_anomaly;

const char *sp_container_anomaly_name(int code);
const char *sp_container_anomaly_description(int code);

#endif
