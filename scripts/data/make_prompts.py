#!/usr/bin/env python3
"""Writes the prompt datasets under data/ from templates and word lists.

Every prompt is built from the templates and slot values in this file with a
fixed random seed, so rerunning the script reproduces the committed files
byte for byte. Outputs (relative to the repository root):

  data/stories/prompts.jsonl            story beginnings for stories260K
  data/instructions/prompts.jsonl       varied instructions for SmolLM2
  */prompts.train.jsonl, */prompts.heldout.jsonl
                                        the fixed split of each; the held-out
                                        lines are for `swiftkv eval` only and
                                        must never be trained on
  data/tasks/*.jsonl                    multiple-choice questions for --task

Usage: python3 scripts/data/make_prompts.py [--out DIR]
"""

import argparse
import json
import random
from pathlib import Path

SEED = 20240601
HELDOUT_SHARE = 0.12
NUM_STORIES = 400
NUM_INSTRUCTIONS = 400

# --- Story beginnings -------------------------------------------------------

STORY_NAMES = ["Lily", "Tom", "Max", "Sue", "Ben", "Mia", "Tim", "Anna", "Sam", "Lucy",
               "Jack", "Ellie", "Nina", "Zoe", "Leo", "Molly"]
STORY_CHARACTERS = ["little girl", "little boy", "small dog", "kind cat", "tiny bird", "brave mouse",
                    "happy frog", "shy bunny", "big bear", "curious fox", "friendly duck", "slow turtle"]
STORY_PLACES = ["a small house", "a big forest", "a sunny park", "a quiet farm", "a busy town",
                "a little garden", "a blue lake", "a tall tree", "a warm barn", "a sandy beach",
                "a green hill", "a big city"]
# (with article, plural) for each object.
STORY_OBJECTS = [("a red ball", "red balls"), ("a shiny stone", "shiny stones"), ("a big box", "big boxes"),
                 ("a blue kite", "blue kites"), ("a little key", "little keys"),
                 ("a soft blanket", "soft blankets"), ("a yellow flower", "yellow flowers"),
                 ("a toy car", "toy cars"), ("a funny hat", "funny hats"), ("an old map", "old maps")]
STORY_FEELINGS = ["happy", "sad", "scared", "excited", "curious", "tired", "proud", "angry"]
STORY_EVENTS = [
    "{name} found {object} under a bush",
    "{name} saw a big cloud in the sky",
    "{name} lost {object}",
    "it started to rain",
    "{name} met a new friend",
    "{name} wanted to climb a hill",
    "{name} heard a loud noise",
    "a strong wind blew {object} away",
    "{name}'s mom baked a cake",
    "{name} had a big idea",
]
STORY_OPENERS = [
    "Once upon a time, there was a {character} named {name}. {Name} lived near {place}. One day, {event}.",
    "Once upon a time, near {place}, there lived a {character} called {name}. One day, {event}.",
    "One day, a {character} named {name} went to {place}. {Name} felt {feeling} because",
    "{name} was a {character} who felt {feeling}. Every day, {name} played near {place}. One morning,",
    "There was once a {character} named {name} who loved {object_plain}. One day, {event}, and",
    "Once upon a time, {name} and a {character} went to {place}. They wanted to",
    "{name} had {object}. {Name} liked it very much. One day,",
    "It was a sunny day near {place}. A {character} named {name} was very {feeling}. {Name} said,",
]


def capitalize_first(text):
    return text[:1].upper() + text[1:]


def story_prompt(rng):
    name = rng.choice(STORY_NAMES)
    obj, objects = rng.choice(STORY_OBJECTS)
    slots = {
        "name": name,
        "Name": name,
        "character": rng.choice(STORY_CHARACTERS),
        "place": rng.choice(STORY_PLACES),
        "object": obj,
        "object_plain": objects,
        "feeling": rng.choice(STORY_FEELINGS),
    }
    slots["event"] = rng.choice(STORY_EVENTS).format(**slots)
    return capitalize_first(rng.choice(STORY_OPENERS).format(**slots))


# --- Instructions -----------------------------------------------------------

CONCEPTS = ["photosynthesis", "gravity", "a black hole", "inflation in economics", "machine learning",
            "the water cycle", "a vaccine", "compound interest", "an API", "the greenhouse effect",
            "a neural network", "DNA", "an election", "a recession", "plate tectonics", "the internet",
            "a prime number", "evolution", "a database", "renewable energy", "the immune system",
            "a budget", "supply and demand", "an eclipse", "a computer virus", "recycling"]
AUDIENCES = ["a ten-year-old", "a beginner", "someone with no science background", "a busy manager",
             "a high school student"]
