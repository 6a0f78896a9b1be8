"""Chats: a customer's conversations with the assistant, and who may see them."""
