"""Fine-tuning image backbones (timm models, CLIP image towers) with fastai: settings, data, recipe, loop, folds.

``settings`` holds what decides a model (one dataclass) and its checks; ``backbone`` and
``clip_tower`` build the network and its parameter groups; ``data`` the rows, the image reader
and the DataLoaders; ``recipe`` the loss, mixup/cutmix, EMA, accumulation and schedule as
fastai callbacks; ``progress`` bars or one line per epoch; ``learner`` the Learner, its two
phases and its predictions; ``wise`` WiSE-FT weight interpolation; ``folds`` one model per
fold; ``finetune`` the entry point :func:`~cornkit.train.finetune.train_finetune`.
"""

import warnings

# fastai.layers applies torch.jit.script at import, which this torch deprecates: noise the user cannot act on. The filter
# (this one message, as torch.jit issues it) holds whenever fastai is first imported: importing the settings (the command
# line does, to build its parser) must not pay for importing fastai here.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning, module=r"torch\.jit\.")
