"""Events in: a dispatch system's delivery events, authenticated, validated and applied."""
