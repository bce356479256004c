"""lamina plugin bayes (under construction)."""
