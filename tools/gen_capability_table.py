#!/usr/bin/env python3
"""Generate csrc/core/sp_capability_table.h and the table in docs/capabilities.md.

The data below is the reviewer's knowledge of what a callable reached from a
pickle can do. It lives here, in one readable list, and is compiled into a
sorted C table that the core binary-searches; the same list is written into
docs/capabilities.md so that the documentation cannot drift from the code.

Module patterns: "os" matches the module os only; "torch.jit.*" matches
torch.jit and every submodule. Name patterns: "system" exact, "exec*" prefix,
"*Error" suffix, "*" anything (dotted names included). Within one module the
first matching pattern wins, exact names before prefixes (longest first),
then suffixes, then "*"; a submodule's own entries win over its parents'.
"""
import pathlib
import shutil
import subprocess
import sys

P, C, F, N, I, R, D, G, S = (1 << i for i in range(9))
SAFE = 0x1000
BIT_NAMES = [(P, "process"), (C, "code_exec"), (F, "filesystem"), (N, "network"),
             (I, "import"), (R, "introspection"), (D, "deserialize"), (G, "debug"),
             (S, "system"), (SAFE, "safe_data")]
C_BITS = {P: "SP_CAP_PROCESS", C: "SP_CAP_CODE_EXEC", F: "SP_CAP_FILESYSTEM",
          N: "SP_CAP_NETWORK", I: "SP_CAP_IMPORT", R: "SP_CAP_INTROSPECTION",
          D: "SP_CAP_DESERIALIZE", G: "SP_CAP_DEBUG", S: "SP_CAP_SYSTEM",
          SAFE: "SP_CAP_SAFE_DATA"}

OS_FILES = ("remove unlink rmdir removedirs rename renames replace makedirs mkdir mkfifo mknod "
            "chmod lchmod fchmod chown lchown fchown chflags lchflags symlink link truncate "
            "ftruncate write writev pwrite open openpty fdopen chdir fchdir chroot utime "
            "listdir scandir walk fwalk lseek read readv pread sendfile copy_file_range "
            "memfd_create pipe pipe2 dup dup2 close closerange")
OS_PROC = ("system popen popen2 popen3 popen4 exec* spawn* fork forkpty posix_spawn* startfile "
           "wait wait3 wait4 waitpid waitid plock")
OS_SYS = ("kill killpg abort _exit putenv unsetenv environ environb setuid seteuid setgid setegid "
          "setreuid setregid setresuid setresgid setgroups initgroups setsid setpgid setpgrp "
          "nice umask sched_setaffinity sched_setscheduler sched_setparam register_at_fork "
          "add_dll_directory")
OS_DATA = ("stat_result statvfs_result terminal_size times_result uname_result sched_param "
           "waitid_result")
PATH_CLASSES = "Path PosixPath WindowsPath PurePath PurePosixPath PureWindowsPath"

