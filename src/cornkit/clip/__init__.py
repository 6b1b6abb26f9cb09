"""CLIP through open_clip: model loading, cached image features, prompt sets and text classifiers.

``model`` loads a model from a tag, a checkpoint file or random weights; ``features`` caches
image embeddings; ``prompts`` reads prompt files; ``text_classifier`` turns a prompt set into
zero-shot classifier weights; ``prompt_compare`` scores every prompt set on the split.
"""
