"""cornkit: a Kaggle competition submission kit for It's Corn (and image competitions like it)."""

__version__ = "0.1.0"
