"""Training: the config and its recipes, the loop, its state, the feature net, and DDP.

    from ladle_model.training.config import TrainConfig
    from ladle_model.training.loop import train
    cfg = TrainConfig.from_recipe("specnext", {"max_steps": 1000})
    result = train("data", "runs/x", cfg, preset="mp3-64")

    torchrun --nproc-per-node 4 -m ladle_model.training --data data --run runs/ddp

Nothing here is imported by inference or evaluation: they read the run folder through ladle_model/runs/.
"""
