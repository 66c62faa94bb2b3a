"""The fidelity corpus: every case runs under /usr/bin/python3.11 and under pyhost, and the
stdout bytes, stderr bytes and exit status must be identical.

pyhost is run in both of its guises: through a symlink named python3 (the drop-in), and
under its own name. The only normalization is the interpreter's own path (which python3
prints in usage and error lines) and hexadecimal addresses (thread ids, object ids).

Usage: run_fidelity.py --pyhost PATH [--only SUBSTRING] [--env NAME=VALUE ...]
(--env applies to the pyhost runs only: the capture issue reruns the corpus with capture on.)
"""
import argparse
import concurrent.futures
import difflib
import os
import re
import shutil
import signal
import sys
import tempfile
import zipapp
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import procs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Case:
    name: str
    args: list
    stdin: bytes = b""
    env: dict = field(default_factory=dict)
    send_signal: int = None
    ignore_sigint: bool = False
    forms: tuple = ("python3", "pyhost")  # which guises of pyhost to compare


def read_fixture(name):
    with open(os.path.join(HERE, "fixtures", name), "rb") as f:
        return f.read()


def cases():
    fx = "{fx}"
    out = [
        Case("c_pass", ["-c", "pass"]),
        Case("c_argv", ["-c", "import sys; print(sys.argv, repr(sys.path[0]))", "a", "-b", "--c"]),
        Case("script_state", [f"{fx}/show_state.py", "arg1", "--flag"]),
        Case("script_flags", ["-B", "-s", "-u", "-O", "-W", "ignore::DeprecationWarning", "-X", "utf8",
                              "-X", "dev", "-b", f"{fx}/show_state.py"]),
        Case("isolated", ["-I", f"{fx}/show_state.py"]),
        Case("no_site", ["-S", f"{fx}/show_state.py"]),
        Case("safe_path", ["-P", f"{fx}/show_state.py"]),
        Case("quiet_verbose_off", ["-q", f"{fx}/show_state.py"]),
        Case("pythonpath", [f"{fx}/env_view.py"], env={"PYTHONPATH": "extra_path_dir"}),
        Case("ignore_environment", ["-E", f"{fx}/env_view.py"],
             env={"PYTHONPATH": "extra_path_dir", "PYTHONINSPECT": "1"}),
        Case("env_unbuffered", [f"{fx}/show_state.py"], env={"PYTHONUNBUFFERED": "1",
                                                              "PYTHONDONTWRITEBYTECODE": "1"}),
        Case("module", ["-m", "module_main", "x"]),
        Case("module_exit", ["-m", "module_main", "3"]),
        Case("module_missing", ["-m", "no_such_module_xyz"]),
        Case("package_main", ["-m", "pkg_main", "9"]),
        Case("directory_script", [f"{fx}/pkg_main", "4"]),
        Case("zipapp", [f"{fx}/app.pyz", "q"]),
        Case("script_missing", [f"{fx}/missing.py"]),
        Case("stdin_dash", ["-", "a1"], stdin=read_fixture("stdin_program.txt")),
        Case("stdin_implicit", [], stdin=read_fixture("stdin_program.txt")),
        Case("inspect_after_c", ["-i", "-c", "print('before repl')"], stdin=read_fixture("repl_input.txt")),
        Case("repl_quiet", ["-q", "-i"], stdin=read_fixture("repl_input.txt")),
        Case("repl_banner", ["-i"], stdin=b"print('hi')\n"),
        Case("repl_startup", ["-i", "-q"], stdin=b"print(started)\n",
             env={"PYTHONSTARTUP": "{fx}/startup_file.py"}),
        Case("skip_first_line", ["-x", f"{fx}/skip_first.py"]),
        Case("version", ["--version"]),
        Case("version_verbose", ["-VV"]),
        Case("help_python3", ["-h"], forms=("python3",)),
        Case("help_env", ["--help-env"]),
        Case("help_xoptions", ["--help-xoptions"]),
        Case("unknown_option", ["-Z"]),
        Case("missing_c_arg", ["-c"]),
        Case("bad_x_option", ["-X", "int_max_str_digits=1"]),
        Case("warnings_default", [f"{fx}/warnings_demo.py"]),
        Case("warnings_error", ["-W", "error", f"{fx}/warnings_demo.py"]),
        Case("warnings_env", [f"{fx}/warnings_demo.py"], env={"PYTHONWARNINGS": "always"}),
        Case("asserts", [f"{fx}/asserts.py"]),
        Case("asserts_O", ["-O", f"{fx}/asserts.py"]),
        Case("asserts_OO", ["-OO", f"{fx}/asserts.py"]),
        Case("unicode", [f"{fx}/unicode_io.py"]),
        Case("unicode_c_locale", [f"{fx}/unicode_io.py"], env={"LANG": None, "LC_ALL": "C"}),
        Case("unicode_ioencoding", [f"{fx}/unicode_io.py"], env={"PYTHONIOENCODING": "ascii:backslashreplace"}),
        Case("verbose_imports", ["-v", "-c", "pass"]),
        Case("extension_modules", [f"{fx}/import_extensions.py"]),
        Case("subprocess_and_multiprocessing", [f"{fx}/subprocess_exec.py"]),
        Case("c_sys_exit_str", ["-c", "import sys; sys.exit('bye')"]),
        Case("c_systemexit_int", ["-c", "raise SystemExit(3)"]),
        Case("c_keyboard", ["-c", "raise KeyboardInterrupt"]),
        Case("stdin_exit", ["-"], stdin=b"import sys\nprint('x')\nsys.exit(6)\n"),
        Case("faulthandler_segv", ["-X", "faulthandler", f"{fx}/exit_codes.py", "segv"]),
    ]
    for how in ("none", "int", "big", "negative", "str", "object", "raise", "chained", "group",
                "keyboard", "os_exit", "segv", "abort", "atexit_raises", "atexit_exits",
                "systemexit_in_thread", "exception_in_thread", "unraisable", "stdout_closed",
                "excepthook"):
        out.append(Case(f"exit_{how}", [f"{fx}/exit_codes.py", how]))
    for how, sig, ign in (("default", signal.SIGINT, False), ("catch_int", signal.SIGINT, False),
                          ("default", signal.SIGTERM, False), ("term_handler", signal.SIGTERM, False),
                          ("default", signal.SIGHUP, False), ("default", signal.SIGUSR1, False),
                          ("default", signal.SIGINT, True)):
        name = f"signal_{how}_{signal.Signals(sig).name}" + ("_inherited_ignored" if ign else "")
        out.append(Case(name, [f"{fx}/signals.py", how], send_signal=sig, ignore_sigint=ign))
    # A script that shares a pyhost command's name runs when given as a path.
    out.append(Case("script_named_help", ["./help"], forms=("pyhost",)))
    return out


