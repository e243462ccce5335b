"""The IPython console dock (spec/viewer.md C3): a qtconsole widget on an in-process kernel.

The kernel runs in the GUI process and thread, so console code sees the live session objects
(``viewer``, ``session``, ``np``…) and what it changes is what the window shows. silx's console
(silx-kit/silx, src/silx/gui/console.py) works the same way; the code here is owlx's own.

Life cycle
----------
* Construction is cheap: qtconsole and ipykernel (≈0.4 s of imports) are loaded, and the kernel
  started, when the dock is first shown (or :meth:`ConsoleDock.start` / :meth:`execute` is
  called), not at application start-up.
* The namespace comes from a callable given to the constructor, evaluated at start; values
  given to :meth:`ConsoleDock.push` before that are kept and pushed at start.
* Closing the dock (its × button) only hides it: the namespace survives for the next Ctrl+Shift+C.
  :meth:`ConsoleDock.shutdown` stops the kernel; it runs on ``QApplication.aboutToQuit`` and
  the main window should call it from its ``closeEvent``.

In-process kernel caveats
-------------------------
* Code runs on the GUI thread: a long loop typed in the console freezes the window, and an
  in-process kernel cannot be interrupted (Ctrl+C while executing only prints a note).
* IPython keeps one shell per process (a traitlets singleton). Two docks alive at the same time
  would share it, so use one ConsoleDock per process; :meth:`shutdown` clears the singleton so
  that a later dock starts with a clean namespace.
* ``sys.stdout``/``sys.stderr`` are redirected to the console only while a cell executes
  (ipykernel swaps them around each request), so pytest's capture and the application's
  logging are untouched between executions.
* IPython would install its user module as ``sys.modules["__main__"]``; owlx puts the host's
  module back, as IPython's own embedding shell does, so multiprocessing/dask and pytest keep
  their ``__main__``.
* While the kernel runs, ``IPython.get_ipython()`` returns its shell and builtins hold
  ``__IPYTHON__``/``display``: libraries that probe for IPython (tqdm.auto, pandas) then act as
  in a notebook everywhere in the process. :meth:`shutdown` removes those builtins again.
* ipykernel is kept from importing debugpy (see :func:`_import_ipykernel_debugger_without_debugpy`).
* History is kept in memory: a file-backed history starts a writer thread and shares an sqlite
  file with every other IPython on the machine, for no benefit in a viewer.
"""

from __future__ import annotations

import builtins
import importlib.util
import logging
import sys
import threading
import warnings
from typing import Any, Callable, Mapping

from PyQt5 import QtCore, QtWidgets

log = logging.getLogger(__name__)

_REQUIRED = ("qtconsole", "ipykernel")
#: result of a real import attempt: None until tried, then "" (fine) or the reason it failed
_import_error: str | None = None


def _import_console() -> tuple[Any, Any]:
    """Import the qtconsole classes; remember a failure for :meth:`ConsoleDock.available`."""
    global _import_error
    try:
        from qtconsole.inprocess import QtInProcessKernelManager, QtInProcessRichJupyterWidget

        _import_ipykernel_debugger_without_debugpy()
    except Exception as exc:  # ImportError, or a broken install raising anything else
        _import_error = f"the console needs qtconsole and ipykernel: {type(exc).__name__}: {exc}"
        raise
    _import_error = ""
    return QtInProcessKernelManager, QtInProcessRichJupyterWidget


def _import_ipykernel_debugger_without_debugpy() -> None:
    """Import ``ipykernel.debugger`` so that it finds no debugpy.

    An in-process kernel has no debug socket, so the Jupyter debugger cannot work here, yet
    ipykernel would import debugpy/pydevd for it when the kernel is created: that costs time,
    prints a "frozen modules" note on the terminal and replaces ``sys.breakpointhook`` for
    the whole application. Hiding debugpy during this one import avoids all three; other code
    (and a debugger the user attached to owlx) still sees debugpy afterwards.
    """
    if "ipykernel.debugger" in sys.modules:
        return
    missing = object()
    saved = sys.modules.get("debugpy", missing)
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # makes "import debugpy" fail
    try:
        import ipykernel.debugger  # noqa: F401
    finally:
        if saved is missing:
            del sys.modules["debugpy"]
        else:
            sys.modules["debugpy"] = saved


