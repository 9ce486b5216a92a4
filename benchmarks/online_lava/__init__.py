"""Online learning inside Lava: learning curves torch vs Lava float vs Lava fixed, and cost per
training step (see docs/online-lava.md)."""
