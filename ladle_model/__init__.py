"""LadLe's models and everything around them, one subpackage per concern, each importing only those above it:

    models/       the registry, each architecture in its own file, shared layers, the Restorer protocol
    runs/         the run folder and the checkpoint format (the one module that knows where a run keeps what)
    data/         batches from a dataset version's shards, which versions a run uses, input augmentation
    losses/       the paper's MSE + perceptual loss and the spectral restoration losses
    training/     TrainConfig and its recipes, the loop, its state, the feature net, DDP; `python -m ladle_model.training`
    inference/    windows over whole tracks and `ladle enhance`
    evaluation/   tracks, metrics, ViSQOL, verdicts, the evaluation and its cache
    calibration/  the fill gains chosen on the validation split after training
    reports/      the human-readable reports of training and evaluation
    listening/    the blind listening test in the browser

Order of dependence: models <- runs <- data, losses <- training; models, runs <- inference <- evaluation
<- calibration; reports and listening read what the others wrote.
"""