class ConsoleDock(QtWidgets.QDockWidget):
    """Dock widget with an IPython console on an in-process kernel.

    Args:
        namespace: called once when the kernel starts; returns the initial variables
            (e.g. ``{"viewer": ..., "session": ..., "np": numpy}``).
        parent: the main window.
        banner: text shown above the first prompt.
    """

    def __init__(
        self,
        namespace: Callable[[], Mapping[str, Any]] | None = None,
        parent: QtWidgets.QWidget | None = None,
        banner: str = "owlx console — in-process IPython kernel; variables: viewer, session, np\n",
    ):
        super().__init__("Console", parent)
        self.setObjectName("ConsoleDock")  # QMainWindow.saveState needs a stable name
        self._namespace = namespace
        self._banner = banner
        self._pending: dict[str, Any] = {}
        self._manager: Any = None
        self._client: Any = None
        self._widget: Any = None
        self._failed: str | None = None
        self._builtins_before: set[str] = set()
        placeholder = QtWidgets.QLabel("The console starts when it is first shown.")
        placeholder.setAlignment(QtCore.Qt.AlignCenter)
        self.setWidget(placeholder)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- availability -------------------------------------------------------------------------
    @staticmethod
    def available() -> tuple[bool, str]:
        """``(True, "")`` when the console can run, else ``(False, reason)`` for a tooltip.

        Cheap enough for menu construction: before the first start it only checks that the
        packages are installed; once an import has been tried, its real outcome is reported.
        """
        if _import_error is not None:
            return (not _import_error, _import_error)
        missing = [name for name in _REQUIRED if importlib.util.find_spec(name) is None]
        if missing:
            return False, f"the console needs these packages, which are not installed: {', '.join(missing)}"
        return True, ""

    @property
    def started(self) -> bool:
        return self._manager is not None

    @property
    def shell(self) -> Any:
        """The IPython ``InteractiveShell`` (None before start or after shutdown)."""
        if self._manager is None or self._manager.kernel is None:
            return None
        return self._manager.kernel.shell

    @property
    def console_widget(self) -> Any:
        """The ``RichJupyterWidget`` (None before start)."""
        return self._widget

    # -- kernel -------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the kernel and the console widget if not running; return whether it runs."""
        if self._manager is not None:
            return True
        if self._failed is not None:
            return False
        try:
            manager_cls, widget_cls = _import_console()
            self._start(manager_cls, widget_cls)
        except Exception as exc:
            self.shutdown()  # a kernel started before the failure must not linger
            self._failed = _import_error or f"the console could not start: {exc}"
            log.warning("%s", self._failed, exc_info=True)
            label = QtWidgets.QLabel(self._failed)
            label.setWordWrap(True)
            self.setWidget(label)  # deletes a half-built console widget
            self._widget = None
            return False
        return True

    def _start(self, manager_cls: Any, widget_cls: Any) -> None:
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        manager = manager_cls(config=config)
        self._builtins_before = set(vars(builtins))
        host_main = sys.modules.get("__main__")
        try:
            manager.start_kernel(show_banner=False)
        finally:
            if host_main is not None:
                sys.modules["__main__"] = host_main
        self._manager = manager
        # "qt" lets %matplotlib draw into this very QApplication; the default "inline" would not.
        manager.kernel.gui = "qt"
        client = manager.client()
        client.start_channels()
        self._client = client

        widget = widget_cls()
        widget.banner = self._banner
        # Ctrl+C/V/A/G/O… typed in the console win over window-wide shortcuts (spec §14,
        # acceptance check 17): qtconsole accepts ShortcutOverride only when this is set.
        widget.override_shortcuts = True
        # The stock restart/interrupt call into the kernel manager, which for an in-process
        # kernel either raises (interrupt) or leaves the widget talking to a dead kernel.
        widget.custom_interrupt = True
        widget.custom_restart = True
        widget.custom_interrupt_requested.connect(self._on_interrupt)
        widget.custom_restart_requested.connect(self._on_restart)
        widget.exit_requested.connect(self._on_exit_requested)
        widget.kernel_manager = manager
        with warnings.catch_warnings():
            # Attaching the client asks the kernel for its history; ipykernel 7 then warns
            # about its own synchronous do_history. Nothing for owlx to act on.
            warnings.filterwarnings("ignore", message="For consistency across implementations")
            widget.kernel_client = client

        self._widget = widget
        self.setWidget(widget)
        self._push_initial()

    def _push_initial(self) -> None:
        variables: dict[str, Any] = {}
        if self._namespace is not None:
            variables.update(self._namespace())
        variables.update(self._pending)
        self._pending.clear()
        self.shell.push(variables)

    def push(self, variables: Mapping[str, Any]) -> None:
        """Set variables in the console namespace (kept until start if not running yet).

        Cheap (a dict update), so the window can push ``frame`` on every frame change; push
        the array the view already has rather than reading one on the GUI thread.
        """
        shell = self.shell
        if shell is None:
            self._pending.update(variables)
        else:
            shell.push(dict(variables))

    def execute(self, code: str, hidden: bool = False) -> None:
        """Run ``code`` in the kernel, as if typed at the prompt (``hidden``: no echo, no output).

        Starts the kernel if needed. With an in-process kernel the code has run when this
        returns; its output reaches the widget through Qt signals.
        """
        if not self.start():
            raise RuntimeError(self._failed or "the console is not available")
        self._widget.execute(code, hidden=hidden)

    def shutdown(self) -> None:
        """Stop the kernel and its I/O thread; safe to call more than once."""
        manager, client, widget = self._manager, self._client, self._widget
        if manager is None:
            return
        self._manager = self._client = None
        try:
            if client is not None:
                client.stop_channels()
            kernel = manager.kernel
            shell = kernel.shell if kernel is not None else None
            if kernel is not None:
                _cancel_iopub_gc_task(kernel.iopub_thread)
            manager.shutdown_kernel()  # joins the kernel's iopub thread
            if shell is not None:
                shell.history_manager.end_session()
                type(shell).clear_instance()
            # IPython adds __IPYTHON__ and display() to builtins for good; other libraries take
            # __IPYTHON__ to mean "running under IPython", which stops being true here.
            for name in set(vars(builtins)) - self._builtins_before:
                delattr(builtins, name)
        except Exception:  # never let a console problem block quitting
            log.warning("console shutdown failed", exc_info=True)
        try:
            if widget is not None:
                widget.kernel_client = None  # the widget must not talk to the dead kernel
        except RuntimeError:  # the widget was already deleted with its window
            pass

    # -- widget callbacks ---------------------------------------------------------------------
    def _on_interrupt(self) -> None:
        self._widget._append_plain_text(
            "\nThe in-process console cannot be interrupted; wait for the cell to finish.\n"
        )

    def _on_restart(self) -> None:
        """"Restart" = reset the namespace to its initial contents (the kernel is this process)."""
        if self.shell is None:
            return
        self.shell.reset(new_session=False)
        self._push_initial()
        self._widget._append_plain_text("\nNamespace reset.\n", before_prompt=True)

    def _on_exit_requested(self, *args: object) -> None:
        # `exit` in the console closes the console, never the application.
        self.hide()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.start() and self._widget is not None:
            self._widget.setFocus()


def _cancel_iopub_gc_task(iopub_thread: Any, timeout: float = 2.0) -> None:
    """Let the kernel's I/O loop finish its periodic task before the loop is stopped.

    ipykernel 7's ``IOPubThread.stop`` stops the loop with that task still pending, and Python
    then prints "Task was destroyed but it is pending!" when the process exits. Cancelling it
    inside the running loop and waiting for it to finish avoids that. Private attributes are
    looked up defensively: other ipykernel versions simply skip this.
    """
    task = getattr(iopub_thread, "_event_pipe_gc_task", None)
    loop = getattr(iopub_thread, "io_loop", None)
    thread = getattr(iopub_thread, "thread", None)
    if task is None or loop is None or thread is None or not thread.is_alive() or task.done():
        return
    finished = threading.Event()

    def cancel() -> None:
        task.add_done_callback(lambda _task: finished.set())
        task.cancel()

    loop.add_callback(cancel)
    finished.wait(timeout)
