"""The one config validator: types coerced or refused, and value errors as ConfigError."""

from dataclasses import dataclass

import pytest

from storage.config import ConfigError, config_from_dict


@dataclass(frozen=True)
class Example:
    rate: float = 1.0
    count: int = 1
    sizes: tuple[int, ...] = (1,)
    pair: tuple[int, str] = (1, "a")
    name: str | None = None

    def __post_init__(self):
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")


def test_json_values_are_coerced_to_the_annotations():
    cfg = config_from_dict(Example, {"rate": 2, "sizes": [3, 4], "pair": [2, "b"], "name": None})
    assert cfg == Example(rate=2.0, count=1, sizes=(3, 4), pair=(2, "b"))
    assert isinstance(cfg.rate, float) and isinstance(cfg.sizes, tuple)


@pytest.mark.parametrize(
    "values,message",
    [
        ({"cuont": 1}, "Example: unknown key(s) ['cuont']; allowed: ['rate', 'count', 'sizes', 'pair', 'name']"),
        ({"count": 1.0}, "Example.count: expected int, got float"),
        ({"count": True}, "Example.count: expected int, got bool"),
        ({"sizes": "12"}, "Example.sizes: expected a tuple"),
        ({"sizes": [1, "2"]}, "Example.sizes[1]: expected int"),
        ({"pair": [1]}, "Example.pair: expected 2 items, got 1"),
        ({"name": 3}, "Example.name: expected str"),
        ({"count": -1}, "Example: count must be >= 0, got -1"),
    ],
)
def test_mistakes_are_one_config_error(values, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(Example, values)
    assert message in str(err.value)
