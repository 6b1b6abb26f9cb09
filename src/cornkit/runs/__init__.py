"""Runs, and everything that only reads Runs: scoring, metrics, plots, ensembles, stacking.

``run`` is the on-disk format every approach ends in; ``crossfit`` scores a choice made on
validation rows honestly (each row by a choice made on the others).
"""
