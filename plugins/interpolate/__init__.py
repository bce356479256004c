"""lamina plugin interpolate (under construction)."""
