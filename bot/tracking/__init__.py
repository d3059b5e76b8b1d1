"""The customer's tracking page (/t/<token>): live status and map; the bot's operations by tap."""