def prepare_fixtures(workdir):
    fx = os.path.join(workdir, "fixtures")
    shutil.copytree(os.path.join(HERE, "fixtures"), fx)
    zipapp.create_archive(os.path.join(fx, "zipapp_src"), os.path.join(fx, "app.pyz"))
    shutil.copy(os.path.join(fx, "pyhost_named_help.py"), os.path.join(fx, "help"))
    with open(os.path.join(fx, "startup_file.py"), "w") as f:
        f.write("started = 'from PYTHONSTARTUP'\n")
    with open(os.path.join(fx, "skip_first.py"), "w") as f:
        f.write("this line is not python\nprint('second line runs')\n")
    return fx


ADDRESS = re.compile(rb"0x[0-9a-fA-F]+")


def normalize(data, interpreter):
    data = data.replace(interpreter.encode(), b"<python>")
    return ADDRESS.sub(b"0xADDR", data)


def run_case(case, interpreter, fx, home, extra_env):
    env = procs.clean_env(home, {k: (v.replace("{fx}", fx) if isinstance(v, str) else v)
                                 for k, v in {**case.env, **extra_env}.items()})
    argv = [interpreter] + [a.replace("{fx}", fx) for a in case.args]
    code, out, err = procs.run(argv, env=env, cwd=fx, stdin=case.stdin,
                               send_signal=case.send_signal,
                               preexec_fn=procs.ignore_sigint if case.ignore_sigint else None)
    return code, normalize(out, interpreter), normalize(err, interpreter)


def compare(case, form, expected, actual):
    problems = []
    if expected[0] != actual[0]:
        problems.append(f"exit status: python3.11 {expected[0]}, pyhost {actual[0]}")
    for index, stream in ((1, "stdout"), (2, "stderr")):
        if expected[index] != actual[index]:
            diff = difflib.unified_diff(
                expected[index].decode("utf-8", "backslashreplace").splitlines(),
                actual[index].decode("utf-8", "backslashreplace").splitlines(),
                "python3.11", f"pyhost ({form})", lineterm="", n=2)
            problems.append(f"{stream} differs:\n" + "\n".join(list(diff)[:60]))
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyhost", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in options.env)

    with tempfile.TemporaryDirectory(prefix="pyhost-fidelity-") as workdir:
        fx = prepare_fixtures(workdir)
        home = os.path.join(workdir, "home")
        os.mkdir(home)
        # Both interpreters are started through same-shaped paths, so that what they print
        # about themselves normalizes the same way.
        for form, target in (("ref", procs.REFERENCE_PYTHON), ("drop-in", os.path.abspath(options.pyhost))):
            os.makedirs(os.path.join(workdir, form))
            os.symlink(target, os.path.join(workdir, form, "python3"))
        ref_python3 = os.path.join(workdir, "ref", "python3")
        guises = {"python3": os.path.join(workdir, "drop-in", "python3"),
                  "pyhost": os.path.abspath(options.pyhost)}
        reference_for = {"python3": ref_python3, "pyhost": procs.REFERENCE_PYTHON}

        jobs = []
        with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
            for case in cases():
                if options.only not in case.name:
                    continue
                for form in case.forms:
                    expected = pool.submit(run_case, case, reference_for[form], fx, home, {})
                    actual = pool.submit(run_case, case, guises[form], fx, home, extra_env)
                    jobs.append((case, form, expected, actual))
            failures = 0
            for case, form, expected, actual in jobs:
                problems = compare(case, form, expected.result(), actual.result())
                status = "ok" if not problems else "FAIL"
                print(f"{status:4} {case.name} [{form}]")
                for problem in problems:
                    failures += 1
                    print("     " + problem.replace("\n", "\n     "))
        print(f"{len(jobs)} comparisons, {failures} differences")
        return 1 if failures or not jobs else 0


if __name__ == "__main__":
    sys.exit(main())
