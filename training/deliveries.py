"""Delivery techniques: how the payload call is spelled in opcodes.

Each entry: the protocols it can be written at, whether it needs the memo
(a stream spliced into the front or middle of another pickle must not touch
the memo), and a one-line description for the manifest and the docs.
"""

ALL_PROTOCOLS = (0, 1, 2, 3, 4, 5)

DELIVERIES = {
    "reduce": (ALL_PROTOCOLS, False,
               "callable and argument tuple, then REDUCE"),
    "inst": ((0, 1), False,
             "INST opcode naming module and callable, arguments after a MARK"),
    "obj": ((1, 2, 3), False,
            "OBJ opcode: MARK, callable, arguments, OBJ"),
    "newobj": ((2, 3, 4, 5), False,
               "NEWOBJ builds functools.partial(callable, *args); an empty "
               "REDUCE calls it"),
    "newobj_ex": ((4, 5), False,
                  "NEWOBJ_EX builds functools.partial(callable, *args, **{}); "
                  "an empty REDUCE calls it"),
    "build_setstate": (ALL_PROTOCOLS, False,
                       "BUILD stores the callable as __setstate__ in an "
                       "instance dict; a second BUILD calls it with the state"),
    "partial": (ALL_PROTOCOLS, False,
                "functools.partial(callable, *args) then an empty REDUCE"),
    "operator_call": (ALL_PROTOCOLS, False,
                      "operator.call(callable, *args)"),
    "methodcaller": (ALL_PROTOCOLS, False,
                     "operator.methodcaller(name, *args) applied to the "
                     "module (importlib.import_module) or the instance"),
    "memo_stack_global": ((4, 5), True,
                          "module and name strings memoized earlier inside "
                          "decoy data, fetched with GET for STACK_GLOBAL"),
    "ext_code": ((2, 3, 4, 5), False,
                 "copyreg.add_extension called from the pickle registers a "
                 "code; EXT1/EXT2/EXT4 then names the callable"),
    "dotted_name": ((4, 5), False,
                    "protocol 4 dotted name: an attribute path through a "
                    "module that imports the target, or callable.__call__"),
    "py2_rename": ((0, 1, 2), False,
                   "Python 2 module names (__builtin__, commands, urllib2, "
                   "httplib, cPickle) that fix_imports maps back; other modules "
                   "reached via __builtin__.getattr(__builtin__.__import__())"),
}

# Python 2 module names the unpickler maps back below protocol 3.
PY2_NAMES = {
    "builtins": "__builtin__",
    "subprocess": "commands",
    "urllib.request": "urllib2",
    "http.client": "httplib",
    "pickle": "cPickle",
    "copyreg": "copy_reg",
    "io": "cStringIO",
}

# Modules that hold the target module as an attribute: protocol 4 resolves
# "carrier" + "attr.callable" with getattr along the dots.
CARRIERS = {
    "os": (("subprocess", "os"), ("shutil", "os"), ("pathlib", "os"),
           ("tempfile", "_os"), ("platform", "os"), ("pydoc", "os")),
    "posix": (("shutil", "posix"),),
    "subprocess": (("webbrowser", "subprocess"), ("imaplib", "subprocess")),
    "builtins": (("subprocess", "builtins"), ("pydoc", "builtins"),
                 ("inspect", "builtins"), ("reprlib", "builtins"),
                 ("codecs", "builtins")),
    "code": (("pdb", "code"),),
    "shutil": (("tempfile", "_shutil"), ("zipfile", "shutil"),
               ("tarfile", "shutil"), ("torch.serialization", "shutil")),
    "pathlib": (("zipfile", "pathlib"),),
    "socket": (("imaplib", "socket"), ("http.client", "socket")),
    "importlib": (("pydoc", "importlib"), ("inspect", "importlib"),
                  ("pkgutil", "importlib"), ("runpy", "importlib")),
    "pickle": (("trace", "pickle"), ("torch.serialization", "pickle")),
    "marshal": (("profile", "marshal"),),
    "types": (("subprocess", "types"), ("inspect", "types")),
    "profile": (("cProfile", "_pyprofile"),),
    "bdb": (("pdb", "bdb"),),
    "pdb": (("doctest", "pdb"),),
    "io": (("subprocess", "io"), ("pathlib", "io"), ("logging", "io")),
    "codecs": (("pickle", "codecs"),),
    "uuid": (("torch.hub", "uuid"),),
    "pkgutil": (("pydoc", "pkgutil"),),
    "torch": (("torch.serialization", "torch"), ("torch.hub", "torch")),
}


# Payload targets that are classes: `Class.__call__` is the slot for calling
# instances, not the class, so the dotted spelling needs a carrier module.
CLASS_TARGETS = {
    "subprocess.Popen", "types.FunctionType", "io.FileIO", "operator.attrgetter",
    "logging.FileHandler", "imaplib.IMAP4_stream", "ctypes.CDLL",
}


def protocols_for(delivery, target=None):
    """Protocols a delivery can be written at (for this payload call: a
    dotted name read back through the memo or an extension code resolves
    only from protocol 4 on)."""
    protocols = DELIVERIES[delivery][0]
    if (target is not None and "." in target.fn.qualname
            and delivery in ("ext_code", "memo_stack_global")):
        protocols = tuple(p for p in protocols if p >= 4)
    return protocols


def needs_memo(delivery):
    return DELIVERIES[delivery][1]


def describe(delivery):
    return DELIVERIES[delivery][2]


def supports(delivery, target, is_root=True):
    """Whether a delivery can spell this payload call (an expr.Call of a
    module attribute); is_root: the call's value is not used by the rest
    of the family's expression."""
    if delivery == "inst":
        return "." not in target.fn.qualname
    if delivery == "build_setstate":
        # What BUILD leaves on the stack is the host object, not the
        # result of the call.
        return bool(target.args) and is_root
    if delivery == "dotted_name":
        return (target.fn.dotted not in CLASS_TARGETS
                or target.fn.module in CARRIERS or "." in target.fn.qualname)
    return True
