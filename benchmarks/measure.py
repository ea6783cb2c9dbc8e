"""Measuring helpers shared by the benchmarks: peak memory from the kernel,
time and ratio formatting, PASS/FAIL marks, the machine a run measured."""

import os
import platform

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


def environment(modules=()):
    """One line on the machine and interpreter a run measured, and the
    versions of the named modules (missing ones said so)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        # Other work on the machine stretches wall-clock times; the ratios,
        # taken from interleaved runs, suffer less than the absolute figures.
        load = ", load average %.1f at start" % os.getloadavg()[0]
    except OSError:
        load = ""
    text = "Python %s, %s, %d CPUs%s, %s" % (
        platform.python_version(), cpu, os.cpu_count() or 0, load, platform.platform())
    versions = []
    for mod in modules:
        try:
            versions.append("%s %s" % (mod, __import__(mod).__version__))
        except ImportError:
            versions.append("%s missing" % mod)
    return text + ("; " + ", ".join(versions) if versions else "")
