"""Drive an ast-emu emulator through its control socket (Python standard library only).

    from ast_emu import Emulator

    with Emulator() as emu:                      # boots the built-in image
        emu.wait_event("MILESTONE", name="login", timeout=300)
        emu.execute("sensor-set", bus=8, addr=0x4D, celsius=55.0)
        print(emu.execute("query-status")["status"])

`Control` speaks the protocol (README.md "Control socket"): newline-delimited JSON in QMP's
shape. `Emulator` starts `ast-emu --control unix:...` and connects to it; leaving the `with`
block quits it.
"""

import collections
import json
import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time

__all__ = ["Control", "ControlError", "Emulator", "connect"]


class ControlError(Exception):
    """A command failed: `error_class` is QMP's class (GenericError, CommandNotFound, ...)."""

    def __init__(self, error_class, desc):
        super().__init__(f"{error_class}: {desc}")
        self.error_class = error_class
        self.desc = desc


def _match(event, name, fields):
    if event.get("event") != name:
        return False
    data = event.get("data", {})
    return all(data.get(k) == v for k, v in fields.items())


class Control:
    """A connection to a control socket."""

    def __init__(self, sock, timeout=30.0):
        self._sock = sock
        self._buffer = b""
        self._next_id = 1
        self._events = collections.deque()
        self._console = []
        self.greeting = self._read_message(time.monotonic() + timeout)
        if "QMP" not in self.greeting:
            raise ControlError("GenericError", f"not a control socket: {self.greeting!r}")

    # -- reading -----------------------------------------------------------------------------

    def _read_message(self, deadline):
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from the emulator in time")
            ready, _, _ = select.select([self._sock], [], [], left)
            if not ready:
                continue
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EOFError("the emulator closed the control socket")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _take(self, message):
        """Keeps an event for `wait_event` / `console_expect`."""
        if message.get("event") == "CONSOLE":
            self._console.append(message["data"]["data"])
        self._events.append(message)

    # -- commands ----------------------------------------------------------------------------

    def execute(self, name, /, arguments=None, timeout=60.0, **kwargs):
        """Runs command `name` with `arguments` (a dict) or keyword arguments; returns its
        "return" value or raises ControlError."""
        args = dict(arguments or {}, **kwargs)
        request_id = self._next_id
        self._next_id += 1
        request = {"execute": name, "id": request_id}
        if args:
            request["arguments"] = args
        self.send_raw((json.dumps(request) + "\n").encode())
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if "event" in message:
                self._take(message)
                continue
            if message.get("id") != request_id:
                continue  # a reply to a raw request sent earlier
            if "error" in message:
                err = message["error"]
                raise ControlError(err.get("class"), err.get("desc"))
            return message.get("return")

    def send_raw(self, data):
        """Sends bytes as they are (for tests of malformed input)."""
        self._sock.sendall(data)

    def read_message(self, timeout=30.0):
        """The next message (a reply or an event), as a dict."""
        return self._read_message(time.monotonic() + timeout)

    # -- events ------------------------------------------------------------------------------

    def wait_event(self, event_name, /, timeout=60.0, **fields):
        """The first event called `event_name` whose data has `fields` (e.g. name="login"
        for a MILESTONE), among those received and not yet waited for; waits up to
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for event in list(self._events):
                if _match(event, event_name, fields):
                    self._events.remove(event)
                    return event
            message = self._read_message(deadline)
            if "event" in message:
                self._take(message)

    def clear_events(self):
        """Forgets the events received so far."""
        self._events.clear()

    def watch_console(self):
        """Asks for console output as CONSOLE events (see `console_expect`)."""
        self.execute("console-watch", enable=True)

    def console_expect(self, pattern, timeout=60.0):
        """Waits until the console output since the last match holds `pattern` (a regular
        expression); returns that output up to the end of the match. Needs `watch_console`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = "".join(self._console)
            found = regex.search(text)
            if found:
                self._console = [text[found.end():]]
                return text[: found.end()]
            message = self._read_message(deadline)
            if "event" in message:
                self._take(message)

    def console_send(self, text):
        """Types `text` on the console."""
        return self.execute("console-send", data=text)

    def close(self):
        self._sock.close()


def connect(address, timeout=30.0):
    """Connects to `address`: `unix:PATH`, `tcp:HOST:PORT`, or a socket path."""
    if address.startswith("tcp:"):
        host, _, port = address[4:].rpartition(":")
        sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout)
    else:
        path = address[5:] if address.startswith("unix:") else address
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
    sock.settimeout(None)
    return Control(sock, timeout)


def _default_binary():
    if os.environ.get("AST_EMU"):
        return os.environ["AST_EMU"]
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", "target", "release", "ast-emu")
    if os.path.exists(built):
        return os.path.normpath(built)
    return shutil.which("ast-emu") or "ast-emu"


class Emulator:
    """Starts ast-emu with a control socket for the length of a `with` block.

    `args` are further command-line arguments (`["--flash", "image.mtd"]`); `console_log`
    is a file path for the serial console (default: discarded; use `watch_console` and
    `console_expect` to read it here). The binary is `binary`, else $AST_EMU, else the
    repository's target/release/ast-emu, else `ast-emu` on the PATH.
    """

    def __init__(self, args=(), binary=None, console_log=None, start_timeout=60.0):
        self.args = list(args)
        self.binary = binary or _default_binary()
        self.console_log = console_log
        self.start_timeout = start_timeout
        self.process = None
        self.control = None
        self._dir = None

    def __enter__(self):
        self._dir = tempfile.mkdtemp(prefix="ast-emu-")
        path = os.path.join(self._dir, "control.sock")
        out = open(self.console_log, "wb") if self.console_log else subprocess.DEVNULL
        self._stderr = open(os.path.join(self._dir, "stderr"), "wb")
        self.process = subprocess.Popen(
            [self.binary, "--control", "unix:" + path] + self.args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=self._stderr,
        )
        if out is not subprocess.DEVNULL:
            out.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                error = RuntimeError(
                    f"ast-emu exited with {self.process.returncode}: {self.stderr()}"
                )
                self._stderr.close()
                shutil.rmtree(self._dir, ignore_errors=True)
                raise error
            try:
                self.control = connect("unix:" + path, timeout=self.start_timeout)
                return self
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no control socket at {path}: {self.stderr()}")
                # The emulator creates the socket within milliseconds of starting.
                time.sleep(0.02)
            except (EOFError, OSError):
                # It bound the socket, then gave up (a bad image): say why.
                if self.process.wait(10) is not None:
                    continue
                raise

    def stderr(self):
        """What the emulator wrote on stderr so far."""
        try:
            with open(os.path.join(self._dir, "stderr"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def __getattr__(self, name):
        # execute, wait_event, console_send, ... of the connection.
        if name in ("control", "process"):
            raise AttributeError(name)
        return getattr(self.control, name)

    def wait(self, timeout=60.0):
        """Waits for the emulator to exit; returns its exit code."""
        return self.process.wait(timeout)

    def __exit__(self, *exc):
        try:
            if self.process.poll() is None and self.control is not None:
                try:
                    self.control.execute("quit", timeout=10)
                except (ControlError, EOFError, OSError, TimeoutError):
                    pass
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        finally:
            if self.control is not None:
                self.control.close()
            self._stderr.close()
            shutil.rmtree(self._dir, ignore_errors=True)
        return False
