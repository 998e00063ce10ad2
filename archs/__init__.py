"""The architecture registry.

Every module in this package registers its models when imported; the package imports them all itself, so
adding an architecture is one new file here with one ``@register_model`` decorator. A module that fails to
import is skipped and its error kept in ``IMPORT_ERRORS`` (one line each, naming the file): the other entries
still work, and the command line prints those lines.
"""

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

from archs._registry import (
    DEFAULT_RECIPE,
    ModelEntry,
    Published,
    Recipe,
    get_entry,
    get_model,
    list_models,
    register_model,
)  # fmt: skip

__all__ = [
    "DEFAULT_RECIPE", "IMPORT_ERRORS", "REQUIRED", "ModelEntry", "Published", "Recipe", "get_entry", "get_model",
    "import_models", "list_models", "register_model",
]  # fmt: skip

# the nine entries every machine's default suite trains: d2l chapter 7 (LeNet, AlexNet, VGG, NiN) and NiN's ablations;
# lenet-bn, nin-bn and chapter 8 are extras, trained when named (--arch) or under the `full` profile
REQUIRED = (
    "lenet", "alexnet", "vgg11", "vgg11-small",
    "nin", "nin-no-1x1", "nin-one-1x1", "nin-no-dropout", "nin-fc-head",
)  # fmt: skip

IMPORT_ERRORS: list[str] = []  # "archs/foo.py: SyntaxError: ..." for each package module that failed to import


def _one_line(err: BaseException) -> str:
    return f"{err.__class__.__name__}: {err}".splitlines()[0]


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        try:
            importlib.import_module(f"{__name__}.{_module.name}")
        except Exception as _err:  # a broken user file must not take the registry down with it
            IMPORT_ERRORS.append(f"archs/{_module.name}.py not loaded: {_one_line(_err)}")


def import_models(spec: str) -> None:
    """Import a user's module so that its ``@register_model`` entries join the registry.

    ``spec`` is a path to a ``.py`` file or an importable module name (``mypkg.models``).
    """
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise ImportError(f"no such file: {spec}")
        name = f"_user_models_{path.stem}"
        loaded = sys.modules.get(name)
        if loaded is not None and Path(loaded.__file__).resolve() == path.resolve():
            return  # imported already: its entries are registered
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)
