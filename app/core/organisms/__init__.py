"""Model organisms: targets whose trigger→behaviour shortcuts are planted with known strength."""
