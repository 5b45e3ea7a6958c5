"""A patch under test: a subclass of `iommu.pci.Kernel` named by `model.plugin`.

A plugin is `FILE.py:Class` (a file, relative to the config's folder, or to the current
directory on the command line) or `module:Class` (importable, or a module in the
config's folder or the current directory). A file is recorded by its absolute path, so that worker processes,
`--resume` and `replay` load the same file; what runs are told is its name and the
hash of its source, so a trace does not depend on where the repository is.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from iommu.pci import Kernel
from iommu.versions import PRESETS

ANY = "*"  # `base = "*"`: a plugin that patches no particular version (test plugins)


def is_file(spec: str) -> bool:
    module = spec.partition(":")[0]
    return module.endswith(".py") or "/" in module


def resolve(spec: str, base: Path | None, key: str = "model.plugin",
            what: str = "Class") -> str:
    """The spec as recorded: a file's absolute path; a module found only in `base` (the
    config's folder) becomes that module's file, so that other processes find it."""
    module, sep, attr = spec.partition(":")
    if not module or not sep or not attr:
        raise ValueError(f'{key}: {spec!r}; expected "FILE.py:{what}" or "module:{what}"')
    if is_file(spec):
        return f"{((base or Path.cwd()) / Path(module).expanduser()).resolve()}:{attr}"
    if importlib.util.find_spec(module.partition(".")[0]) is None:
        for folder in (base, Path.cwd()):
            local = folder / (module.replace(".", "/") + ".py") if folder else None
            if local is not None and local.is_file():
                return f"{local.resolve()}:{attr}"
    return spec


def load(spec: str) -> type[Kernel]:
    """The class a resolved spec names."""
    cls = load_object(spec)
    if not (isinstance(cls, type) and issubclass(cls, Kernel)):
        raise ValueError(f"model.plugin: {name(spec)!r} is not a subclass of iommu.pci.Kernel")
    return cls


def load_object(spec: str, key: str = "model.plugin", what: str = "Class") -> object:
    """What a resolved spec names. Whatever its import raises is the user's code
    failing, so it is reported as a config error, with the file and line for a syntax
    error, not as a traceback."""
    module, _, attr = spec.partition(":")
    try:
        if is_file(spec):
            if not Path(module).is_file():
                raise ValueError(f"{key}: no file {module}")
            return getattr(_import_file(Path(module)), attr)
        return getattr(importlib.import_module(module), attr)
    except ValueError:
        raise
    except (Exception, SystemExit) as e:
        hint = (f'; expected "FILE.py:{what}" or "module:{what}" (a module in the config\'s '
                "folder, or installed, or on PYTHONPATH)"
                if isinstance(e, (ImportError, AttributeError)) else "")
        raise ValueError(f"{key}: cannot load {name(spec)!r}: {exc_line(e)}{hint}") from None


def _import_file(path: Path):  # noqa: ANN202 - a module
    """Import a file once per process and source: under a name made from the file's
    name, so that tracebacks in logs name it the same on every machine."""
    source = path.read_bytes()
    key = f"iommu_stress_plugin_{path.stem}"
    loaded = sys.modules.get(key)
    if loaded is not None and getattr(loaded, "__plugin_source__", None) == source \
            and Path(loaded.__file__) == path:
        return loaded
    spec = importlib.util.spec_from_file_location(key, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__plugin_source__ = source
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module


def name(spec: str) -> str:
    """How runs name a plugin: a file by its file name, a module as given."""
    module, _, attr = spec.partition(":")
    return f"{Path(module).name}:{attr}" if is_file(spec) else spec


def source_hash(cls: type) -> str:
    """sha256 of the source file that defines the class: `replay` tells a changed patch."""
    module = sys.modules[cls.__module__]
    source = getattr(module, "__plugin_source__", None)
    if source is None:
        source = Path(module.__file__).read_bytes() if getattr(module, "__file__", None) else b""
    return hashlib.sha256(source).hexdigest()


def bases(cls: type[Kernel], spec: str) -> tuple[str, ...]:
    """The versions the plugin says it patches (`base`), checked."""
    declared = getattr(cls, "base", None)
    if declared is None:
        raise ValueError(f"model.plugin: {name(spec)!r} does not say which version it "
                         f'patches: give the class `base = "vf"` (a version of '
                         f'`iommu-stress versions`), a tuple of them, or "{ANY}"')
    names = (declared,) if isinstance(declared, str) else tuple(declared)
    unknown = [b for b in names if b != ANY and b not in PRESETS]
    if not names or unknown:
        raise ValueError(f"model.plugin: {name(spec)!r} has base = {declared!r}: unknown "
                         f"{', '.join(map(repr, unknown)) or 'empty'}; expected one or more "
                         f"of: {', '.join(PRESETS)}, or {ANY!r}")
    return names


def exc_line(e: BaseException) -> str:
    """An exception in one line; a SyntaxError with the file and line it points at."""
    if isinstance(e, SyntaxError):
        return f"{type(e).__name__}: {e.msg} ({e.filename}:{e.lineno})"
    return f"{type(e).__name__}: {e}"
