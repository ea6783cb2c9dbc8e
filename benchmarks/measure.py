"""Measuring helpers shared by the benchmarks: peak memory from the kernel,
time and ratio formatting, PASS/FAIL marks."""

def reset_peak():
    """Restart the kernel's peak-RSS record at the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def fmt_time(s):
    if s is None:
        return "n/a"
    if s < 1e-3:
        return "%.1f µs" % (s * 1e6)
    if s < 1.0:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def verdict(ok):
    return "PASS" if ok else "FAIL"
