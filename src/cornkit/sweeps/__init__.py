"""Sweeps on Optuna: search spaces from the declared parameters, trials that are Runs, honest objectives, shared studies.

- :mod:`.space`: the search space, from the declarations or ``--space``, checked against them;
- :mod:`.objective`: what a trial is scored by (never the validation rows);
- :mod:`.storage`: where a study lives (SQLite under ``WORK/sweeps/`` or PostgreSQL) and its start lock;
- :mod:`.reuse`: a trial's Run made once per parameters and split;
- :mod:`.study`: the worker loop; :mod:`.show`: the trials table and Optuna's plots.
"""
