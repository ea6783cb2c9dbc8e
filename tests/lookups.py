"""Lookups (getattr, attrgetter, methodcaller) whose result is called and
that are not plain: the verdict and the features must both keep reading
them as introspection. Pickles only: nothing here is ever loaded."""

import pytest

NOT_PLAIN = [
    # getattr(collections.OrderedDict, "system")("id"): a danger name
    pytest.param(b"cbuiltins\ngetattr\n(ccollections\nOrderedDict\nS'system'\ntR(S'id'\ntR.",
                 id="danger-name"),
    # methodcaller("touch")(PosixPath("/tmp/x")): pathlib's writer
    pytest.param(b"c_operator\nmethodcaller\n(S'touch'\ntR(cpathlib\nPosixPath\n(S'/tmp/x'\ntRtR.",
                 id="pathlib-writer"),
    # getattr(OrderedDict, <a name a call computed>)(): the name is hidden
    pytest.param(b"cbuiltins\ngetattr\n(ccollections\nOrderedDict\ncbuiltins\nstr\n(S'x'\ntRtR(tR.",
                 id="computed-name"),
    # getattr(OrderedDict(), "keys")(): a target a call built
    pytest.param(b"cbuiltins\ngetattr\n(ccollections\nOrderedDict\n(tRS'keys'\ntR(tR.",
                 id="built-target"),
]
