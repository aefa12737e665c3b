"""MGCMT model: multi-granularity cross-modality transformer with CRF decoding.

Implements "Multi-Granularity Cross-Modality Representation Learning for Named Entity Recognition on
Social Media" (Liu et al.), Section 3, one equation (or group of equations) per module, in data-flow
order: word states (Eq. 1) -> semantic augmentation (Eq. 2-4) -> grid features (Eq. 5-6) and object
categories (Eq. 7-8) -> unimodal transformers (Eq. 9-12) -> TextImg / TextObj with their gates
(Eq. 13-14) -> fusion (Eq. 15) -> CRF (Eq. 16-17, 20) and the auxiliary entity-span CRF (Eq. 18-19).

The text encoder is any transformers encoder, composed (not vendored); the CRF is pytorch-crf's. Where
the paper is silent, the code follows the authors' official release and says so in a comment; the code
here is our own.

Conventions: masks are boolean, `True` = a real element. The model works on words, not sub-tokens: the
processor gives each sub-token the 1-based index of its word (`token_word_index`, 0 = special token or
padding), and the CRFs run over words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchcrf import CRF
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.conversion_mapping import register_checkpoint_conversion_mapping
from transformers.core_model_loading import WeightRenaming
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput, logging
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_mgcmt import MGCMTConfig

logger = logging.get_logger(__name__)


@dataclass
class MGCMTModelOutput(ModelOutput):
    r"""
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_words, hidden_size)`):
            The text stream h (output of the textual transformer, Eq. 12), input of the ESD transformer.
        fused_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_words, fused_size)`):
            The decoder input P of Sec. 3.4: `[h, S]` (fused_size = 2 * hidden_size) when a visual module is
            on, `h` alone (hidden_size) when both TextImg and TextObj are off.
        word_mask (`torch.BoolTensor` of shape `(batch_size, num_words)`):
            `True` for real words.
        text_image_attentions, text_object_attentions (`tuple(torch.FloatTensor)`, *optional*):
            Basic level: text attends the image regions / objects. One tensor per cross-modal layer, of shape
            `(batch_size, num_heads, num_words, num_regions_or_objects)`. Returned with `output_attentions=True`.
        image_text_attentions, object_text_attentions (`tuple(torch.FloatTensor)`, *optional*):
            Superior level, first stage: regions / objects attend the text. Shape
            `(batch_size, num_heads, num_regions_or_objects, num_words)` per layer.
        text_image_superior_attentions, text_object_superior_attentions (`tuple(torch.FloatTensor)`, *optional*):
            Superior level, second stage: text attends the text-aware regions / objects. Shape
            `(batch_size, num_heads, num_words, num_regions_or_objects)` per layer.
    """

    last_hidden_state: torch.FloatTensor | None = None
    fused_hidden_state: torch.FloatTensor | None = None
    word_mask: torch.BoolTensor | None = None
    text_image_attentions: tuple[torch.FloatTensor, ...] | None = None
    image_text_attentions: tuple[torch.FloatTensor, ...] | None = None
    text_image_superior_attentions: tuple[torch.FloatTensor, ...] | None = None
    text_object_attentions: tuple[torch.FloatTensor, ...] | None = None
    object_text_attentions: tuple[torch.FloatTensor, ...] | None = None
    text_object_superior_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MGCMTTokenClassifierOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            `main_loss + config.esd_loss_weight * esd_loss` (Eq. 19).
        logits (`torch.FloatTensor` of shape `(batch_size, num_words, num_labels)`):
            Emission scores of the main CRF (Eq. 16).
        predictions (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*):
            Viterbi label ids (Eq. 20), `-100` past each tweet's last word. Computed when the model is not
            training.
        main_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Negative log-likelihood of the main CRF (Eq. 17), averaged over the tweets of the batch.
        esd_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Negative log-likelihood of the entity-span CRF (Eq. 18), averaged over the tweets.
        esd_logits (`torch.FloatTensor` of shape `(batch_size, num_words, 3)`, *optional*):
            Emission scores of the entity-span CRF over `O`/`B`/`I`.
        word_mask (`torch.BoolTensor` of shape `(batch_size, num_words)`):
            `True` for real words.
        text_image_attentions ... text_object_superior_attentions:
            As in [`MGCMTModelOutput`], with `output_attentions=True`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    predictions: torch.LongTensor | None = None
    main_loss: torch.FloatTensor | None = None
    esd_loss: torch.FloatTensor | None = None
    esd_logits: torch.FloatTensor | None = None
    word_mask: torch.BoolTensor | None = None
    text_image_attentions: tuple[torch.FloatTensor, ...] | None = None
    image_text_attentions: tuple[torch.FloatTensor, ...] | None = None
    text_image_superior_attentions: tuple[torch.FloatTensor, ...] | None = None
    text_object_attentions: tuple[torch.FloatTensor, ...] | None = None
    object_text_attentions: tuple[torch.FloatTensor, ...] | None = None
    text_object_superior_attentions: tuple[torch.FloatTensor, ...] | None = None


# The attention maps MGCMT can return, and the attention modules that give them (see `_can_record_outputs`).
ATTENTION_OUTPUTS = {
    "text_image_attentions": "text_image.basic",
    "image_text_attentions": "text_image.vision_to_text",
    "text_image_superior_attentions": "text_image.superior",
    "text_object_attentions": "text_object.basic",
    "object_text_attentions": "text_object.vision_to_text",
    "text_object_superior_attentions": "text_object.superior",
}


def fill_empty_visual_rows(
    features: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a tweet without objects (or without an image) attends to.

    The paper sets the object representations H to zero vectors when no object is detected (footnote 2 of
    Sec. 3.2.3); we apply the same rule to a missing image. For each row whose `mask` has no `True`, the
    row's `features` are zeroed and every slot becomes attendable. All slots of such a row are then
    identical, so every attention over them returns that one "nothing seen" representation whatever
    the number of slots, and no attention row is ever fully masked (which gives NaN in softmax).
    The visual encoders leave such rows at zero too (see [`zero_unseen_rows`]).

    Args:
        features (`torch.Tensor` of shape `(batch_size, length, ...)`): visual inputs (grid features,
            or object ids, where 0 is the empty slot whose embedding is the zero vector).
        mask (`torch.BoolTensor` of shape `(batch_size, length)`): `True` for real regions / objects.

    Returns:
        `(features, mask, seen)`: `seen` (`torch.BoolTensor` of shape `(batch_size,)`) is `False` for the
        rows that had nothing.
    """
    seen = mask.any(dim=1)  # (batch,); no `if seen.all()` shortcut: that would read it back from the device
    keep = seen.view(-1, *([1] * (features.dim() - 1)))
    features = features * keep.to(features.dtype) if features.is_floating_point() else features.masked_fill(~keep, 0)
    return features, mask | ~seen[:, None], seen


