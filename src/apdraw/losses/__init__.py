"""Training losses: adversarial (`gan`) and distance-transform / Chamfer (`dt`)."""
