"""``safepickle install-guard``: a .pth file that switches the guard on for
every interpreter of an environment when SAFEPICKLE_GUARD=1."""

import os
import site
import sysconfig

PTH_NAME = "safepickle-guard.pth"

# site runs lines that start with "import"; this one reads one variable and
# imports nothing more unless it is set.
PTH_LINE = (
    "import os; os.environ.get('SAFEPICKLE_GUARD', '').strip() in ('1', 'true', 'yes', 'on') "
    "and __import__('safepickle.guard.autostart')\n"
)


def target_dir(user=False):
    if user:
        return site.getusersitepackages()
    return sysconfig.get_paths()["purelib"]


def install(directory):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, PTH_NAME)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(PTH_LINE)
    os.replace(tmp, path)
    return path


def uninstall(directory):
    path = os.path.join(directory, PTH_NAME)
    try:
        os.remove(path)
    except FileNotFoundError:
        return None
    return path


def run(args, stdout, stderr):
    directory = args.dir or target_dir(user=args.user)
    try:
        if args.remove:
            path = uninstall(directory)
            if path is None:
                stdout.write(f"safepickle: no {PTH_NAME} in {directory}\n")
            else:
                stdout.write(f"safepickle: removed {path}\n")
            return 0
        path = install(directory)
    except OSError as exc:
        stderr.write(f"safepickle: cannot write in {directory}: {exc.strerror or exc}\n")
        return 2
    stdout.write(
        f"safepickle: wrote {path}\n"
        "Interpreters of this environment now run guarded when SAFEPICKLE_GUARD=1.\n"
    )
    return 0


def add_parser(commands):
    p = commands.add_parser(
        "install-guard",
        help="guard every interpreter of this environment when SAFEPICKLE_GUARD=1",
        description="Write a .pth file into site-packages that calls safepickle.patch() at "
        "interpreter start when the environment variable SAFEPICKLE_GUARD=1 is set "
        "(policy from SAFEPICKLE_MODE, SAFEPICKLE_THRESHOLD, SAFEPICKLE_ALLOW, "
        "SAFEPICKLE_ON_ERROR, SAFEPICKLE_TRUSTED_CALLERS). With the variable unset it costs one "
        "environment lookup.",
    )
    p.add_argument("--user", action="store_true", help="the user site-packages directory")
    p.add_argument("--dir", metavar="DIR", help="this directory instead of site-packages")
    p.add_argument("--remove", action="store_true", help="remove the .pth file")
    p.set_defaults(run=run)
    return p
