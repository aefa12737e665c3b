"""Packaging for mgcmt: multimodal named-entity recognition on social media (MGCMT, Liu et al.)."""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def read_version() -> str:
    for line in (HERE / "mgcmt" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("mgcmt/__init__.py defines no __version__")


# Ranges that torch 2.14.1 satisfies: with that torch installed first, pip installs no other build.
INSTALL_REQUIRES = [
    "torch>=2.2",
    "transformers>=5.17,<6",  # 5.17 (the GPU machine's) and 5.24 tested: .ci/run
    "pytorch-crf>=0.7.2",
    "safetensors>=0.4",
    "huggingface_hub>=1.0",
    "numpy>=1.24",
]
EXTRAS = {
    "train": ["datasets>=3.0", "accelerate>=1.0", "evaluate>=0.4", "seqeval>=1.2.2", "filelock>=3.12"],  # filelock: the output folder's lock
    "features": ["timm>=1.0", "torchvision>=0.17", "Pillow>=10.0"],
    "augment": ["gensim>=4.3", "pyarrow>=14"],
}
EXTRAS["dev"] = sorted({req for reqs in EXTRAS.values() for req in reqs} | {"pytest>=8"})

setup(
    name="mgcmt",
    version=read_version(),
    description="MGCMT: multi-granularity cross-modality NER on tweets and their images, as a transformers model",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=["mgcmt"],
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
