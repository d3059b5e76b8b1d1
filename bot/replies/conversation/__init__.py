"""The conversation engine: decide what a customer's reply needs, then do it.

`decide` (pure) maps the conversation's state, the NLU reading of the reply, the
delivery and the time to actions; `followups` (pure) turns the outcome of an action
that needed the outside world (a route check, the offered windows) into the next
actions; `executor` performs them; `engine` runs a reply through all of it.
"""
