"""Reference SwiftKV Llama in PyTorch, built from transformers' Llama modules.

The forward pass here is the "training-mode" forward: every token runs every
layer. With SwiftKV on, layers i >= K take their keys and values from
s = rmsnorm(h_K, norm_swiftkv) through the group leader's k/v_proj_swiftkv and
their queries from q_proj_swiftkv on the layer's own normalised input.
Parameter names match the Hugging Face checkpoint names, so
`state_dict()` is the checkpoint.
"""

import torch
from torch import nn
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import (
    LlamaMLP,
    LlamaRMSNorm,
    LlamaRotaryEmbedding,
    apply_rotary_pos_emb,
    repeat_kv,
)


def linear(in_features, out_features, bias):
    return nn.Linear(in_features, out_features, bias=bias)


def group_leader(layer, num_key_value_layers, group_size):
    return num_key_value_layers + (layer - num_key_value_layers) // group_size * group_size


class SwiftKVAttention(nn.Module):
    def __init__(self, config, layer_index):
        super().__init__()
        hidden = config.hidden_size
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        bias = config.attention_bias
        self.q_proj = linear(hidden, self.num_heads * self.head_dim, bias)
        self.k_proj = linear(hidden, self.num_kv_heads * self.head_dim, bias)
        self.v_proj = linear(hidden, self.num_kv_heads * self.head_dim, bias)
        self.o_proj = linear(self.num_heads * self.head_dim, hidden, False)
        k_layers = config.num_key_value_layers
        if layer_index >= k_layers:
            self.q_proj_swiftkv = linear(hidden, self.num_heads * self.head_dim, bias)
            if group_leader(layer_index, k_layers, config.key_value_group_size) == layer_index:
                self.k_proj_swiftkv = linear(hidden, self.num_kv_heads * self.head_dim, bias)
                self.v_proj_swiftkv = linear(hidden, self.num_kv_heads * self.head_dim, bias)

    def split_heads(self, x, heads):
        return x.view(x.shape[0], heads, self.head_dim).transpose(0, 1)  # [heads, T, head_dim]

    def attend(self, q, k, v, query_positions, key_positions):
        """Causal GQA attention of q [T_q, hq*dh] over k, v [T_k, hkv*dh] (already roped)."""
        q = self.split_heads(q, self.num_heads)
        k = repeat_kv(self.split_heads(k, self.num_kv_heads)[None], self.num_heads // self.num_kv_heads)[0]
        v = repeat_kv(self.split_heads(v, self.num_kv_heads)[None], self.num_heads // self.num_kv_heads)[0]
        scores = torch.matmul(q, k.transpose(1, 2)) * self.head_dim**-0.5
        future = key_positions[None, :] > query_positions[:, None]
        scores = scores.masked_fill(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        out = torch.matmul(probs, v).transpose(0, 1).reshape(q.shape[1], -1)
        return self.o_proj(out)


class SwiftKVLayer(nn.Module):
    def __init__(self, config, layer_index):
        super().__init__()
        self.self_attn = SwiftKVAttention(config, layer_index)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)


class SwiftKVInner(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(SwiftKVLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.norm_swiftkv = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = LlamaRotaryEmbedding(config)


class SwiftKVForCausalLM(nn.Module):
    """Llama with the SwiftKV later-layer K/V path; `swiftkv=False` gives the original model."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = SwiftKVInner(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, ids, swiftkv=True, logits_rows=None, hidden_out=None):
        """Return float32 logits [rows, vocab] for a 1-D tensor of token ids at positions 0..T-1.

        With logits_rows=None every token runs every layer (training mode) and
        all T rows come back. With a list of row indices and SwiftKV on, the
        other tokens stop after layer K-1, as in SwiftKV prefill. Only the
        listed rows run the later layers, and their logits must equal the
        training-mode rows. A list given as hidden_out receives the residual
        stream entering each layer (training mode only).
        """
        config = self.config
        num_layers = config.num_hidden_layers
        k_layers = config.num_key_value_layers if swiftkv else num_layers
        positions = torch.arange(ids.shape[0])
        h = self.model.embed_tokens(ids)
        cos, sin = self.model.rotary_emb(h[None], positions[None])
        rows = positions
        swiftkv_kv = {}
        for i, layer in enumerate(self.model.layers):
            attn = layer.self_attn
            if hidden_out is not None:
                hidden_out.append(h)
            if i == k_layers and k_layers < num_layers:
                s = self.model.norm_swiftkv(h)
                if logits_rows is not None:
                    rows = positions[logits_rows]
                    h = h[logits_rows]
            x = layer.input_layernorm(h)
            if i < k_layers:
                q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
                key_positions = rows
            else:
                leader = group_leader(i, k_layers, config.key_value_group_size)
                if leader not in swiftkv_kv:
                    leader_attn = self.model.layers[leader].self_attn
                    swiftkv_kv[leader] = (leader_attn.k_proj_swiftkv(s), leader_attn.v_proj_swiftkv(s))
                q = attn.q_proj_swiftkv(x)
                k, v = swiftkv_kv[leader]
                key_positions = positions
            q, _ = apply_rotary_pos_emb(
                attn.split_heads(q, attn.num_heads)[None], attn.split_heads(q, attn.num_heads)[None],
                cos[:, rows], sin[:, rows],
            )
            k, _ = apply_rotary_pos_emb(
                attn.split_heads(k, attn.num_kv_heads)[None], attn.split_heads(k, attn.num_kv_heads)[None],
                cos[:, key_positions], sin[:, key_positions],
            )
            q = q[0].transpose(0, 1).reshape(len(rows), -1)
            k = k[0].transpose(0, 1).reshape(len(key_positions), -1)
            h = h + attn.attend(q, k, v, rows, key_positions)
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        return self.lm_head(self.model.norm(h)).to(torch.float32)


def llama_config_from_dict(config_dict):
    """Build a LlamaConfig carrying the SwiftKV keys (swiftkv, num_key_value_layers, key_value_group_size)."""
    values = dict(config_dict)
    values.pop("model_type", None)
    values.pop("architectures", None)
    values.setdefault("key_value_group_size", 1)
    values.setdefault("num_key_value_layers", values["num_hidden_layers"])
    config = LlamaConfig(**values)
    if getattr(config, "head_dim", None) is None:
        config.head_dim = config.hidden_size // config.num_attention_heads
    return config
