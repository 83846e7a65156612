"""``python -m asyncmqtt``: the ``asyncmqtt`` command (see ``asyncmqtt.cli``)."""

import sys

from .cli import main

sys.exit(main())
