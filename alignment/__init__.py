"""Preference learning: Nash-MP, INPO, APO, f-DPG and their baselines.

``alignment.tabular`` holds the exact (and sampled) updates of every algorithm on finite
preference games (``games.preference``); ``alignment.measures`` the §1.2 measures. Nothing
heavy is imported here, so ``import alignment`` needs only numpy.
"""
