"""Customer replies: taken in, keywords, time windows, and the conversation engine."""
