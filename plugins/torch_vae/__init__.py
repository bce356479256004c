"""lamina plugin torch_vae (under construction)."""
