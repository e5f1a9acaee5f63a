"""finchain node package."""
