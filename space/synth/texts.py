"""Texts for the phonetic corpus: natural English sentences, and sentences of frequent words in 20 languages.

The synthesisers pronounce whatever they are given with their own letter-to-sound rules, so a sentence of
frequent words (wordfreq's lists, which ship inside the package) covers a language's phones and phonotactics
as real text does, with clause prosody from the punctuation. `HELD_OUT` are sentences the corpus never uses
(`sentence` refuses to return one): the articulation tests speak them.
"""

from __future__ import annotations

import functools
import re

import numpy as np

# espeak-ng voice -> wordfreq language
ESPEAK_LANGUAGES = {
    "en-us": "en", "en-gb-x-rp": "en", "en-gb-scotland": "en", "fr": "fr", "de": "de", "es": "es", "it": "it",
    "pt-br": "pt", "nl": "nl", "pl": "pl", "ru": "ru", "cs": "cs", "sv": "sv", "tr": "tr", "fi": "fi", "id": "id",
    "vi": "vi", "hi": "hi", "cmn": "zh", "ja": "ja", "el": "el",
}
_NO_SPACES = {"zh", "ja"}

ENGLISH = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "We talked about the budget for the whole afternoon.",
    "Please remember to bring your umbrella tomorrow morning.",
    "My brother moved to a small town by the ocean.",
    "Thank you all for being here with us today.",
    "The new policy will improve the lives of many families.",
    "I think we should wait until the numbers come in.",
    "Our team worked through the night to finish the project.",
    "Would you like some coffee before the meeting starts?",
    "The museum opens at nine and closes at five.",
    "She played the violin beautifully at the concert.",
    "The weather forecast promised sunshine for the weekend.",
    "Good morning, and welcome to the quarterly update.",
    "We are proud to announce our most powerful model yet.",
    "Every child deserves a good school and a safe home.",
    "The market fell sharply after the announcement.",
    "Could you open the window? It is very warm in here.",
    "I have never seen so many people at the beach.",
    "The bus was late again, so we walked to work.",
    "People who move often learn to pack quickly.",
    "Vote for the proposal that you believe in.",
    "Our food is fresh, local, and full of flavour.",
    "The bridge will be closed for repairs in June.",
    "Most of the movies we watched were about the moon.",
    "Put the groceries in the fridge before they spoil.",
    "We owe a great deal to the volunteers who helped.",
    "Where were you when the power went out?",
    "The pilot spoke calmly as the plane shook.",
    "My phone battery died in the middle of the call.",
    "Few things are better than a warm bowl of soup.",
    "Our mission is simple: make every voice heard.",
)

#: never used by the corpus: the articulation tests speak these
HELD_OUT = (
    "Maybe Pam will bring the map back by noon.",
    "Bob bought a big brown puppy for his mom.",
    "Who knew you would choose the blue shoes too?",
    "Please put the rope in the boat, Bob.",
    "Mobile phones make me bump into people.",
    "Move the blue boot, Bob, and look at the moon.",
)


@functools.lru_cache(maxsize=32)
def _words(language: str, count: int = 4000) -> tuple[str, ...]:
    import wordfreq

    words = wordfreq.top_n_list(language, count)
    keep = re.compile(r"^[^\W\d_]+$")  # letters only: no digits, no punctuation, no single apostrophes
    return tuple(w for w in words if keep.match(w) and (len(w) > 1 or language in _NO_SPACES))


def frequent_word_sentence(language: str, rng: np.random.Generator) -> str:
    """6-16 frequent words of `language` (wordfreq code), frequency-weighted towards common words, with
    commas and a final full stop or question mark."""
    words = _words(language)
    n = int(rng.integers(6, 17))
    ranks = np.minimum((rng.pareto(0.8, n) * 60).astype(int), len(words) - 1)
    chosen = [words[r] for r in ranks]
    joiner = "" if language in _NO_SPACES else " "
    parts, clause = [], []
    for word in chosen:
        clause.append(word)
        if len(clause) >= 3 and rng.random() < 0.25:
            parts.append(joiner.join(clause))
            clause = []
    if clause:
        parts.append(joiner.join(clause))
    comma = "、" if language == "ja" else "，" if language == "zh" else ", "
    end = ("？" if language in _NO_SPACES else "?") if rng.random() < 0.2 else ("。" if language in _NO_SPACES else ".")
    text = comma.join(parts) + end
    return text[0].upper() + text[1:] if language not in _NO_SPACES else text


def sentence(language: str, rng: np.random.Generator, natural_share: float = 0.35) -> str:
    """A corpus sentence in `language`: for English a natural sentence `natural_share` of the time, else a
    sentence of frequent words. Never one of HELD_OUT."""
    while True:
        if language == "en" and rng.random() < natural_share:
            text = ENGLISH[int(rng.integers(len(ENGLISH)))]
            if rng.random() < 0.5:  # two sentences in a row, for longer clips
                text = text + " " + ENGLISH[int(rng.integers(len(ENGLISH)))]
        else:
            text = frequent_word_sentence(language, rng)
        if text not in HELD_OUT:
            return text