TABLE = [
    # ---- process -------------------------------------------------------
    ("os", OS_PROC, P),
    ("os", OS_FILES, F),
    ("os", OS_SYS, S | P),
    ("os", OS_DATA, SAFE),
    ("os", "path path.* fspath fsencode fsdecode sep linesep curdir pardir extsep altsep "
           "pathsep devnull name", 0),
    ("os", "*", S),
    ("subprocess.*", "*", P),
    ("_posixsubprocess.*", "*", P),
    ("_winapi.*", "*", P | S),
    ("pty.*", "*", P),
    ("commands.*", "*", P),
    ("popen2.*", "*", P),
    ("multiprocessing.*", "*", P),
    ("concurrent.futures.*", "ProcessPoolExecutor*", P),
    ("asyncio.*", "open_connection open_unix_connection start_server start_unix_server "
                  "*Server", N),
    ("asyncio.*", "*Error CancelledError", 0),
    ("asyncio.*", "*", P | N),
    ("pexpect.*", "*", P),
    ("ptyprocess.*", "*", P),
    ("sh.*", "*", P),
    ("plumbum.*", "*", P),
    ("fabric.*", "*", P | N),
    ("invoke.*", "*", P),
    ("webbrowser.*", "*", P | N),
    ("pydoc.*", "locate", I | R),
    ("pydoc.*", "*", P | I),
    ("_pyrepl.*", "*", P | C),
    ("uuid", "UUID SafeUUID", SAFE),
    ("uuid", "_*", P),
    ("_osx_support.*", "*", P),
    ("_aix_support.*", "*", P),
    ("platform", "uname_result", SAFE),
    ("platform", "*", P),
    ("ensurepip.*", "*", P),
    ("venv.*", "*", P | F),
    ("pip.*", "*", P | C | N),
    ("setuptools.*", "*", P | C | F),
    ("distutils.*", "*", P | C | F),
    ("imaplib.*", "IMAP4_stream", P | N),
    ("imaplib.*", "*", N),
    ("IPython.*", "*", P | C),
    ("os2emxpath", "*", 0),
    # ---- code execution ------------------------------------------------
    ("builtins", "eval exec execfile compile __build_class__ apply", C),
    ("builtins", "breakpoint", G | C),
    ("builtins", "__import__ reload", I),
    ("builtins", "open file", F),
    ("builtins", "getattr setattr delattr hasattr globals locals vars dir type super", R),
    ("builtins", "exit quit input help", S),
    ("builtins", "set frozenset list dict tuple bytearray bytes complex slice range object int "
                 "float str bool memoryview Ellipsis NotImplemented BaseException "
                 "*Error *Exception *Warning", SAFE),
    ("builtins", "*", 0),
    ("code.*", "*", C),
    ("codeop.*", "*", C),
    ("runpy.*", "*", C | I),
    ("timeit.*", "*", C),
    ("cProfile.*", "*", C | G),
    ("profile.*", "*", C | G),
    ("pdb.*", "*", C | G),
    ("bdb.*", "*", C | G),
    ("trace.*", "*", C | G),
    ("idlelib.*", "*", C | P),
    ("doctest.*", "*", C | G),
    ("types", "SimpleNamespace MappingProxyType GenericAlias UnionType NoneType", SAFE),
    ("types", "FunctionType LambdaType CodeType CellType new_class prepare_class "
              "DynamicClassAttribute coroutine", C),
    ("types", "MethodType BuiltinFunctionType BuiltinMethodType MethodWrapperType "
              "WrapperDescriptorType MethodDescriptorType ClassMethodDescriptorType "
              "GetSetDescriptorType MemberDescriptorType FrameType TracebackType", R),
    ("types", "ModuleType", I),
    ("marshal.*", "*", D | C),
    ("ctypes.*", "*", C),
    ("_ctypes.*", "*", C),
    ("cffi.*", "*", C),
    ("numpy.testing.*", "*", C),
    ("numpy.f2py.*", "*", C | P),
    ("numpy.distutils.*", "*", C | P | F),
    ("numpy.ctypeslib.*", "*", C),
    ("lib2to3.pgen2.grammar", "Grammar.load*", D | F),
    ("lib2to3.pgen2.grammar", "Grammar.dump", F),
    ("lib2to3.*", "*", C | F),
    ("test.*", "*", C | P),
    ("site.*", "*", C | I),
    ("_thread.*", "start_new_thread start_new", C),
    ("_thread.*", "interrupt_main", S),
    ("threading", "Thread Timer", C),
    ("atexit.*", "*", S | C),
    ("sqlite3.*", "*", F | C),
    # ---- filesystem ----------------------------------------------------
    ("io", "open open_code FileIO", F),
    ("io", "BytesIO StringIO", SAFE),
    ("codecs", "open EncodedFile", F),
    ("codecs", "encode decode", SAFE),
    ("_codecs", "encode decode", SAFE),
    ("shutil.*", "*", F),
    ("tempfile.*", "*", F),
    ("glob.*", "*", F),
    ("fileinput.*", "*", F),
    ("linecache.*", "*", F),
    ("filecmp.*", "*", F),
    ("pathlib", PATH_CLASSES, SAFE),
    ("pathlib", "*", F),
    ("logging", "FileHandler", F),
    ("logging.handlers", "SocketHandler DatagramHandler SysLogHandler SMTPHandler HTTPHandler "
                         "QueueListener", N),
    ("logging.handlers", "*", F),
    ("logging.config", "*", C | F | N),
    ("logging", "basicConfig", F),
    ("zipfile.*", "*", F),
    ("tarfile.*", "*", F),
    ("gzip", "open GzipFile", F),
    ("bz2", "open BZ2File", F),
    ("lzma", "open LZMAFile", F),
    ("dbm.*", "*", F),
    ("mmap.*", "*", F),
    ("mailbox.*", "*", F),
    ("zoneinfo.*", "*", SAFE),
    # ---- network -------------------------------------------------------
    ("socket.*", "*", N),
    ("ssl.*", "*", N),
    ("http.*", "*", N),
    ("urllib.parse", "*", 0),
    ("urllib.*", "*", N),
    ("urllib2.*", "*", N),
    ("urllib3.*", "*", N),
    ("httplib.*", "*", N),
    ("requests.*", "*", N),
    ("httpx.*", "*", N),
    ("aiohttp.*", "*", N),
    ("ftplib.*", "*", N),
    ("smtplib.*", "*", N),
    ("smtpd.*", "*", N),
    ("poplib.*", "*", N),
    ("telnetlib.*", "*", N),
    ("nntplib.*", "*", N),
    ("xmlrpc.*", "*", N),
    ("xmlrpclib.*", "*", N),
    ("socketserver.*", "*", N),
    ("SocketServer.*", "*", N),
    ("asyncore.*", "*", N),
    ("asynchat.*", "*", N),
    ("wsgiref.*", "*", N),
    ("paramiko.*", "*", N | P),
    ("websocket.*", "*", N),
    ("websockets.*", "*", N),
    ("grpc.*", "*", N),
    ("pycurl.*", "*", N),
    # ---- import machinery ----------------------------------------------
    ("importlib.*", "*", I),
    ("imp.*", "*", I),
    ("pkgutil.*", "resolve_name", I | R),
    ("pkgutil.*", "*", I),
    ("zipimport.*", "*", I | C),
    ("modulefinder.*", "*", I),
    # ---- introspection -------------------------------------------------
    ("operator", "attrgetter methodcaller itemgetter call", R),
    ("operator", "*", 0),
    ("inspect.*", "*", R),
    ("gc.*", "*", R),
    ("functools", "reduce", R),
    ("functools", "partial partialmethod", 0),
    ("copyreg", "_reconstructor __newobj__ __newobj_ex__", SAFE),
    ("copyreg", "add_extension remove_extension clear_extension_cache", S),
    ("weakref.*", "*", R),
    # ---- deserialization -----------------------------------------------
    ("pickle", "load* _load* Unpickler _Unpickler", D),
    ("pickle", "*Error", SAFE),
    ("dill.*", "load loads _load _loads Unpickler load_session load_module", D),
    ("dill.*", "_load_type _create_type _create_array _create_namedtuple _create_stringi "
               "_create_stringo _create_dtypemeta _get_attr", SAFE),
    ("dill.*", "_import_module", I),
    ("dill.*", "_create_filehandle", F),
    ("dill.*", "*", C),
    ("cloudpickle.*", "load loads", D),
    ("cloudpickle.*", "subimport dynamic_subimport", I | C),
    ("cloudpickle.*", "*", C),
    ("shelve.*", "*", D | F),
    ("joblib", "load", D | F),
    ("joblib.numpy_pickle", "load", D | F),
    ("joblib.numpy_pickle", "*Wrapper", SAFE),
    ("joblib.numpy_pickle_compat", "*Wrapper", SAFE),
    ("joblib.numpy_pickle_compat", "load* read_zfile", D | F),
    ("joblib.externals.cloudpickle.*", "*", C),
    ("joblib.externals.loky.*", "*", P),
    ("joblib.parallel", "*", P),
    ("joblib", "dump Memory Parallel", F | P),
    ("sklearn.externals.joblib.*", "*Wrapper", SAFE),
    ("sklearn.externals.joblib.*", "load*", D | F),
    ("pstats.*", "*", D | F),
    ("yaml.*", "*", D | C),
    ("ruamel.*", "*", D | C),
    ("jsonpickle.*", "*", D | C),
    ("nltk.data", "load", D | F | N),
    ("gensim.utils", "unpickle pickle", D | F),
    ("keras.*", "load_model", D | C | F),
    ("tensorflow.*", "load_model", D | C | F),
    # ---- debugging / system --------------------------------------------
    ("sys", "exit setrecursionlimit setswitchinterval addaudithook", S),
    ("sys", "settrace setprofile", G | S),
    ("sys", "modules path meta_path path_hooks path_importer_cache", I | R),
    ("sys", "_getframe exc_info exception last_value", R),
    ("sys", "*", S),
    ("faulthandler.*", "*", G),
    ("tracemalloc.*", "*", G),
    ("threading", "settrace setprofile settrace_all_threads", G),
    ("signal.*", "*", S),
    ("resource.*", "*", S),
    ("fcntl.*", "*", S),
    ("termios.*", "*", S),
    ("time", "sleep", S),
    # ---- numpy / pandas / torch: data, except their I/O and code paths --
    ("numpy", "load loads fromfile save savez savez_compressed savetxt loadtxt genfromtxt "
              "fromregex memmap DataSource", D | F),
    ("numpy", "frompyfunc vectorize", R),
    ("numpy.lib.*", "load loads save savez savez_compressed savetxt loadtxt genfromtxt "
                    "fromregex open_memmap read_array read_array_header*", D | F),
    ("numpy.lib.*", "DataSource open", F | N),
    ("numpy.lib.*", "lookfor source info", I),
    ("numpy.core.*", "load loads", D | F),
    ("numpy._core.*", "load loads", D | F),
    ("numpy.compat.*", "open* os_fspath", F),
    ("numpy.*", "*", SAFE),
    ("pandas", "read_pickle to_pickle", D | F),
    ("pandas", "eval", C),
    ("pandas", "read_*", F | N),
    ("pandas.io.*", "*", D | F | N),
    ("pandas.compat.pickle_compat", "load loads", D),
    ("pandas.core.computation.*", "*", C),
    ("pandas.util.*", "*", 0),
    ("pandas.*", "*", SAFE),
    ("torch", "load", D | F),
    ("torch", "save", F),
    ("torch", "compile", C),
    ("torch", "hub ops library package classes", C | I),
    ("torch.serialization", "load _load _legacy_load", D | F),
    ("torch.serialization", "save _save _legacy_save", F),
    ("torch.storage", "_load_from_bytes", D),
    # imports any module by a dotted name and returns the attribute it names
    ("torch", "_import_dotted_name", I),
    ("torch._utils", "_import_dotted_name", I),
    ("torch.serialization", "_import_dotted_name", I),
    ("torch.jit._pickle", "build_* restore_type_tag", SAFE),
    ("torch.jit.*", "*", C),
    ("torch._dynamo.*", "*", C),
    ("torch._inductor.*", "*", C | P),
    ("torch.fx.*", "*", C),
    ("torch.export.*", "*", C),
    ("torch._export.*", "*", C),
    ("torch.package.*", "*", C | I),
    ("torch.hub.*", "*", C | I | N),
    ("torch.ops.*", "*", C),
    ("torch._ops.*", "*", C),
    ("torch.library.*", "*", C),
    ("torch.distributed.*", "*", N | P),
    ("torch.multiprocessing.*", "*", P),
    ("torch.testing.*", "*", C),
    ("torch.onnx.*", "*", F | C),
    ("torch.utils.collect_env.*", "*", P),
    ("torch.utils.bottleneck.*", "*", C | G),
    ("torch.utils.cpp_extension.*", "*", P | C),
    ("torch.utils.benchmark.*", "*", C),
    ("torch.utils._config_module.*", "*", D | C),
    ("torch.utils.data.datapipes.*", "*", D | C),
    ("torch.utils.tensorboard.*", "*", F),
    ("torch.utils.model_zoo.*", "*", N | D),
    ("torch.utils.hooks", "*", SAFE),
    ("torch._C.*", "_jit* _import* _load*", C | D),
    ("torch.*", "*", SAFE),
    # ---- other data constructors ---------------------------------------
    ("collections", "OrderedDict defaultdict deque Counter ChainMap UserDict UserList "
                    "UserString", SAFE),
    ("datetime.*", "*", SAFE),
    ("decimal.*", "*", SAFE),
    ("fractions.*", "*", SAFE),
    ("re", "_compile compile Pattern Match RegexFlag", SAFE),
    ("array", "array _array_reconstructor", SAFE),
    ("ipaddress.*", "*", SAFE),
    ("argparse", "Namespace", SAFE),
    ("enum", "Enum IntEnum Flag IntFlag StrEnum", SAFE),
    ("sklearn.*", "*", SAFE),
    ("scipy.io.*", "*", F | D),
    ("scipy.weave.*", "*", C),
    ("scipy.*", "*", SAFE),
    ("xgboost.*", "*", SAFE),
    ("lightgbm.*", "*", SAFE),
    ("catboost.*", "*", SAFE),
]

