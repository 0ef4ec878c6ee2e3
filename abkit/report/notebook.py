"""Notebooks: parameter checks, where the bundled notebooks live, papermill execution, and the
conversion of an executed notebook to one sanitized HTML page."""

from __future__ import annotations

import contextlib
import errno
import html
import keyword
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abkit._files import copy_atomic
from abkit.errors import ReportError
from abkit.report.exit_codes import EXIT_FAILED, EXIT_INPUT
from abkit.report.html import _DROP_ELEMENTS, _PAGE, ALLOWED_ATTRIBUTES, ALLOWED_TAGS

__all__ = [
    "DESIGN_NOTEBOOK",
    "REPORT_NOTEBOOK",
    "notebook_path",
    "notebook_to_html",
    "validate_parameters",
    "write_error",
]

REPORT_NOTEBOOK = "experiment_report.ipynb"
DESIGN_NOTEBOOK = "experiment_design.ipynb"

# ------------------------------------------------------------------------------------ parameters


def _is_json_primitive(value: Any, depth: int = 0) -> bool:
    if depth > 10:
        return False
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_json_primitive(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json_primitive(v, depth + 1) for k, v in value.items())
    return False


def validate_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check notebook parameters before papermill writes them into Python source.

    Names must be Python identifiers (not keywords, not dunder); values must be JSON primitives
    (str, int, float, bool, None, and lists / dicts of those) — exact types, so a ``Path``, a numpy
    scalar, a date or a ``str`` subclass (whose ``repr`` papermill would trust) is rejected.

    Raises:
        ReportError: naming the offending parameter.

    Example:
        >>> validate_parameters({"config_path": "/tmp/config.json"})
        {'config_path': '/tmp/config.json'}
    """
    out = {}
    for name, value in parameters.items():
        if (
            type(name) is not str
            or not name.isidentifier()
            or keyword.iskeyword(name)
            or name.startswith("__")
        ):
            raise ReportError(
                f"notebook parameter name {name!r} is not a plain Python identifier; it would be "
                "written into the notebook's source",
                exit_code=EXIT_INPUT,
            )
        if not _is_json_primitive(value):
            raise ReportError(
                f"notebook parameter {name!r} has a value of type {type(value).__name__}; only JSON "
                "primitives (str, int, float, bool, None, lists and dicts of those) are passed to "
                "notebooks — convert it (e.g. str(path))",
                exit_code=EXIT_INPUT,
            )
        out[name] = value
    return out


# ------------------------------------------------------------------------------------ notebooks


def notebook_path(name: str = REPORT_NOTEBOOK) -> Path:
    """Where a bundled notebook lives (installed package, or the source checkout)."""
    package = Path(__file__).resolve().parents[1]  # abkit/ (this file is abkit/report/notebook.py)
    for candidate in (package / "_notebooks" / name, package.parent / "notebooks" / name):
        if candidate.is_file():
            return candidate
    raise ReportError(f"notebook {name} is not installed with abkit", exit_code=EXIT_FAILED)


#: file-system errors that mean the output cannot be written (exit code 2, not a failed notebook)
WRITE_ERRNOS = frozenset(
    getattr(errno, n)
    for n in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EFBIG", "ENAMETOOLONG", "ENOTDIR")
    if hasattr(errno, n)
) | {errno.EEXIST, errno.EISDIR}


def write_error(folder: Path, exc: OSError) -> ReportError:
    """A file-system error while writing into ``folder``, said plainly (exit code 2)."""
    why = {
        errno.ENOSPC: "the disk is full; free some space or give another output folder",
        getattr(errno, "EDQUOT", -1): "the disk quota is used up; free some space",
        errno.EROFS: "the file system is read-only; give another output folder",
        errno.EACCES: "permission denied; give a folder you can write to",
        errno.EPERM: "permission denied; give a folder you can write to",
        errno.ENAMETOOLONG: "a file name is too long; give a shorter output folder",
    }.get(exc.errno if exc.errno is not None else -2)
    where = f" ({exc.filename})" if exc.filename else ""
    return ReportError(
        f"cannot write to {folder}{where}: {why or exc.strerror or exc}", exit_code=EXIT_INPUT
    )


#: kernel folders are ``abkit-k-<pid>-…`` in the temp directory, so a later run can tell a
#: folder left by a killed process (its sockets and key) from one in use
KERNEL_PREFIX = "abkit-k-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def sweep_kernel_folders(tmp: Path | None = None) -> None:
    """Remove this user's kernel folders whose process no longer runs (killed with SIGKILL)."""
    root = Path(tmp or tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else None
    for p in root.glob(f"{KERNEL_PREFIX}*"):
        m = re.match(rf"{KERNEL_PREFIX}(\d+)-", p.name)
        try:
            mine = uid is None or p.lstat().st_uid == uid
        except OSError:
            continue
        ours = m is not None and mine and p.is_dir() and not p.is_symlink()
        if ours and m is not None and int(m[1]) != os.getpid() and not _pid_alive(int(m[1])):
            shutil.rmtree(p, ignore_errors=True)


#: how long a kernel asked to shut down may take before it is interrupted (it is busy in a cell);
#: an idle kernel stops well within it (the wait ends when it does), also on a machine whose
#: cores are saturated (CI: 1 s and then 5 s were seen to be too short there)
_SHUTDOWN_GRACE_S = 15.0


def _kernel_manager(run_dir: Path, started: list[Any] | None = None) -> type:
    """A Jupyter kernel manager private to one report run.

    * **Its files in a directory of its own.** The connection file (which holds the kernel's
      key) and, on POSIX, the kernel's Unix sockets live in ``run_dir`` — made by
      :func:`tempfile.mkdtemp` (mode 0700) and removed with the run — instead of the shared temp
      directory (Jupyter's default connection file is ``/tmp/tmpXXXX.json``; its default IPC
      path is relative to the working directory). The path is kept short for macOS's 104-byte
      socket path limit.
    * **Unix sockets, not TCP** (POSIX): over TCP the kernel listens on localhost ports that any
      local user could connect to (ipykernel 7 warns about it on every run).
    * **A clean shutdown.** jupyter_client interrupts (SIGINT) every kernel before it asks it to
      shut down. After a successful run the kernel is idle, but may still be inside the handler
      of papermill's last request (``kernel_info``), where ipykernel turns the signal into
      ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.`` on stderr. This manager asks
      first and interrupts only a kernel that has not stopped within ``_SHUTDOWN_GRACE_S``
      (one still running a cell, e.g. after a timeout), then terminates and kills as usual.
    * **Known to the run.** Each manager made is appended to ``started``, so a run that is
      interrupted or terminated can kill its kernel (which runs in a session of its own).
    """
    import asyncio

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    ipc = os.name == "posix"

    class ReportKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if started is not None:
                started.append(self)

        @default("transport")
        def _default_transport(self) -> str:
            return "ipc" if ipc else "tcp"

        @default("connection_file")
        def _default_connection_file(self) -> str:
            # over IPC, Jupyter names the sockets after it: run_dir/kernel-ipc-<n>
            return str(run_dir / "kernel.json")

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # the interrupt jupyter_client sends before every shutdown
                return
            await super()._async_interrupt_kernel()

        async def _async_finish_shutdown(
            self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
        ) -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + _SHUTDOWN_GRACE_S
            while await self.is_alive() and loop.time() < deadline:
                await asyncio.sleep(pollinterval)
            if await self.is_alive():  # busy in a cell: interrupt it so it acts on the request
                await super()._async_interrupt_kernel()
            await super()._async_finish_shutdown(waittime, pollinterval, restart)

    return ReportKernelManager


def _execute(
    source: Path,
    dest: Path,
    parameters: Mapping[str, Any],
    *,
    kernel_name: str,
    timeout: int,
    start_timeout: int,
    keep_failed: Path,
    cwd: Path,
) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    params = validate_parameters(parameters)
    # the kernel's connection file and sockets: a private directory per run, removed after it
    sweep_kernel_folders()
    run_dir = Path(tempfile.mkdtemp(prefix=f"{KERNEL_PREFIX}{os.getpid()}-"))
    started: list[Any] = []

    def literal(p: Path) -> str:  # papermill formats paths with the parameters: {x} is literal
        return str(p).replace("{", "{{").replace("}", "}}")

    def keep() -> str | None:
        if not dest.exists():
            return None
        try:
            copy_atomic(dest, keep_failed)  # a link planted at keep_failed is replaced
        except OSError:
            return None
        return str(keep_failed)

    try:
        pm.execute_notebook(
            literal(source),
            literal(dest),
            parameters=params,
            kernel_name=kernel_name,
            execution_timeout=timeout,
            start_timeout=start_timeout,
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
            kernel_manager_class=_kernel_manager(run_dir, started),
        )
    except PapermillExecutionError as exc:
        kept = keep()
        where = f"the executed notebook is kept at {kept}" if kept else "it could not be kept"
        raise ReportError(
            f"report notebook failed in cell {exc.exec_count} ({exc.ename}: {exc.evalue}); "
            + where,
            exit_code=EXIT_FAILED,
            notebook_path=kept,
        ) from None
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:  # a half-written notebook is not kept
            raise write_error(dest.parent, exc) from None
        raise ReportError(
            f"report notebook could not run: {type(exc).__name__}: {exc}",
            exit_code=EXIT_FAILED,
            notebook_path=keep(),
        ) from None
    except Exception as exc:  # kernel died, timeout, missing kernel …
        raise ReportError(
            f"report notebook could not run: {type(exc).__name__}: {exc}",
            exit_code=EXIT_FAILED,
            notebook_path=keep(),
        ) from None
    except BaseException:  # Ctrl-C, SIGTERM: the kernel goes with the run, not after it
        for km in started:
            _kill_kernel(km)
        raise
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _kill_kernel(km: Any) -> None:
    """Kill a kernel's process group now (its manager cannot be awaited while unwinding)."""
    import signal

    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    except (OSError, AttributeError):  # not a group of its own, or not POSIX
        with contextlib.suppress(OSError):
            process.kill()
    with contextlib.suppress(Exception):
        process.wait(timeout=5)


def notebook_to_html(path: Path, *, title: str) -> str:
    """Executed notebook → one self-contained HTML page (no inputs, sanitized, no external scripts).

    Every HTML and Markdown output goes through nbconvert's ``SanitizeHTML`` (bleach) with the
    allow-list in :mod:`abkit.report.html` (scripts, styles, event handlers and unknown tags are
    stripped; JavaScript outputs are dropped). nbconvert's own ``sanitize_html=True`` uses a fixed
    list without headings or table headers, which would print them as literal text; ours is that
    same sanitiser with a list a report needs.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    nb = nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call, unused-ignore]
    # warnings and logs written to stderr stay in the executed notebook (for debugging), not in
    # the page a reader sees; every finding a reader needs is in the trust panel
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")
            ]

    class _Sanitizer(SanitizeHTML):
        def sanitize_html_tags(self, html_str: str) -> str:
            # bleach's strip=True removes a disallowed tag but keeps its text; for <style> and
            # <script> that text is CSS or code, so drop those elements whole first
            cleaned = _DROP_ELEMENTS.sub("", html_str)
            return str(super().sanitize_html_tags(cleaned))  # type: ignore[no-untyped-call, unused-ignore]

    sanitizer = _Sanitizer(  # type: ignore[no-untyped-call, unused-ignore]
        tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, strip=True
    )
    nb, _ = sanitizer.preprocess(nb, {})  # type: ignore[no-untyped-call, unused-ignore]
    exporter = HTMLExporter(  # type: ignore[no-untyped-call, unused-ignore]
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        anchor_link_text="",
    )
    body, _ = exporter.from_notebook_node(nb)
    return _PAGE.format(title=html.escape(title), body=body)
