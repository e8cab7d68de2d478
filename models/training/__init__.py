"""Training a convRNN on a class-per-folder video data set, and its report."""
