"""The competition folder and everything drawn from it before any model runs.

``dataset`` reads and checks ``train.csv``/``test.csv``/``sample_submission.csv``; ``images``
is the one image reader every path uses; ``split`` makes and persists the validation split;
``synth`` draws a synthetic set in the same layout; ``roboflow`` imports a Roboflow CLIP export.
"""
