"""Messages out: rendering, templates, quiet hours, outbox, sender, links, channels, webhooks."""
