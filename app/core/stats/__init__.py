"""Statistics, prompts as the unit of inference: rates (clustered Wilson), paired effects (t over
prompts), decisions (BH + FCR-adjusted intervals → verdicts), sequential error spending,
interactions (LPM with prompt fixed effects), Bradley-Terry salience."""
