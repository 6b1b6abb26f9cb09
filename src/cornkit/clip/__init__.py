"""CLIP through open_clip: model loading, cached image features, prompt sets and text classifiers.

``model`` loads a model from a tag, a checkpoint file or random weights; ``features`` caches
image embeddings; ``prompts`` reads prompt files; ``text_classifier`` turns a prompt set into
zero-shot classifier weights; ``params`` declares the parameters of every command on features.
"""
