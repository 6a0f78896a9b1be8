"""What the model is told: the passages to rely on, the chat so far, the question."""

from collections.abc import Sequence

from openai.types.chat import ChatCompletionMessageParam

from ai_worker.knowledge import Hit
from contracts.chat import Turn

INSTRUCTIONS = """You are the support assistant of Tidewater, a project-management and \
time-tracking app. Answer the customer's question using only the help-center passages below. \
Cite every passage you use by its number in square brackets, like [1]. If the passages do not \
answer the question, say so plainly and offer to hand the conversation to a human agent. \
Be concise and give concrete steps."""


def build_messages(
    question: str, turns: Sequence[Turn], hits: Sequence[Hit]
) -> list[ChatCompletionMessageParam]:
    """Chat-completions messages: instructions with numbered passages, earlier turns, question."""
    passages = "\n\n".join(
        f"[{number}] {hit.passage.label} ({hit.passage.source})\n{hit.passage.text}"
        for number, hit in enumerate(hits, start=1)
    )
    system = (
        f"{INSTRUCTIONS}\n\nHelp-center passages:\n\n{passages or '(none match this question)'}"
    )
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}]
    for turn in turns:
        messages.append({"role": "user", "content": turn.user_input})
        messages.append({"role": "assistant", "content": turn.ai_response})
    messages.append({"role": "user", "content": question})
    return messages
