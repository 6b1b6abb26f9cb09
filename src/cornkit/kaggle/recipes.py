"""How each head runs as a Kaggle kernel: what the notebook says and which model it uses by default, keyed by head name.

Kaggle's concerns stay here, not on the heads: a head declares what it computes, this module how
its kernel presents and configures it. A head without an entry here (a plugin's) still builds,
with a recipe derived from its help line and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..defaults import CONVNEXT_ARCH, DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED, TIMM_HUB
from ..heads.registry import Head
from ..params import parameters


@dataclass(frozen=True)
class KernelRecipe:
    """What a head's notebook says and which model it runs by default.

    ``model_flag`` is the flag that takes ``model`` (``--model`` for CLIP heads, ``--arch`` or
    ``--backbone`` for fine-tunes); ``pretrained`` is passed as ``--pretrained`` when set.
    """

    title: str
    explanation: str
    model: str
    pretrained: str | None = None
    model_flag: str = "--model"
    enable_gpu: bool = True

    @property
    def model_param(self) -> str | None:
        """The head parameter that ``model_flag`` sets (``backbone`` for ``--backbone``); None when the recipe has no model flag."""
        return self.model_flag.removeprefix("--").replace("-", "_") if self.model_flag else None

    def default_params(self) -> dict[str, str]:
        """The model and weights the kernel runs when no flag gives them, as the head's parameters."""
        defaults = {self.model_param: self.model} if self.model_param else {}
        return defaults | ({"pretrained": self.pretrained} if self.pretrained else {})


RECIPES: dict[str, KernelRecipe] = {
    "zeroshot": KernelRecipe(
        title="cornkit CLIP zero-shot",
        explanation=(
            "A CLIP model compares each kernel photo with text prompts, one set per class "
            "(pure, broken, discolored, silkcut), and predicts the closest class. No training: "
            "it shows how far a general vision-language model gets on corn kernels."
        ),
        model=DEFAULT_CLIP_MODEL,
        pretrained=DEFAULT_CLIP_PRETRAINED,
    ),
    "probe": KernelRecipe(
        title="cornkit CLIP linear probe",
        explanation=(
            "CLIP image features for every photo, cached, then a logistic regression fitted on the "
            "training rows, its regularisation chosen by cross-validation: the strongest CLIP "
            "approach on this competition for the cost of one feature pass."
        ),
        model=DEFAULT_CLIP_MODEL,
        pretrained=DEFAULT_CLIP_PRETRAINED,
    ),
    "gda": KernelRecipe(
        title="cornkit CLIP GDA",
        explanation=(
            "CLIP image features for every photo, cached; each class is modelled as a Gaussian "
            "with a shared, shrunk covariance, and the resulting linear classifier (no training) "
            "is added to CLIP's zero-shot prediction with a weight chosen on the training rows."
        ),
        model=DEFAULT_CLIP_MODEL,
        pretrained=DEFAULT_CLIP_PRETRAINED,
    ),
    "tip": KernelRecipe(
        title="cornkit CLIP Tip-Adapter",
        explanation=(
            "CLIP image features for every photo, cached; the training photos form a key-value "
            "cache whose soft votes (how alike a photo is to each training photo) are added to "
            "CLIP's zero-shot prediction, with weights chosen on the training rows."
        ),
        model=DEFAULT_CLIP_MODEL,
        pretrained=DEFAULT_CLIP_PRETRAINED,
    ),
    "convnext": KernelRecipe(
        title="cornkit ConvNeXt baseline",
        explanation=(
            "A ConvNeXt from timm, pretrained on ImageNet, fine-tuned with fastai on the training "
            "rows; predictions with test-time augmentation. The baseline the winners improved on."
        ),
        model=CONVNEXT_ARCH,
        model_flag="--arch",
    ),
    "finetune": KernelRecipe(
        title="cornkit fine-tune",
        explanation=(
            "A backbone fine-tuned on the training rows with the recipe Kaggle competitors use: the head alone first, "
            "then every layer with discriminative learning rates, label smoothing, optionally mixup/cutmix, an EMA of the "
            "weights and layer-wise lr decay; a CLIP image tower starts from its zero-shot head and can be interpolated "
            "back towards it (WiSE-FT). Predictions with test-time augmentation."
        ),
        model=f"timm:{CONVNEXT_ARCH}",
        pretrained=TIMM_HUB,
        model_flag="--backbone",
    ),
}


def recipe_for(head: Head) -> KernelRecipe:
    """The head's kernel recipe: its own entry, or one derived from its help line and parameters (a plugin's head)."""
    if head.name in RECIPES:
        return RECIPES[head.name]
    if head.inputs == "features":
        return KernelRecipe(title=f"cornkit {head.name}", explanation=head.help, model=DEFAULT_CLIP_MODEL, pretrained=DEFAULT_CLIP_PRETRAINED)
    declared = {p.name: p for p in parameters(head.params)}
    flag = "backbone" if "backbone" in declared else "arch" if "arch" in declared else None
    if flag is None:
        return KernelRecipe(title=f"cornkit {head.name}", explanation=head.help, model="", model_flag="")
    return KernelRecipe(title=f"cornkit {head.name}", explanation=head.help, model=str(declared[flag].default), model_flag=f"--{flag}")
