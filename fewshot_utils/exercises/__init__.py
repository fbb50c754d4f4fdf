"""Checkers for the notebooks' exercises, one module per notebook idea.

A checker never raises on a wrong answer: it prints what is right, or what is
wrong and a hint, and returns ``True``/``False``, so a notebook still runs top
to bottom while the learner works on it.
"""
