"""Headless Chromium for the report's tests, driven over the DevTools protocol on a pipe.

Why a pipe: ``--remote-debugging-pipe`` makes Chromium read protocol commands from file
descriptor 3 and write replies and events to descriptor 4, as NUL-terminated JSON.  No port is
opened, nothing else on the machine can talk to the browser, no websocket library is needed and
nothing is fetched: the most robust offline choice.  (``--dump-dom`` with a net-log would only
tell us what the page became, not what it asked for; the protocol reports every request and
every console message as an event.)

    with Chromium() as browser:
        page = browser.open(Path("report.html"))      # waits for the load event
        page.requests        # URLs the page asked for (the page itself first)
        page.console_errors  # console errors, uncaught exceptions, failed loads
        png = page.screenshot()      # full page, PNG bytes
        pdf = page.print_pdf()       # A4 from the page's print CSS, PDF bytes

The flags are those the environment notes give for a headless, offline browser run as root.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--disable-dev-shm-usage",
         "--host-resolver-rules=MAP * ~NOTFOUND")
TIMEOUT_S = 60.0


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium with a fresh profile, spoken to over the DevTools pipe."""

    def __init__(self, executable: str | None = None, *, width: int = 1100, height: int = 900):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("chromium not found on PATH")
        self.width, self.height = width, height
        self._next_id = 0
        self._events: list[dict] = []
        self._replies: dict[int, dict] = {}
        self._inbox: queue.Queue = queue.Queue()

    # --- process and pipe
    def __enter__(self) -> "Chromium":
        self._profile = tempfile.TemporaryDirectory(prefix="scan-test-chromium-")
        cmd_r, cmd_w = os.pipe()      # we write commands, the browser reads fd 3
        out_r, out_w = os.pipe()      # the browser writes fd 4, we read
        # Move the child's ends above 10 so dup2 onto 3 and 4 cannot clobber them.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(out_w)

        def wire():  # in the child, before exec: fd 3 = commands, fd 4 = replies
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        args = [self.executable, *FLAGS, f"--user-data-dir={self._profile.name}",
                "--remote-debugging-pipe", f"--window-size={self.width},{self.height}",
                "about:blank"]
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, close_fds=False, preexec_fn=wire,
                                     env=dict(os.environ, HOME=self._profile.name))
        os.close(child_r)
        os.close(child_w)
        self._write = os.fdopen(cmd_w, "wb", buffering=0)
        self._read_fd = out_r
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=10)
                except Exception:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            try:
                self._write.close()
            except OSError:
                pass
            self._reader.join(timeout=5)
            try:
                os.close(self._read_fd)
            except OSError:
                pass
            self._stderr.close()
            self._profile.cleanup()

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                if message:
                    self._inbox.put(json.loads(message))
        self._inbox.put(None)

    def _pump(self, deadline: float) -> bool:
        """Move one message from the pipe into replies / events; False when the pipe closed."""
        try:
            message = self._inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            return True
        if message is None:
            return False
        if "id" in message:
            self._replies[message["id"]] = message
        else:
            self._events.append(message)
        return True

    def send(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float = TIMEOUT_S) -> dict:
        self._next_id += 1
        msg_id = self._next_id
        message = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while msg_id not in self._replies:
            if time.monotonic() > deadline:
                raise BrowserError(f"{method}: no reply within {timeout:g} s")
            if not self._pump(deadline):
                raise BrowserError(f"{method}: the browser closed the pipe")
        reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, *, session: str | None = None,
                   timeout: float = TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for ev in self._events[seen:]:
                if ev.get("method") == method and (session is None
                                                   or ev.get("sessionId") == session):
                    return ev
            seen = len(self._events)
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} within {timeout:g} s")
            if not self._pump(deadline):
                raise BrowserError(f"waiting for {method}: the browser closed the pipe")

    def events(self, session: str | None = None) -> list[dict]:
        return [ev for ev in self._events if session is None or ev.get("sessionId") == session]

    # --- pages
    def open(self, path: Path, *, settle_s: float = 0.3) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False}, session=session)
        start = len(self._events)
        url = Path(path).resolve().as_uri()
        self.send("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + TIMEOUT_S
        while not any(ev.get("method") == "Page.loadEventFired"
                      and ev.get("sessionId") == session for ev in self._events[start:]):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading")
            if not self._pump(deadline):
                raise BrowserError("the browser closed the pipe while loading")
        end = time.monotonic() + settle_s  # late console messages
        while time.monotonic() < end and self._pump(end):
            pass
        return Page(self, session, url, start)


class Page:
    def __init__(self, browser: Chromium, session: str, url: str, first_event: int):
        self.browser, self.session, self.url = browser, session, url
        self._first = first_event

    def _events(self) -> list[dict]:
        return [ev for ev in self.browser._events[self._first:]
                if ev.get("sessionId") == self.session]

    @property
    def requests(self) -> list[str]:
        """Every URL the page asked for, the page itself included (data: URIs too)."""
        return [ev["params"]["request"]["url"] for ev in self._events()
                if ev.get("method") == "Network.requestWillBeSent"]

    @property
    def console_errors(self) -> list[str]:
        errors = []
        for ev in self._events():
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                       for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                errors.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.loadingFailed":
                errors.append(f"load failed: {params.get('errorText')}")
        return errors

    def evaluate(self, expression: str):
        result = self.browser.send("Runtime.evaluate", {"expression": expression,
                                                        "returnByValue": True},
                                   session=self.session)
        if "exceptionDetails" in result:
            raise BrowserError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """The whole page (beyond the viewport) as PNG bytes, at 1 CSS pixel per pixel."""
        metrics = self.browser.send("Page.getLayoutMetrics", session=self.session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.browser.send("Page.captureScreenshot",
                                 {"format": "png", "captureBeyondViewport": True, "clip": clip},
                                 session=self.session)["data"]
        return base64.b64decode(data)

    def print_pdf(self) -> bytes:
        data = self.browser.send("Page.printToPDF",
                                 {"preferCSSPageSize": True, "printBackground": True,
                                  "displayHeaderFooter": False}, session=self.session)["data"]
        return base64.b64decode(data)