# A component of a dotted name that names one of these modules means the
# attribute chain went through it (pathlib.os, numpy.sys, ...): the module's
# bits apply even when the final name is not in the table.
DANGEROUS_MODULES = [
    ("os", P | F | S), ("posix", P | F | S), ("nt", P | F | S),
    ("subprocess", P), ("_posixsubprocess", P), ("pty", P), ("commands", P),
    ("popen2", P), ("multiprocessing", P), ("asyncio", P | N), ("webbrowser", P),
    ("builtins", C | I | R | F), ("__builtin__", C | I | R | F), ("__builtins__", C | I | R | F),
    ("sys", S | I | R), ("importlib", I), ("imp", I), ("pkgutil", I), ("runpy", C | I),
    ("code", C), ("codeop", C), ("ctypes", C), ("_ctypes", C), ("types", C),
    ("marshal", D | C), ("pickle", D), ("_pickle", D), ("cPickle", D), ("dill", D | C),
    ("cloudpickle", D | C), ("shelve", D | F), ("io", F), ("_io", F), ("shutil", F),
    ("tempfile", F), ("pathlib", F), ("socket", N), ("_socket", N), ("ssl", N),
    ("http", N), ("urllib", N), ("urllib2", N), ("requests", N), ("pdb", G | C),
    ("bdb", G | C), ("trace", G | C), ("profile", G | C), ("cProfile", G | C),
    ("timeit", C), ("inspect", R), ("gc", R), ("signal", S), ("pydoc", P | I),
    ("operator", R), ("_operator", R),
]

