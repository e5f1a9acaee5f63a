"""finchain consensus package."""
