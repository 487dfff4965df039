"""The model registry: names without torch, and a bad override as a one-line ConfigError."""

import subprocess
import sys

import pytest

from storage.config import ConfigError


def test_model_names_import_without_torch():
    code = "import sys; from ladle_model.models.registry import MODEL_NAMES; print(','.join(MODEL_NAMES), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["ladle,drrn1d,srresnet1d,resunit,specnext", "False"]


def test_every_registered_name_builds_and_bad_overrides_are_config_errors():
    from ladle_model.models.build import MODEL_CLASSES, build_model
    from ladle_model.models.registry import MODEL_NAMES, resolve_model

    assert tuple(MODEL_CLASSES) == MODEL_NAMES
    assert resolve_model("drrn1d")[0] is MODEL_CLASSES["drrn1d"]
    with pytest.raises(ConfigError, match="unknown model 'wavenet'"):
        resolve_model("wavenet")
    with pytest.raises(ConfigError, match="divisible by n_heads"):  # the config's own value check
        build_model("ladle", d_model=64, n_heads=3)
    with pytest.raises(ConfigError, match="LadLeConfig.stride: expected int"):
        build_model("ladle", stride="4")
