"""MGCMT configuration.

MGCMT is the model of "Multi-Granularity Cross-Modality Representation Learning for Named Entity
Recognition on Social Media" (Liu et al.). `MGCMTConfig` is the only switchboard of the model: every
size, every ablation of the paper's Tables 3-6 and the label set live here and are saved with the
checkpoint.
"""

from __future__ import annotations

from transformers import AutoConfig
from transformers.activations import ACT2FN
from transformers.configuration_utils import PreTrainedConfig

try:  # transformers >= 5.20 declares sub-configs with a spec (default model type included)
    from transformers.configuration_utils import SubConfigSpec
except ImportError:  # transformers 5.17-5.19: a plain mapping; the default is filled in `_text_config`
    SubConfigSpec = None

# The four entity types of TWITTER-2015/2017 (OTHER is read as MISC), in BIO2.
DEFAULT_ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")

# Labels of the auxiliary entity-span-detection task (paper Sec. 3.4, Eq. 18).
ESD_LABELS = ("O", "B", "I")

WORD_POOLING_CHOICES = ("sum", "first")
TEXT_PATH_INIT_CHOICES = ("identity", "random")

# The paper's ablations (Tables 4-6) as positive switches of MGCMTConfig; each removes its modules when False.
ABLATION_SWITCHES = (
    "use_semantic_augmentation",
    "use_text_image",
    "use_text_object",
    "use_entity_span_detection",
    "use_text_encoder",
    "use_image_encoder",
    "use_object_encoder",
    "use_basic_level",
    "use_superior_level",
)


def bio_labels(entity_types: tuple[str, ...] | list[str] = DEFAULT_ENTITY_TYPES) -> list[str]:
    """BIO2 label list for `entity_types`: `["O", "B-PER", "I-PER", ...]`."""
    labels = ["O"]
    for entity_type in entity_types:
        labels += [f"B-{entity_type}", f"I-{entity_type}"]
    return labels


def span_label(label: str) -> str:
    """The entity-span label (`O`, `B` or `I`) of a BIO2 label name: `B-PER` -> `B`.

    Raises `ValueError` for a name that is not `O`, `B-<type>` or `I-<type>`.
    """
    if label == "O":
        return "O"
    prefix, sep, entity_type = label.partition("-")
    if prefix in ("B", "I") and sep and entity_type:
        return prefix
    raise ValueError(f"Label {label!r} is not a BIO2 label: use 'O', 'B-<TYPE>' or 'I-<TYPE>'.")


def _text_config(text_config: dict | PreTrainedConfig | None) -> PreTrainedConfig:
    """The text encoder's config from a config, a dict (its `model_type`, default `"bert"`) or `None` (BERT-base).

    Done here rather than left to the library, whose way of declaring a sub-config's default changed in 5.20.
    """
    if isinstance(text_config, PreTrainedConfig):
        return text_config
    from transformers import CONFIG_MAPPING

    if text_config is None:
        return CONFIG_MAPPING["bert"]()
    if not isinstance(text_config, dict):
        raise TypeError(f"`text_config` must be a config, a dict or None, got {type(text_config).__name__}.")
    values = dict(text_config)
    model_type = values.pop("model_type", "bert")
    if model_type not in CONFIG_MAPPING:
        raise ValueError(f"`text_config` has model_type {model_type!r}, which transformers does not know.")
    return CONFIG_MAPPING[model_type](**values)


