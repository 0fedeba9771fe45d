"""What the planner needs to know about a model, read from its ``config.json`` (no weights loaded).

:func:`load_model_facts` takes a local folder, the demo model's name, or a
Hugging Face id (only when the machine is online: the config alone is
downloaded). :func:`facts_from_params` gives a size-only estimate ("7B") for a
dense decoder when there is no config at hand.

The parameter count is computed from the shapes in the config for dense
decoders (embeddings, attention with grouped KV heads, gated or plain MLP,
norms, tied or separate output layer), so it can be checked against the
published size of a model and against a safetensors header.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError, ModelNotFoundError
from tools.core.jsonio import read_json
from tools.core.messages import Said, said
from tools.core.models import (
    DEMO_ALIASES,
    DEMO_NAME,
    GEMMA_ALIASES,
    TINY_ALIASES,
    TINY_NAME,
    models_dir,
    resolve_model,
)
from tools.plan.families import (
    ATTN_BIAS_TYPES,
    GATED_TYPES,
    LAYERNORM_BIAS_TYPES,
    LEARNED_POSITION_TYPES,
    REFERENCE_SHAPES,
)

log = logging.getLogger(__name__)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinearModule(_Model):
    """One linear projection inside a decoder layer (a LoRA target candidate)."""

    name: str
    in_features: int
    out_features: int


class ModelFacts(_Model):
    """Shapes and sizes of a decoder-only language model."""

    name: str = Field(description="what the person named: 'demo', a folder, a hub id, or a size like '7B'")
    source: str = Field(description="where the facts came from: a config.json path, the hub, or a size-only estimate")
    architecture: str = Field(description="transformers class, e.g. LlamaForCausalLM")
    model_type: str = Field(description="config model_type, e.g. llama, qwen2")
    param_count: int = Field(description="total parameters (all experts for MoE)")
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    gated_mlp: bool = Field(description="SwiGLU/GeGLU MLP (gate, up, down) rather than two matrices")
    num_experts: int = Field(default=1, description="MoE experts per layer (1 for dense)")
    experts_per_token: int = 1
    linear_modules: list[LinearModule] = Field(description="the linear projections of one decoder layer")
    lora_target_modules: list[str] = Field(description="module names to give PEFT ('all-linear' when unknown)")
    embedding_params: int = Field(description="input embeddings (+ learned positions)")
    lm_head_params: int = Field(description="0 when tied to the input embeddings")
    layer_linear_params: int = Field(description="parameters in the linear projections of all decoder layers")
    torch_dtype: str | None = Field(default=None, description="dtype the checkpoint was saved in")
    quantized: str | None = Field(default=None, description="quantization method already applied in the checkpoint")
    size_only: bool = Field(default=False, description="estimated from a parameter count, not read from a config")
    notes: list[str] = Field(default_factory=list)
    # the notes and the source by code, for a reader in another language (absent in plans written before codes)
    said_notes: list[Said] = Field(default_factory=list)
    said_source: Said | None = None

    def notes_in(self, lang: str | None) -> list[str]:
        """The notes in ``lang`` (in English when the facts were written before codes)."""
        if len(self.said_notes) == len(self.notes):
            return [n.text(lang) for n in self.said_notes]
        return list(self.notes)

    def source_in(self, lang: str | None) -> str:
        return self.said_source.text(lang) if self.said_source else self.source

    @property
    def dense(self) -> bool:
        return self.num_experts <= 1

    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def non_linear_params(self) -> int:
        """Parameters outside the decoder-layer linears (embeddings, head, norms): never quantised."""
        return self.param_count - self.layer_linear_params

    def lora_param_count(self, r: int, targets: list[str] | None = None) -> int:
        """Trainable LoRA parameters for rank ``r`` on ``targets`` (default: this model's targets)."""
        names = set(targets or self.lora_target_modules)
        every = "all-linear" in names
        per_layer = sum(r * (m.in_features + m.out_features) for m in self.linear_modules if every or m.name in names)
        return per_layer * self.num_layers

    def lora_input_features(self, targets: list[str] | None = None) -> int:
        """Sum of input widths of the targeted modules in one layer (for LoRA dropout activations)."""
        names = set(targets or self.lora_target_modules)
        every = "all-linear" in names
        return sum(m.in_features for m in self.linear_modules if every or m.name in names)

    def largest_linear(self) -> int:
        return max((m.in_features * m.out_features for m in self.linear_modules), default=0)

    def describe(self) -> str:
        return f"{self.name} ({human_params(self.param_count)} parameters, {self.architecture})"


# --- architectures (their traits by model_type: tools/plan/families.py) -------

def _linears(model_type: str, h: int, inter: int, qd: int, kvd: int, gated: bool, moe: bool) -> list[LinearModule]:
    def lm(name: str, i: int, o: int) -> LinearModule:
        return LinearModule(name=name, in_features=i, out_features=o)

    if model_type == "phi3":
        return [lm("qkv_proj", h, qd + 2 * kvd), lm("o_proj", qd, h), lm("gate_up_proj", h, 2 * inter),
                lm("down_proj", inter, h)]
    if model_type in {"gpt2", "gpt_bigcode"}:
        return [lm("c_attn", h, qd + 2 * kvd), lm("c_proj", qd, h), lm("c_fc", h, inter), lm("c_proj", inter, h)]
    if model_type in {"gpt_neox", "falcon", "bloom"}:
        return [lm("query_key_value", h, qd + 2 * kvd), lm("dense", qd, h), lm("dense_h_to_4h", h, inter),
                lm("dense_4h_to_h", inter, h)]
    if model_type == "phi":
        return [lm("q_proj", h, qd), lm("k_proj", h, kvd), lm("v_proj", h, kvd), lm("dense", qd, h),
                lm("fc1", h, inter), lm("fc2", inter, h)]
    if model_type == "opt":
        return [lm("q_proj", h, qd), lm("k_proj", h, kvd), lm("v_proj", h, kvd), lm("out_proj", qd, h),
                lm("fc1", h, inter), lm("fc2", inter, h)]
    if model_type == "starcoder2":
        return [lm("q_proj", h, qd), lm("k_proj", h, kvd), lm("v_proj", h, kvd), lm("o_proj", qd, h),
                lm("c_fc", h, inter), lm("c_proj", inter, h)]
    attn = [lm("q_proj", h, qd), lm("k_proj", h, kvd), lm("v_proj", h, kvd), lm("o_proj", qd, h)]
    if moe:
        return attn  # experts are fused parameters in transformers 5, not nn.Linear modules
    if gated:
        return attn + [lm("gate_proj", h, inter), lm("up_proj", h, inter), lm("down_proj", inter, h)]
    return attn + [lm("up_proj", h, inter), lm("down_proj", inter, h)]


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        v = cfg.get(k)
        if v is not None:
            return v
    return default


class _Dims(NamedTuple):
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    intermediate: int
    max_positions: int
    tied: bool
    experts: int
    experts_per_token: int


def _dims(cfg: dict[str, Any], source: str) -> _Dims:
    """The shapes a config names, under any of the names model families use; a missing one is named."""

    def need(*keys: str) -> int:
        v = _first(cfg, *keys)
        if v is None:
            raise InputError(
                f"config has no {keys[0]!r} (also looked for {', '.join(keys[1:]) or 'nothing else'})",
                where=source,
                hint="Is this a decoder-only language model? Pass --params 7B for a size-only estimate",
            )
        return int(v)

    h = need("hidden_size", "n_embd", "d_model")
    layers = need("num_hidden_layers", "n_layer", "num_layers")
    heads = need("num_attention_heads", "n_head", "num_heads")
    kv = int(_first(cfg, "num_key_value_heads", "num_kv_heads", "multi_query_group_num", default=heads))
    if cfg.get("multi_query") is True:
        kv = 1
    head_dim = int(_first(cfg, "head_dim", default=h // heads) or h // heads)
    vocab = need("vocab_size", "padded_vocab_size")
    inter = int(_first(cfg, "intermediate_size", "n_inner", "ffn_hidden_size", "ffn_dim", default=4 * h) or 4 * h)
    max_pos = int(_first(cfg, "max_position_embeddings", "n_positions", "max_sequence_length", "seq_length",
                         default=2048))
    tie = bool(_first(cfg, "tie_word_embeddings", default=True))  # transformers' default
    experts = int(_first(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=1) or 1)
    per_tok = int(_first(cfg, "num_experts_per_tok", "num_experts_per_token", default=1) or 1)
    return _Dims(h, layers, heads, kv, head_dim, vocab, inter, max_pos, tie, experts, per_tok)


def _language_model_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config of the language model inside: a multimodal wrapper's ``text_config`` is what we train."""
    if "hidden_size" not in cfg and isinstance(cfg.get("text_config"), dict):
        inner = {**cfg["text_config"]}
        inner.setdefault("tie_word_embeddings", cfg.get("tie_word_embeddings"))
        return inner
    return cfg


def _norms_and_biases(model_type: str, cfg: dict[str, Any], h: int, qkv_out: int,
                      linears: list[LinearModule]) -> tuple[int, int]:
    """Parameters of one layer outside its linear weights (norms and biases), and the width of a norm."""
    norms_per_layer = 4 if model_type in {"gemma2", "gemma3", "gemma3_text", "olmo2"} else 2
    norm_width = 2 * h if model_type in LAYERNORM_BIAS_TYPES else h
    biases = 0
    if model_type in ATTN_BIAS_TYPES or cfg.get("attention_bias") or cfg.get("bias") is True:
        biases += qkv_out
    if model_type in LAYERNORM_BIAS_TYPES:
        biases += sum(m.out_features for m in linears)
    return norms_per_layer * norm_width + biases, norm_width


class _Counts(NamedTuple):
    embedding: int
    lm_head: int
    layer_linear: int
    total: int


def _param_counts(model_type: str, cfg: dict[str, Any], d: _Dims, linears: list[LinearModule], gated: bool,
                  moe_inter: int, notes: list[Said]) -> _Counts:
    """Parameters of the embeddings, the output layer, the layers' linear weights and the whole model (a mixture
    of experts counts every expert, and says so in ``notes``)."""
    h, qd, kvd = d.hidden, d.heads * d.head_dim, d.kv_heads * d.head_dim
    per_layer_linear = sum(m.in_features * m.out_features for m in linears)
    if d.experts > 1:
        per_expert = (3 if gated else 2) * h * moe_inter
        shared = int(_first(cfg, "shared_expert_intermediate_size", default=0) or 0)
        per_layer_linear += d.experts * per_expert + h * d.experts + (3 * h * shared if shared else 0)
        notes.append(said("model.moe", experts=d.experts, per_tok=d.experts_per_token))
    per_layer_other, norm_width = _norms_and_biases(model_type, cfg, h, qd + 2 * kvd, linears)

    embedding = d.vocab * h
    if model_type in LEARNED_POSITION_TYPES:
        embedding += d.max_positions * h
    lm_head = 0 if d.tied else d.vocab * h
    layer_linear = per_layer_linear * d.layers
    total = embedding + lm_head + layer_linear + per_layer_other * d.layers + norm_width
    return _Counts(embedding, lm_head, layer_linear, int(total))


def _quantized(cfg: dict[str, Any], outer: dict[str, Any], notes: list[Said]) -> str | None:
    """The quantisation method of a checkpoint already quantised (said in ``notes``), else None."""
    quant = cfg.get("quantization_config") or outer.get("quantization_config")
    if not isinstance(quant, dict):
        return None
    quantized = str(quant.get("quant_method") or "unknown")
    notes.append(said("model.quantised", method=quantized))
    return quantized


def facts_from_config(config: dict[str, Any], *, name: str, source: str | Said) -> ModelFacts:
    """Model facts from a ``config.json`` dict. Raises :class:`InputError` naming the missing field.
    ``source`` is a path (or hub id) as it is, or a :class:`Said` for words ("size-only estimate")."""
    source_said = source if isinstance(source, Said) else None
    source = source.text() if isinstance(source, Said) else source
    outer = dict(config)
    cfg = _language_model_config(outer)
    notes: list[Said] = []
    model_type = str(cfg.get("model_type") or outer.get("model_type") or "unknown")
    archs = outer.get("architectures") or cfg.get("architectures") or []
    architecture = str(archs[0]) if archs else f"{model_type}ForCausalLM"

    d = _dims(cfg, source)
    moe = d.experts > 1
    gated = model_type in GATED_TYPES or model_type not in LAYERNORM_BIAS_TYPES
    known = model_type in GATED_TYPES or model_type in LAYERNORM_BIAS_TYPES
    if not known:
        notes.append(said("model.unknown_type", model_type=model_type))
    inter = d.intermediate
    moe_inter = int(_first(cfg, "moe_intermediate_size", default=inter)) if moe else inter
    linears = _linears(model_type, d.hidden, inter, d.heads * d.head_dim, d.kv_heads * d.head_dim, gated, moe)
    counts = _param_counts(model_type, cfg, d, linears, gated, moe_inter, notes)
    targets = sorted({m.name for m in linears}, key=[m.name for m in linears].index)
    if not known:
        targets = ["all-linear"]
    quantized = _quantized(cfg, outer, notes)

    return ModelFacts(
        name=name, source=source, architecture=architecture, model_type=model_type, param_count=counts.total,
        num_layers=d.layers, hidden_size=d.hidden, intermediate_size=moe_inter if moe else inter,
        num_attention_heads=d.heads, num_key_value_heads=d.kv_heads, head_dim=d.head_dim, vocab_size=d.vocab,
        max_position_embeddings=d.max_positions, tie_word_embeddings=d.tied, gated_mlp=gated,
        num_experts=d.experts, experts_per_token=d.experts_per_token if moe else 1, linear_modules=linears,
        lora_target_modules=targets, embedding_params=counts.embedding, lm_head_params=counts.lm_head,
        layer_linear_params=counts.layer_linear,
        torch_dtype=str(_first(cfg, "torch_dtype", "dtype", default="") or "") or None, quantized=quantized,
        notes=[n.text() for n in notes], said_notes=notes, said_source=source_said,
    )


# --- size-only estimates ------------------------------------------------------

# Shapes of well-known dense decoders: (params, hidden, layers, heads, kv heads, intermediate, vocab, tied, max pos)
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmbt]?)\s*$", re.IGNORECASE)


def parse_param_count(text: str | int | float) -> int:
    """'7B' → 7e9, '135M' → 1.35e8, '1.5b', '70e9', 7000000000. Raises :class:`InputError`."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        t = str(text).strip().replace("_", "").replace(",", "")
        m = _SIZE_RE.match(t)
        if m:
            scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[m.group(2).lower()]
            value = float(m.group(1)) * scale
        else:
            try:
                value = float(t)
            except ValueError:
                raise InputError(
                    f"cannot read a parameter count from {text!r}",
                    where="--params",
                    hint="Write it like 7B, 1.5B, 135M or 7000000000",
                ) from None
    if value < 1e6 and not isinstance(text, int | float):
        # '7' alone most likely means 7B
        value *= 1e9
    if not (1e6 <= value <= 5e12):
        raise InputError(f"{text!r} is not a plausible model size", where="--params",
                         hint="Give the size in parameters, e.g. 7B or 135M")
    return int(value)


def facts_from_params(size: str | int | float, name: str | None = None) -> ModelFacts:
    """A size-only estimate for a dense decoder: the shape of the nearest well-known model, layers scaled."""
    n = parse_param_count(size)
    ref = min(REFERENCE_SHAPES, key=lambda s: abs(math.log(s.params / n)))
    ref_name, _p, h, layers, heads, kv, inter, vocab, tied, max_pos = ref
    cfg = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": h,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": inter,
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
        "max_position_embeddings": max_pos,
    }
    base = facts_from_config(cfg, name=name or human_params(n), source=said("model.size_only"))
    per_layer = (base.param_count - base.embedding_params - base.lm_head_params - h) / layers
    scaled_layers = max(1, round((n - base.embedding_params - base.lm_head_params) / per_layer))
    cfg["num_hidden_layers"] = scaled_layers
    facts = facts_from_config(cfg, name=name or human_params(n), source=said("model.size_only"))
    source = said("model.shaped_like", params=human_params(n), ref=ref_name) if scaled_layers == layers else \
        said("model.shaped_like_layers", params=human_params(n), ref=ref_name, layers=scaled_layers)
    no_config = said("model.no_config")
    return facts.model_copy(
        update={
            "param_count": n,
            "size_only": True,
            "source": source.text(),
            "said_source": source,
            "notes": facts.notes + [no_config.text()],
            "said_notes": facts.said_notes + [no_config],
        }
    )


def human_params(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B".replace(".0B", "B")
    return f"{n / 1e6:.0f}M"


# --- loading ------------------------------------------------------------------

# SmolLM2-135M-Instruct's config, for planning the demo model before it has been converted.
DEMO_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
    "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
    "vocab_size": 49152, "max_position_embeddings": 8192, "tie_word_embeddings": True, "dtype": "bfloat16",
}


def _read_config(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError("config.json is not a JSON object", where=str(path), hint="Check the model folder")
    return data


def load_model_facts(model: str | Path) -> ModelFacts:
    """Facts for 'demo'/'tiny', a local model folder, or a hub id (downloads config.json only)."""
    text = str(model).strip()
    low = text.lower()
    if low in DEMO_ALIASES or low == DEMO_NAME.lower():
        path = models_dir() / DEMO_NAME / "config.json"
        if path.exists():
            return facts_from_config(_read_config(path), name=text, source=str(path))
        return facts_from_config(DEMO_CONFIG, name=text, source=said("model.builtin", name=DEMO_NAME))
    if low in TINY_ALIASES:
        path = models_dir() / TINY_NAME / "config.json"
        if not path.exists():
            raise ModelNotFoundError("the tiny test model is not prepared yet", where=str(path),
                                     hint="Run `tunepilot models tiny` first")
        return facts_from_config(_read_config(path), name=text, source=str(path))
    folder = Path(text).expanduser()
    if low in GEMMA_ALIASES or folder.suffix.lower() == ".gguf" or (folder.is_dir() and any(folder.glob("*.gguf"))
                                                                   and not (folder / "config.json").exists()):
        converted = resolve_model(text)  # a bundled or GGUF model: converted once, locally
        return facts_from_config(_read_config(Path(converted) / "config.json"), name=text,
                                 source=str(Path(converted) / "config.json"))
    if folder.is_dir():
        cfg_path = folder / "config.json"
        if not cfg_path.exists():
            raise ModelNotFoundError("this folder has no config.json, so it is not a transformers model",
                                     where=str(folder), hint="Point at the folder that holds config.json")
        return facts_from_config(_read_config(cfg_path), name=str(folder.resolve()), source=str(cfg_path))
    if folder.is_file() and folder.name.endswith(".json"):
        return facts_from_config(_read_config(folder), name=text, source=str(folder))
    parts = text.split("/")
    if len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~")):
        return _hub_facts(text)
    raise ModelNotFoundError(
        f"unknown model {text!r}",
        hint="Name a local model folder, a Hugging Face id like 'Qwen/Qwen2.5-0.5B-Instruct', 'demo', "
        "or give --params 7B for a size-only estimate",
    )


def _hub_reachable(timeout: float = 3.0) -> str | None:
    """None when the hub can be reached, else why not (checked once, quickly, instead of slow retries)."""
    import os
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        return f"{host} cannot be reached ({exc.__class__.__name__})"
    return None


def _hub_facts(repo_id: str) -> ModelFacts:
    offline = _hub_reachable()
    if offline:
        raise ModelNotFoundError(
            f"cannot read config.json of {repo_id!r}: {offline}",
            where=repo_id,
            hint="Use a local model folder, or pass --params 7B for a size-only estimate",
        )
    try:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(repo_id, "config.json"))
    except Exception as exc:  # noqa: BLE001 - offline, gated, missing: all say the same to the user
        raise ModelNotFoundError(
            f"could not read config.json of {repo_id!r} from the Hugging Face hub ({type(exc).__name__})",
            where=repo_id,
            hint="Check the id and the network (gated models need `hf auth login`), "
            "or pass --params 7B for a size-only estimate",
        ) from exc
    return facts_from_config(_read_config(path), name=repo_id, source=f"hub: {repo_id}/config.json")