ALIASES = [("__builtin__", "builtins"), ("posix", "os"), ("nt", "os"), ("_io", "io"),
           ("_pickle", "pickle"), ("cPickle", "pickle"), ("_operator", "operator"),
           ("_socket", "socket"), ("copy_reg", "copyreg"), ("_functools", "functools"),
           ("_collections", "collections"), ("exceptions", "builtins")]


def bits_c(bits):
    parts = [C_BITS[b] for b, _ in BIT_NAMES if bits & b]
    return " | ".join(parts) if parts else "0"


def bits_doc(bits):
    names = [n for b, n in BIT_NAMES if bits & b]
    return ", ".join(names) if names else "none (known, harmless)"


def pattern_kind(pat):
    if pat == "*":
        return 3, ""
    if pat.endswith("*"):
        return 1, pat[:-1]
    if pat.startswith("*"):
        return 2, pat[1:]
    return 0, pat


def entries():
    out = []
    for order, (mod, names, bits) in enumerate(TABLE):
        sub = mod.endswith(".*")
        base = mod[:-2] if sub else mod
        for pos, pat in enumerate(names.split()):
            kind, text = pattern_kind(pat)
            # exact first, then prefixes longest first, then suffixes, then "*"
            rank = (kind if kind != 1 else 1, -len(text) if kind == 1 else 0)
            out.append(((base.encode(), rank, order, pos), base, text, kind, sub, bits))
    out.sort(key=lambda e: e[0])
    return out


