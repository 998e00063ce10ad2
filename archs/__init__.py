"""The architecture registry.

Every module in this package registers its models when imported; the package imports them all itself, so
adding an architecture is one new file here with one ``@register_model`` decorator.
"""

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

from archs._registry import ModelEntry, Published, Recipe, get_entry, get_model, list_models, register_model

__all__ = [
    "ModelEntry", "Published", "Recipe", "get_entry", "get_model", "import_models", "list_models", "register_model",
]  # fmt: skip

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")


def import_models(spec: str) -> None:
    """Import a user's module so that its ``@register_model`` entries join the registry.

    ``spec`` is a path to a ``.py`` file or an importable module name (``mypkg.models``).
    """
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise ImportError(f"no such file: {spec}")
        name = f"_user_models_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)
