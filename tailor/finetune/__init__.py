"""Fine-tuning: training data, checks, LoRA training, the finetune strategy."""
