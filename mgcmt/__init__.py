"""mgcmt: multimodal named-entity recognition on tweets and their images (MGCMT, Liu et al.).

Importing the package registers `MGCMTConfig` with `AutoConfig` (model type `"mgcmt"`) and the models with
`AutoModel` and `AutoModelForTokenClassification`. It also registers the `multimodal-ner` pipeline. Nothing else runs at import time.
"""

from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, AutoProcessor

from .configuration_mgcmt import DEFAULT_ENTITY_TYPES, ESD_LABELS, MGCMTConfig, bio_labels, span_label
from .modeling_mgcmt import (
    MGCMTForTokenClassification,
    MGCMTModel,
    MGCMTModelOutput,
    MGCMTPreTrainedModel,
    MGCMTTokenClassifierOutput,
)
from .pipeline import MultimodalNERPipeline, register_pipeline
from .processing import MGCMTProcessor

__version__ = "0.1.0"

AutoConfig.register(MGCMTConfig.model_type, MGCMTConfig, exist_ok=True)
AutoModel.register(MGCMTConfig, MGCMTModel, exist_ok=True)
AutoModelForTokenClassification.register(MGCMTConfig, MGCMTForTokenClassification, exist_ok=True)
AutoProcessor.register(MGCMTConfig, MGCMTProcessor, exist_ok=True)
register_pipeline()

__all__ = [
    "DEFAULT_ENTITY_TYPES",
    "ESD_LABELS",
    "MGCMTConfig",
    "MGCMTForTokenClassification",
    "MGCMTModel",
    "MGCMTModelOutput",
    "MGCMTPreTrainedModel",
    "MGCMTProcessor",
    "MGCMTTokenClassifierOutput",
    "MultimodalNERPipeline",
    "bio_labels",
    "span_label",
    "__version__",
]
