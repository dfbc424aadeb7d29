"""Fine-tuning: input encodings (``encoding``), the classifier and checkpoints (``model``), the training
entrypoint (``training``), KLUE metrics and submission files (``metrics``) and k-fold cross-validation
(``crossval``)."""
