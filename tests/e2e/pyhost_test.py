"""Base class for end-to-end tests of the real pyhost binary (path in $PYHOST)."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import procs  # noqa: E402,F401

PYHOST = os.path.abspath(os.environ.get("PYHOST", "build/release/pyhost"))


class PyhostTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pyhost-e2e-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)

    def env(self, **extra):
        return procs.clean_env(self.home, extra)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_pyhost(self, *args, argv0=PYHOST, env=None, **kwargs):
        return procs.run([argv0, *args], env=env or self.env(), cwd=self.tmp, **kwargs)

    def symlink_named(self, name):
        path = os.path.join(self.tmp, "bin", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(PYHOST, path)
        return path
