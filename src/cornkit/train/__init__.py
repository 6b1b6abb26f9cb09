"""Fine-tuning image backbones with fastai: settings, data blocks, learner, training loop, folds.

``settings`` holds what decides a model (one dataclass) and its checks; ``data`` the rows,
the image reader and the DataLoaders; ``learner`` the Learner, its fit and its predictions;
``folds`` one model per fold assembled into a Run; ``convnext`` the entry point
:func:`~cornkit.train.convnext.train_convnext` that the ``convnext`` head calls.
"""

import warnings

with warnings.catch_warnings():
    # fastai.layers applies torch.jit.script at import, which this torch deprecates: noise the user cannot act on.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    import fastai.layers  # noqa: F401
