"""Training data: batches from shards (loader.py), which dataset versions a run uses (selection.py), and the
clean-input augmentation (augment.py).

    from ladle_model.data.selection import resolve_training_data
    from ladle_model.data.loader import iterate_epoch, make_loader
"""
