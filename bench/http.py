"""The benchmarks' HTTP client: aiohttp, lean enough that the load generator does not eat the cores it shares
with the stack it measures (httpx spent 8 ms of CPU per request here, as much as the server's whole answer).

Only what the benchmarks use: `post` and `get` with `json`, `params` and `headers`, answers with `status_code`
and `json()`, and `aclose`. Made inside the event loop that uses it, as aiohttp requires."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class Http:
    def __init__(self, base_url: str, *, connections: int, timeout: float = 30.0) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def request(self, method: str, url: str, **kwargs: Any) -> Answer:
        async with self._session.request(method, url, **kwargs) as answer:
            return Answer(answer.status, await answer.read())

    async def post(self, url: str, **kwargs: Any) -> Answer:
        return await self.request("POST", url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> Answer:
        return await self.request("GET", url, **kwargs)

    async def aclose(self) -> None:
        await self._session.close()
