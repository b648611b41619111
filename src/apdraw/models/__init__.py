"""Networks: one file per system, plus shared layers."""