def zero_unseen_rows(states: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Zero vectors as the encoded visual representation (V or O) of the rows with nothing seen.

    The paper's H of a tweet without objects is zero vectors; the visual transformer would turn them into
    LN(constant): a post-LN over a zero-variance input, whose gradient is scaled by 1/sqrt(eps) (1e6 per
    LayerNorm at eps = 1e-12, 1e12 through the two of a layer) and swamps every other gradient of the batch.
    Those rows keep zero vectors instead, and `torch.where` sends no gradient into the encoder for them.
    """
    return torch.where(seen[:, None, None], states, torch.zeros((), dtype=states.dtype, device=states.device))


class MGCMTWordPooling(nn.Module):
    """Word states from sub-token states (Eq. 1): the sum of a word's sub-tokens, or its first sub-token.

    A word with no sub-token (a character the tokenizer deletes) gets the zero vector; the processor
    avoids that case by mapping such words to the unknown token.
    """

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, token_states: torch.Tensor, token_word_index: torch.Tensor, num_words: int) -> torch.Tensor:
        """
        Args:
            token_states (`torch.FloatTensor` of shape `(batch_size, seq_len, encoder_size)`).
            token_word_index (`torch.LongTensor` of shape `(batch_size, seq_len)`): 1-based word index per
                sub-token, 0 for special tokens and padding.
            num_words (`int`): words per row of the output.
        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_words, encoder_size)`.
        """
        batch_size, seq_len, size = token_states.shape
        index = token_word_index.clamp(max=num_words)  # indices past num_words never occur (checked upstream)
        if self.mode == "first":
            # Keep each word's first sub-token only: later sub-tokens of the same word are sent to slot 0.
            previous = F.pad(index[:, :-1], (1, 0), value=0)
            index = torch.where(index != previous, index, torch.zeros_like(index))
        pooled = token_states.new_zeros(batch_size, num_words + 1, size)  # slot 0 collects non-word tokens
        pooled = pooled.scatter_add(1, index.unsqueeze(-1).expand(-1, -1, size), token_states)
        return pooled[:, 1:]  # (batch, num_words, encoder_size)


class MGCMTSemanticAugmentation(nn.Module):
    """Word input E of the textual transformer (Eq. 4): `Linear([E^B, E^A])`.

    E^A, the attention-weighted sum of a word's K nearest word2vec neighbours (Eq. 2-3), is computed once
    per vocabulary word by the processor (the paper pre-calculates it into a lookup table, Sec. 4.1) and
    arrives here as `augmentation_embeds`.
    """

    def __init__(self, encoder_size: int, augmentation_size: int, hidden_size: int):
        super().__init__()
        self.encoder_size = encoder_size
        self.dense = nn.Linear(encoder_size + augmentation_size, hidden_size)

    @torch.no_grad()
    def init_identity(self, std: float) -> None:
        """Start Eq. 4 where the text encoder is: `E = E^B + W_A E^A`, an identity E^B block and a normal(0, `std`)
        E^A block, zero bias (the `"identity"` `text_path_init`; the official code adds the augmentation to E^B,
        the same function at step 0). Needs `encoder_size == hidden_size`; a loaded weight is left alone."""
        weight, bias = self.dense.weight, self.dense.bias
        if getattr(weight, "_is_hf_initialized", False):
            return
        weight[:, : self.encoder_size].copy_(torch.eye(self.encoder_size, dtype=weight.dtype, device=weight.device))
        weight[:, self.encoder_size :].normal_(0.0, std)
        init.zeros_(bias)

    def forward(self, word_states: torch.Tensor, augmentation_embeds: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.cat([word_states, augmentation_embeds], dim=-1))  # (batch, num_words, hidden)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k) + mask) V (Eq. 9), as transformers' eager attention; returns the output
    `(batch, query_len, heads, head_size)` and the attention weights (before dropout)."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = weights.softmax(dim=-1)
    output = torch.matmul(F.dropout(weights, p=dropout, training=module.training), value)
    return output.transpose(1, 2).contiguous(), weights


class MGCMTAttention(nn.Module):
    """Multi-head attention of Eq. 9-10: queries from `query`, keys and values from `context`.

    Self-attention when `context` is `query`. The output projection after the concatenated heads follows
    the official code (BERT's attention output layer); Eq. 10 leaves it implicit. The attention function is
    `config._attn_implementation` from transformers' `ALL_ATTENTION_FUNCTIONS` (SDPA by default), and eager when
    the weights are asked for (`output_attentions`), which SDPA does not return.
    """

    def __init__(self, config: MGCMTConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_size**-0.5
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.is_causal = False

    def _heads(self, states: torch.Tensor) -> torch.Tensor:
        batch_size, length, _ = states.shape
        return states.view(batch_size, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(
        self, query: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        q = self._heads(self.query(query))  # (batch, heads, query_len, head_size)
        k = self._heads(self.key(context))  # (batch, heads, context_len, head_size)
        v = self._heads(self.value(context))
        implementation = "eager" if output_attentions else (self.config._attn_implementation or "eager")
        keep = context_mask[:, None, None, :]  # (batch, 1, 1, context_len)
        if implementation == "eager":
            attention, mask = eager_attention_forward, torch.zeros(keep.shape, dtype=q.dtype, device=q.device).masked_fill(
                ~keep, torch.finfo(q.dtype).min)
        else:  # SDPA and any other registered function take the boolean mask (True = attend)
            attention, mask = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward), keep
        z, weights = attention(self, q, k, v, mask, scaling=self.scaling,
                               dropout=self.attention_dropout if self.training else 0.0)
        batch_size, query_len = z.shape[:2]
        return self.output(z.reshape(batch_size, query_len, self.num_heads * self.head_size)), weights


class MGCMTAttentionLayer(GradientCheckpointingLayer):
    """One transformer layer, post-LN (Eq. 11-12): `x' = LN(Q + MA(Q, K, V))`, `x = LN(x' + FFN(x'))`.

    A unimodal transformer when query and context are the same modality, a cross-modality transformer
    (CMT, Sec. 3.3.1) otherwise. Recomputed in the backward pass under gradient checkpointing.
    """

    def __init__(self, config: MGCMTConfig):
        super().__init__()
        self.attention = MGCMTAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, query: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor, output_attentions: bool = False
    ) -> torch.Tensor:
        z, _ = self.attention(query, context, context_mask, output_attentions)  # weights: see _can_record_outputs
        states = self.attention_norm(query + self.dropout(z))  # Eq. 11
        ffn = self.ffn_output(self.activation(self.intermediate(states)))
        return self.ffn_norm(states + self.dropout(ffn))  # Eq. 12

    @torch.no_grad()
    def init_residual_identity(self) -> None:
        """Zero the last projection of both residual branches, so that at step 0 the layer is `LN(LN(Q))`: the
        query passes through normalised, not mixed (the `"identity"` `text_path_init`). Gradients still reach
        every weight from the first step on (those of the zeroed projections do not vanish)."""
        for linear in (self.attention.output, self.ffn_output):
            init.zeros_(linear.weight)
            init.zeros_(linear.bias)


class MGCMTEncoder(nn.Module):
    """A stack of attention layers.

    Self-attention (`context=None`): each layer attends its own input. Cross-attention: each layer's
    query is the previous layer's output and the context stays fixed, as the official code stacks its
    cross-modality layers.
    """

    def __init__(self, config: MGCMTConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(MGCMTAttentionLayer(config) for _ in range(num_layers))

    def forward(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> torch.Tensor:
        """
        Args:
            states (`torch.FloatTensor` of shape `(batch_size, length, hidden_size)`): the queries.
            mask (`torch.BoolTensor` of shape `(batch_size, length)`): real positions of `states`.
            context, context_mask: keys/values and their mask for cross-attention; `None` for self-attention.
        """
        for layer in self.layers:
            if context is None:
                states = layer(states, states, mask, output_attentions=output_attentions)
            else:
                states = layer(states, context, context_mask, output_attentions=output_attentions)
        return states


class MGCMTGate(nn.Module):
    """Gate of Eq. 13-14: `mu = sigmoid(S^1 W1 + S^2 W2 + bias)`, output `mu * S^1 + (1 - mu) * S^2`, over the basic
    (S^1) and superior (S^2) levels."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.basic_proj = nn.Linear(hidden_size, hidden_size)  # W^{v,1} and the bias b^v
        self.superior_proj = nn.Linear(hidden_size, hidden_size, bias=False)  # W^{v,2}

    def forward(self, basic: torch.Tensor, superior: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.basic_proj(basic) + self.superior_proj(superior))  # (batch, num_words, hidden)
        return gate * basic + (1 - gate) * superior


class MGCMTCrossModalBlock(nn.Module):
    """TextImg (Sec. 3.3.1) or TextObj (Sec. 3.3.2): text attends a visual sequence at two levels.

    Basic level: h = Q, vision = K = V, giving S^{*,1}. Superior level: first vision = Q attends h,
    giving S^{*,2'}; then h = Q attends S^{*,2'}, giving S^{*,2}. The gate (Eq. 13-14) mixes the two
    levels; with one level switched off (Table 5) the block returns the other and builds no gate.
    """

    def __init__(self, config: MGCMTConfig):
        super().__init__()
        layers = config.cross_modal_layers
        self.basic = MGCMTEncoder(config, layers) if config.use_basic_level else None
        self.vision_to_text = MGCMTEncoder(config, layers) if config.use_superior_level else None
        self.superior = MGCMTEncoder(config, layers) if config.use_superior_level else None
        both = config.use_basic_level and config.use_superior_level
        self.gate = MGCMTGate(config.hidden_size) if both else None

    def forward(
        self,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        vision: torch.Tensor,
        vision_mask: torch.Tensor,
        output_attentions: bool = False,
    ) -> torch.Tensor:
        basic = superior = None
        if self.basic is not None:
            basic = self.basic(text, text_mask, vision, vision_mask, output_attentions)
        if self.superior is not None:
            text_aware = self.vision_to_text(vision, vision_mask, text, text_mask, output_attentions)  # S^{*,2'}
            superior = self.superior(text, text_mask, text_aware, vision_mask, output_attentions)
        if self.gate is not None:
            return self.gate(basic, superior)  # Eq. 13-14
        return basic if basic is not None else superior


class MGCMTGridEncoder(nn.Module):
    """Global image: grid features -> Linear (Eq. 5-6) -> image-level visual transformer R-ViT (Eq. 9-12)."""

    def __init__(self, config: MGCMTConfig):
        super().__init__()
        self.projection = nn.Linear(config.image_feature_size, config.hidden_size)
        self.encoder = MGCMTEncoder(config, config.image_encoder_layers) if config.use_image_encoder else None

    def forward(self, image_features: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        regions = self.projection(image_features)  # R: (batch, num_regions, hidden)
        if self.encoder is not None:
            regions = self.encoder(regions, image_mask)  # V
        return regions


class MGCMTObjectEncoder(nn.Module):
    """Local objects: category embedding table W_o (Eq. 7-8) -> object-level transformer O-ViT (Eq. 9-12).

    Id 0 is the empty slot; its row is the zero vector and is never trained (the paper's "zero vectors
    when no objects are detected").
    """

    def __init__(self, config: MGCMTConfig):
        super().__init__()
        self.embeddings = nn.Embedding(config.num_object_categories, config.hidden_size, padding_idx=0)
        self.encoder = MGCMTEncoder(config, config.object_encoder_layers) if config.use_object_encoder else None

    def forward(self, object_ids: torch.Tensor, object_mask: torch.Tensor) -> torch.Tensor:
        objects = self.embeddings(object_ids)  # H: (batch, num_objects, hidden)
        if self.encoder is not None:
            objects = self.encoder(objects, object_mask)  # O
        return objects


def _build_text_encoder(text_config) -> PreTrainedModel:
    """The text encoder without its pooler (MGCMT uses token states only; an unused pooler gets no gradient).

    Encoders with a pooler (BERT, RoBERTa, MPNet, ...) skip it when it is `None`, as `add_pooling_layer=False`
    leaves it."""
    encoder = AutoModel.from_config(text_config)
    if isinstance(getattr(encoder, "pooler", None), nn.Module):
        encoder.pooler = None
    return encoder


def _build_image_backbone(config: MGCMTConfig) -> nn.Module:
    try:
        import timm
    except ImportError as error:  # pragma: no cover - exercised only without the features extra
        raise ImportError(
            f"`image_backbone={config.image_backbone!r}` needs timm: pip install 'mgcmt[features]'."
        ) from error
    return timm.create_model(config.image_backbone, pretrained=False, num_classes=0, global_pool="")


# Key names of checkpoints written before the modules got their present names: (old pattern, new name).
LEGACY_KEY_NAMES = (
    (r"text_input\.dense\.", "semantic_augmentation.dense."),
    (r"text_input\.(weight|bias)", r"text_projection.\1"),
    (r"gate\.proj_a\.", "gate.basic_proj."),
    (r"gate\.proj_b\.", "gate.superior_proj."),
)
# from_pretrained renames them on load (transformers' conversion mapping); MGCMTModel's load_state_dict hook does
# the same for torch-level loads (the Trainer's resume and best-model reload).
register_checkpoint_conversion_mapping(
    "mgcmt", [WeightRenaming(old, new) for old, new in LEGACY_KEY_NAMES], overwrite=True)


def _rename_legacy_keys(module, state_dict, prefix, *args) -> None:
    for key in [key for key in state_dict if key.startswith(prefix)]:
        renamed = key[len(prefix):]
        for old, new in LEGACY_KEY_NAMES:
            renamed = re.sub(old, new, renamed)
        if prefix + renamed != key:
            state_dict[prefix + renamed] = state_dict.pop(key)


class MGCMTPreTrainedModel(PreTrainedModel):
    config_class = MGCMTConfig
    base_model_prefix = "mgcmt"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True  # every MGCMT layer and the encoder's layers (GradientCheckpointingLayer)
    _supports_sdpa = True
    _can_record_outputs = {
        name: OutputRecorder(MGCMTAttention, index=1, layer_name=path) for name, path in ATTENTION_OUTPUTS.items()
    }
    # The Trainer must not rescale our mean loss (see HF_NOTES: loss-kwargs trap under DDP / accumulation).
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Linear / Embedding (empty-slot row zeroed) / LayerNorm / Conv / BatchNorm as transformers does;
        pytorch-crf's transitions uniform in [-0.1, 0.1] as `CRF.reset_parameters`. `transformers.initialization`
        skips tensors loaded from a checkpoint, so only missing weights are initialised. The official code mixes
        several initialisation regimes by the order its modules are built; we do not reproduce that: every new
        layer starts from normal(0, `initializer_range`) weights and zero biases, except, with `text_path_init=
        "identity"` (the default), the text path's layers (see `MGCMTModel.init_text_path_identity`)."""
        super()._init_weights(module)
        if isinstance(module, CRF):
            init.uniform_(module.start_transitions, -0.1, 0.1)
            init.uniform_(module.end_transitions, -0.1, 0.1)
            init.uniform_(module.transitions, -0.1, 0.1)

    def save_pretrained(self, save_directory, *args, save_original_format: bool = False, **kwargs):
        """As transformers' `save_pretrained`, with the present key names by default (`save_original_format=False`):
        transformers would otherwise write the legacy names of `LEGACY_KEY_NAMES` back."""
        return super().save_pretrained(save_directory, *args, save_original_format=save_original_format, **kwargs)

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """transformers' per-module initialisation, then the `"identity"` start of the text path. That start is
        applied here, not in `_init_weights`: for custom code, transformers marks a module without parameters of its
        own as initialised without passing it to `_init_weights`, and MGCMTModel and the Eq. 4 module are such
        containers. Loaded weights stay untouched either way."""
        super().initialize_weights()
        for module in self.modules():  # a buffer, not a weight: rebuilt from the config after every load
            if isinstance(getattr(module, "label_to_span", None), torch.Tensor):
                module.label_to_span.copy_(torch.tensor(self.config.label_to_span_id, dtype=torch.long))
        if self.config.text_path_init == "identity":
            for module in self.modules():
                if isinstance(module, MGCMTModel):
                    module.init_text_path_identity()


class MGCMTModel(MGCMTPreTrainedModel):
    """Text encoder + unimodal representation learning (Sec. 3.2) + MGCMT (Sec. 3.3).

    Returns the decoder input P = [h, S] (Sec. 3.4) per word.
    """

    def __init__(self, config: MGCMTConfig):
        super().__init__(config)
        self.text_encoder = _build_text_encoder(config.text_config)
        encoder_size = config.text_config.hidden_size
        self.word_pooling = MGCMTWordPooling(config.word_pooling)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.semantic_augmentation = (  # Eq. 4
            MGCMTSemanticAugmentation(encoder_size, config.augmentation_size, config.hidden_size)
            if config.use_semantic_augmentation else None)
        # Not in the paper (d is BERT's size there): aligns an encoder of another size when Eq. 4 is off.
        self.text_projection = (nn.Linear(encoder_size, config.hidden_size)
                                if not config.use_semantic_augmentation and encoder_size != config.hidden_size else None)
        self.text_transformer = MGCMTEncoder(config, config.text_encoder_layers) if config.use_text_encoder else None

        self.image_backbone = None
        if config.use_text_image:
            if config.image_backbone is not None:
                self.image_backbone = _build_image_backbone(config)
                if config.freeze_image_backbone:
                    self.image_backbone.requires_grad_(False)
            self.grid_encoder = MGCMTGridEncoder(config)
            self.text_image = MGCMTCrossModalBlock(config)
        else:
            self.grid_encoder = self.text_image = None
        if config.use_text_object:
            self.object_encoder = MGCMTObjectEncoder(config)
            self.text_object = MGCMTCrossModalBlock(config)
        else:
            self.object_encoder = self.text_object = None
        both = config.use_text_image and config.use_text_object
        self.fusion = nn.Linear(2 * config.hidden_size, config.hidden_size) if both else None  # Eq. 15
        self.register_load_state_dict_pre_hook(_rename_legacy_keys)
        self.post_init()

    def init_text_path_identity(self) -> None:
        """The `"identity"` start of the new layers between the text encoder and the CRF (see `text_path_init` in
        [`MGCMTConfig`]): Eq. 4 as identity on E^B (when the encoder's size is `hidden_size`), and the unimodal
        text transformer's residual branches zeroed, so that h starts as the (layer-normed) encoder word states
        instead of a random mix of them. The alignment layer of an encoder of another size stays random."""
        if getattr(self, "_text_path_identity_done", False):  # once per model, also when nested in a head model
            return
        self._text_path_identity_done = True
        std = self.config.initializer_range
        augmentation = self.semantic_augmentation
        if augmentation is not None and augmentation.encoder_size == self.config.hidden_size:
            augmentation.init_identity(std)
        if self.text_transformer is not None:
            for layer in self.text_transformer.layers:
                layer.init_residual_identity()

    @property
    def output_size(self) -> int:
        """Size of P: 2d with a visual module (`[h, S]`), d without."""
        visual = self.config.use_text_image or self.config.use_text_object
        return 2 * self.config.hidden_size if visual else self.config.hidden_size

    def load_image_backbone_weights(self, weights: str) -> None:
        """Load pretrained weights into the image backbone: `"pretrained"` (timm's hub weights) or a local file
        (timm names, or the same tensors in order, e.g. the offline EfficientNet-Lite0 file)."""
        if self.image_backbone is None:
            raise ValueError("This model has no image backbone (config.image_backbone is None or TextImg is off).")
        from .image_features import GridFeatureExtractor

        source = GridFeatureExtractor(self.config.image_backbone, weights=weights).model
        self.image_backbone.load_state_dict(source.state_dict())

    def get_input_embeddings(self) -> nn.Module:
        return self.text_encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.text_encoder.set_input_embeddings(value)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.image_backbone is not None and self.config.freeze_image_backbone:
            self.image_backbone.eval()  # frozen batch-norm statistics
        return self

    def _image_regions(
        self,
        image_features: torch.Tensor | None,
        pixel_values: torch.Tensor | None,
        image_mask: torch.Tensor | None,
        batch_size: int,
        device: torch.device,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        config = self.config
        if image_features is not None and pixel_values is not None:
            raise ValueError("Pass either `image_features` or `pixel_values`, not both.")
        if pixel_values is not None:
            if self.image_backbone is None:
                raise ValueError(
                    "`pixel_values` needs an image backbone: set `config.image_backbone` (a timm model name), "
                    "or pass precomputed `image_features`."
                )
            with torch.set_grad_enabled(torch.is_grad_enabled() and not config.freeze_image_backbone):
                grid = self.image_backbone.forward_features(pixel_values)  # (batch, channels, height, width)
            image_features = grid.flatten(2).transpose(1, 2)  # (batch, height * width, channels)
            if image_features.shape[1] != config.image_grid_length:
                raise ValueError(
                    f"The image backbone gave {image_features.shape[1]} regions for pixel_values of shape "
                    f"{tuple(pixel_values.shape)}, but config.image_grid_length is {config.image_grid_length}."
                )
        if image_features is None:  # no image for any tweet in the batch
            image_features = torch.zeros(batch_size, 1, config.image_feature_size, device=device)
            image_mask = torch.zeros(batch_size, 1, dtype=torch.bool, device=device)
        if image_features.dim() != 3 or image_features.shape[0] != batch_size:
            raise ValueError(
                f"`image_features` must have shape (batch_size={batch_size}, num_regions, "
                f"{config.image_feature_size}), got {tuple(image_features.shape)}."
            )
        if image_features.shape[-1] != config.image_feature_size:
            raise ValueError(
                f"`image_features` has {image_features.shape[-1]} channels per region, but "
                f"config.image_feature_size is {config.image_feature_size}."
            )
        if image_mask is None:
            image_mask = torch.ones(image_features.shape[:2], dtype=torch.bool, device=device)
        elif image_mask.shape != image_features.shape[:2]:
            raise ValueError(
                f"`image_mask` must have shape {tuple(image_features.shape[:2])}, got {tuple(image_mask.shape)}."
            )
        image_features = image_features.to(self.grid_encoder.projection.weight.dtype)
        return fill_empty_visual_rows(image_features, image_mask.bool())

    def _object_slots(
        self, object_ids: torch.Tensor | None, batch_size: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if object_ids is None:  # no objects for any tweet in the batch
            object_ids = torch.zeros(batch_size, 1, dtype=torch.long, device=device)
        if object_ids.dim() != 2 or object_ids.shape[0] != batch_size or object_ids.shape[1] == 0:
            raise ValueError(
                f"`object_ids` must have shape (batch_size={batch_size}, num_slots >= 1), got {tuple(object_ids.shape)}."
            )
        return fill_empty_visual_rows(object_ids, object_ids != 0)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        token_word_index: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
        augmentation_embeds: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_mask: torch.Tensor | None = None,
        object_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
    ) -> MGCMTModelOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): sub-token ids of the text encoder.
            attention_mask (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*): 1 for real sub-tokens.
            token_type_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*): passed to encoders
                that take them.
            token_word_index (`torch.LongTensor` of shape `(batch_size, seq_len)`): 1-based index of the word each
                sub-token belongs to; 0 for special tokens and padding (0 so that padding with 0 is safe).
            word_mask (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*): 1 for real words, a
                prefix of each row. Defaults to the words that `token_word_index` names.
            augmentation_embeds (`torch.FloatTensor` of shape `(batch_size, num_words, augmentation_size)`):
                E^A per word (Eq. 3); required when `config.use_semantic_augmentation`.
            image_features (`torch.FloatTensor` of shape `(batch_size, num_regions, image_feature_size)`, *optional*):
                Precomputed grid features R' (Eq. 5), e.g. 49 regions of a ResNet-152.
            pixel_values (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`, *optional*): images for the
                backbone named by `config.image_backbone`, instead of `image_features`.
            image_mask (`torch.LongTensor` of shape `(batch_size, num_regions)`, *optional*): 1 for real regions.
                A row of zeros marks a tweet without image. Without any image input, no tweet has an image.
            object_ids (`torch.LongTensor` of shape `(batch_size, num_slots)`, *optional*): object category ids
                (Eq. 7), 0 for an empty slot. A row of zeros (or `None` for the batch) means no object.
            inputs_embeds: alternative to `input_ids`, passed to the text encoder.
            output_attentions (`bool`, *optional*): return the cross-modal attention weights (the fields of
                `ATTENTION_OUTPUTS`, captured from their attention modules by transformers' output capture).
        See [`MGCMTConfig`] for the switches that decide which of these are used. Only shapes are checked here;
        `config.check_input_values` adds the checks of values ([`check_input_values`]).
        """
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        flags = {f"output_{name}": bool(output_attentions) for name in ATTENTION_OUTPUTS}
        output = self._forward(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            token_word_index=token_word_index, word_mask=word_mask, augmentation_embeds=augmentation_embeds,
            image_features=image_features, pixel_values=pixel_values, image_mask=image_mask, object_ids=object_ids,
            inputs_embeds=inputs_embeds, output_attentions=bool(output_attentions), **flags)
        # a module that is off has no maps: None, not an empty tuple
        return MGCMTModelOutput(**{key: value for key, value in output.items() if not (isinstance(value, tuple) and not value)})

    @capture_outputs
    def _forward(self, input_ids, attention_mask, token_type_ids, token_word_index, word_mask, augmentation_embeds,
                 image_features, pixel_values, image_mask, object_ids, inputs_embeds, output_attentions,
                 **capture_flags) -> MGCMTModelOutput:
        config = self.config
        if token_word_index is None:
            raise ValueError("`token_word_index` is required: it maps each sub-token to its word (see MGCMTProcessor).")
        if input_ids is not None and input_ids.shape != token_word_index.shape:
            raise ValueError(
                f"`token_word_index` must have the shape of `input_ids` {tuple(input_ids.shape)}, "
                f"got {tuple(token_word_index.shape)}."
            )
        batch_size = token_word_index.shape[0]
        device = token_word_index.device
        word_mask = self._word_mask(token_word_index, word_mask)
        num_words = word_mask.shape[1]
        if config.check_input_values:
            check_input_values(config, token_word_index=token_word_index, word_mask=word_mask, object_ids=object_ids)

        encoder_kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            encoder_kwargs["token_type_ids"] = token_type_ids
        token_states = self.text_encoder(input_ids=input_ids, inputs_embeds=inputs_embeds, **encoder_kwargs)[0]
        words = self.dropout(self.word_pooling(token_states, token_word_index, num_words))  # E^B (Eq. 1)

        if self.semantic_augmentation is not None:
            expected = (batch_size, num_words, config.augmentation_size)
            if augmentation_embeds is None or tuple(augmentation_embeds.shape) != expected:
                got = None if augmentation_embeds is None else tuple(augmentation_embeds.shape)
                raise ValueError(
                    f"config.use_semantic_augmentation is on: `augmentation_embeds` of shape {expected} is required, got {got}."
                )
            words = self.semantic_augmentation(words, augmentation_embeds.to(words.dtype))  # E (Eq. 4)
        elif self.text_projection is not None:
            words = self.text_projection(words)

        text = words
        if self.text_transformer is not None:
            text = self.text_transformer(words, word_mask)  # h (Eq. 9-12)

        visual = []
        if self.text_image is not None:
            features, regions_mask, seen = self._image_regions(image_features, pixel_values, image_mask, batch_size, device)
            regions = zero_unseen_rows(self.grid_encoder(features, regions_mask), seen)  # V
            visual.append(self.text_image(text, word_mask, regions, regions_mask, output_attentions))  # S^v
        if self.text_object is not None:
            ids, slots_mask, seen = self._object_slots(object_ids, batch_size, device)
            objects = zero_unseen_rows(self.object_encoder(ids, slots_mask), seen)  # O
            visual.append(self.text_object(text, word_mask, objects, slots_mask, output_attentions))  # S^o

        if self.fusion is not None:
            fused = torch.cat([text, self.fusion(torch.cat(visual, dim=-1))], dim=-1)  # P = [h, S], Eq. 15
        elif visual:
            fused = torch.cat([text, visual[0]], dim=-1)  # one visual module: S is its output
        else:
            fused = text
        return MGCMTModelOutput(last_hidden_state=text, fused_hidden_state=fused, word_mask=word_mask)

    @staticmethod
    def _word_mask(token_word_index: torch.Tensor, word_mask: torch.Tensor | None) -> torch.Tensor:
        """`word_mask` as booleans (shape checked), or, without one, the words that `token_word_index` names (this
        reads the largest index back from the device; the processor always gives `word_mask`)."""
        if word_mask is None:
            words_seen = token_word_index.max(dim=1).values  # (batch,)
            num_words = max(int(words_seen.max()), 1)
            word_mask = torch.arange(num_words, device=token_word_index.device)[None, :] < words_seen[:, None]
        word_mask = word_mask.bool()
        if word_mask.dim() != 2 or word_mask.shape[0] != token_word_index.shape[0]:
            raise ValueError(
                f"`word_mask` must have shape (batch_size={token_word_index.shape[0]}, num_words), got {tuple(word_mask.shape)}."
            )
        return word_mask


def check_input_values(config: MGCMTConfig, token_word_index: torch.Tensor, word_mask: torch.Tensor,
                       object_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> None:
    """The value checks of MGCMT's inputs, each naming the rows at fault: word indices >= 0 and within `word_mask`,
    `word_mask` a non-empty prefix of ones per row, object ids in the category table, labels of real words in
    range. They read the tensors back from the device (a sync per step), so `forward` runs them only with
    `config.check_input_values` (a debug switch); the processor's inputs satisfy them by construction."""
    if token_word_index.min() < 0:
        raise ValueError("`token_word_index` must be >= 0 (0 = special token or padding, words count from 1).")
    lengths = word_mask.sum(dim=1)
    empty = (lengths == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"Tweets at batch index {empty} have no word; every tweet needs at least one.")
    prefix = torch.arange(word_mask.shape[1], device=word_mask.device)[None, :] < lengths[:, None]
    bad = (prefix != word_mask).any(dim=1).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"`word_mask` must be a prefix of ones in each row; rows {bad} are not.")
    too_far = (token_word_index.max(dim=1).values > lengths).nonzero().flatten().tolist()
    if too_far:
        raise ValueError(f"`token_word_index` names words past `word_mask` in rows {too_far}.")
    if object_ids is not None and object_ids.numel() and (
            object_ids.min() < 0 or object_ids.max() >= config.num_object_categories):
        raise ValueError(
            f"`object_ids` must lie in [0, {config.num_object_categories}) (0 = empty slot), got values in "
            f"[{int(object_ids.min())}, {int(object_ids.max())}]."
        )
    if labels is not None:
        wrong = ((labels < 0) | (labels >= config.num_labels)).logical_and(word_mask).any(dim=1)
        if wrong.any():
            raise ValueError(
                f"`labels` of real words must lie in [0, {config.num_labels}); rows {wrong.nonzero().flatten().tolist()} "
                "do not (-100 is allowed only past a tweet's last word)."
            )


class MGCMTForTokenClassification(MGCMTPreTrainedModel):
    """MGCMT with its decoding module (Sec. 3.4): a CRF over P (Eq. 16-17, Viterbi Eq. 20) and, as auxiliary
    task, an entity-span CRF over a separate transformer on h (Eq. 18). Loss: Eq. 19.

    Example:

    ```python
    >>> import torch
    >>> from transformers import BertConfig
    >>> from mgcmt import MGCMTConfig, MGCMTForTokenClassification

    >>> text_config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
    ...                          intermediate_size=37)
    >>> config = MGCMTConfig(text_config=text_config, image_feature_size=8, augmentation_size=6)
    >>> model = MGCMTForTokenClassification(config).eval()
    >>> out = model(input_ids=torch.tensor([[2, 10, 11, 12, 3]]), token_word_index=torch.tensor([[0, 1, 1, 2, 0]]),
    ...             augmentation_embeds=torch.randn(1, 2, 6), image_features=torch.randn(1, 4, 8),
    ...             object_ids=torch.tensor([[5, 0]]))
    >>> out.predictions.shape
    torch.Size([1, 2])
    ```
    """

    def __init__(self, config: MGCMTConfig):
        super().__init__(config)
        self.mgcmt = MGCMTModel(config)
        self.classifier = nn.Linear(self.mgcmt.output_size, config.num_labels)  # emissions of Eq. 16
        self.crf = CRF(config.num_labels, batch_first=True)
        if config.use_entity_span_detection:
            self.esd_transformer = MGCMTEncoder(config, config.esd_encoder_layers)  # A (Sec. 3.4)
            self.esd_classifier = nn.Linear(config.hidden_size, len(config.esd_id2label))
            self.esd_crf = CRF(len(config.esd_id2label), batch_first=True)
            # main label id -> span label id (Eq. 18), built once: not part of the weights
            self.register_buffer("label_to_span", torch.tensor(config.label_to_span_id, dtype=torch.long), persistent=False)
        else:
            self.esd_transformer = self.esd_classifier = self.esd_crf = None
        self.post_init()

    @classmethod
    def from_text_pretrained(
        cls,
        pretrained_model_name_or_path: str,
        *,
        encoder_kwargs: dict | None = None,
        image_backbone_weights: str | None = None,
        **config_kwargs,
    ) -> "MGCMTForTokenClassification":
        """Build an MGCMT model around a pretrained text encoder (a hub id or a local directory).

        The encoder's pretrained weights are loaded; every MGCMT layer is newly initialised.
        `config_kwargs` go to [`MGCMTConfig`]; `encoder_kwargs` to the encoder's `from_pretrained`
        (e.g. `revision`, `cache_dir`). With `config_kwargs["image_backbone"]`, `image_backbone_weights`
        (`"pretrained"` or a local file) loads the backbone's weights; without it the backbone stays random.
        """
        encoder_kwargs = dict(encoder_kwargs or {})
        text_config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **encoder_kwargs)
        model = cls(MGCMTConfig(text_config=text_config, **config_kwargs))
        pretrained = AutoModel.from_pretrained(pretrained_model_name_or_path, config=text_config, **encoder_kwargs)
        state = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("pooler.")}
        # load_state_dict (not key_mapping) keeps our own key names, so a saved MGCMT reloads its encoder.
        missing, unexpected = model.mgcmt.text_encoder.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"The pretrained encoder at {pretrained_model_name_or_path!r} does not match its config: "
                f"missing {missing}, unexpected {unexpected}."
            )
        model.config.text_config._name_or_path = str(pretrained_model_name_or_path)
        if image_backbone_weights is not None:
            model.mgcmt.load_image_backbone_weights(image_backbone_weights)
        elif model.mgcmt.image_backbone is not None:
            logger.warning("The image backbone %r has random weights: pass `image_backbone_weights`.",
                           model.config.image_backbone)
        return model

    def _check_labels(self, labels: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        if labels.shape != word_mask.shape:
            raise ValueError(f"`labels` must have shape {tuple(word_mask.shape)} (batch, num_words), got {tuple(labels.shape)}.")
        return labels.masked_fill(~word_mask, 0)  # the CRF ignores masked positions but indexes them

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        token_word_index: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
        augmentation_embeds: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_mask: torch.Tensor | None = None,
        object_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
    ) -> MGCMTTokenClassifierOutput:
        r"""
        Args are those of [`MGCMTModel.forward`], plus:
            labels (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*): main label ids per word,
                -100 past the last word. The span labels of the ESD task are derived from them by name.
        The CRF losses are averaged over the tweets of the batch (pytorch-crf's `reduction="mean"`), as the
        official code does.
        """
        base = self.mgcmt(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            token_word_index=token_word_index,
            word_mask=word_mask,
            augmentation_embeds=augmentation_embeds,
            image_features=image_features,
            pixel_values=pixel_values,
            image_mask=image_mask,
            object_ids=object_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
        )
        mask = base.word_mask
        logits = self.classifier(base.fused_hidden_state)  # (batch, num_words, num_labels)
        esd_logits = None
        if self.esd_transformer is not None:
            esd_logits = self.esd_classifier(self.esd_transformer(base.last_hidden_state, mask))  # (batch, num_words, 3)

        loss = main_loss = esd_loss = None
        if labels is not None:
            if self.config.check_input_values:
                check_input_values(self.config, token_word_index, mask, labels=labels)
            labels = self._check_labels(labels, mask)
            main_loss = -self.crf(logits.float(), labels, mask=mask, reduction="mean")  # Eq. 17
            loss = main_loss
            if esd_logits is not None:
                esd_loss = -self.esd_crf(esd_logits.float(), self.label_to_span[labels], mask=mask, reduction="mean")  # Eq. 18
                loss = main_loss + self.config.esd_loss_weight * esd_loss  # Eq. 19

        predictions = None
        if not self.training:
            predictions = self.decode(logits, mask)

        return MGCMTTokenClassifierOutput(
            loss=loss, logits=logits, predictions=predictions, main_loss=main_loss, esd_loss=esd_loss,
            esd_logits=esd_logits, word_mask=mask, **{name: getattr(base, name) for name in ATTENTION_OUTPUTS})

    @torch.no_grad()
    def decode(self, logits: torch.Tensor, word_mask: torch.Tensor) -> torch.LongTensor:
        """Viterbi decoding (Eq. 20), padded with -100 past each tweet's last word: `(batch_size, num_words)`."""
        paths = self.crf.decode(logits.float(), mask=word_mask.bool())
        predictions = torch.full(word_mask.shape, -100, dtype=torch.long, device=logits.device)
        for row, path in enumerate(paths):
            predictions[row, : len(path)] = torch.tensor(path, dtype=torch.long, device=logits.device)
        return predictions


__all__ = [
    "MGCMTModel",
    "MGCMTForTokenClassification",
    "MGCMTPreTrainedModel",
    "MGCMTModelOutput",
    "MGCMTTokenClassifierOutput",
]
