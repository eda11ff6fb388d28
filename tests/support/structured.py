"""A structured-output schema with every kind of field rowrelay types into columns, as a Pydantic model
(importable as `tests.support.structured:AllTypes`) and the Arrow types its columns must have."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, Field


class Owner(BaseModel):
    name: str
    team: Literal["billing", "support"]


class AllTypes(BaseModel):
    category: Literal["billing", "login", "shipping"]
    priority: int = Field(ge=1, le=4)
    score: float = Field(ge=0, le=1)
    urgent: bool
    tags: list[str] = Field(min_length=1, max_length=3)
    owner: Owner
    steps: list[Owner]
    note: str | None
    kind: Literal["ticket"]


OWNER = pa.struct([pa.field("name", pa.string()), pa.field("team", pa.string())])
COLUMN_TYPES: dict[str, pa.DataType] = {
    "category": pa.string(),
    "priority": pa.int64(),
    "score": pa.float64(),
    "urgent": pa.bool_(),
    "tags": pa.list_(pa.string()),
    "owner": OWNER,
    "steps": pa.list_(OWNER),
    "note": pa.string(),
    "kind": pa.string(),
}
