"""A real headless browser for tests: Debian's chromium, driven over the Chrome DevTools Protocol (CDP).

No extra dependency: chromium writes its debugging port to `<profile>/DevToolsActivePort`, the page target's
websocket comes from http://127.0.0.1:PORT/json, and JSON-RPC goes over that websocket with aiohttp (which Ray
installs). `headless_chromium` kills the browser's whole process group on exit, also when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

START_TIMEOUT_S = 20.0


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _devtools_port(profile: Path, proc: subprocess.Popen, log: Path) -> int:
    """The port chromium chose (--remote-debugging-port=0), once it has written DevToolsActivePort."""
    deadline = time.monotonic() + START_TIMEOUT_S
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}: {log.read_text()[-2000:]}")
        lines = marker.read_text().split() if marker.exists() else []
        if lines and lines[0].isdigit():
            return int(lines[0])
        time.sleep(0.1)
    raise RuntimeError(f"chromium wrote no {marker} within {START_TIMEOUT_S:.0f} s: {log.read_text()[-2000:]}")


def _page_websocket(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as response:
        targets = json.load(response)
    pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
    if not pages:
        raise RuntimeError(f"chromium on port {port} lists no page target: {targets}")
    return pages[0]["webSocketDebuggerUrl"]


@contextmanager
def headless_chromium(executable: str) -> Iterator[str]:
    """Start chromium on about:blank; yield the page target's websocket URL; kill the browser on exit."""
    # ignore_cleanup_errors: a dying renderer may still be writing to the profile while it is removed.
    with tempfile.TemporaryDirectory(prefix="space-chromium-", ignore_cleanup_errors=True) as tmp:
        profile, log = Path(tmp) / "profile", Path(tmp) / "chromium.log"
        args = [
            executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--autoplay-policy=no-user-gesture-required", "--remote-debugging-port=0",
            f"--user-data-dir={profile}", "about:blank",
        ]  # fmt: skip
        with open(log, "wb") as out:
            # Its own process group, so the renderer and GPU children die with it.
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield _page_websocket(_devtools_port(profile, proc, log))
        finally:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Page:
    """JSON-RPC over one page target's websocket: `call` a method, `wait_event` for an event."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws, self.next_id, self.events = ws, 0, []

    async def _receive(self) -> dict:
        msg = await self.ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"CDP websocket closed or failed: {msg.type} {msg.data!r}")
        return json.loads(msg.data)

    async def call(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = await self._receive()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"CDP {method} failed: {msg['error']}")
                return msg["result"]
            self.events.append(msg)  # events that arrive meanwhile are kept for wait_event

    async def wait_event(self, method: str) -> dict:
        while True:
            for i, msg in enumerate(self.events):
                if msg.get("method") == method:
                    return self.events.pop(i)
            self.events.append(await self._receive())

    async def navigate(self, url: str) -> None:
        """Open `url` and wait for its load event."""
        self.events.clear()
        await self.call("Page.enable")
        result = await self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise RuntimeError(f"navigating to {url} failed: {result['errorText']}")
        await self.wait_event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JS expression (a promise is awaited); a JS exception fails with its description."""
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"JS failed: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")


async def with_page(websocket_url: str, work, timeout: float) -> Any:
    """Run `await work(page)` on the page target, the whole of it within `timeout` seconds."""

    async def run() -> Any:
        async with aiohttp.ClientSession() as session, session.ws_connect(websocket_url, max_msg_size=0) as ws:
            return await work(Page(ws))

    return await asyncio.wait_for(run(), timeout)
