"""The run folder and the checkpoint format, which training writes and inference, evaluation and calibration read.

from ladle_model.runs.checkpoint import RunDir, load_checkpoint, model_from_checkpoint
run = RunDir("runs/x"); ckpt = load_checkpoint(run.checkpoint("best"))
"""
