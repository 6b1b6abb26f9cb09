"""Heads: every approach that ends in a Run, one module each, declared once as a :class:`Head`.

``registry`` finds them (this package's modules and the ``cornkit.heads`` entry-point group);
``on_features`` runs a head on cached CLIP features over the split's folds. What a new head
needs is exported here::

    from cornkit.heads import FeatureHeadParams, FeatureTask, Fitted, Head
    from cornkit.params import param
"""

from .on_features import FeatureHeadParams, FeatureTask, Fitted
from .registry import Head, HeadContext, all_heads, get_head, run_head

__all__ = ["FeatureHeadParams", "FeatureTask", "Fitted", "Head", "HeadContext", "all_heads", "get_head", "run_head"]
