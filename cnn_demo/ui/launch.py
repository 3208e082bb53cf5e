"""Start ``streamlit run`` with multipage-v2 routing forced on.

Streamlit treats a folder named ``pages/`` beside the main script as a legacy (v1) multipage app until some
session calls ``st.navigation``: a first visitor arriving on a deep link such as ``/pixels`` would run that page
alone, without ``app.py``'s navigation and sidebar. Setting the flag before the server starts makes every
session go through ``app.py``.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Run the Streamlit CLI with ``argv`` (e.g. ``["run", "app.py", "--server.port", "8501"]``)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
