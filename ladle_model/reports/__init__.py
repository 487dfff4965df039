"""Reports: the human-readable output of a run, rendered from what training and evaluation recorded.

    from ladle_model.reports.evaluation import write_evaluation_report
    write_evaluation_report(report)      # RUN_DIR/eval/{preset}/report.md, report.html, tracks.parquet

One module per report: training (logs, plots, the training report), evaluation (tables, spectrograms,
HTML) and Table I of the LadLe paper. They read dictionaries and write files; none trains or scores.
"""
