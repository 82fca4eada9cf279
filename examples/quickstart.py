"""The quickstart demo: a package goes into a fresh pubkit index and comes back out.

Starts ``pubkit serve`` on the embedded default (a local data dir with SQLite), adds a user,
uploads a wheel with twine, installs it with pip into a throwaway virtualenv, imports it and
stops the server. Run it with ``python examples/quickstart.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from pubkit.testing import LiveServer, make_wheel

PASSWORD = "quickstart-password"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str) -> str:
    # pip on some machines carries a global configuration; the demo installs only from pubkit.
    env = {"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"command failed: {' '.join(args)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pubkit-quickstart-") as tmp:
        root = Path(tmp)
        server = LiveServer(root / "data")
        step(f"adding user 'demo' to {server.data_dir}")
        server.add_user("demo", PASSWORD)
        step("starting pubkit serve (local storage + SQLite)")
        server.start()
        try:
            wheel = make_wheel(root / "dist", "hello-pubkit", "1.0.0",
                               modules={"hello_pubkit/greet.py": "def hi():\n    return 'hi'\n"})
            step(f"twine upload {wheel.name} -> {server.url}")
            run(sys.executable, "-m", "twine", "upload", "--non-interactive",
                "--repository-url", server.url, "-u", "demo", "-p", PASSWORD, str(wheel))
            step(f"pip install hello-pubkit from {server.simple_url}")
            env_dir = root / "venv"
            venv.create(env_dir, with_pip=False)
            python = str(env_dir / "bin" / "python")
            run(sys.executable, "-m", "pip", "--python", python, "install", "--isolated",
                "--no-cache-dir", "--index-url", server.simple_url, "hello-pubkit")
            out = run(python, "-c", "import hello_pubkit, hello_pubkit.greet as g;"
                      " print(hello_pubkit.__version__, g.hi())")
            step(f"installed and imported: hello_pubkit {out.strip()}")
            listed = [line for line in server.log().splitlines() if "/files/" in line]
            step(f"served by pubkit: {len(listed)} file request(s) in its access log")
        finally:
            server.stop()
    step("done: the index works. Run `pubkit serve --help` to serve your own.")


if __name__ == "__main__":
    main()
