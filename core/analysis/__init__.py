"""What the app tells about data and models: label issues from cross-validation (``label_issues``),
attributions and attention (``explain``), and ensembles (``ensemble``)."""
