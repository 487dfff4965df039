"""TrainConfig: everything that decides a training run, made from a recipe and overrides.

    cfg = TrainConfig.from_recipe("specnext", {"max_steps": 1000, "batch_size": 8})
    cfg = TrainConfig.from_recipe("paper", {"model": "drrn1d"})     # the LadLe paper's losses on DRRN1d

The recipes (named sets of values that belong together) are ladle_model/training/recipes.py's; this
module checks every value, so a bad key or type is a ConfigError before any work starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ladle_model.losses.perceptual import FeatureNetConfig, LossConfig
from ladle_model.losses.spectral import SpectralLossConfig
from ladle_model.models.build import model_config_dict
from ladle_model.training.recipes import DEFAULT_RECIPE, recipe_config
from storage.config import ConfigError, config_from_dict

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """Everything that decides a training run. Defaults follow the LadLe paper where it says."""

    # model: a name from ladle_model.models.build and overrides of its config dataclass
    model: str = "ladle"
    model_overrides: dict = field(default_factory=dict)
    # optimisation, LadLe paper: Adam, lr 1e-4, weight decay 1e-5, batch 4, at most 20 epochs,
    # ReduceLROnPlateau on the validation loss with factor 0.5 and patience 5
    lr: float = 1e-4
    warmup_steps: int = 0  # linear lr warm-up (not in the paper: 0 keeps its constant lr)
    # Linear lr decay to this fraction of `lr` over the run's budget (None: the paper's plateau schedule).
    # The budget is this call's max_minutes by the clock, or its planned steps (max_steps, max_epochs),
    # whichever runs out first; a re-run under a time budget starts the decay again (a warm restart).
    # SpecNeXt measured with it: a lower val loss, a quieter fill, less restored (BENCHMARKS.md, "Quality: variants left out").
    lr_anneal_to: float | None = None
    weight_decay: float = 1e-5
    batch_size: int = 4
    max_epochs: int = 20
    max_steps: int | None = None  # a cap on optimizer steps across epochs (None: epochs decide)
    calibrate: bool = True  # after training, pick best.pt's fill gain on the validation split (models that have one)
    max_minutes: float | None = (
        None  # wall-clock budget of one call of `train`: it stops with a checkpoint; a re-run continues
    )
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    grad_clip: float | None = 1.0  # max global grad norm; not in the paper (nanoGPT's default); None = off
    # An exponential moving average of the weights, updated after every step (torch.optim.swa_utils), is what
    # validation scores, best.pt is picked by and enhance restores with; None: the raw weights (the paper's).
    ema_decay: float | None = None
    # data
    # share of training segments whose input is their lossless original (ladle_model/data/augment.py); 0: the paper's
    clean_input_fraction: float = 0.0
    clean_input_lowpass: float = (
        0.0  # share of those clean inputs low-passed at 16.5-21 kHz, as near-transparent codecs cut
    )
    segment_seconds: float | None = None  # random crop shorter than the shards' segments (None: whole segments)
    shuffle_buffer: int = 256  # samples per worker; 256 one-second stereo pairs are ~180 MB
    num_workers: int = 2
    eval_max_batches: int | None = None  # cap on validation batches per evaluation (None: the whole val split)
    # loss: LossConfig terms and phi, the feature net of the perceptual term, pre-trained on the train split
    loss: LossConfig = field(default_factory=LossConfig)
    # restoration losses (ladle_model/losses/spectral.py) added to those; off (all lambdas 0) keeps the paper's loss
    spectral: SpectralLossConfig = field(default_factory=SpectralLossConfig.off)
    feature_net: FeatureNetConfig = field(default_factory=FeatureNetConfig)
    feature_net_steps: int = 500
    feature_net_lr: float = 1e-3
    # bookkeeping
    seed: int = 0
    checkpoint_every_steps: int = 1000
    log_every_steps: int = 1
    device: str = "auto"  # "auto": CUDA when present, else CPU
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU

    def __post_init__(self) -> None:
        if not isinstance(self.model_overrides, dict):
            raise ConfigError(
                f"TrainConfig.model_overrides: expected a mapping, got {type(self.model_overrides).__name__}"
            )
        positive = {
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "checkpoint_every_steps": self.checkpoint_every_steps,
            "log_every_steps": self.log_every_steps,
            "shuffle_buffer": self.shuffle_buffer,
            "lr": self.lr,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {value}")
        for name in ("max_steps", "max_minutes", "eval_max_batches", "grad_clip", "segment_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0 or None, got {value}")
        if (
            min(self.num_workers, self.feature_net_steps, self.weight_decay, self.plateau_patience, self.warmup_steps)
            < 0
        ):
            raise ConfigError(
                "num_workers, feature_net_steps, weight_decay, plateau_patience and warmup_steps must be >= 0"
            )
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"TrainConfig.ema_decay must be in (0, 1) or None, got {self.ema_decay}")
        if self.lr_anneal_to is not None and not 0 <= self.lr_anneal_to < 1:
            raise ConfigError(f"TrainConfig.lr_anneal_to must be in [0, 1) or None, got {self.lr_anneal_to}")
        if not 0 <= self.clean_input_fraction < 1:
            raise ConfigError(f"TrainConfig.clean_input_fraction must be in [0, 1), got {self.clean_input_fraction}")
        if not 0 <= self.clean_input_lowpass <= 1:
            raise ConfigError(f"TrainConfig.clean_input_lowpass must be in [0, 1], got {self.clean_input_lowpass}")
        if not 0 < self.plateau_factor < 1:
            raise ConfigError(f"TrainConfig.plateau_factor must be in (0, 1), got {self.plateau_factor}")
        if self.device not in DEVICES:
            raise ConfigError(f"TrainConfig.device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.loss.lambda_perc > 0 and self.feature_net_steps == 0:
            raise ConfigError("loss.lambda_perc > 0 needs feature_net_steps > 0 (phi must be pre-trained)")
        model_config_dict(self.model, **self.model_overrides)  # unknown model, key or type: ValueError now, not mid-run

    @classmethod
    def from_recipe(cls, recipe: str = DEFAULT_RECIPE, overrides: dict | None = None) -> TrainConfig:
        """The one way to make a run's config: recipe `recipe`'s values, then `overrides` (any TrainConfig key) on top.

        `ladle train`, the `train-ladle` flow and its deployments, torchrun's entry and the benchmarks all call it,
        so the same recipe and overrides train the same model by every route."""
        return cls.from_dict(recipe_config(recipe, overrides))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from plain data (JSON, CLI); unknown keys and wrong types are errors."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def model_config(self) -> dict:
        """The model's resolved config (every field, defaults included)."""
        return model_config_dict(self.model, **self.model_overrides)
