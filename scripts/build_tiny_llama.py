"""Build the tiny random-weight Llama and a small local tokenizer the vLLM tests serve.

2 layers, hidden size 128, 2 heads (head_dim 64: the CPU attention backend rejects 16). The
tokenizer is a word-level one trained here on a few sentences plus a chat template, so vLLM
serves text (chat and completions) through the LiteLLM proxy with no download.
"""

from __future__ import annotations

import sys
from pathlib import Path

_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
_CORPUS = [
    "hello how are you today what is the weather like tell me a joke please",
    "how do i reverse a list in python write a function that sorts numbers",
    "what is the price of apple stock the market today bitcoin exchange rate",
    "symptoms of flu blood pressure doctor fever user assistant system",
]


def build(target: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    target.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(_CORPUS, trainers.WordLevelTrainer(
        vocab_size=512, special_tokens=["<unk>", "<s>", "</s>", "<pad>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")
    fast.chat_template = _CHAT_TEMPLATE
    fast.save_pretrained(target)
    config = LlamaConfig(vocab_size=512, hidden_size=128, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                         pad_token_id=3)
    LlamaForCausalLM(config).save_pretrained(target)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else ".venv-vllm/tiny-llama"))
