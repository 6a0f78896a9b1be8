"""Turns a new message into an AI answer: retrieval, LLM call (streamed), seal. Stateless."""
