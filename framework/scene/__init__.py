"""Scenes for any renderer: the data, where scenes come from, and ``lamina render``.

The renderer kind's side of the house, shared by every renderer plugin (none of
it belongs to one renderer):

- :mod:`.core` -- :class:`Scene` (an indexed triangle mesh with straight RGBA
  colours) and :class:`Camera`;
- :mod:`.files` -- :func:`~lamina.scene.files.load`, what ``lamina render SCENE``
  names: scene TOML files, and through :mod:`.meshes` mesh files and through
  :mod:`.procedural` generated scenes; :mod:`.camera` frames cameras on them and
  :mod:`.colors` overrides their colours;
- :mod:`.lighting` -- shading baked into vertex colours, so every renderer
  shades alike;
- :mod:`.view` -- the command line's camera presets, orbits and supersampling;
  :mod:`.frames` -- animations and the HTML viewer;
- :mod:`.command` -- the ``lamina render`` command (registered by
  :mod:`lamina.kinds.renderer`); :mod:`.operations` -- the pipeline operations
  ``scene``, ``move_in_image`` and ``patch_features`` (registered here).

``Scene``, ``Camera`` and ``degenerate_faces`` are importable from this package;
it imports numpy only when one of them is first used, so ``lamina --help`` stays
fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina.hookspecs import hookimpl

if TYPE_CHECKING:
    from lamina.scene.core import Camera, Scene, degenerate_faces

__all__ = ["Camera", "Scene", "degenerate_faces"]

#: name -> one-line summary of the operations of :mod:`lamina.scene.operations`.
OPERATION_SUMMARIES = {
    "scene": "Load a scene: a mesh, a .toml scene file or procedural:NAME[:N].",
    "move_in_image": "Translate a scene so its picture moves by exactly (dy, dx) pixels.",
    "patch_features": "A table of patch features of renderings, classed by depth complexity.",
}


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lamina.scene import core

        return getattr(core, name)
    raise AttributeError(f"module 'lamina.scene' has no attribute {name!r}")


@hookimpl
def lamina_register_operations(registry: Any) -> None:
    """Register the scene operations; their module is imported when a pipeline runs."""
    for name, summary in OPERATION_SUMMARIES.items():
        registry.add(name, f"lamina.scene.operations:{name}", summary=summary)
