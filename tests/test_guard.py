"""The guard vetoes the answer-changing differences cosine similarity cannot see, and lets
ordinary paraphrases through."""

from __future__ import annotations

import pytest

from litellm_semcache.classify.guard import check

TRAPS = [
    ("What is 15% of 80?", "What is 15 percent of 90?", "number"),
    # negation
    ("cancel my subscription", "don't cancel my subscription", "negation"),
    ("Is it safe to drink this water?", "Is it not safe to drink this water?", "negation"),
    ("Can I deploy on Fridays?", "Can I never deploy on Fridays?", "negation"),
    # antonyms and opposite prefixes
    ("turn on dark mode", "turn off dark mode", "antonym"),
    ("is port 6379 open", "is port 6379 closed", "antonym"),
    ("how to install numpy", "how to uninstall numpy", "antonym"),
    ("symptoms of hyperthyroidism", "symptoms of hypothyroidism", "antonym"),
    ("sort the table in ascending order", "sort the table in descending order", "antonym"),
    ("should I buy gold now", "should I sell gold now", "antonym"),
    ("I feel sad today, any advice?", "I feel happy today, any advice?", "antonym"),
    ("Are dividends taxable in the UK?", "Are dividends tax-free in the UK?", "antonym"),
    ("Is this chemical harmless?", "Is this chemical harmful?", "antonym"),
    # numbers and dates
    ("What is the 2023 tax rate?", "What is the 2024 tax rate?", "number"),
    ("convert 5 km to miles", "convert 50 km to miles", "number"),
    ("split the bill between three people", "split the bill between four people", "number"),
    ("What's the weather tomorrow", "What's the weather yesterday", "date"),
    ("sales report for March", "sales report for April", "date"),
    ("convert 10 USD to yen", "convert 10 EUR to yen", "unit"),
    ("how many miles is a marathon", "how many kilometers is a marathon", "unit"),
    # entities and their order
    ("How do I reverse a list in Python?", "How do I reverse a list in JavaScript?", "entity"),
    ("Who is the CEO of Microsoft?", "Who is the CEO of Google?", "entity"),
    ("flights from Paris to London", "flights from London to Paris", "entity_order"),
    ("convert celsius to fahrenheit", "convert fahrenheit to celsius", "role_swap"),
    ("is a mouse bigger than a cat", "is a cat bigger than a mouse", "role_swap"),
    ("Is Rust faster than Go?", "Is Go faster than Rust?", "entity_order"),
    ("dog bites man", "man bites dog", "word_order"),
    ("How do I convert a string to an integer in JavaScript?",
     "How do I convert an integer to a string in JavaScript?", "role_swap"),
    ("How do I sort a dictionary by value?", "How do I sort a dictionary by key?", "antonym"),
    # scope and quantifiers
    ("list all users", "list all admin users", "scope"),
    ("delete all files in the folder", "delete some files in the folder", "quantifier"),
    ("summarise the report", "summarise the first chapter of the report", "number"),
]

PARAPHRASES = [
    ("Is it hard to learn Rust?", "Is it difficult to learn Rust?"),
    ("How do I set up a wireless network?", "How can I set up a wireless network?"),
    ("What is 15% of 80?", "Calculate 15 percent of 80"),  # "percent" is "%"
    ("How many projects can I create?", "What is the maximum number of projects I can create?"),
    ("How do I reverse a list in Python?", "What is the best way to reverse a Python list?"),
    ("How do I reverse a list in Python?", "Python: how to reverse a list"),
    ("What is the capital of France?", "Tell me the capital of France"),
    ("Explain recursion with an example", "Can you explain recursion using an example?"),
    ("hi, how are you today?", "hello, how are you doing?"),
    ("What's the price of Apple stock today?", "What is the price of Apple stock?"),
    ("How many days are in a leap year?", "how many days does a leap year have"),
    ("Give me a recipe for pancakes", "Could you give me a pancake recipe please?"),
    ("How do I remove duplicates from a list in Python?",
     "How can I remove duplicate items from a Python list?"),
    ("What is the exchange rate from USD to EUR?", "What's the USD to EUR exchange rate?"),
    ("How do I list all files in a directory?", "How can I list every file in a directory?"),
    ("What is the rate limit of the API?", "What's the API's rate limit?"),
    ("What does git rebase do?", "What does the git rebase command do?"),
    ("Translate 'good morning' into French", "Please translate 'good morning' into French"),
]


@pytest.mark.parametrize("query, candidate, reason", TRAPS)
def test_traps_are_vetoed_both_ways(query, candidate, reason):
    assert check(query, candidate) == reason
    assert check(candidate, query) is not None


@pytest.mark.parametrize("query, candidate", PARAPHRASES)
def test_paraphrases_pass(query, candidate):
    assert check(query, candidate) is None
    assert check(candidate, query) is None


def test_identical_prompts_always_pass():
    assert check("don't delete 3 files from /tmp", "don't delete 3 files from /tmp") is None
