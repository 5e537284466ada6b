"""Execute the notebook pages side by side, a kernel per core, instead of one after another.

mkdocs-jupyter executes a notebook while its page is rendered, and MkDocs
renders one page at a time, so a cold build waits for each notebook in turn
while the other cores idle. This hook starts every notebook that the build
will execute (the ones mkdocs-jupyter's cache does not serve) as soon as the
files are known, each through mkdocs-jupyter's own converter
(``mkdocs_jupyter.convert.nb2html``) in a process of its own, ``jobs`` at a
time, while MkDocs goes on with the other pages. The converter is wrapped:
when the plugin asks for a page, it gets that page's result, provided the
plugin asked with the options the hook used (read from the plugin's
configuration); any other call is converted the plugin's own way, so the site
never depends on this hook.

Each kernel gets ``cores // jobs`` threads, so that the kernels share the
cores instead of fighting over them. ``REFIMPL_DOCS_JOBS`` sets ``jobs``
(default: the cores this process may use, at most the number of notebooks);
``REFIMPL_DOCS_JOBS=1`` is mkdocs-jupyter's one-at-a-time behaviour.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs_jupyter import convert
from mkdocs_jupyter import plugin as jupyter_plugin

_CONVERT = getattr(convert.nb2html, "original", convert.nb2html)  # the plugin's own, however often we wrap it

# what each process runs: one notebook through mkdocs-jupyter's own converter, the HTML on stdout
_WORKER = (
    "import json, sys\n"
    "from mkdocs_jupyter.convert import nb2html\n"
    "request = json.load(sys.stdin)\n"
    "sys.stdout.buffer.write(nb2html(request['path'], **request['options']).encode())\n"
)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _jobs(notebooks: int) -> int:
    value = os.environ.get("REFIMPL_DOCS_JOBS", "")
    # isdigit accepts "²", which int() refuses, and isdecimal other scripts' digits ("٣"): ASCII only
    if value and not (value.isascii() and value.isdecimal() and int(value) >= 1):
        raise PluginError(f"REFIMPL_DOCS_JOBS={value!r}: expected a whole number of processes, at least 1")
    return min(int(value) if value else _cores(), max(notebooks, 1))


#: the options mkdocs-jupyter passes to ``nb2html``, each its configuration's value of the same name
#: (``execute`` too: this hook runs only when no notebook is exempt from execution)
OPTIONS = (
    "execute",
    "kernel_name",
    "theme",
    "allow_errors",
    "show_input",
    "no_input",
    "no_prompt",
    "remove_tag_config",
    "highlight_extra_classes",
    "include_requirejs",
    "custom_mathjax_url",
)


class ParallelConverter:
    """Stands in for ``nb2html``: converts ``paths`` with ``options``, ``jobs`` at a time, from the start."""

    original = _CONVERT

    def __init__(self, paths: list[str], options: dict[str, Any], jobs: int) -> None:
        self.options, self.threads = options, max(1, _cores() // jobs)
        self.processes: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(jobs, thread_name_prefix="notebook")
        self.results: dict[str, Future[str]] = {path: self.pool.submit(self._convert, path) for path in paths}

    def __call__(self, nb_path: str, **options: Any) -> str:
        result = self.results.pop(str(nb_path), None)
        if result is None or options != self.options:
            return _CONVERT(nb_path, **options)
        return result.result()

    def _convert(self, path: str) -> str:
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads)}  # read by torch in the kernel
        request = json.dumps({"path": path, "options": self.options}).encode()
        with subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        ) as process:
            with self.lock:
                self.processes.add(process)
            out, err = process.communicate(request)
        with self.lock:
            self.processes.discard(process)
        if process.returncode != 0:
            tail = "\n".join(err.decode(errors="replace").rstrip().splitlines()[-40:])
            raise PluginError(f"executing the notebook {path} failed:\n{tail}")
        return out.decode()

    def close(self) -> None:
        """Stop what still runs (a failed build) and wait for nothing."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            for process in self.processes:
                process.kill()


def _will_execute(plugin: Any, path: str) -> bool:
    """Whether mkdocs-jupyter executes this notebook in this build, not serves it from its cache."""
    if not plugin.config["cache"]:
        return True
    key = jupyter_plugin._compute_cache_key(path, plugin.config, plugin.config["execute"])
    return not jupyter_plugin._get_cache_path(plugin.config["cache_dir"], key).exists()


def on_files(files: Files, config: MkDocsConfig) -> Files:
    _restore()
    plugin = config.plugins.get("mkdocs-jupyter")
    if plugin is None or not plugin.config["execute"] or plugin.config["execute_ignore"]:
        return files  # nothing to execute, or not every notebook the same way: the plugin's own path
    paths = [f.abs_src_path for f in files if plugin.should_include(f) and _will_execute(plugin, f.abs_src_path)]
    options = {name: plugin.config[name] for name in OPTIONS}
    jobs = _jobs(len(paths))
    if jobs > 1 and _sendable(options):
        convert.nb2html = ParallelConverter(paths, options, jobs)
    return files


def _sendable(options: dict[str, Any]) -> bool:
    try:
        json.dumps(options)
    except TypeError:
        return False
    return True


def _restore() -> None:
    if isinstance(convert.nb2html, ParallelConverter):
        convert.nb2html.close()
    convert.nb2html = _CONVERT


def on_post_build(config: MkDocsConfig) -> None:
    _restore()


def on_build_error(error: Exception) -> None:
    _restore()
