"""``ClientStats``: counters of what a client did, readable by the application at any time.

Plain integer attributes that the client increments where the thing happens, so they cost
next to nothing and are always on.
"""

from __future__ import annotations

__all__ = ("ClientStats",)


class ClientStats:
    """What a ``Client`` counted since it was made (``client.stats``).

    ``messages_discarded``: messages that reached no stream by the documented policy of the
    asyncio-mqtt 0.x streams (see the guide on filtered streams): each is also logged.
    """

    __slots__ = ("messages_discarded",)

    def __init__(self) -> None:
        self.messages_discarded = 0

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)}" for name in self.__slots__)
        return f"ClientStats({fields})"
