"""asyncmqtt as a benchmark contender (see common.py for the command line, aio_api.py for what
it does: the same code as the aiomqtt contender)."""

from __future__ import annotations

import common
from aio_api import AioApiContender

import asyncmqtt

CONTENDER = AioApiContender(asyncmqtt, "am")

if __name__ == "__main__":
    common.main("asyncmqtt", CONTENDER.run)
