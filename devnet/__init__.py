"""finchain devnet package."""
