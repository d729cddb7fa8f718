"""Seed data: the real Wuhan districts and streets, and the generated demo city below 新洲区."""