LIST_TOPICS = ["healthy breakfast ideas", "ways to save money", "tips for better sleep",
               "indoor activities for a rainy day", "benefits of regular exercise",
               "things to pack for a beach trip", "common programming languages", "ways to reduce stress",
               "vegetables that grow well in pots", "questions to ask in a job interview",
               "habits of productive people", "safety tips for cycling in a city",
               "board games for families", "ways to learn a new language", "uses of a paper clip",
               "reasons to read books", "things to check before a long drive", "ideas for a birthday party"]
WRITING_FORMS = ["a short poem", "a haiku", "a two-sentence story", "a short thank-you note",
                 "a product description", "a limerick", "a short motivational message", "a riddle",
                 "a tweet", "an opening line for a novel"]
WRITING_TOPICS = ["the ocean", "a rainy morning", "a lost umbrella", "coffee", "the first day of school",
                  "a robot learning to paint", "autumn leaves", "a city at night", "a loyal dog",
                  "a mountain hike", "friendship", "a broken clock", "the moon", "a new bicycle"]
EMAIL_PURPOSES = ["asking a colleague to review a report by Friday",
                  "inviting the team to a lunch next week",
                  "apologizing to a customer for a late delivery",
                  "asking a teacher for an extension on an assignment",
                  "thanking a neighbor for watering the plants",
                  "requesting a day off from a manager"]
SENTENCES = ["The meeting got moved to tomorrow because the boss is sick.",
             "We gotta finish this thing before the deadline or we're in trouble.",
             "The cat sat on the mat and looked at the bird outside.",
             "Our sales went up a lot this year thanks to the new website.",
             "I think the movie was kind of boring but the music was great.",
             "Please make sure you turn off the lights when you leave the office.",
             "The results of the experiment were not what the scientists expected.",
             "He ran fast to catch the bus but it left without him."]
REWRITE_STYLES = ["in a more formal tone", "in simpler words", "in the passive voice", "as a question",
                  "in a more polite way", "in fewer words"]
GOALS = ["stay focused while studying", "start running as a beginner", "prepare for a job interview",
         "make friends in a new city", "keep a houseplant alive", "write a clear email",
         "get better at public speaking", "organize a small kitchen", "save for a vacation",
         "learn to cook simple meals", "reduce screen time", "give useful feedback to a coworker"]
COMPARISONS = [("a cat", "a dog as a pet"), ("tea", "coffee"), ("trains", "planes for travel"),
               ("reading a book", "watching its movie"), ("Python", "JavaScript"),
               ("renting", "buying a home"), ("summer", "winter"), ("email", "phone calls at work"),
               ("solar power", "wind power")]
CLASSIFY_ITEMS = [("apple, carrot, banana, potato, grape", "fruits and vegetables"),
                  ("eagle, shark, sparrow, salmon, owl", "birds and fish"),
                  ("Paris, Japan, Berlin, Brazil, Tokyo", "cities and countries"),
                  ("guitar, hammer, piano, screwdriver, violin", "instruments and tools"),
                  ("red, circle, blue, square, green", "colors and shapes")]
QUESTIONS = ["Why is the sky blue?", "Why do leaves change color in autumn?", "How do airplanes stay in the air?",
             "Why do we have seasons?", "What causes thunder?", "How does a refrigerator keep food cold?",
             "Why is sleep important?", "How do bees make honey?", "What is the difference between weather and climate?",
             "Why does ice float on water?", "How does a compass work?", "Why do we need to drink water?"]
PEOPLE = ["Maria", "John", "Aisha", "Kenji", "Sofia", "David", "Priya", "Lucas", "Emma", "Omar"]
ITEMS = [("apples", "buys"), ("books", "borrows"), ("stickers", "gets"), ("marbles", "wins"),
         ("cookies", "bakes"), ("pencils", "buys")]


def math_problem(rng):
    name = rng.choice(PEOPLE)
    item, verb = rng.choice(ITEMS)
    kind = rng.randrange(5)
    if kind == 0:
        a, b = rng.randint(3, 40), rng.randint(2, 30)
        return f"{name} has {a} {item} and {verb} {b} more. How many {item} does {name} have now?"
    if kind == 1:
        a = rng.randint(20, 90)
        b = rng.randint(2, a - 1)
        return f"{name} had {a} {item} and gave {b} to a friend. How many {item} are left? Explain your steps."
    if kind == 2:
        boxes, per_box = rng.randint(2, 12), rng.randint(3, 15)
        return f"There are {boxes} boxes with {per_box} {item} in each box. How many {item} are there in total?"
    if kind == 3:
        per, n = rng.randint(2, 9), rng.randint(2, 12)
        total = per * n
        return f"{name} shares {total} {item} equally among {n} friends. How many {item} does each friend get?"
    price, count = rng.randint(2, 20), rng.randint(2, 9)
    return (f"A notebook costs {price} dollars. {name} buys {count} notebooks and pays with a "
            f"{price * count + rng.choice([5, 10, 20])}-dollar bill. How much change does {name} get?")


