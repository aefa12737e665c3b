"""Pictures of one prediction: the tweet with its entities highlighted, and for each entity the image with the
grid attention behind it overlaid and the attention it gave each object.

    ner = pipeline("multimodal-ner", model=...)
    entities = ner(text, image=image, return_attentions=True)
    draw_prediction(text, entities, image=image, object_names=["person", "dog"]).save("prediction.png")

Drawn with Pillow alone. The attention is the basic-level text-to-vision attention of TextImg / TextObj
(averaged over heads and over the entity's words), as the pipeline returns it.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

COLOURS = {"PER": (230, 97, 1), "LOC": (94, 60, 153), "ORG": (1, 133, 113), "MISC": (202, 0, 32)}
DEFAULT_COLOUR = (90, 90, 90)
PANEL = 224


def _font():
    return ImageFont.load_default()


def _wrap(draw: ImageDraw.ImageDraw, text: str, entities: list[dict], width: int, font) -> list[list[tuple]]:
    """Lines of (x, piece, colour or None) with entity pieces kept whole."""
    pieces, position = [], 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        if entity["start"] > position:
            pieces += [(word, None) for word in text[position : entity["start"]].split()]
        pieces.append((text[entity["start"] : entity["end"]] + f" [{entity['entity_group']}]",
                       COLOURS.get(entity["entity_group"], DEFAULT_COLOUR)))
        position = entity["end"]
    pieces += [(word, None) for word in text[position:].split()]
    lines, line, x = [], [], 0
    for piece, colour in pieces:
        piece_width = draw.textlength(piece + "  ", font=font)
        if x + piece_width > width and line:
            lines.append(line)
            line, x = [], 0
        line.append((x, piece, colour))
        x += piece_width
    if line:
        lines.append(line)
    return lines


def _heatmap(image: Image.Image | None, weights: list[float]) -> Image.Image:
    """The image (or grey) at PANEL x PANEL with the region weights as a red overlay on a side x side grid."""
    base = (image.convert("RGB") if image is not None else Image.new("RGB", (PANEL, PANEL), (200, 200, 200)))
    base = base.resize((PANEL, PANEL))
    if image is None:
        ImageDraw.Draw(base).text((PANEL // 2 - 24, PANEL // 2 - 6), "no image", fill=(80, 80, 80), font=_font())
    side = int(round(math.sqrt(len(weights))))
    if side * side != len(weights) or not weights:
        return base
    low, high = min(weights), max(weights)
    spread = high - low
    overlay = Image.new("RGBA", (PANEL, PANEL), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    cell = PANEL / side
    for index, weight in enumerate(weights):
        row, column = divmod(index, side)
        alpha = int(200 * (weight - low) / spread) if spread > 0 else 60  # min..max of this entity
        draw.rectangle((column * cell, row * cell, (column + 1) * cell, (row + 1) * cell), fill=(255, 0, 0, alpha))
    return Image.alpha_composite(base.convert("RGBA"), overlay).convert("RGB")


def draw_prediction(text: str, entities: list[dict], image: Image.Image | None = None,
                    object_names: list[str] | None = None, width: int = 760) -> Image.Image:
    """A picture of one prediction (see the module docstring); `entities` as the pipeline returns them."""
    font = _font()
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _wrap(scratch, text, entities, width - 20, font)
    line_height = 16
    text_height = 20 + line_height * len(lines)
    panel_height = (PANEL + 50) if entities else 0
    canvas = Image.new("RGB", (width, text_height + panel_height * len(entities) + 10), "white")
    draw = ImageDraw.Draw(canvas)
    for number, line in enumerate(lines):
        y = 10 + number * line_height
        for x, piece, colour in line:
            if colour is not None:
                box = (10 + x - 2, y - 2, 10 + x + draw.textlength(piece, font=font) + 2, y + 12)
                draw.rectangle(box, fill=tuple(min(255, c + 150) for c in colour), outline=colour)
            draw.text((10 + x, y), piece, fill=(0, 0, 0), font=font)
    for number, entity in enumerate(entities):
        top = text_height + number * panel_height
        colour = COLOURS.get(entity["entity_group"], DEFAULT_COLOUR)
        draw.text((10, top + 5), f"{entity['word']} [{entity['entity_group']}]  score {entity['score']:.2f}",
                  fill=colour, font=font)
        grid = entity.get("grid_attention")
        canvas.paste(_heatmap(image, grid or []), (10, top + 22))
        if grid:
            draw.text((10, top + 22 + PANEL + 2), f"grid attention: {min(grid):.4f} (clear) .. {max(grid):.4f} (red)",
                      fill=(0, 0, 0), font=font)
        draw.text((10 + PANEL + 20, top + 22), "object attention:", fill=(0, 0, 0), font=font)
        objects = entity.get("object_attention") or []
        for slot, weight in enumerate(objects):
            y = top + 42 + slot * 18
            name = (object_names[slot] if object_names and slot < len(object_names) else f"slot {slot}")
            draw.text((10 + PANEL + 20, y), f"{name[:14]:>14}", fill=(0, 0, 0), font=font)
            draw.rectangle((10 + PANEL + 120, y, 10 + PANEL + 120 + int(300 * weight), y + 12), fill=colour)
            draw.text((10 + PANEL + 125 + int(300 * weight), y), f"{weight:.2f}", fill=(0, 0, 0), font=font)
    return canvas


__all__ = ["draw_prediction"]
