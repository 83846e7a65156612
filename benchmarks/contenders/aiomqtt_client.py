"""aiomqtt 2.5.1 as a benchmark contender (see common.py for the command line, aio_api.py for
what it does: the same code as the asyncmqtt contender). MQTT 5.0 unless ``--protocol 4``."""

from __future__ import annotations

import aiomqtt
import common
from aio_api import AioApiContender

CONTENDER = AioApiContender(aiomqtt, "aio")

if __name__ == "__main__":
    common.main("aiomqtt", CONTENDER.run)
