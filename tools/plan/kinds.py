"""The plan's vocabulary: methods, strategies, precisions, weight formats, optimizers; the record base."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Method = Literal["lora", "qlora"]
Strategy = Literal["single", "ddp", "fsdp", "zero2", "zero3", "cpu"]
Precision = Literal["bf16", "fp16", "fp32"]
WeightFormat = Literal["fp32", "16bit", "8bit", "nf4"]
Optimizer = Literal["adamw_torch", "paged_adamw_8bit"]


class Record(BaseModel):  # a record of the plan stage: unknown fields are refused
    model_config = ConfigDict(extra="forbid")
