"""Data sets and augmentation helpers."""
