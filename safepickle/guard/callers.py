"""Which function called a guarded pickle loader, and whether the policy
trusts that function's loads (Policy.trusted_callers)."""

import sys


def caller_name(frame):
    """``module:qualified.name`` of the function running ``frame``."""
    g = frame.f_globals
    module = g.get("__name__")
    if module == "__main__":
        # a module run with ``python -m`` calls itself __main__; its spec
        # still has its real name (loky starts its workers that way)
        module = getattr(g.get("__spec__"), "name", None) or module
    return f"{module}:{frame.f_code.co_qualname}"


def trusted(policy, depth):
    """True when the function ``depth`` frames above the one calling this
    is one whose loads ``policy`` trusts."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return False
    if frame.f_code.co_qualname not in policy.trusted_qualnames:
        return False
    return caller_name(frame) in policy.trusted_callers
