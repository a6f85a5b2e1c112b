"""YAML settings: one file (``config/camera.yaml``) serves the ROS node and the offline tools.

The file uses the ROS 2 parameter layout (``<node or /**>: ros__parameters: {...}``) so that
``ros2 launch`` can pass it to the node unchanged. Nested mappings become dotted ROS parameter
names (``tracker.n_init``). Every section is a frozen dataclass owned by the package that uses
it; this module only reads YAML and turns mappings into those dataclasses, rejecting unknown
keys and wrong types with messages that name the offending key.

Every leaf field is declared with :func:`param`, which keeps its documentation in the field's
metadata (description, range, whether it may change while the node runs); the node generates
its ROS parameter descriptors from that metadata alone.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TypeVar, cast

import yaml

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar('T', bound='DataclassInstance')


class ConfigError(ValueError):
    """The configuration file or one of its values is unusable."""


def param(
    default: Any,
    doc: str,
    low: float | None = None,
    high: float | None = None,
    dynamic: bool = False,
) -> Any:
    """A settings field with its documentation: ``doc`` (the ROS parameter description), the
    allowed range [``low``, ``high``] and ``dynamic`` (may change while the node runs; every
    other parameter is read-only)."""
    meta: dict[str, Any] = {'doc': doc, 'dynamic': dynamic}
    if low is not None:
        meta['range'] = (low, high)
    return dataclasses.field(default=default, metadata=meta)


def read_parameters(path: str | Path, node_name: str = 'aios_node') -> dict[str, Any]:
    """The nested ``ros__parameters`` mapping of ``path`` for ``node_name`` (or ``/**``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {exc}') from exc
    if not isinstance(doc, dict):
        raise ConfigError(f'{path}: expected a mapping at the top level')
    params: dict[str, Any] = {}
    for key in ('/**', node_name, f'/{node_name}'):
        block = doc.get(key)
        if block is None:
            continue
        if not isinstance(block, dict) or not isinstance(block.get('ros__parameters'), dict):
            raise ConfigError(f'{path}: "{key}" must hold a "ros__parameters" mapping')
        params = _merge(params, block['ros__parameters'])
    if not params:
        raise ConfigError(f'{path}: no "/**" or "{node_name}" block with ros__parameters')
    return params


def flatten(params: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}`` (ROS parameter names)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(flatten(value, name + '.'))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split('.')
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def build(cls: type[T], values: Mapping[str, Any] | None, where: str = '') -> T:
    """Instantiate dataclass ``cls`` from a (nested) mapping; missing keys keep their defaults."""
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            continue
        raw = values.pop(field.name)
        kwargs[field.name] = _coerce(hints[field.name], raw, f'{where}{field.name}')
    if values:
        raise ConfigError(f'unknown parameter(s): {", ".join(where + k for k in sorted(values))}')
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'{where.rstrip(".") or cls.__name__}: {exc}') from exc


def _coerce(hint: Any, raw: Any, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(raw, dict):
            raise ConfigError(f'{name}: expected a mapping, got {raw!r}')
        # a dataclass field's type hint is the class itself, never an instance
        return build(cast('type[DataclassInstance]', hint), raw, name + '.')
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        if raw not in typing.get_args(hint):
            raise ConfigError(f'{name}: {raw!r} is not one of {typing.get_args(hint)}')
        return raw
    if origin in (tuple, list):
        if not isinstance(raw, (list, tuple)):
            raise ConfigError(f'{name}: expected a list, got {raw!r}')
        (item,) = set(typing.get_args(hint)) - {Ellipsis} or {Any}
        return origin(_coerce(item, v, name) for v in raw)
    if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if hint in (bool, int, float, str) and type(raw) is not hint:
        raise ConfigError(f'{name}: expected {hint.__name__}, got {raw!r}')
    return raw


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out
