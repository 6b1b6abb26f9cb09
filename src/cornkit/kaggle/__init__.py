"""Submissions and Kaggle: the validated ``submission.csv`` and its ledger, credentials, the
official client, downloads, uploads, kernels built from the kit's own source, the leaderboard.

Only this package imports the ``kaggle`` client, and only when a command needs it.
"""
