#!/usr/bin/env python3
"""Tests for scripts/bench: failure reasons, figure parsing, ratio orientation,
time-outs, and two real runs (a forklift that always fails must give n/a
everywhere; the built forklift must give a real W3 figure).

Run: python3 scripts/bench.d/test_bench.py   (FORKLIFT_BIN overrides the
executable, default .build/debug/forklift). The Swift suite runs it too.
"""
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(ROOT, "scripts", "bench")
FORKLIFT = os.environ.get("FORKLIFT_BIN") or os.path.join(ROOT, ".build", "debug", "forklift")

loader = importlib.machinery.SourceFileLoader("bench", BENCH)
spec = importlib.util.spec_from_loader("bench", loader)
bench = importlib.util.module_from_spec(spec)
loader.exec_module(bench)


def run_bench(*args, timeout=120):
    return subprocess.run([sys.executable, BENCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


class FailureReasons(unittest.TestCase):
    def test_missing_module_field_names_the_feature(self):
        err = ("/x/.build/release/forklift: /x/scripts/bench.d/forklift/w1_map_tiny.lua:14: "
               "attempt to call a nil value (field 'Pool')\nstack traceback:\n\t[C]: in ?\n")
        self.assertEqual(bench.failure_reason(err, 1), "mp.Pool does not exist yet")

    def test_missing_method_names_the_method(self):
        err = "forklift: w6.lua:30: attempt to call a nil value (method 'add')\n"
        self.assertEqual(bench.failure_reason(err, 1), ":add does not exist yet")

    def test_other_lua_errors_are_kept_without_prefixes(self):
        err = "/usr/bin/forklift: w6.lua:41: W6: final value 399998, expected 400000\nstack traceback:\n"
        self.assertEqual(bench.failure_reason(err, 1), "W6: final value 399998, expected 400000")

    def test_python_traceback_gives_the_exception_line(self):
        err = "Traceback (most recent call last):\n  File \"x.py\", line 3\nValueError: cannot find context for 'nope'\n"
        self.assertEqual(bench.failure_reason(err, 1), "ValueError: cannot find context for 'nope'")

    def test_silent_failure_gives_the_status(self):
        self.assertEqual(bench.failure_reason("", 3), "exit status 3")


class Figures(unittest.TestCase):
    def test_the_line_with_the_label_is_parsed(self):
        out = "noise\nW6a value-counter incs_per_s=123456 wall_s=0.5 final=400000 variant=add\n"
        self.assertEqual(bench.parse_figures(out, "W6a"),
                         {"incs_per_s": 123456.0, "wall_s": 0.5, "final": 400000.0})

    def test_no_line_with_the_label_is_none(self):
        self.assertIsNone(bench.parse_figures("W6 value-counter incs_per_s=1\n", "W6a"))


class FakeJob(bench.Job):
    def __init__(self, samples, errors=()):
        super().__init__("X", ["x"])
        self.samples, self.errors = samples, list(errors)


class Ratios(unittest.TestCase):
    def rows(self, forklift, python, higher):
        row = bench.Row("W9", "test", "x", "v", higher, ["w.lua"], ["W9", "fork"])
        result = bench.collect([row], {"W9": FakeJob([{"v": x} for x in forklift])},
                               {("W9", "fork"): FakeJob([{"v": x} for x in python])}, {}, {}, len(forklift))
        return result["rows"][0]

    def test_rates_divide_forklift_by_python(self):
        self.assertAlmostEqual(self.rows([4, 1, 3], [1, 2, 9], higher=True)["ratio"], 3 / 2)

    def test_times_divide_python_by_forklift(self):
        self.assertAlmostEqual(self.rows([2.0], [6.0], higher=False)["ratio"], 3.0)

    def test_a_side_without_figures_has_no_ratio(self):
        self.assertIsNone(self.rows([], [6.0], higher=False)["ratio"])


class Commands(unittest.TestCase):
    def test_a_hung_job_times_out(self):
        ok, why = bench.run_command(["sleep", "5"], 0.2)
        self.assertFalse(ok)
        self.assertIn("timed out", why)

    def test_a_missing_program_cannot_start(self):
        ok, why = bench.run_command([os.path.join(HERE, "no-such-program")], 5)
        self.assertFalse(ok)
        self.assertIn("cannot start", why)

    def test_a_job_that_fails_in_round_one_is_not_retried(self):
        job = bench.Job("W9", ["false"])
        job.run(5)
        job.run(5)
        self.assertEqual(len(job.errors), 1)
        self.assertIsNone(job.median("v"))


class EndToEnd(unittest.TestCase):
    def test_unknown_workload_is_refused(self):
        r = run_bench("--no-build", "W42")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown workload", r.stderr)

    def test_a_failing_forklift_gives_na_never_a_number(self):
        r = run_bench("--forklift", "/bin/false", "--rounds", "1", "--json", "W3")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)["rows"]
        self.assertEqual([e["id"] for e in rows], ["W3"])
        for e in rows:
            self.assertIsNone(e["forklift"]["median"])
            self.assertIsNone(e["ratio"])
            self.assertEqual(e["forklift"]["errors"], ["exit status 1"])
        fd, saved = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        self.addCleanup(os.remove, saved)
        run_bench("--forklift", "/bin/false", "--rounds", "1", "W3-*", "--timeout", "0.01", "--save", saved)
        table = run_bench("--render", saved)
        lines = [l for l in table.stdout.splitlines() if l.startswith("W3-")]
        self.assertEqual(len(lines), 2)
        for line in lines:
            self.assertIn("python: timed out after 0.01 s", line)
            self.assertNotRegex(line.split("↓")[1].split("forklift:")[0], r"\d")

    @unittest.skipUnless(os.access(FORKLIFT, os.X_OK), "forklift is not built")
    def test_the_built_forklift_gives_real_spawn_figures(self):
        r = run_bench("--forklift", FORKLIFT, "--rounds", "1", "--json", "W3", "W3-forkserver")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)["rows"]
        self.assertEqual([e["id"] for e in rows], ["W3", "W3-forkserver"])
        for e in rows:
            self.assertEqual(e["forklift"]["errors"], [])
            self.assertGreater(e["forklift"]["median"], 0)
            self.assertGreater(e["python"]["median"], 0)
            self.assertGreater(e["ratio"], 0)


if __name__ == "__main__":
    unittest.main()
