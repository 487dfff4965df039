"""Evaluation against the lossless original and against the untouched lossy input, the baseline every model must beat.

tracks.py    EvalConfig and the tracks of a split       metrics.py   the metric registry
visqol.py    ViSQOL v3 on excerpts                       verdict.py   better / same / worse, within noise
evaluate.py  a run on whole tracks                       cache.py     finished evaluations reused by key
measures.py  the metric functions (SNR, LSD, cutoff, ...)
"""
