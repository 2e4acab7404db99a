"""Headless Chromium driven through the Chrome DevTools Protocol, with the standard library only:
`--remote-debugging-pipe` speaks the protocol as NUL-terminated JSON messages on file
descriptors 3 (commands in) and 4 (events and results out), so no websocket client is needed.

    with Chromium.start(executable) as browser:
        page = browser.open("http://127.0.0.1:8000/")
        page.type_text("hello"); page.press_enter()
        page.wait_for("document.querySelectorAll('.reply').length > 0")
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

COMMAND_FD, EVENT_FD = 3, 4


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, or None."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


class ProtocolError(RuntimeError):
    """Chromium answered a command with an error, or went away."""


class Chromium:
    """A headless Chromium process and its DevTools pipe."""

    def __init__(self, process: subprocess.Popen, commands: int, events: int, profile: str):
        self.process = process
        self.commands = os.fdopen(commands, "wb")
        self.events = os.fdopen(events, "rb")
        self.profile = profile
        self.next_id = 0
        self.buffer = b""

    @classmethod
    def start(cls, executable: str, width: int = 1100, height: int = 760) -> Chromium:
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        command_read, command_write = os.pipe()
        event_read, event_write = os.pipe()

        def attach_pipe() -> None:  # in the child: the pipe ends on the fds Chromium expects
            os.dup2(command_read, COMMAND_FD)
            os.dup2(event_write, EVENT_FD)

        arguments = [
            executable, "--headless", "--remote-debugging-pipe", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--mute-audio",
            "--hide-scrollbars", f"--window-size={width},{height}", f"--user-data-dir={profile}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            arguments.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
        process = subprocess.Popen(
            [*arguments, "about:blank"], preexec_fn=attach_pipe, pass_fds=(COMMAND_FD, EVENT_FD),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(command_read)
        os.close(event_write)
        return cls(process, command_write, event_read, profile)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (ProtocolError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.commands.close()
        self.events.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its result (events in between are skipped)."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.commands.write(json.dumps(message).encode() + b"\0")
        self.commands.flush()
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise ProtocolError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def receive(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            chunk = os.read(self.events.fileno(), 1 << 16)
            if not chunk:
                raise ProtocolError("Chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str) -> Page:
        """A new tab showing `url`, loaded."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.send("Page.navigate", url=url)
        page.wait_for("document.readyState === 'complete'")
        return page


class Page:
    """One tab: evaluate JavaScript, type and press keys as a person would, take screenshots."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A mouse click in the middle of the element `selector` (as a person clicks)."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                clickCount=1,
            )

    def type_text(self, text: str) -> None:
        """Type `text` into the focused element, one key at a time."""
        for character in text:
            self.send("Input.dispatchKeyEvent", type="keyDown", text=character, key=character)
            self.send("Input.dispatchKeyEvent", type="keyUp", key=character)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                windowsVirtualKeyCode=13, nativeVirtualKeyCode=13,
                **({"text": "\r"} if kind == "keyDown" else {}),
            )

    def screenshot(self, path: Path) -> None:
        """Save the whole page as a PNG."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
