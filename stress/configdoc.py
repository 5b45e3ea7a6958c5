"""The config reference (configs/README.md), made from the config models themselves, so
that the keys, defaults and descriptions can never drift from what is validated."""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is Annotated:
        return _type(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"table of {_type(args[1])}"
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
        getattr(annotation, "__name__", ""), str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined:
        if field.default_factory is not None:
            value = field.default_factory()
            return "`{}`" if value == {} else "`[]`" if value == [] else "(see below)"
        return "required"
    return f"`{field.default!r}`".replace("None", "none").replace("True", "true") \
        .replace("False", "false")


def table(title: str, model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    lines = [f"### {title}", "", model.__doc__.strip() if model.__doc__ and
             not model.__doc__.startswith("Usage docs") else "", "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        nested = [a for a in get_args(field.annotation) if isinstance(a, type)
                  and issubclass(a, BaseModel)]
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) \
                or nested:
            continue
        lines.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | "
                     f"{field.description or ''} |")
    return lines + [""]


def document(sections: list[tuple[str, type[BaseModel], tuple[str, ...]]], intro: str) -> str:
    lines = [intro, ""]
    for title, model, skip in sections:
        lines += table(title, model, skip)
    return "\n".join(line for line in lines) + "\n"
