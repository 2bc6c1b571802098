"""Checking model configs that come from files, before a model is built from them.

A ``config.json`` is input like any other: ``"hidden_size": "768"``, a vocabulary
of -1 or a billion, ``"hidden_dropout_prob": 2.0`` must stop at once with the file
and the field named, not as a traceback from deep inside a layer's constructor
(or, worse, after allocating gigabytes). Each config class lists its fields'
rules once; :func:`check_fields` applies them.

Rules: ``("int", low, high)`` an integer in [low, high] (``bool`` and ``8.0`` are
not integers), ``("float>", low)`` / ``("float>=", low)`` a finite number above
(or at least) ``low``, ``("prob",)`` a
probability in [0, 1) (a dropout of 1 would zero everything), ``("bool",)``,
``("str",)``.
"""
from __future__ import annotations

import json
import math
import numbers


def _describe(v) -> str:
    return f"{v!r} ({type(v).__name__})"


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def check_field(name, value, rule) -> None:
    """Raise ``ValueError("<name> must be ..., got ...")`` when ``value`` breaks ``rule``."""
    kind = rule[0]
    if kind == "int":
        low, high = rule[1], rule[2]
        if not _is_int(value) or not low <= value <= high:
            what = "a positive int" if low == 1 else f"an int >= {low}"
            raise ValueError(f"{name} must be {what} (at most {high:,}), got {_describe(value)}")
    elif kind in ("float>", "float>="):
        low = rule[1]
        ok = _is_number(value) and math.isfinite(value) and (value > low if kind == "float>" else value >= low)
        if not ok:
            raise ValueError(f"{name} must be a finite number {kind[5:]} {low}, got {_describe(value)}")
    elif kind == "prob":
        if not _is_number(value) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a probability in [0, 1), got {_describe(value)}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {_describe(value)}")
    elif kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {_describe(value)}")


def check_fields(config, rules: dict) -> None:
    """Apply ``rules`` (field -> rule) to the attributes of ``config``."""
    for name, rule in rules.items():
        check_field(name, getattr(config, name), rule)


def read_json_object(path) -> dict:
    """A JSON file that must hold an object (``config.json`` and friends): anything
    else -- unreadable bytes, broken or absurdly nested JSON, a list -- is a ValueError
    naming the file."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        obj = json.loads(text)
    except UnicodeDecodeError:
        raise ValueError(f"{path!r} is not UTF-8 text, so it cannot be a JSON config") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path!r} is not valid JSON ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path!r} holds a JSON {type(obj).__name__}; a config must be a JSON object "
                         "({\"field\": value, ...})")
    return obj
