"""Reports on the user's data that make no Run: the few-shot curve (``shots``) and near-duplicate images (``dupes``).

Each writes a folder under ``WORK/reports/`` named after what made it, so asking the same
question again lands in the same place and asking another one never overwrites it.
"""
