"""The run folder and the checkpoint format, which training writes and inference, evaluation and calibration read.

folder.py      RunDir: where a run keeps its checkpoints, logs and evaluations
checkpoint.py  what a checkpoint holds, loading it safely, the model it serves
resume.py      RNG state, the checks before a run continues, warm starts, the versions a run names
errors.py      CheckpointError, RunMismatchError
registry.py    the nightly's candidates;  champion.py  the promoted model

run = RunDir("runs/x"); ckpt = load_checkpoint(run.checkpoint("best")); model = model_from_checkpoint(ckpt)
"""
