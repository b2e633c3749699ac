"""Training: losses, class weights, the training loop, checkpoints, DDP, plots."""
