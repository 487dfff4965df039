"""A blind listening test in the browser for a trained run: `ladle listen` (docs/design.md, "Listening test").

    test = prepare_test("runs/ladle", "data", ListenConfig(n_excerpts=8))   # prepare.py: excerpts, stimuli, test.json
    serve("runs/ladle")                                                    # app.py: the page on 127.0.0.1:8765
    print(format_results(summarise_results("runs/ladle")))                 # results.py: mean, 95 % CI, n per condition

One concern per module: layout (the files and the manifest), excerpts, loudness, blind (the order),
prepare, ratings, stats, results, app (the server), cli; the page is static/ (plain HTML/CSS/JS).
"""
