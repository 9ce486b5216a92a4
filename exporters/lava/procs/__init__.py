"""Lava Process/ProcessModel pairs of the zoo (Lava scans this folder for models)."""
