"""Conversations: equivalent histories share an entry; a history that changes what the last
turn refers to never does (real MiniLM, hnswlib, diskcache, the shipped policy)."""

from __future__ import annotations

from helpers import HIT, MISS, chat

from litellm_semcache.conversation import history_key, is_small_talk, user_turns

LAST = "How do I make it faster?"
HISTORY = [
    {"role": "user", "content": "My Django app has a report page called OrderSummary."},
    {"role": "assistant", "content": "Okay. What seems to be the problem with OrderSummary?"},
    {"role": "user", "content": "It runs 400 SQL queries every time it loads."},
    {"role": "assistant", "content": "That looks like an N+1 problem in the ORM."},
]
ANSWER = {"answer": "use select_related"}


def stored(make_cache):
    cache = make_cache()
    cache.store(chat(LAST, history=HISTORY), ANSWER)
    return cache


def test_small_talk_before_the_history_still_shares_the_entry(make_cache):
    cache = stored(make_cache)
    greeted = [{"role": "user", "content": "Hey, good morning! Hope your day is going well."},
               {"role": "assistant", "content": "Good morning! It is, thanks."}, *HISTORY]
    decision = cache.lookup(chat(LAST, history=greeted))
    assert decision.outcome == HIT and decision.response == ANSWER


def test_assistant_turns_worded_otherwise_share_the_entry(make_cache):
    cache = stored(make_cache)
    reworded = [HISTORY[0], {"role": "assistant", "content": "Sure, what is wrong with OrderSummary?"},
                HISTORY[2], {"role": "assistant", "content": "Sounds like N+1 queries from the ORM."}]
    assert cache.lookup(chat(LAST, history=reworded)).outcome == HIT


def test_punctuation_and_case_in_earlier_turns_do_not_matter(make_cache):
    cache = stored(make_cache)
    sloppy = [{**HISTORY[0], "content": "my django app has a report page called OrderSummary"},
              HISTORY[1], {**HISTORY[2], "content": "it runs 400 sql queries every time it loads"},
              HISTORY[3]]
    assert cache.lookup(chat(LAST, history=sloppy)).outcome == HIT


def test_a_history_that_changes_the_referent_never_shares_the_entry(make_cache):
    cache = stored(make_cache)
    other_page = [HISTORY[0], HISTORY[1],
                  {"role": "user", "content": "Actually the slow page is InvoiceList, not that one."},
                  HISTORY[3]]
    more_queries = [HISTORY[0], HISTORY[1],
                    {"role": "user", "content": "It runs 4000 SQL queries every time it loads."},
                    HISTORY[3]]
    for history in (other_page, more_queries):
        assert cache.lookup(chat(LAST, history=history)).outcome == MISS


def test_another_system_prompt_or_assistant_naming_other_things_never_shares(make_cache):
    cache = stored(make_cache)
    assert cache.lookup(chat(LAST, history=HISTORY, system="Answer in French.")).outcome == MISS
    other_advice = [*HISTORY[:3], {"role": "assistant", "content": "Add an index with Postgres."}]
    assert cache.lookup(chat(LAST, history=other_advice)).outcome == MISS


def test_two_conversations_ending_alike_keep_their_own_answers(make_cache):
    cache = make_cache()
    planets = [{"role": "user", "content": "What's your favourite planet?"},
               {"role": "assistant", "content": "Saturn, for its rings."}]
    animals = [{"role": "user", "content": "What's your favourite animal?"},
               {"role": "assistant", "content": "The octopus, for its three hearts."}]
    cache.store(chat("Tell me more.", history=planets), {"answer": "rings"})
    cache.store(chat("Tell me more.", history=animals), {"answer": "hearts"})
    assert cache.lookup(chat("Tell me more.", history=planets)).response == {"answer": "rings"}
    assert cache.lookup(chat("Tell me more.", history=animals)).response == {"answer": "hearts"}


def test_what_enters_the_scope_and_what_is_verified():
    greeting = {"role": "user", "content": "hiya, hope you slept well lol"}
    fact = {"role": "user", "content": "I'm 35 and live in Ohio."}
    assert is_small_talk(greeting["content"]) and not is_small_talk(fact["content"])
    assert user_turns([greeting, fact]) == (fact["content"],)
    # user text is verified, not hashed; assistant turns count by what they name
    assert history_key([fact]) == history_key([])
    assert history_key([{"role": "assistant", "content": "Try Postgres 16."}]) != \
        history_key([{"role": "assistant", "content": "Try MySQL 8."}])


def test_a_question_marked_as_an_aside_does_not_change_the_conversation(make_cache):
    cache = stored(make_cache)
    aside = [{"role": "user", "content": "Unrelated, but how long should I boil an egg?"},
             {"role": "assistant", "content": "About 7 minutes for a jammy yolk."}, *HISTORY]
    assert cache.lookup(chat(LAST, history=aside)).outcome == HIT
    statement = [{"role": "user", "content": "Unrelated, but we run it on Postgres 9."}, *HISTORY]
    assert cache.lookup(chat(LAST, history=statement)).outcome == MISS


def test_which_of_two_named_things_a_turn_picks_is_compared_turn_by_turn(make_cache):
    cache = make_cache()
    both = {"role": "user", "content": "I'm comparing the Pixel 8 and the iPhone 15."}
    cache.store(chat("How long does its battery last?",
                     history=[both, {"role": "user", "content": "I'm leaning towards the Pixel."}]),
                ANSWER)
    other = [both, {"role": "user", "content": "I'm leaning towards the iPhone."}]
    assert cache.lookup(chat("How long does its battery last?", history=other)).outcome == MISS
