"""The Python client against a real emulator (the built-in image; $AST_EMU names the binary).

Run: python3 -m unittest discover -s python/tests -v   (make test runs it through
tests/python_client.rs).
"""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ast_emu import ControlError, Emulator, connect  # noqa: E402


class ClientTest(unittest.TestCase):
    def test_commands_events_and_errors(self):
        with Emulator() as emu:
            self.assertIn("ast-emu", emu.greeting["QMP"]["version"]["package"])
            self.assertEqual(emu.execute("qmp_capabilities"), {})
            # u-boot's banner arrives as a milestone of the first boot.
            event = emu.wait_event("MILESTONE", name="u-boot", timeout=120)
            self.assertEqual(event["data"]["boot"], 0)
            self.assertIn("virtual_ns", event["timestamp"])

            machine = emu.execute("query-machine")
            self.assertEqual(machine["board"], "ast2600-evb")
            uart5 = [d for d in machine["devices"] if d["name"] == "uart5"]
            self.assertEqual(uart5[0]["base"], 0x1E784000)

            sensors = emu.execute("sensor-list")
            self.assertIn((8, 0x4D), [(s["bus"], s["addr"]) for s in sensors])
            emu.execute("sensor-set", bus=8, addr=0x4D, celsius=55.0)
            self.assertEqual(emu.execute("sensor-get", bus=8, addr=0x4D)["celsius"], 55.0)

            with self.assertRaises(ControlError) as caught:
                emu.execute("no-such-command")
            self.assertEqual(caught.exception.error_class, "CommandNotFound")
            with self.assertRaises(ControlError) as caught:
                emu.execute("sensor-set", bus="8", addr=0x4D, celsius=1)
            self.assertIn("must be an integer", caught.exception.desc)
            with self.assertRaises(ControlError) as caught:
                emu.execute("sensor-get", bus=3, addr=0x10)
            self.assertEqual(caught.exception.error_class, "DeviceNotFound")

            # stop holds virtual time; cont lets it go on.
            emu.execute("stop")
            emu.wait_event("STOP")
            held = emu.execute("query-status")
            self.assertEqual(held["status"], "paused")
            time.sleep(0.3)  # wall time passes; virtual time must not
            self.assertEqual(emu.execute("query-status")["virtual_ns"], held["virtual_ns"])
            emu.execute("cont")
            emu.wait_event("RESUME")
            status = emu.execute("query-status")
            self.assertEqual(status["status"], "running")

            # A second client is served at the same time.
            other = connect(emu.process.args[2])
            self.assertEqual(other.execute("query-status")["status"], "running")
            other.close()

            emu.execute("quit")
            emu.wait_event("SHUTDOWN", reason="host-qmp-quit")
            self.assertEqual(emu.wait(), 0)

    def test_a_held_start_runs_nothing_until_cont(self):
        with Emulator(args=["--stopped"]) as emu:
            held = emu.execute("query-status")
            self.assertEqual(held["status"], "paused")
            self.assertEqual(held["milestones"], [])
            time.sleep(0.3)  # wall time passes; the guest must not run
            self.assertEqual(emu.execute("query-status")["virtual_ns"], held["virtual_ns"])
            emu.execute("cont")
            emu.wait_event("MILESTONE", name="u-boot", timeout=120)

    def test_an_emulator_that_cannot_start_is_reported_with_its_error(self):
        with self.assertRaises(RuntimeError) as caught:
            with Emulator(args=["--flash", "/nonexistent/image.mtd"]):
                pass
        self.assertIn("/nonexistent/image.mtd", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
