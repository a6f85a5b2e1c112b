"""ROS parameters generated from the settings dataclasses, so names, types and defaults never drift.

Each section of :class:`aios_ros.app.settings.Settings` (``model``, ``node``, ``tracker``,
``fusion``, ``filters``) is a frozen dataclass owned by its package. Every leaf field becomes the
dotted parameter ``<section>.<field>[.<sub-field>]`` declared with a ``ParameterDescriptor``
built from the field's :func:`aios_ros.core.config.param` metadata:

* type from the type hint (``Literal`` -> string with its choices in ``additional_constraints``);
* description from ``metadata['doc']`` (a field without one is a programming error);
* range from ``metadata['range']``;
* read-only unless ``metadata['dynamic']`` is true: the model and the temporal stage are built
  once, so changing their parameters needs a restart.
"""

from __future__ import annotations

import array
import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from aios_ros.core.config import unflatten

_TYPES = {bool: 'bool', int: 'int', float: 'float', str: 'str'}
_ROS_TYPES = {
    'bool': (ParameterType.PARAMETER_BOOL, Parameter.Type.BOOL),
    'int': (ParameterType.PARAMETER_INTEGER, Parameter.Type.INTEGER),
    'float': (ParameterType.PARAMETER_DOUBLE, Parameter.Type.DOUBLE),
    'str': (ParameterType.PARAMETER_STRING, Parameter.Type.STRING),
    'bool[]': (ParameterType.PARAMETER_BOOL_ARRAY, Parameter.Type.BOOL_ARRAY),
    'int[]': (ParameterType.PARAMETER_INTEGER_ARRAY, Parameter.Type.INTEGER_ARRAY),
    'float[]': (ParameterType.PARAMETER_DOUBLE_ARRAY, Parameter.Type.DOUBLE_ARRAY),
    'str[]': (ParameterType.PARAMETER_STRING_ARRAY, Parameter.Type.STRING_ARRAY),
}


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter; ``default`` is already in ROS form (lists, not tuples)."""

    name: str
    kind: str  # key of _ROS_TYPES
    default: Any
    description: str
    value_range: Optional[tuple] = None
    choices: Optional[tuple] = None
    read_only: bool = True


def param_specs(sections: Mapping[str, type]) -> list[ParamSpec]:
    """Specs of every leaf field of the dataclass of each section (section name = prefix)."""
    specs: list[ParamSpec] = []
    for section, cls in sections.items():
        specs += _specs_of(cls, cls(), section + '.')
    return specs


def _specs_of(cls: type, instance: Any, prefix: str) -> list[ParamSpec]:
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        value, hint = getattr(instance, f.name), hints[f.name]
        if dataclasses.is_dataclass(hint):
            specs += _specs_of(hint, value, f'{prefix}{f.name}.')
            continue
        kind, choices = _kind(hint, f'{prefix}{f.name}')
        if not f.metadata.get('doc'):
            raise TypeError(f'{prefix}{f.name}: declare the field with param(default, doc)')
        default = list(value) if isinstance(value, (tuple, list)) else value
        specs.append(
            ParamSpec(
                name=prefix + f.name,
                kind=kind,
                default=default,
                description=f.metadata['doc'],
                value_range=f.metadata.get('range'),
                choices=choices,
                read_only=not f.metadata.get('dynamic', False),
            )
        )
    return specs


def _kind(hint: Any, name: str) -> tuple[str, Optional[tuple]]:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        return _TYPES[type(choices[0])], choices
    if origin in (tuple, list):
        (item,) = set(typing.get_args(hint)) - {Ellipsis}
        return _TYPES[item] + '[]', None
    if hint in _TYPES:
        return _TYPES[hint], None
    raise TypeError(f'{name}: type {hint} cannot be a ROS parameter')


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of ``spec`` (type, description, range, choices, read-only)."""
    desc = ParameterDescriptor(
        name=spec.name,
        type=_ROS_TYPES[spec.kind][0],
        description=spec.description,
        read_only=spec.read_only,
    )
    if spec.choices:
        desc.additional_constraints = 'one of: ' + ', '.join(map(str, spec.choices))
    if spec.value_range is not None:
        low, high = spec.value_range
        if spec.kind == 'int':
            desc.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
            ]
    return desc


def declare(node: Node, specs: list[ParamSpec]) -> None:
    """Declare every spec on ``node`` (values from --params-file / overrides win)."""
    for spec in specs:
        # An empty list has no inferable ROS type; declare the type and fall back on read.
        value = spec.default if spec.default != [] else _ROS_TYPES[spec.kind][1]
        node.declare_parameter(spec.name, value, descriptor(spec))


def read_values(
    node: Node, specs: list[ParamSpec], changes: Optional[Mapping[str, Any]] = None
) -> dict[str, Any]:
    """Current parameter values (with ``changes`` applied) as the nested config mapping."""
    flat: dict[str, Any] = {}
    for spec in specs:
        if changes and spec.name in changes:
            value = changes[spec.name]
        else:
            try:
                value = node.get_parameter(spec.name).value
            except ParameterUninitializedException:
                value = spec.default
        flat[spec.name] = list(value) if isinstance(value, (array.array, tuple)) else value
    return unflatten(flat)
