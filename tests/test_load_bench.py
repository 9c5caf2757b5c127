"""The load-adaptation replay's workload and its accounting: one fixed sequence for every
policy, answer classes that follow the labels, and false hits counted from the answer served."""

from __future__ import annotations

from bench import load_adaptation, load_workload
from bench.datasets import eval_pairs, multiturn_pairs
from bench.load_workload import prompt_key


def test_the_sequence_is_fixed_by_its_seed_and_follows_the_schedule():
    shape = {"rate": 3.0, "cycles": 2, "quiet": 5.0, "burst": 5.0, "tail": False}
    first, again = load_workload.build(**shape), load_workload.build(**shape)
    assert first.requests == again.requests
    assert load_workload.build(**shape, seed=16).requests != first.requests
    assert [p.name for p in first.phases] == ["quiet", "burst", "quiet", "burst", "quiet"]
    assert len(first.requests) == int(3.0 * first.phases[-1].end)
    assert {first.phase_at(r.at) for r in first.requests} == {"quiet", "burst"}
    assert {r.tenant for r in first.requests} == {0, 1}
    asked: set[tuple[int, int]] = set()
    for request in first.requests:  # a tenant's first request of a topic is its first wording
        if (request.tenant, request.topic) not in asked:
            assert request.key == first.first_wordings[request.topic]
            asked.add((request.tenant, request.topic))


def test_answer_classes_follow_the_labelled_pairs():
    _, classes, _ = load_workload.labelled_topics()
    for pair in eval_pairs("test") + multiturn_pairs("test"):
        a, b = prompt_key(pair["a"]), prompt_key(pair["b"])
        if a in classes and b in classes:
            assert (classes[a] == classes[b]) == pair["same_answer"], pair


def test_a_hit_with_another_class_s_answer_is_a_false_hit_and_an_unknown_one_is_apart():
    workload = load_workload.build(rate=3.0, cycles=1, quiet=4.0, burst=4.0, tail=False)
    requests = workload.requests
    other = next(key for key, answer in workload.classes.items()
                 if answer != requests[1].answer_class)
    outcomes = [{"hit": False, "source": r.key} for r in requests]
    outcomes[1] = {"hit": True, "source": other}  # served another class's answer
    outcomes[2] = {"hit": True, "source": None}  # an answer nobody asked for here
    outcomes[3] = {"hit": True, "source": requests[3].key, "stale": True}
    summary = load_adaptation.summarise(workload, outcomes)
    assert (summary["hits"], summary["false_hits"], summary["unresolved_hits"]) == (3, 1, 1)
    assert summary["stale_hits"] == 1
    assert summary["reached_model"] == len(requests) - 3
    assert summary["false_hit_rate"] == round(1 / len(requests), 4)
    cut = load_adaptation.compare({**summary, "burst_reached_model": 10, "false_hit_rate": 0.0},
                                  {**summary, "burst_reached_model": 8, "false_hit_rate": 0.01})
    assert (cut["burst_traffic_cut"], cut["false_hit_rate_change_points"]) == (0.2, 1.0)


def test_the_static_policy_adapts_nothing_and_sensitive_categories_get_no_floor():
    static, adaptive = load_adaptation.policy_yaml("static"), load_adaptation.policy_yaml(
        "adaptive", verifier_floor=0.3)
    assert static["load_policy"]["verifier_relax"] == 0 and static["load_policy"]["relax"] == 0
    assert static["load_policy"]["stale_grace_seconds"] == 0
    assert adaptive["load_policy"]["stale_grace_seconds"] > 0
    for name, category in adaptive["categories"].items():
        if category.get("sensitive"):
            assert category.get("verifier_floor") is None, name
        else:
            assert category["verifier_floor"] == 0.3, name
