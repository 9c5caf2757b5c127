"""The shipped classifier recognises real-looking prompts (long, pasted material, writing
tasks), with no second model: the embedding the lookup computes and the prompt's words."""

from __future__ import annotations

import pytest

from litellm_semcache.classify.categories import Categorizer
from litellm_semcache.config import load_settings

PROMPTS = [
    ("code", "I get this when I run my script:\nTraceback (most recent call last):\n  File "
             "\"app.py\", line 12, in <module>\n    data = json.loads(body)\nTypeError: the JSON "
             "object must be str, bytes or bytearray, not NoneType\nwhat am I doing wrong?"),
    ("code", "write a kubernetes deployment yaml for an nginx container with 3 replicas and a "
             "readiness probe on /healthz"),
    ("code", "Can you review this React component and tell me why it re-renders on every "
             "keystroke? const [q, setQ] = useState(''); useEffect(() => { fetch(url) }, [q])"),
    ("medical", "My 6 year old has had a fever of 39C for two days and a rash on her chest. "
                "Should I take her to the doctor or is this normal for a virus?"),
    ("legal", "My landlord kept my whole security deposit and won't say why. I'm in Oregon. "
              "What are my rights and how long does he have to return it?"),
    ("finance", "I have 20k in savings and a 6% car loan. Should I pay the loan off early or "
                "put the money in an index fund?"),
    ("chat", "hey! how's it going? I'm bored, tell me something fun"),
    ("default", "Write a 500-word blog post about the benefits of remote work for small "
                "marketing agencies, with a catchy title and three subheadings."),
    ("default", "Plan a 5-day itinerary for Lisbon for a couple who love food and museums."),
]


@pytest.fixture(scope="module")
def categorizer(embedder):
    return Categorizer(load_settings(None), embedder)


@pytest.mark.parametrize("expected, prompt", PROMPTS)
def test_real_looking_prompts_land_in_their_category(categorizer, embedder, expected, prompt):
    assert categorizer.by_embedding(embedder.embed_one(prompt), prompt) == (expected, "classifier")
