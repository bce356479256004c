"""lamina plugin oit: exact order-independent transparency renderers.

Only the renderers (and their raster setup, reference and kernels): scenes, scene
files, lighting, ``lamina render`` and the scene pipeline operations belong to the
host (:mod:`lamina.scene`), so they work with any renderer plugin.
"""

from lamina import Tags, hookimpl

_EXACT_GPU = Tags(exact=True, deterministic=True, gpu=True)

#: name -> (factory, summary, tags)
RENDERERS = {
    "fragment-list": (
        "lamina.plugins.oit.renderers.fragment_list:FragmentList",
        "the default: per-pixel fragment lists sorted by (depth, id); 1 geometry pass "
        "(2 when long lists spill), work O(fragments) (Yang et al. 2010)",
        _EXACT_GPU,
    ),
    "depth-peeling": (
        "lamina.plugins.oit.renderers.peeling:DepthPeeling",
        "classic depth peeling: N layers in N geometry passes, work O(N^2) per pixel "
        "(Everitt 2001)",
        _EXACT_GPU,
    ),
    "dual-depth-peeling": (
        "lamina.plugins.oit.renderers.peeling:DualDepthPeeling",
        "dual depth peeling: N layers in N/2+1 passes, work O(N^2) per pixel (Bavoil & Myers 2008)",
        _EXACT_GPU,
    ),
    "multilayer-depth-peeling": (
        "lamina.plugins.oit.renderers.peeling:MultiLayerDepthPeeling",
        "multi-layer depth peeling, k-buffer: N layers in ceil(N/k) passes, work "
        "O(N^2/k) per pixel (Liu et al. 2009)",
        _EXACT_GPU,
    ),
    "reference": (
        "lamina.plugins.oit.reference:Reference",
        "float64 numpy: all fragments sorted and composited (for tests and benchmarks)",
        Tags(exact=True, deterministic=True),
    ),
}


@hookimpl
def lamina_register_renderers(registry):  # type: ignore[no-untyped-def]
    for name, (factory, summary, tags) in RENDERERS.items():
        registry.add(name, factory, summary=summary, tags=tags)