class MGCMTConfig(PreTrainedConfig):
    r"""
    Configuration of an MGCMT model. The text encoder is any transformers encoder (BERT, RoBERTa,
    MPNet, ...) held as the nested `text_config`; everything MGCMT adds on top is sized and switched
    here.

    The model labels *words*, not sub-tokens: sub-token states are summed into word states (Eq. 1) and
    both CRFs run over the words of a tweet only. Special tokens (`[CLS]`, `[SEP]`) and the paper's
    official `X` tag for non-first sub-tokens are not part of the label set.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Configuration of the text encoder. Defaults to a `BertConfig()` (BERT-base sizes). Use
            [`MGCMTForTokenClassification.from_text_pretrained`] to build it from a pretrained encoder.
        id2label (`dict[int, str]`, *optional*):
            BIO2 labels. Defaults to `O` plus `B-`/`I-` over PER, LOC, ORG and MISC. Any BIO2 label set is
            accepted; the span labels of the ESD task are derived from the names (`B-PER` -> `B`).
        hidden_size (`int`, *optional*):
            The size d of every MGCMT transformer. Defaults to the text encoder's hidden size (768 for
            BERT-base, as in the paper).
        num_attention_heads (`int`, *optional*):
            Heads of every MGCMT transformer (the paper: 12). Defaults to the text encoder's.
        intermediate_size (`int`, *optional*):
            Feed-forward size of every MGCMT transformer. Defaults to the text encoder's (3072 for BERT-base,
            as the official code, which builds its transformers from the BERT config).
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Feed-forward activation.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on the text encoder output and inside the MGCMT transformers (the paper's 0.1).
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on attention probabilities.
        layer_norm_eps (`float`, *optional*, defaults to 1e-12):
            Epsilon of the post-attention and post-FFN layer norms (Eq. 11-12).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of new linear layers and embeddings.
        text_encoder_layers / image_encoder_layers / object_encoder_layers / esd_encoder_layers (`int`, *optional*, defaults to 1):
            Depth of the unimodal transformers over text (h), grid regions (R-ViT), objects (O-ViT) and of
            the ESD transformer. The paper uses 1 layer everywhere.
        cross_modal_layers (`int`, *optional*, defaults to 1):
            Depth of each cross-modality transformer (basic level and each stage of the superior level).
        word_pooling (`str`, *optional*, defaults to `"sum"`):
            How sub-token states become a word state: `"sum"` (Eq. 1) or `"first"` (first sub-token).
        text_path_init (`str`, *optional*, defaults to `"identity"`):
            Start of the new layers between the pretrained text encoder and the CRF. `"identity"`: Eq. 4's
            `Linear([E^B, E^A])` starts as identity on the E^B block (when the encoder's size is `hidden_size`)
            and a normal(0, `initializer_range`) E^A block, and the unimodal text transformer starts with its
            residual branches' output projections at zero, so that at step 0 the text path h carries the
            encoder's word states (layer-normed) rather than a random mix of them; still exactly Eq. 4 and
            Eq. 9-12, only the starting point differs. `"random"`: every new layer normal(0,
            `initializer_range`), as earlier versions. Only new weights are touched: loading a checkpoint is
            unaffected.
        check_input_values (`bool`, *optional*, defaults to `False`):
            Debug path: `forward` also checks the values of its inputs (word indices, masks, object ids, labels),
            which reads them back from the device at every step. Off by default: the processor makes valid inputs,
            and `forward` checks only shapes. See [`check_input_values`].
        use_semantic_augmentation (`bool`, *optional*, defaults to `True`):
            Semantic augmentation (Eq. 2-4; Table 6 "w/o SemAug" when `False`).
        augmentation_size (`int`, *optional*, defaults to 200):
            Size of the per-word augmentation vector E^A (the paper's 200-d tweet word2vec).
        use_text_image (`bool`, *optional*, defaults to `True`):
            The TextImg module (Sec. 3.3.1; Table 6 "w/o TextImg" when `False`).
        image_feature_size (`int`, *optional*, defaults to 2048):
            Channels of one grid region: 2048 for ResNet-152, 1280 for EfficientNet-Lite.
        image_grid_length (`int`, *optional*, defaults to 49):
            Regions per image (7x7). The image backbone's output is checked against it.
        image_backbone (`str`, *optional*):
            A timm model name (e.g. `"resnet152"`). When set, the model holds that backbone and accepts
            `pixel_values`; when `None`, the model takes precomputed `image_features` only.
        freeze_image_backbone (`bool`, *optional*, defaults to `True`):
            Keep the image backbone's weights fixed (and its batch norms in eval mode), as the paper does.
        use_text_object (`bool`, *optional*, defaults to `True`):
            The TextObj module (Sec. 3.3.2; Table 6 "w/o TextObj" when `False`).
        num_object_categories (`int`, *optional*, defaults to 81):
            Rows of the object category table W_o (Eq. 7): 80 COCO classes plus id 0, the empty slot.
        max_objects (`int`, *optional*, defaults to 5):
            Objects per image N that the processor keeps (Table 3: 5 for TWITTER-2015, 6 for TWITTER-2017).
        use_entity_span_detection (`bool`, *optional*, defaults to `True`):
            The auxiliary ESD task (Eq. 18-19; Table 6 "w/o ESD" when `False`).
        esd_loss_weight (`float`, *optional*, defaults to 0.5):
            lambda of Eq. 19.
        use_text_encoder / use_image_encoder / use_object_encoder (`bool`, *optional*, defaults to `True`):
            The unimodal transformers over text, grid and objects (Table 4 "w/o uni-text/img/obj").
        use_basic_level / use_superior_level (`bool`, *optional*, defaults to `True`):
            The two interaction levels of TextImg and TextObj (Table 5). With one level off, the gate of
            Eq. 13-14 is not built and the block returns the other level's output.

    Example:

    ```python
    >>> from transformers import BertConfig
    >>> from mgcmt import MGCMTConfig, MGCMTForTokenClassification

    >>> config = MGCMTConfig(text_config=BertConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
    ...                                             intermediate_size=128), image_feature_size=32, augmentation_size=8)
    >>> model = MGCMTForTokenClassification(config)
    >>> config.num_labels
    9
    ```
    """

    model_type = "mgcmt"
    # The Trainer gathers only the Viterbi `predictions` at evaluation (metrics use them, not the emissions).
    keys_to_ignore_at_inference = [
        "logits", "main_loss", "esd_loss", "esd_logits", "word_mask", "text_image_attentions", "image_text_attentions",
        "text_image_superior_attentions", "text_object_attentions", "object_text_attentions",
        "text_object_superior_attentions",
    ]
    if SubConfigSpec is not None:
        sub_configs_defaults = {"text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}
    else:
        sub_configs = {"text_config": AutoConfig}

    text_config: dict | PreTrainedConfig | None = None
    hidden_size: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    text_encoder_layers: int = 1
    image_encoder_layers: int = 1
    object_encoder_layers: int = 1
    cross_modal_layers: int = 1
    esd_encoder_layers: int = 1
    word_pooling: str = "sum"
    text_path_init: str = "identity"
    check_input_values: bool = False
    use_semantic_augmentation: bool = True
    augmentation_size: int = 200
    use_text_image: bool = True
    image_feature_size: int = 2048
    image_grid_length: int = 49
    image_backbone: str | None = None
    freeze_image_backbone: bool = True
    use_text_object: bool = True
    num_object_categories: int = 81
    max_objects: int = 5
    use_entity_span_detection: bool = True
    esd_loss_weight: float = 0.5
    use_text_encoder: bool = True
    use_image_encoder: bool = True
    use_object_encoder: bool = True
    use_basic_level: bool = True
    use_superior_level: bool = True

    def __post_init__(self, **kwargs):
        if self.id2label is None and self.label2id is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(bio_labels()))
        elif self.id2label is None and self.label2id is not None:
            self.id2label = {int(index): label for label, index in self.label2id.items()}
        self.text_config = _text_config(self.text_config)
        super().__post_init__(**kwargs)
        self.label2id = {label: index for index, label in self.id2label.items()}

        text = self.text_config
        if self.hidden_size is None:
            self.hidden_size = text.hidden_size
        if self.num_attention_heads is None:
            self.num_attention_heads = getattr(text, "num_attention_heads", 12)
        if self.intermediate_size is None:
            self.intermediate_size = getattr(text, "intermediate_size", 4 * self.hidden_size)
        self._validate()

    def _validate(self) -> None:
        if sorted(self.id2label) != list(range(len(self.id2label))):
            raise ValueError(f"`id2label` keys must be 0..{len(self.id2label) - 1}, got {sorted(self.id2label)}.")
        for label in self.id2label.values():
            span_label(label)  # raises for a non-BIO2 name
        if "O" not in self.label2id:
            raise ValueError(f"The label set must contain 'O', got {list(self.label2id)}.")
        if self.word_pooling not in WORD_POOLING_CHOICES:
            raise ValueError(f"`word_pooling` must be one of {WORD_POOLING_CHOICES}, got {self.word_pooling!r}.")
        if self.text_path_init not in TEXT_PATH_INIT_CHOICES:
            raise ValueError(f"`text_path_init` must be one of {TEXT_PATH_INIT_CHOICES}, got {self.text_path_init!r}.")
        if self.hidden_act not in ACT2FN:
            raise ValueError(f"`hidden_act` must be one of {sorted(ACT2FN)}, got {self.hidden_act!r}.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be a multiple of `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"`{name}` must lie in [0, 1), got {getattr(self, name)}.")
        for name in (
            "hidden_size",
            "intermediate_size",
            "text_encoder_layers",
            "image_encoder_layers",
            "object_encoder_layers",
            "cross_modal_layers",
            "esd_encoder_layers",
            "augmentation_size",
            "image_feature_size",
            "image_grid_length",
            "max_objects",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if self.num_object_categories < 2:
            raise ValueError(
                "`num_object_categories` counts the empty slot (id 0) plus at least one category, "
                f"so it must be >= 2, got {self.num_object_categories}."
            )
        if self.esd_loss_weight < 0:
            raise ValueError(f"`esd_loss_weight` must be >= 0, got {self.esd_loss_weight}.")
        if (self.use_text_image or self.use_text_object) and not (self.use_basic_level or self.use_superior_level):
            raise ValueError(
                "With `use_text_image` or `use_text_object` on, at least one of `use_basic_level` and "
                "`use_superior_level` must be True; to drop the visual side, set `use_text_image=False` and "
                "`use_text_object=False` instead."
            )

    @property
    def esd_id2label(self) -> dict[int, str]:
        """Labels of the entity-span-detection CRF (Eq. 18): `{0: "O", 1: "B", 2: "I"}`."""
        return dict(enumerate(ESD_LABELS))

    @property
    def label_to_span_id(self) -> list[int]:
        """For each main label id, the id of its span label in `esd_id2label` (`B-PER` -> id of `B`)."""
        return [ESD_LABELS.index(span_label(self.id2label[index])) for index in range(self.num_labels)]


__all__ = ["ABLATION_SWITCHES", "MGCMTConfig", "bio_labels", "span_label", "DEFAULT_ENTITY_TYPES", "ESD_LABELS"]
