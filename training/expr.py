"""What a malicious pickle computes, as a small expression tree.

A family describes its gadget with these nodes; the emitter turns them into
opcodes. `Global` is a module attribute the unpickler resolves with
find_class; `Call` calls a value with positional arguments. Plain Python
values (str, bytes, int, float, bool, None, tuple, list, dict) stand for
themselves. Exactly one call per tree is the payload call: the one the
delivery technique rewrites and the manifest's `payload` column names.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Global:
    module: str
    qualname: str

    @property
    def dotted(self):
        return "%s.%s" % (self.module, self.qualname)


@dataclass(frozen=True)
class Call:
    fn: object
    args: tuple
    payload: bool = False


def ref(dotted_module, qualname):
    return Global(dotted_module, qualname)


def call(module, qualname, *args, payload=False):
    return Call(Global(module, qualname), tuple(args), payload)


def attr(obj, name):
    return call("builtins", "getattr", obj, name)


def method(obj, name, *args, payload=False):
    return Call(attr(obj, name), tuple(args), payload)


def payload_call(tree):
    """The payload Call of a tree (the one marked, else the root)."""
    found = []

    def walk(node):
        if isinstance(node, Call):
            if node.payload:
                found.append(node)
            walk(node.fn)
            for arg in node.args:
                walk(arg)
        elif isinstance(node, (tuple, list)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(key)
                walk(value)

    walk(tree)
    if len(found) > 1:
        raise ValueError("more than one payload call")
    call_node = found[0] if found else tree
    if not (isinstance(call_node, Call) and isinstance(call_node.fn, Global)):
        raise ValueError("the payload call must call a module attribute")
    return call_node
