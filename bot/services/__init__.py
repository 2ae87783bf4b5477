"""Services own the rules. They take a session and plain values and know nothing of aiogram."""