def instruction_prompt(rng):
    kind = rng.randrange(11)
    if kind == 0:
        return f"Explain {rng.choice(CONCEPTS)} to {rng.choice(AUDIENCES)}."
    if kind == 1:
        return f"List {rng.randint(3, 7)} {rng.choice(LIST_TOPICS)}."
    if kind == 2:
        return f"Write {rng.choice(WRITING_FORMS)} about {rng.choice(WRITING_TOPICS)}."
    if kind == 3:
        return math_problem(rng)
    if kind == 4:
        return f"Rewrite this sentence {rng.choice(REWRITE_STYLES)}: \"{rng.choice(SENTENCES)}\""
    if kind == 5:
        return f"Give me some practical advice on how to {rng.choice(GOALS)}."
    if kind == 6:
        first, second = rng.choice(COMPARISONS)
        return f"Compare {first} and {second}. Give one advantage of each."
    if kind == 7:
        items, groups = rng.choice(CLASSIFY_ITEMS)
        return f"Sort these words into {groups}: {items}."
    if kind == 8:
        return f"Write a short email {rng.choice(EMAIL_PURPOSES)}."
    if kind == 9:
        return rng.choice(QUESTIONS)
    first, second = rng.sample(SENTENCES, 2)
    return f"Summarize in one sentence: \"{first} {second}\""


# --- Multiple-choice tasks --------------------------------------------------

FACTS = [
    ("What is the capital of France?", "Paris", ["London", "Rome", "Madrid"]),
    ("What is the capital of Japan?", "Tokyo", ["Beijing", "Seoul", "Bangkok"]),
    ("What is the capital of Italy?", "Rome", ["Milan", "Paris", "Vienna"]),
    ("What is the largest planet in our solar system?", "Jupiter", ["Mars", "Venus", "Mercury"]),
    ("Which planet is known as the Red Planet?", "Mars", ["Jupiter", "Saturn", "Neptune"]),
    ("How many days are in a week?", "seven", ["five", "ten", "twelve"]),
    ("How many legs does a spider have?", "eight", ["six", "four", "ten"]),
    ("What do bees make?", "honey", ["milk", "silk", "wool"]),
    ("What is frozen water called?", "ice", ["steam", "sand", "glass"]),
    ("Which animal is known as the king of the jungle?", "the lion", ["the mouse", "the cow", "the rabbit"]),
    ("What color is a clear daytime sky?", "blue", ["green", "purple", "brown"]),
    ("What gas do plants take in from the air?", "carbon dioxide", ["helium", "neon", "hydrogen"]),
    ("What is the boiling point of water at sea level in degrees Celsius?", "100", ["50", "0", "200"]),
    ("Which ocean is the largest?", "the Pacific Ocean", ["the Indian Ocean", "the Arctic Ocean",
                                                          "the Southern Ocean"]),
    ("How many continents are there?", "seven", ["three", "five", "nine"]),
    ("What is the opposite of hot?", "cold", ["warm", "loud", "fast"]),
    ("Which organ pumps blood through the body?", "the heart", ["the lungs", "the liver", "the stomach"]),
    ("What is the main language spoken in Brazil?", "Portuguese", ["Spanish", "French", "German"]),
    ("How many hours are in a day?", "24", ["12", "36", "48"]),
    ("What do caterpillars turn into?", "butterflies", ["spiders", "frogs", "worms"]),
    ("What is the closest star to the Earth?", "the Sun", ["the Moon", "Mars", "Sirius"]),
    ("Which season comes after winter?", "spring", ["autumn", "summer", "winter"]),
    ("What do you call a baby dog?", "a puppy", ["a kitten", "a calf", "a chick"]),
    ("Which metal is liquid at room temperature?", "mercury", ["iron", "gold", "copper"]),
    ("What is the chemical symbol for water?", "H2O", ["CO2", "O2", "NaCl"]),
    ("How many sides does a triangle have?", "three", ["four", "five", "six"]),
    ("Which instrument has black and white keys?", "the piano", ["the drum", "the flute", "the violin"]),
    ("What is the tallest animal?", "the giraffe", ["the elephant", "the horse", "the camel"]),
    ("In which direction does the Sun rise?", "east", ["west", "north", "south"]),
    ("What do we call a shape with four equal sides and four right angles?", "a square",
     ["a triangle", "a circle", "a pentagon"]),
]

