"""lamina plugin cn2 (under construction)."""
