"""The Building blocks section: a convolution layer step by step, pooling and adaptive pooling."""
