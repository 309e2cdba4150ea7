"""Regenerates the sentiment-to-JSON example dataset (seeded, so the output is stable).

    python examples/sentiment/make_dataset.py

Each example: a short product review in the user turn; the model answers with one line of JSON,
{"sentiment": "positive" | "negative" | "neutral"}. train.jsonl, validation.jsonl and
heldout.jsonl share no review.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SYSTEM = 'Classify the sentiment of the product review. Reply with JSON only: {"sentiment": "positive" | "negative" | "neutral"}.'

PRODUCTS = [
    "headphones", "coffee maker", "running shoes", "backpack", "desk lamp", "phone case", "blender",
    "keyboard", "water bottle", "tent", "jacket", "office chair", "toaster", "monitor", "umbrella",
    "vacuum cleaner", "novel", "board game", "frying pan", "smartwatch", "suitcase", "mattress",
    "electric kettle", "bike helmet", "yoga mat", "printer", "router", "camera", "microwave", "scarf",
]
POSITIVE = [
    "works perfectly and I use it every day", "exceeded my expectations", "is worth every penny",
    "arrived early and looks great", "is the best purchase I made this year", "feels solid and well made",
    "does exactly what it promises", "made my mornings so much easier", "is comfortable and beautiful",
    "still works flawlessly after months", "is a joy to use", "impressed everyone in my family",
]
NEGATIVE = [
    "broke after two days", "is a complete waste of money", "stopped working within a week",
    "arrived damaged and support ignored me", "is flimsy and cheaply made", "smells awful and leaks",
    "never worked properly", "fell apart the first time I used it", "is much worse than the photos",
    "overheats and shuts off constantly", "is uncomfortable and loud", "was returned the same day",
]
NEUTRAL = [
    "is okay, nothing special", "does the job, I guess", "is average for the price",
    "works but the color is different from the picture", "is fine, neither good nor bad",
    "arrived on time; I have not used it much yet", "is what you would expect",
    "has some good points and some bad ones", "is acceptable but not memorable",
    "is similar to the one I had before", "is decent enough for occasional use",
    "meets the basic need and that is all",
]
OPENERS = ["", "Honestly, ", "Update: ", "After a month, ", "Bought this as a gift. ", "Second one I own. "]
SUBJECTS = ["This {p}", "The {p}", "My new {p}", "This {p} I ordered"]
CLOSERS = ["", " Would buy again.", " Not sure I would recommend it.", " Shipping was quick.", " Five stars from me.", " One star.", " Three stars."]
CLOSER_FIT = {"positive": {0, 1, 3, 4}, "negative": {0, 2, 3, 5}, "neutral": {0, 3, 6}}


def review(rng: random.Random, label: str, phrase: str) -> str:
    subject = rng.choice(SUBJECTS).format(p=rng.choice(PRODUCTS))
    closer = CLOSERS[rng.choice(sorted(CLOSER_FIT[label]))]
    return f"{rng.choice(OPENERS)}{subject} {phrase}.{closer}".strip()


def example(text: str, label: str) -> dict:
    return {
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "contents": [
            {"role": "user", "parts": [{"text": text}]},
            {"role": "model", "parts": [{"text": json.dumps({"sentiment": label})}]},
        ],
    }


def main() -> None:
    rng = random.Random(20261125)
    seen: set[str] = set()
    rows: list[tuple[str, str]] = []
    pools = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}
    while len(rows) < 360:
        label = rng.choice(sorted(pools))
        text = review(rng, label, rng.choice(pools[label]))
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    here = Path(__file__).parent
    splits = {"train.jsonl": rows[:280], "validation.jsonl": rows[280:320], "heldout.jsonl": rows[320:]}
    for name, split in splits.items():
        with (here / name).open("w", encoding="utf-8") as out:
            for text, label in split:
                out.write(json.dumps(example(text, label), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