CLOZES = [
    ("Lily was very hungry, so she ate a big", " apple", [" car", " cloud", " shoe"]),
    ("Tom went outside because the sun was", " shining", [" sleeping", " eating", " crying"]),
    ("The little dog wagged its", " tail", [" book", " spoon", " door"]),
    ("It was cold outside, so Mia put on her warm", " coat", [" soup", " tree", " ball"]),
    ("Ben was tired, so he went to", " bed", [" lunch", " rain", " blue"]),
    ("The bird flew up into the", " sky", [" cup", " shoe", " bed"]),
    ("Sue said thank you to her mom for the yummy", " cake", [" rock", " rain", " chair"]),
    ("The cat liked to drink warm", " milk", [" sand", " paper", " wind"]),
    ("Max fell down and hurt his knee. He started to", " cry", [" fly", " sing", " bake"]),
    ("At night, the moon and the", " stars", [" cars", " shoes", " spoons"]),
    ("Anna planted a seed, and soon a little", " flower", [" truck", " bed", " plate"]),
    ("The boy kicked the ball, and it rolled into the", " park", [" sky", " cake", " sun"]),
    ("When it rained, Tim opened his big", " umbrella", [" sandwich", " bird", " moon"]),
    ("The fish swam in the", " water", [" tree", " sky", " box"]),
    ("Lucy brushed her", " teeth", [" kite", " cloud", " car"]),
    ("The farmer had a cow, a pig and a", " horse", [" rocket", " spoon", " shoe"]),
]


def fact_question(rng, question, answer, wrong):
    choices = [answer] + list(wrong)
    rng.shuffle(choices)
    return {"context": f"Question: {question}\nAnswer:", "choices": [" " + c for c in choices],
            "gold": choices.index(answer)}


def arithmetic_question(rng):
    a, b = rng.randint(2, 20), rng.randint(2, 20)
    op = rng.choice(["+", "-", "*"])
    if op == "-" and b > a:
        a, b = b, a
    answer = {"+": a + b, "-": a - b, "*": a * b}[op]
    wrong = set()
    while len(wrong) < 3:
        candidate = answer + rng.choice([-3, -2, -1, 1, 2, 3, 10, -10])
        if candidate >= 0 and candidate != answer:
            wrong.add(candidate)
    choices = [answer] + sorted(wrong)
    rng.shuffle(choices)
    return {"context": f"Question: What is {a} {op} {b}?\nAnswer:", "choices": [f" {c}" for c in choices],
            "gold": choices.index(answer)}


def cloze_question(rng, context, answer, wrong):
    choices = [answer] + list(wrong)
    rng.shuffle(choices)
    return {"context": context, "choices": choices, "gold": choices.index(answer)}


# --- Output -----------------------------------------------------------------

def unique_prompts(make, rng, count):
    seen, prompts = set(), []
    attempts = 0
    while len(prompts) < count:
        attempts += 1
        if attempts > count * 100:
            raise SystemExit(f"only {len(prompts)} distinct prompts after {attempts} attempts; add slot values")
        prompt = make(rng)
        if prompt not in seen:
            seen.add(prompt)
            prompts.append(prompt)
    return prompts


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_split(directory, prompts, rng):
    rows = [{"prompt": p} for p in prompts]
    write_jsonl(directory / "prompts.jsonl", rows)
    order = list(range(len(rows)))
    rng.shuffle(order)
    heldout = set(order[:round(len(rows) * HELDOUT_SHARE)])
    write_jsonl(directory / "prompts.train.jsonl", [r for i, r in enumerate(rows) if i not in heldout])
    write_jsonl(directory / "prompts.heldout.jsonl", [r for i, r in enumerate(rows) if i in heldout])
    print(f"{directory}: {len(rows)} prompts, {len(heldout)} held out")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "data"),
                        help="output directory (default: data/ of the repository)")
    out = Path(parser.parse_args().out)
    rng = random.Random(SEED)

    write_split(out / "stories", unique_prompts(story_prompt, rng, NUM_STORIES), rng)
    write_split(out / "instructions", unique_prompts(instruction_prompt, rng, NUM_INSTRUCTIONS), rng)

    write_jsonl(out / "tasks" / "facts.jsonl", [fact_question(rng, *fact) for fact in FACTS])
    arithmetic = []
    seen = set()
    while len(arithmetic) < 40:
        question = arithmetic_question(rng)
        if question["context"] not in seen:
            seen.add(question["context"])
            arithmetic.append(question)
    write_jsonl(out / "tasks" / "arithmetic.jsonl", arithmetic)
    write_jsonl(out / "tasks" / "story_cloze.jsonl", [cloze_question(rng, *c) for c in CLOZES])
    print(f"{out / 'tasks'}: {len(FACTS)} facts, {len(arithmetic)} arithmetic, {len(CLOZES)} story cloze questions")


if __name__ == "__main__":
    main()
