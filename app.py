"""cnn-demo: navigation and the shared sidebar. Everything else lives in pages/ and cnn_demo/."""

import streamlit as st

from cnn_demo.ui.catalog import FAVICON, PAGES, SECTIONS
from cnn_demo.ui.common import sidebar

st.set_page_config(page_title="cnn-demo", page_icon=FAVICON, layout="wide")

navigation = {
    section: [
        st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p.url_path == "home")
        for p in PAGES
        if p.section == section
    ]
    for section in ("", *SECTIONS)
}
page = st.navigation({name: pages for name, pages in navigation.items() if pages}, expanded=True)
sidebar()
page.run()