def check():
    seen = set()
    for mod, names, bits in TABLE:
        for pat in names.split():
            key = (mod, pat)
            if key in seen:
                sys.exit("duplicate entry %s %s" % key)
            seen.add(key)
            if "*" in pat[1:-1]:
                sys.exit("bad pattern %s" % pat)
        if bits & SAFE and bits & 0x1FF:
            sys.exit("entry is both safe and dangerous: %s" % mod)


def write_header(root):
    lines = [
        "/* Generated by tools/gen_capability_table.py; do not edit: rerun the script.",
        " * Sorted by module (bytewise), then by match order within the module. */",
        "#ifndef SP_CAPABILITY_TABLE_H",
        "#define SP_CAPABILITY_TABLE_H",
        "",
        '#include "sp_capability.h"',
        "",
        "enum { SP_PAT_EXACT = 0, SP_PAT_PREFIX, SP_PAT_SUFFIX, SP_PAT_ANY };",
        "",
        "typedef struct sp_cap_entry {",
        "    const char *module;",
        "    const char *name; /* the pattern without its '*' */",
        "    unsigned char kind; /* SP_PAT_* */",
        "    unsigned char sub; /* applies to submodules too */",
        "    uint32_t bits;",
        "} sp_cap_entry;",
        "",
        "static const sp_cap_entry sp_cap_table[] = {",
    ]
    kinds = ["SP_PAT_EXACT", "SP_PAT_PREFIX", "SP_PAT_SUFFIX", "SP_PAT_ANY"]
    for _, base, text, kind, sub, bits in entries():
        lines.append('    {"%s", "%s", %s, %d, %s},' % (base, text, kinds[kind], sub, bits_c(bits)))
    lines += ["};", "", "typedef struct sp_cap_module {", "    const char *module;",
              "    uint32_t bits;", "} sp_cap_module;", "",
              "/* Sorted bytewise. */", "static const sp_cap_module sp_cap_modules[] = {"]
    for mod, bits in sorted(DANGEROUS_MODULES, key=lambda m: m[0].encode()):
        lines.append('    {"%s", %s},' % (mod, bits_c(bits)))
    lines += ["};", "", "static const struct sp_cap_alias {", "    const char *from, *to;",
              "} sp_cap_aliases[] = {"]
    for a, b in ALIASES:
        lines.append('    {"%s", "%s"},' % (a, b))
    lines += ["};", "", "#endif", ""]
    out = root / "csrc" / "core" / "sp_capability_table.h"
    out.write_text("\n".join(lines))
    # Keep the committed header in the project's C style.
    if shutil.which("clang-format"):
        subprocess.run(["clang-format", "-i", str(out)], check=True, cwd=root)


