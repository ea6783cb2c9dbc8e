"""``python -m safepickle``: the same as the ``safepickle`` command."""

import sys

from .cli import main

sys.exit(main())
