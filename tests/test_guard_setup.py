"""Switching the guard on without editing code: the IPython extension and
the .pth file of ``safepickle install-guard``."""

import os
import subprocess
import sys

import safepickle
from safepickle import cli
from safepickle.guard.install import PTH_NAME

from .guard_files import REPO_ROOT


def test_ipython_extension():
    from IPython.core.interactiveshell import InteractiveShell

    safepickle.unpatch()
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "safepickle")
        assert safepickle.is_patched()
        result = shell.run_cell("import pickle; pickle.loads(b'cos\\nsystem\\n(S\"true\"\\ntR.')")
        assert isinstance(result.error_in_exec, safepickle.UnsafePickleError)
        shell.run_line_magic("unload_ext", "safepickle")
        assert not safepickle.is_patched()
    finally:
        safepickle.unpatch()
        InteractiveShell.clear_instance()


def _python(site_dir, code, **env):
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT)}
    for key in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC"):
        if key in os.environ:
            full_env[key] = os.environ[key]
    full_env.update(env)
    # site.addsitedir() reads .pth files as the interpreter does for
    # site-packages at start-up.
    script = f"import site; site.addsitedir({str(site_dir)!r}); " + code
    out = subprocess.run(
        [sys.executable, "-c", script], env=full_env, capture_output=True, text=True,
        cwd=str(site_dir), timeout=60,
    )
    return out


def test_install_guard_switches_on_with_the_variable_only(tmp_path, capsys):
    site_dir = tmp_path / "site"
    assert cli.main(["install-guard", "--dir", str(site_dir)]) == 0
    assert (site_dir / PTH_NAME).is_file()
    probe = (
        "import sys, pickle; print('safepickle' in sys.modules, "
        "hasattr(pickle.load, '__safepickle_original__'))"
    )
    off = _python(site_dir, probe)
    assert off.returncode == 0, off.stderr
    # unset: nothing of safepickle is even imported
    assert off.stdout.split() == ["False", "False"]
    on = _python(site_dir, probe, SAFEPICKLE_GUARD="1")
    assert on.stdout.split() == ["True", "True"], on.stderr
    bad = _python(site_dir, probe, SAFEPICKLE_GUARD="1", SAFEPICKLE_MODE="loud")
    assert bad.returncode == 2 and "SAFEPICKLE_MODE" not in bad.stdout
    assert "cannot start" in bad.stderr
    assert cli.main(["install-guard", "--dir", str(site_dir), "--remove"]) == 0
    assert not (site_dir / PTH_NAME).exists()
    capsys.readouterr()
