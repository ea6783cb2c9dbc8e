"""File formats a pickle travels in, written byte-exactly and
deterministically (fixed zip timestamps, gzip mtime 0).

Each `CONTAINERS` entry: file suffix, the loader a user would call, and
the function that wraps pickle bytes into the file's bytes.
"""

import bz2
import gzip
import io
import lzma
import pickle
import zipfile
import zlib

import numpy

# torch.serialization constants of the legacy (pre-1.6, non-zip) format.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PROTOCOL = 1001
TORCH_LEGACY_SYS_INFO = {
    "protocol_version": TORCH_LEGACY_PROTOCOL,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def zero_gzip_mtime(data):
    """gzip headers carry the write time at bytes 4-8; zero it so the same
    seed gives the same bytes (the CRC covers only the content)."""
    if data[:2] != b"\x1f\x8b":
        raise ValueError("not a gzip stream")
    return data[:4] + b"\0\0\0\0" + data[8:]


# ---- torch zip ----------------------------------------------------------------

def torch_zip(data_pkl, records=None, archive="archive"):
    """A torch.save zip archive: `records` (name -> bytes, names relative to
    the archive folder, in order) with data.pkl replaced or added first."""
    if records is None:
        records = {"data.pkl": b"", "byteorder": b"little", "version": b"3\n"}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in records.items():
            if name == "data.pkl":
                data = data_pkl
            info = zipfile.ZipInfo("%s/%s" % (archive, name), ZIP_EPOCH)
            z.writestr(info, data)
    return out.getvalue()


def read_torch_zip(data):
    """(archive folder, records in order) of a torch zip file."""
    records = {}
    archive = None
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            folder, _, rest = name.partition("/")
            archive = archive or folder
            records[rest] = z.read(name)
    return archive, records


# ---- torch legacy -------------------------------------------------------------

def torch_legacy_header():
    return (pickle.dumps(TORCH_LEGACY_MAGIC, protocol=2)
            + pickle.dumps(TORCH_LEGACY_PROTOCOL, protocol=2)
            + pickle.dumps(TORCH_LEGACY_SYS_INFO, protocol=2))


def renumber_legacy_storages(data):
    """torch's legacy writer names storages by their memory address, so two
    saves of the same tensors differ. Rename them 0, 1, ... in the order
    their data is stored (the order of the key list). Frames are removed
    first: the new names change string lengths."""
    from .inject import opcode_walk, pickle_end, strip_frames
    bounds = [0]
    for _ in range(5):
        bounds.append(bounds[-1] + pickle_end(data[bounds[-1]:]))
    keys = pickle.loads(data[bounds[4]:bounds[5]])
    renamed = {key: str(i) for i, key in enumerate(keys)}
    main = strip_frames(data[bounds[3]:bounds[4]])
    out = bytearray()
    ops = opcode_walk(main)
    for index, (name, arg, pos) in enumerate(ops):
        end = ops[index + 1][2] if index + 1 < len(ops) else len(main)
        if isinstance(arg, str) and arg in renamed and name in (
                "BINUNICODE", "SHORT_BINUNICODE", "UNICODE"):
            new = renamed[arg].encode()
            if name == "UNICODE":
                out += pickle.UNICODE + new + b"\n"
            elif name == "SHORT_BINUNICODE":
                out += pickle.SHORT_BINUNICODE + bytes([len(new)]) + new
            else:
                out += pickle.BINUNICODE + len(new).to_bytes(4, "little") + new
        else:
            out += main[pos:end]
    new_keys = pickle.dumps([renamed[k] for k in keys], protocol=2)
    return data[:bounds[3]] + bytes(out) + new_keys + data[bounds[5]:]


def torch_legacy(main_pickle):
    """The legacy torch.save layout with no tensors: magic number, protocol
    version and sys info pickles, the object pickle, an empty storage key
    list."""
    return torch_legacy_header() + main_pickle + pickle.dumps([], protocol=2)


# ---- joblib -------------------------------------------------------------------

def joblib_file(pickle_bytes, compression):
    """A joblib.dump file holding these pickle bytes, compressed with
    joblib's own compressor file objects (None: uncompressed)."""
    if compression is None:
        return pickle_bytes
    from joblib.numpy_pickle_utils import _write_fileobject
    out = io.BytesIO()
    with _write_fileobject(out, compress=(compression, 3)) as f:
        f.write(pickle_bytes)
    data = out.getvalue()
    if compression == "gzip":
        data = zero_gzip_mtime(data)
    return data


def decompress(data, compression):
    """Inverse of the compression of joblib_file / gzip_pickle / ..."""
    if compression is None:
        return data
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "bz2":
        return bz2.decompress(data)
    if compression in ("xz", "lzma"):
        return lzma.decompress(data)
    if compression == "lz4":
        import lz4.frame
        return lz4.frame.decompress(data)
    if compression == "zlib":
        return zlib.decompress(data)
    raise ValueError("unknown compression %r" % compression)


def unwrap(container, data):
    """The pickle stream of a pickle or joblib file of this container."""
    _, _, compression = container.partition("_")
    return decompress(data, compression or None)


# ---- numpy .npy ---------------------------------------------------------------

def npy(pickle_bytes, shape=(1,)):
    """An .npy file whose object array is this pickle."""
    out = io.BytesIO()
    header = {"descr": "|O", "fortran_order": False, "shape": shape}
    numpy.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + pickle_bytes


def read_npy(data):
    """(header bytes, body bytes, dtype) of an .npy file; the body of an
    object array is a pickle."""
    f = io.BytesIO(data)
    version = numpy.lib.format.read_magic(f)
    if version == (1, 0):
        _, _, dtype = numpy.lib.format.read_array_header_1_0(f)
    else:
        _, _, dtype = numpy.lib.format.read_array_header_2_0(f)
    return data[:f.tell()], data[f.tell():], dtype


def split_npy(data):
    """(header bytes, pickle bytes) of an object-array .npy file."""
    header, body, dtype = read_npy(data)
    if not dtype.hasobject:
        raise ValueError("not an object array: no pickle inside")
    return header, body


# ---- compressed plain pickles (pandas.read_pickle infers from the suffix) -----

def gzip_pickle(data):
    return gzip.compress(data, 9, mtime=0)


def bz2_pickle(data):
    return bz2.compress(data, 9)


def xz_pickle(data):
    return lzma.compress(data, format=lzma.FORMAT_XZ)


# container name -> (file suffix, default loader, wrap(pickle bytes))
CONTAINERS = {
    "pickle": (".pkl", "pickle", lambda b: b),
    "pickle_gzip": (".pkl.gz", "pandas", gzip_pickle),
    "pickle_bz2": (".pkl.bz2", "pandas", bz2_pickle),
    "pickle_xz": (".pkl.xz", "pandas", xz_pickle),
    "torch_zip": (".pt", "torch", torch_zip),
    "torch_legacy": (".pth", "torch", torch_legacy),
    "joblib": (".joblib", "joblib", lambda b: joblib_file(b, None)),
    "joblib_zlib": (".joblib.z", "joblib", lambda b: joblib_file(b, "zlib")),
    "joblib_gzip": (".joblib.gz", "joblib", lambda b: joblib_file(b, "gzip")),
    "joblib_bz2": (".joblib.bz2", "joblib", lambda b: joblib_file(b, "bz2")),
    "joblib_xz": (".joblib.xz", "joblib", lambda b: joblib_file(b, "xz")),
    "joblib_lzma": (".joblib.lzma", "joblib", lambda b: joblib_file(b, "lzma")),
    "joblib_lz4": (".joblib.lz4", "joblib", lambda b: joblib_file(b, "lz4")),
    "npy": (".npy", "numpy", npy),
}

# Which protocols a container's own writer uses for its pickle.
CONTAINER_PROTOCOLS = {
    "torch_zip": (2,),
    "torch_legacy": (2,),
    "npy": (3, 4, 5),
}


def joblib_compression(container):
    return container.partition("_")[2] or None
