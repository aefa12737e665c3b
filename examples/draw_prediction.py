"""Draw one prediction of a trained MGCMT: entities in the tweet, grid and object attention behind each.

    python examples/run_mner.py --smoke --output_dir outputs/smoke       # a model to draw with
    python examples/draw_prediction.py --model outputs/smoke --text "Anna Berg arrives in Oslo today" \\
        --objects "A person next to a car." --output docs/prediction_example.png

Without --image, a picture is drawn by code (a street scene of shapes).
"""

import argparse

from PIL import Image, ImageDraw
from transformers import pipeline

import mgcmt  # noqa: F401  (registers the multimodal-ner pipeline)
from mgcmt.image_features import COCO_CLASSES, CaptionObjectExtractor
from mgcmt.visualization import draw_prediction


def drawn_image() -> Image.Image:
    image = Image.new("RGB", (320, 240), (135, 190, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 170, 320, 240), fill=(90, 90, 90))
    draw.rectangle((30, 60, 110, 170), fill=(180, 120, 80))
    draw.ellipse((200, 70, 240, 110), fill=(240, 200, 160))
    draw.rectangle((205, 110, 235, 190), fill=(40, 60, 160))
    draw.rectangle((120, 160, 190, 200), fill=(200, 30, 30))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained MGCMT directory or hub id")
    parser.add_argument("--text", required=True)
    parser.add_argument("--image", default=None, help="image path or URL (default: a drawn picture)")
    parser.add_argument("--objects", default=None, help="caption or comma-separated COCO classes, for caption-based objects")
    parser.add_argument("--output", default="prediction.png")
    args = parser.parse_args()
    image = Image.open(args.image).convert("RGB") if args.image and not args.image.startswith("http") else drawn_image()
    objects = args.objects.split(",") if args.objects and "," in args.objects else args.objects
    ner = pipeline("multimodal-ner", model=args.model)
    if ner.processor.grid_backbone is None and not args.image:
        image = None  # a model without TextImg: no image to show, the object attention only
    entities = ner({"text": args.text, "image": image if ner.processor.grid_backbone else None, "objects": objects},
                   return_attentions=True)
    names = [COCO_CLASSES[i - 1] for i in CaptionObjectExtractor.categories_in(objects)] if objects else []
    draw_prediction(args.text, entities, image=image, object_names=names).save(args.output)
    for entity in entities:
        print(f"{entity['entity_group']:5} {entity['score']:.3f}  {entity['word']!r} [{entity['start']}:{entity['end']}]")
    print(f"picture written to {args.output}")


if __name__ == "__main__":
    main()
