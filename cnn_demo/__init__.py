"""cnn-demo: the computation behind the CNN teaching app, importable from a notebook.

Nothing in this package outside ``cnn_demo.ui`` imports streamlit.
"""

__version__ = "0.1.0"
