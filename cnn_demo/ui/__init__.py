"""Streamlit glue: caching, session state and shared widgets. The only place that imports streamlit."""