BEGIN = "<!-- BEGIN GENERATED TABLE (tools/gen_capability_table.py) -->"
END = "<!-- END GENERATED TABLE -->"


def write_doc(root):
    path = root / "docs" / "capabilities.md"
    if not path.exists():
        return
    rows = ["| module | names | capabilities |", "| --- | --- | --- |"]
    for mod, names, bits in TABLE:
        shown = mod[:-2] + " and submodules" if mod.endswith(".*") else mod
        pats = ", ".join("`%s`" % p for p in names.split())
        rows.append("| `%s` | %s | %s |" % (shown, pats.replace("|", "\\|"), bits_doc(bits)))
    rows += ["", "Module names that make a dotted name dangerous when a component names them:", ""]
    rows.append(", ".join("`%s` (%s)" % (m, bits_doc(b)) for m, b in DANGEROUS_MODULES) + ".")
    rows += ["", "Module names read as another module before the lookup: "
             + ", ".join("`%s` as `%s`" % a for a in ALIASES) + "."]
    text = path.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        sys.exit("docs/capabilities.md lacks the generated-table markers")
    text = text[:start + len(BEGIN)] + "\n\n" + "\n".join(rows) + "\n\n" + text[end:]
    path.write_text(text)


def main():
    check()
    root = pathlib.Path(__file__).resolve().parent.parent
    write_header(root)
    write_doc(root)
    print("wrote %d entries" % len(entries()))


if __name__ == "__main__":
    main()
