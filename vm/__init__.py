"""finchain vm package."""
